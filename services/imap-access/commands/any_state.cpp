// CAPABILITY, NOOP, LOGOUT, ID, ENABLE, CHECK: the commands that need no mailbox.
#include "services/imap-access/commands/registry.h"

#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

asio::awaitable<Result> cmd_capability(Context& ctx) {
  parse_no_args(ctx.args);
  ctx.send(untagged("CAPABILITY " + capabilities(ctx.session, ctx.services.settings)));
  co_return Result::ok("CAPABILITY completed");
}

asio::awaitable<Result> cmd_noop(Context& ctx) {
  parse_no_args(ctx.args);
  // The point of NOOP for a client is the untagged updates.
  if (ctx.session.state == State::kSelected) co_await sync_selected(ctx, true);
  co_return Result::ok("NOOP completed");
}

asio::awaitable<Result> cmd_check(Context& ctx) {
  parse_no_args(ctx.args);
  co_await sync_selected(ctx, true);
  co_return Result::ok("CHECK completed");
}

asio::awaitable<Result> cmd_logout(Context& ctx) {
  parse_no_args(ctx.args);
  ctx.send(untagged("BYE Postline IMAP signing off"));
  ctx.session.state = State::kLogout;
  ctx.effect = Effect::kClose;
  co_return Result::ok("LOGOUT completed");
}

asio::awaitable<Result> cmd_id(Context& ctx) {
  // RFC 2971: the client's parameters are accepted (bounded by the parser)
  // but not trusted; we answer with our name only, no version (operators' choice).
  parse_id_args(ctx.args);
  ctx.send(untagged("ID (\"name\" \"Postline\")"));
  co_return Result::ok("ID completed");
}

asio::awaitable<Result> cmd_enable(Context& ctx) {
  const EnableArgs args = parse_enable_args(ctx.args);
  std::string enabled;
  for (const auto& cap : args.capabilities) {
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
  }
  ctx.send(untagged("ENABLED" + enabled));
  co_return Result::ok("ENABLE completed");
}

}  // namespace postline::imap
