#include "services/managesieve/server/server.h"

#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace postline::managesieve {

Server::Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits)
    : io_(io), context_(context), counter_(std::make_shared<net::ConnectionCounter>(limits)) {}

asio::awaitable<void> Server::serve(net::tcp::socket socket, bool over_limit) {
  auto conn = std::make_shared<Connection>(std::move(socket), context_);
  connections_.insert(conn);
  try {
    co_await conn->run(over_limit);
  } catch (const std::exception& e) {
    // A bug must cost one session, never the process.
    spdlog::error("ManageSieve session ended by an internal error: {}", e.what());
  }
  conn->release_limits();
  connections_.erase(conn);
  if (connections_.empty() && on_empty_) {
    auto done = std::move(on_empty_);
    on_empty_ = nullptr;
    done();
  }
}

uint16_t Server::start(const std::string& address, uint16_t port) {
  listener_ = std::make_unique<net::Listener>(
      io_, "managesieve", [this](net::tcp::socket s, bool over) { return serve(std::move(s), over); }, counter_);
  listener_->start(address, port);
  if (!context_.tls) spdlog::warn("tls.cert_file/tls.key_file not set: no STARTTLS on the ManageSieve listener");
  return listener_->port();
}

void Server::shutdown(std::chrono::seconds grace, std::function<void()> done) {
  if (listener_) listener_->stop();
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

}  // namespace postline::managesieve
