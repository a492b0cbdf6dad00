#include "services/managesieve/server/server.h"

#include <spdlog/spdlog.h>

namespace postline::managesieve {

Server::Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits)
    : context_(context), sessions_(io, limits, "ManageSieve") {}

uint16_t Server::start(const std::string& address, uint16_t port) {
  const uint16_t bound = sessions_.listen("managesieve", address, port, [this](net::tcp::socket s) {
    return std::make_shared<Connection>(std::move(s), context_);
  });
  if (!context_.tls) spdlog::warn("tls.cert_file/tls.key_file not set: no STARTTLS on the ManageSieve listener");
  return bound;
}

}  // namespace postline::managesieve
