#include "services/imap-access/server/server.h"

#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>

namespace postline::imap {

Server::Server(asio::io_context& io, ServerContext& context, net::ConnectionLimits limits)
    : io_(io), context_(context), counter_(std::make_shared<net::ConnectionCounter>(limits)) {}

asio::awaitable<void> Server::serve(net::tcp::socket socket, bool over_limit, std::string listener,
                                    bool implicit_tls) {
  auto conn = std::make_shared<Connection>(std::move(socket), context_, std::move(listener), implicit_tls);
  connections_.insert(conn);
  try {
    co_await conn->run(over_limit);
  } catch (const std::exception& e) {
    // A bug must cost one session, never the process.
    spdlog::error("IMAP session ended by an internal error: {}", e.what());
  }
  conn->release_limits();
  connections_.erase(conn);
  if (connections_.empty() && on_empty_) {
    auto done = std::move(on_empty_);
    on_empty_ = nullptr;
    done();
  }
}

std::vector<std::pair<std::string, uint16_t>> Server::start(const std::string& address, uint16_t port,
                                                            uint16_t tls_port) {
  std::vector<std::pair<std::string, uint16_t>> out;
  auto make = [&](const std::string& name, bool implicit_tls, uint16_t p) {
    auto l = std::make_unique<net::Listener>(
        io_, name,
        [this, name, implicit_tls](net::tcp::socket s, bool over) { return serve(std::move(s), over, name, implicit_tls); },
        counter_);
    l->start(address, p);
    out.emplace_back(name, l->port());
    listeners_.push_back(std::move(l));
  };
  make("imap", false, port);
  if (context_.tls) make("imaps", true, tls_port);
  else spdlog::warn("tls.cert_file/tls.key_file not set: no STARTTLS and no implicit-TLS listener");
  return out;
}

void Server::shutdown(std::chrono::seconds grace, std::function<void()> done) {
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

}  // namespace postline::imap
