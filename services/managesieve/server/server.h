// The ManageSieve listener (4190-style, STARTTLS) and the graceful shutdown,
// on common/net's SessionServer.
#pragma once

#include "common/net/session_server.h"
#include "services/managesieve/server/connection.h"

#include <functional>
#include <string>

namespace postline::managesieve {

class Server {
 public:
  Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits);
  // Binds and starts accepting; returns the bound port. Throws std::runtime_error naming the port.
  uint16_t start(const std::string& address, uint16_t port);
  // Stops accepting, asks every session to finish, calls done() when all have
  // ended or `grace` has passed.
  void shutdown(std::chrono::seconds grace, std::function<void()> done) { sessions_.shutdown(grace, std::move(done)); }
  size_t active() const { return sessions_.active(); }

 private:
  ServerContext& context_;
  net::SessionServer<Connection> sessions_;
};

}  // namespace postline::managesieve
