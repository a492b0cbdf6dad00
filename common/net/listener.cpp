#include "common/net/listener.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <spdlog/spdlog.h>

#include <stdexcept>

namespace postline::net {

bool ConnectionCounter::try_add(const std::string& ip) {
  std::lock_guard lock(mutex_);
  if (total_ >= limits_.max_total) return false;
  auto& n = per_ip_[ip];
  if (n >= limits_.max_per_ip) {
    if (n == 0) per_ip_.erase(ip);
    return false;
  }
  ++n;
  ++total_;
  return true;
}

void ConnectionCounter::remove(const std::string& ip) {
  std::lock_guard lock(mutex_);
  auto it = per_ip_.find(ip);
  if (it == per_ip_.end()) return;
  if (--it->second == 0) per_ip_.erase(it);
  --total_;
}

size_t ConnectionCounter::total() const {
  std::lock_guard lock(mutex_);
  return total_;
}

Listener::Listener(asio::io_context& io, std::string name, Handler handler,
                   std::shared_ptr<ConnectionCounter> counter)
    : io_(io), name_(std::move(name)), handler_(std::move(handler)), counter_(std::move(counter)), acceptor_(io) {}

void Listener::start(const std::string& address, uint16_t port) {
  try {
    tcp::endpoint ep(asio::ip::make_address(address), port);
    acceptor_.open(ep.protocol());
    acceptor_.set_option(asio::socket_base::reuse_address(true));
    acceptor_.bind(ep);
    acceptor_.listen(asio::socket_base::max_listen_connections);
    port_ = acceptor_.local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen (" + name_ + ") on " + address + ":" + std::to_string(port) + ": " +
                             e.what());
  }
  asio::co_spawn(io_, accept_loop(), asio::detached);
}

void Listener::stop() {
  boost::system::error_code ec;
  acceptor_.close(ec);
}

asio::awaitable<void> Listener::accept_loop() {
  for (;;) {
    boost::system::error_code ec;
    tcp::socket socket = co_await acceptor_.async_accept(asio::redirect_error(asio::use_awaitable, ec));
    if (ec == asio::error::operation_aborted || !acceptor_.is_open()) co_return;
    if (ec) {
      spdlog::warn("{}: accept failed: {}", name_, ec.message());
      continue;
    }
    std::string ip;
    auto remote = socket.remote_endpoint(ec);
    if (!ec) ip = remote.address().to_string();
    const bool admitted = counter_ ? counter_->try_add(ip) : true;
    auto counter = counter_;
    auto handler = handler_;
    asio::co_spawn(
        io_,
        [handler, counter, ip, admitted, s = std::move(socket)]() mutable -> asio::awaitable<void> {
          try {
            co_await handler(std::move(s), !admitted);
          } catch (const std::exception& e) {
            spdlog::error("connection handler for {} failed: {}", ip, e.what());
          }
          if (admitted && counter) counter->remove(ip);
        },
        asio::detached);
  }
}

}  // namespace postline::net
