// A TCP accept loop with connection limits (total and per client IP). Each
// accepted connection runs `handler` as its own coroutine; when a limit is hit
// the handler still runs with over_limit = true so the protocol can say why
// (SMTP 421, IMAP BYE) before closing.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>

namespace postline::net {

namespace asio = boost::asio;
using tcp = asio::ip::tcp;

struct ConnectionLimits {
  size_t max_total = 1000;
  size_t max_per_ip = 100;
};

class ConnectionCounter {
 public:
  explicit ConnectionCounter(ConnectionLimits limits) : limits_(limits) {}
  // Returns true and counts the connection if within limits.
  bool try_add(const std::string& ip);
  void remove(const std::string& ip);
  size_t total() const;

 private:
  ConnectionLimits limits_;
  mutable std::mutex mutex_;
  size_t total_ = 0;
  std::map<std::string, size_t> per_ip_;
};

class Listener {
 public:
  using Handler = std::function<asio::awaitable<void>(tcp::socket socket, bool over_limit)>;

  Listener(asio::io_context& io, std::string name, Handler handler,
           std::shared_ptr<ConnectionCounter> counter);
  // Binds and starts accepting; throws std::runtime_error naming name:address:port.
  void start(const std::string& address, uint16_t port);
  void stop();
  uint16_t port() const { return port_; }
  const std::string& name() const { return name_; }

 private:
  asio::awaitable<void> accept_loop();
  asio::io_context& io_;
  std::string name_;
  Handler handler_;
  std::shared_ptr<ConnectionCounter> counter_;
  tcp::acceptor acceptor_;
  uint16_t port_ = 0;
};

}  // namespace postline::net
