#include "services/imap-access/server/server.h"

#include <spdlog/spdlog.h>

namespace postline::imap {

Server::Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits)
    : context_(context), sessions_(io, limits, "IMAP") {}

std::vector<std::pair<std::string, uint16_t>> Server::start(const std::string& address, uint16_t port,
                                                            uint16_t tls_port) {
  std::vector<std::pair<std::string, uint16_t>> out;
  auto make = [&](const std::string& name, bool implicit_tls, uint16_t p) {
    out.emplace_back(name, sessions_.listen(name, address, p, [this, name, implicit_tls](net::tcp::socket s) {
      return std::make_shared<Connection>(std::move(s), context_, name, implicit_tls);
    }));
  };
  make("imap", false, port);
  if (context_.tls) make("imaps", true, tls_port);
  else spdlog::warn("tls.cert_file/tls.key_file not set: no STARTTLS and no implicit-TLS listener");
  return out;
}

}  // namespace postline::imap
