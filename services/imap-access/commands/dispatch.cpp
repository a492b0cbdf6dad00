#include "services/imap-access/commands/dispatch.h"

#include "common/log/printable.h"

#include <spdlog/spdlog.h>

namespace postline::imap {

Dispatcher::Dispatcher(SessionState& session, Services& services, SessionIo io)
    : session_(session), services_(services), io_(std::move(io)) {}

std::optional<std::string> Dispatcher::count_bad() {
  if (++session_.bad_commands <= services_.settings.max_bad_commands) return std::nullopt;
  spdlog::info("[s:{}] too many invalid commands, closing", session_.session_id);
  return untagged("BYE Too many invalid commands");
}

void Dispatcher::refuse(Dispatched& d, bool bye_first) {
  auto bye = count_bad();
  if (!bye) return;
  d.reply = bye_first ? *bye + d.reply : d.reply + *bye;
  d.close = true;
}

asio::awaitable<Dispatched> Dispatcher::dispatch(std::string text) {
  Dispatched d;
  Reader args(text);
  std::string name;
  try {
    d.tag = args.tag();
    args.sp();
    name = to_upper(args.atom());
    if (name == "UID") {
      args.sp();
      name = "UID " + to_upper(args.atom());
    }
  } catch (const SyntaxError& e) {
    d.syntax_error = true;
    d.reply = d.tag.empty() ? untagged(std::string("BAD ") + e.what())
                            : tagged(d.tag, Status::kBad, "", std::string("Invalid command: ") + e.what());
    refuse(d, false);
    co_return d;
  }
  const CommandSpec* spec = find_command(name);
  if (!spec) {
    d.command = "unknown";
    d.reply = tagged(d.tag, Status::kBad, "", "Unknown command");
    refuse(d, false);
    co_return d;
  }
  d.command = spec->name;
  const unsigned mask = session_.state == State::kNotAuthenticated ? kNotAuth
                        : session_.state == State::kAuthenticated  ? kAuth
                                                                   : kSelectedState;
  if (!(spec->states & mask)) {
    const char* why = session_.state == State::kNotAuthenticated ? "Log in first"
                      : session_.state == State::kAuthenticated  ? "Select a mailbox first"
                                                                 : "Command not valid in this state";
    d.reply = tagged(d.tag, Status::kBad, "", why);
    refuse(d, false);
    co_return d;
  }

  Context ctx{session_, services_, d.tag, spec->name, name.rfind("UID ", 0) == 0, args, io_.send, io_.flush,
              io_.continuation, io_.send_output};
  Result result;
  std::string failure;
  bool unavailable = false;
  try {
    result = co_await spec->handler(ctx);
  } catch (const SyntaxError& e) {
    // Every handler parses its arguments before it does anything
    // (protocol/command_args.h), so this BAD has changed nothing.
    result = Result::bad(std::string("Invalid arguments: ") + e.what());
    d.syntax_error = true;
  } catch (const Refused& e) {
    result = Result::no(e.what(), e.code);
  } catch (const Unavailable& e) {
    unavailable = true;
    failure = e.what();
  } catch (const std::exception& e) {
    failure = e.what();
  }
  if (!failure.empty()) {
    // The client gets a generic text; the log gets the detail.
    spdlog::error("[s:{}] {} failed: {}", session_.session_id, spec->name, log::printable(failure, 512));
    result = unavailable ? Result::no("Server temporarily unavailable, try again later", "UNAVAILABLE")
                         : Result::no("Internal server error", "SERVERBUG");
  }
  d.status = result.status;
  d.code = result.code;
  d.login_failed = result.code == "AUTHENTICATIONFAILED";
  if (result.status == Status::kBad) {
    d.reply = tagged(d.tag, result.status, result.code, result.text);
    refuse(d, true);
    if (d.close) co_return d;
  }
  // Changes other sessions (or instances) made reach this one after each
  // command; EXPUNGE only where sequence numbers cannot be confused.
  if (session_.state == State::kSelected && session_.mailbox_dirty && ctx.effect == Effect::kNone) {
    try {
      co_await sync_selected(ctx, !spec->uses_msn);
    } catch (const std::exception& e) {
      spdlog::warn("[s:{}] mailbox resync failed: {}", session_.session_id, e.what());
    }
  }
  // This session's own changes (STORE, FETCH setting \Seen, APPEND) reach its
  // RFC 5267 contexts the same way, at the end of a command that allows EXPUNGE.
  if (session_.state == State::kSelected && session_.selected && !spec->uses_msn && ctx.effect == Effect::kNone &&
      session_.selected->contexts.has_dirty()) {
    try {
      co_await update_contexts(ctx);
    } catch (const std::exception& e) {
      spdlog::warn("[s:{}] context update failed: {}", session_.session_id, e.what());
    }
  }
  d.effect = ctx.effect;
  d.reply = d.effect == Effect::kIdle ? std::string() : tagged(d.tag, result.status, result.code, result.text);
  co_return d;
}

}  // namespace postline::imap
