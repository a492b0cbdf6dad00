// The IMAP listeners (143-style with STARTTLS, 993-style implicit TLS) and the
// graceful shutdown, on common/net's SessionServer.
#pragma once

#include "common/net/session_server.h"
#include "services/imap-access/server/connection.h"

#include <functional>
#include <string>
#include <utility>
#include <vector>

namespace postline::imap {

class Server {
 public:
  Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits);
  // Starts the listeners; returns (name, port) pairs. The TLS listener starts
  // only when TLS is configured. Throws std::runtime_error naming the port.
  std::vector<std::pair<std::string, uint16_t>> start(const std::string& address, uint16_t port, uint16_t tls_port);
  // Stops accepting, asks every session to finish, calls done() when all have
  // ended or `grace` has passed.
  void shutdown(std::chrono::seconds grace, std::function<void()> done) { sessions_.shutdown(grace, std::move(done)); }
  size_t active() const { return sessions_.active(); }

 private:
  ServerContext& context_;
  net::SessionServer<Connection> sessions_;
};

}  // namespace postline::imap
