// The IMAP listeners (143-style with STARTTLS, 993-style implicit TLS) on
// common/net's Listener, and the set of live connections for graceful shutdown.
#pragma once

#include "common/net/listener.h"
#include "services/imap-access/server/connection.h"

#include <functional>
#include <memory>
#include <set>
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
  void shutdown(std::chrono::seconds grace, std::function<void()> done);
  size_t active() const { return connections_.size(); }

 private:
  asio::awaitable<void> serve(net::tcp::socket socket, bool over_limit, std::string listener, bool implicit_tls);
  asio::io_context& io_;
  ServerContext& context_;
  std::shared_ptr<net::ConnectionCounter> counter_;
  std::vector<std::unique_ptr<net::Listener>> listeners_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::function<void()> on_empty_;
};

}  // namespace postline::imap
