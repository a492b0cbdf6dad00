// IDLE (RFC 2177): the handler only flushes pending updates and asks the
// connection loop to idle; server/connection.cpp waits for DONE while the
// change notifier pushes EXISTS/EXPUNGE/FETCH.
#include "services/imap-access/commands/registry.h"

#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

asio::awaitable<Result> cmd_idle(Context& ctx) {
  parse_no_args(ctx.args);
  co_await sync_selected(ctx, true);
  ctx.effect = Effect::kIdle;
  co_return Result::ok("IDLE terminated");
}

}  // namespace postline::imap
