// CAPABILITY, NOOP, LOGOUT, ID, ENABLE, CHECK: the commands that need no mailbox.
#include "services/imap-access/commands/registry.h"

namespace postline::imap {

asio::awaitable<Result> cmd_capability(Context& ctx) {
  ctx.args.end();
  ctx.send(untagged("CAPABILITY " + capabilities(ctx.session, ctx.services.settings)));
  co_return Result::ok("CAPABILITY completed");
}

asio::awaitable<Result> cmd_noop(Context& ctx) {
  ctx.args.end();
  // The point of NOOP for a client is the untagged updates.
  if (ctx.session.state == State::kSelected) co_await sync_selected(ctx, true);
  co_return Result::ok("NOOP completed");
}

asio::awaitable<Result> cmd_check(Context& ctx) {
  ctx.args.end();
  co_await sync_selected(ctx, true);
  co_return Result::ok("CHECK completed");
}

asio::awaitable<Result> cmd_logout(Context& ctx) {
  ctx.args.end();
  ctx.send(untagged("BYE Postline IMAP signing off"));
  ctx.session.state = State::kLogout;
  ctx.effect = Effect::kClose;
  co_return Result::ok("LOGOUT completed");
}

asio::awaitable<Result> cmd_id(Context& ctx) {
  // RFC 2971: the client's parameters are accepted (and bounded) but not
  // trusted; we answer with our name only, no version (operators' choice).
  ctx.args.sp();
  if (ctx.args.try_char('(')) {
    // RFC 2971: at most 30 field/value pairs, fields at most 30 octets, values 1024.
    int pairs = 0;
    while (!ctx.args.try_char(')')) {
      if (pairs > 0) ctx.args.sp();
      std::string field = ctx.args.string();
      ctx.args.sp();
      auto value = ctx.args.nstring();
      if (++pairs > 30 || field.size() > 30 || (value && value->size() > 1024)) ctx.args.fail("ID parameters too long");
    }
  } else if (ctx.args.nstring().has_value()) {
    ctx.args.fail("ID takes a list or NIL");
  }
  ctx.args.end();
  ctx.send(untagged("ID (\"name\" \"Postline\")"));
  co_return Result::ok("ID completed");
}

asio::awaitable<Result> cmd_enable(Context& ctx) {
  std::string enabled;
  do {
    ctx.args.sp();
    std::string cap = to_upper(ctx.args.atom());
    // Only extensions whose behaviour this server implements can be enabled;
    // others are ignored as RFC 5161 requires.
    if (cap == "CONDSTORE" && !ctx.session.condstore) {
      ctx.session.condstore = true;
      enabled += " CONDSTORE";
    } else if (cap == "IMAP4REV2" && !ctx.session.rev2) {
      // RFC 9051: no \Recent, ESEARCH-style SEARCH results, UTF-8 names.
      ctx.session.rev2 = ctx.session.utf8_accept = true;
      enabled += " IMAP4rev2";
    } else if (cap == "UTF8=ACCEPT" && !ctx.session.utf8_accept) {
      ctx.session.utf8_accept = true;
      enabled += " UTF8=ACCEPT";
    } else if (cap == "QRESYNC" && !ctx.session.qresync) {
      // QRESYNC implies CONDSTORE (RFC 7162 3.2.3).
      if (!ctx.session.condstore) enabled += " CONDSTORE";
      ctx.session.condstore = ctx.session.qresync = true;
      enabled += " QRESYNC";
    }
  } while (!ctx.args.at_end());
  ctx.send(untagged("ENABLED" + enabled));
  co_return Result::ok("ENABLE completed");
}

}  // namespace postline::imap
