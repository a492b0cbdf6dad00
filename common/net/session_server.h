// The part of a protocol server that is not its protocol (imapd, managesieved):
// listeners on common/net's Listener that share one ConnectionCounter, the set
// of live connections, and the graceful stop. Header-only: a template over the
// service's Connection, which needs
//   asio::awaitable<void> run(bool over_limit);  // the whole session
//   void stop();                                 // asks the session to finish
//   void release_limits();                       // after run(), on every path
#pragma once

#include "common/net/listener.h"

#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <exception>
#include <functional>
#include <memory>
#include <set>
#include <string>
#include <utility>
#include <vector>

namespace postline::net {

template <class Connection>
class SessionServer {
 public:
  // Builds the connection for an accepted socket.
  using Make = std::function<std::shared_ptr<Connection>(tcp::socket)>;

  // `protocol` names the sessions in the log ("IMAP", "ManageSieve").
  SessionServer(asio::io_context& io, ConnectionLimits limits, std::string protocol)
      : io_(io), counter_(std::make_shared<ConnectionCounter>(limits)), protocol_(std::move(protocol)) {}

  // Binds listener `name` on address:port and starts accepting; returns the
  // bound port. Throws std::runtime_error naming the port.
  uint16_t listen(const std::string& name, const std::string& address, uint16_t port, Make make) {
    auto l = std::make_unique<Listener>(
        io_, name,
        [this, make = std::move(make)](tcp::socket s, bool over) { return serve(std::move(s), over, make); },
        counter_);
    l->start(address, port);
    const uint16_t bound = l->port();
    listeners_.push_back(std::move(l));
    return bound;
  }

  // Stops accepting, asks every session to finish, calls done() when all have
  // ended or `grace` has passed.
  void shutdown(std::chrono::seconds grace, std::function<void()> done) {
    for (auto& l : listeners_) l->stop();
    if (connections_.empty()) {
      done();
      return;
    }
    auto fired = std::make_shared<bool>(false);
    auto once = [fired, done]() {
      if (*fired) return;
      *fired = true;
      done();
    };
    on_empty_ = once;
    auto timer = std::make_shared<asio::steady_timer>(io_, grace);
    timer->async_wait([timer, once](boost::system::error_code) { once(); });
    auto conns = connections_;
    for (auto& c : conns) c->stop();
  }

  size_t active() const { return connections_.size(); }

 private:
  asio::awaitable<void> serve(tcp::socket socket, bool over_limit, Make make) {
    auto conn = make(std::move(socket));
    connections_.insert(conn);
    try {
      co_await conn->run(over_limit);
    } catch (const std::exception& e) {
      // A bug must cost one session, never the process.
      spdlog::error("{} session ended by an internal error: {}", protocol_, e.what());
    }
    conn->release_limits();
    connections_.erase(conn);
    if (connections_.empty() && on_empty_) {
      auto done = std::move(on_empty_);
      on_empty_ = nullptr;
      done();
    }
  }

  asio::io_context& io_;
  std::shared_ptr<ConnectionCounter> counter_;
  std::string protocol_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  std::set<std::shared_ptr<Connection>> connections_;
  std::function<void()> on_empty_;
};

}  // namespace postline::net
