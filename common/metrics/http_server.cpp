#include "common/metrics/http_server.h"

#include "common/metrics/process_collector.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <prometheus/gauge.h>
#include <prometheus/text_serializer.h>
#include <spdlog/spdlog.h>

#include <sstream>
#include <stdexcept>

namespace postline::metrics {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

std::string render(prometheus::Registry& registry, const std::vector<std::shared_ptr<prometheus::Collectable>>& more) {
  prometheus::TextSerializer serializer;
  std::ostringstream out;
  auto families = registry.Collect();
  for (const auto& c : more) {
    auto extra = c->Collect();
    families.insert(families.end(), std::make_move_iterator(extra.begin()), std::make_move_iterator(extra.end()));
  }
  serializer.Serialize(out, families);
  return out.str();
}

struct HttpServer::Impl {
  std::shared_ptr<prometheus::Registry> registry;
  std::function<bool()> readiness;
  prometheus::Gauge* ready_gauge = nullptr;
  std::shared_ptr<PoolCollector> pools = std::make_shared<PoolCollector>();
  std::shared_ptr<CertificateCollector> certificates = std::make_shared<CertificateCollector>();
  std::vector<std::shared_ptr<prometheus::Collectable>> collectables{std::make_shared<ProcessCollector>(), pools,
                                                                     certificates};
  asio::io_context io{1};
  tcp::acceptor acceptor{io};
  std::thread thread;

  bool ready() {
    bool ok = false;
    try {
      ok = !readiness || readiness();
    } catch (const std::exception& e) {
      spdlog::warn("readiness check failed: {}", e.what());
    }
    ready_gauge->Set(ok ? 1 : 0);
    return ok;
  }

  asio::awaitable<void> serve(tcp::socket socket) {
    beast::tcp_stream stream(std::move(socket));
    beast::flat_buffer buffer(16 * 1024);
    try {
      for (;;) {
        stream.expires_after(std::chrono::seconds(30));
        http::request_parser<http::empty_body> parser;
        parser.header_limit(8 * 1024);
        co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
        const auto& req = parser.get();
        http::response<http::string_body> res;
        res.version(req.version());
        res.keep_alive(req.keep_alive());
        res.set(http::field::server, "postline");
        const std::string target(req.target());
        const std::string path = target.substr(0, target.find('?'));
        if (req.method() != http::verb::get && req.method() != http::verb::head) {
          res.result(http::status::method_not_allowed);
          res.body() = "method not allowed\n";
        } else if (path == "/metrics") {
          res.result(http::status::ok);
          res.set(http::field::content_type, "text/plain; version=0.0.4; charset=utf-8");
          ready();  // postline_ready: what /readyz answers now
          res.body() = render(*registry, collectables);
        } else if (path == "/healthz") {
          res.result(http::status::ok);
          res.body() = "ok\n";
        } else if (path == "/readyz") {
          const bool is_ready = ready();
          res.result(is_ready ? http::status::ok : http::status::service_unavailable);
          res.body() = is_ready ? "ready\n" : "not ready\n";
        } else {
          res.result(http::status::not_found);
          res.body() = "not found\n";
        }
        if (!res.has_content_length()) res.set(http::field::content_type, "text/plain; charset=utf-8");
        res.prepare_payload();
        co_await http::async_write(stream, res, asio::use_awaitable);
        if (!res.keep_alive()) break;
      }
    } catch (const std::exception&) {
      // Peer closed, timed out or sent garbage: nothing to answer on HTTP we can trust.
    }
    beast::error_code ec;
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }

  asio::awaitable<void> accept_loop() {
    for (;;) {
      boost::system::error_code ec;
      tcp::socket socket = co_await acceptor.async_accept(asio::redirect_error(asio::use_awaitable, ec));
      if (ec == asio::error::operation_aborted) co_return;
      if (ec) continue;
      asio::co_spawn(io, serve(std::move(socket)), asio::detached);
    }
  }
};

HttpServer::HttpServer(std::shared_ptr<prometheus::Registry> registry, std::function<bool()> readiness)
    : impl_(std::make_unique<Impl>()) {
  impl_->registry = std::move(registry);
  impl_->readiness = std::move(readiness);
  impl_->ready_gauge = &prometheus::BuildGauge()
                            .Name("postline_ready")
                            .Help("1 while the service's dependencies answer (what /readyz says), else 0; "
                                  "checked at each scrape")
                            .Register(*impl_->registry)
                            .Add({});
}

PoolCollector& HttpServer::pools() { return *impl_->pools; }
CertificateCollector& HttpServer::certificates() { return *impl_->certificates; }

HttpServer::~HttpServer() { stop(); }

void HttpServer::start(const std::string& address, uint16_t port) {
  try {
    tcp::endpoint ep(asio::ip::make_address(address), port);
    impl_->acceptor.open(ep.protocol());
    impl_->acceptor.set_option(asio::socket_base::reuse_address(true));
    impl_->acceptor.bind(ep);
    impl_->acceptor.listen();
    bound_port_ = impl_->acceptor.local_endpoint().port();
  } catch (const std::exception& e) {
    throw std::runtime_error("cannot listen for HTTP on " + address + ":" + std::to_string(port) + ": " +
                             e.what());
  }
  asio::co_spawn(impl_->io, impl_->accept_loop(), asio::detached);
  impl_->thread = std::thread([this] { impl_->io.run(); });
}

void HttpServer::stop() {
  if (!impl_ || !impl_->thread.joinable()) return;
  asio::post(impl_->io, [this] {
    boost::system::error_code ec;
    impl_->acceptor.close(ec);
    impl_->io.stop();
  });
  impl_->thread.join();
}

}  // namespace postline::metrics
