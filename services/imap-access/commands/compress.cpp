// COMPRESS (RFC 4978): the handler checks the argument and the session and
// asks the connection for the deflate stage (Effect::kCompress); the tagged OK
// goes out uncompressed and server/connection.cpp compresses everything after
// it, both ways. Allowed once logged in (the command table), after TLS if
// any, which gives the RFC's order: IMAP -> deflate -> TLS.
#include "services/imap-access/commands/registry.h"

#include "services/imap-access/protocol/command_args.h"

namespace postline::imap {

asio::awaitable<Result> cmd_compress(Context& ctx) {
  parse_compress_args(ctx.args);  // an unknown mechanism is BAD (RFC 4978 3)
  // A second deflate layer would compress compressed bytes; the RFC's code.
  if (ctx.session.compressed) co_return Result::no("DEFLATE active via COMPRESS", "COMPRESSIONACTIVE");
  // Set here, for good: the connection clears it again only if zlib cannot
  // start (then the answer becomes NO and nothing changed on the wire).
  ctx.session.compressed = true;
  ctx.effect = Effect::kCompress;
  co_return Result::ok("DEFLATE active");
}

}  // namespace postline::imap
