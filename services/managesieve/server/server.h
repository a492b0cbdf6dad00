// The ManageSieve listener (4190-style, STARTTLS) on common/net's Listener,
// and the set of live connections for graceful shutdown.
#pragma once

#include "common/net/listener.h"
#include "services/managesieve/server/connection.h"

#include <functional>
#include <memory>
#include <set>
#include <string>

namespace postline::managesieve {

class Server {
 public:
  Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits);
  // Binds and starts accepting; returns the bound port. Throws std::runtime_error naming the port.
  uint16_t start(const std::string& address, uint16_t port);
  // Stops accepting, asks every session to finish, calls done() when all have
  // ended or `grace` has passed.
  void shutdown(std::chrono::seconds grace, std::function<void()> done);
  size_t active() const { return connections_.size(); }

 private:
  asio::awaitable<void> serve(net::tcp::socket socket, bool over_limit);
  asio::io_context& io_;
  ServerContext& context_;
  std::shared_ptr<net::ConnectionCounter> counter_;
  std::unique_ptr<net::Listener> listener_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::function<void()> on_empty_;
};

}  // namespace postline::managesieve
