#include "services/web/server/web_server.h"

#include "common/async/offload.h"
#include "common/log/printable.h"
#include "services/web/core/query.h"
#include "services/web/portal/portal.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <spdlog/spdlog.h>

#include <array>
#include <ctime>
#include <optional>

namespace postline::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

namespace {

using Response = http::response<http::string_body>;

Response to_response(const Answer& a, unsigned version, bool keep_alive, bool head) {
  Response res;
  res.version(version);
  res.result(a.status);
  res.set(http::field::server, "postline");
  res.set(http::field::content_type, a.content_type);
  // Nothing webd serves may be framed or sniffed into something else.
  res.set("X-Content-Type-Options", "nosniff");
  for (const auto& [name, value] : a.headers) {
    if (beast::iequals(name, "Set-Cookie")) res.insert(name, value);  // may repeat
    else res.set(name, value);
  }
  res.keep_alive(keep_alive);
  res.body() = a.body;
  res.prepare_payload();
  if (head) res.body().clear();  // Content-Length stays that of the GET answer
  return res;
}

Answer plain(unsigned status, const char* text) {
  Answer a;
  a.status = status;
  a.body = std::string(text) + "\n";
  return a;
}

}  // namespace

struct WebServer::Impl {
  asio::io_context& io;
  const Site& site;
  DomainDirectory& directory;
  std::shared_ptr<net::TlsContext> tls;
  WebMetrics& metrics;
  ServerOptions options;
  std::shared_ptr<net::ConnectionCounter> counter;
  std::unique_ptr<net::Listener> https;
  std::unique_ptr<net::Listener> redirect;
  bool stopping = false;
  asio::steady_timer drain_timer{io};
  std::chrono::steady_clock::time_point drain_deadline;
  std::function<void()> on_drained;
  const portal::Portal* portal = nullptr;
  PortalMetrics* portal_metrics = nullptr;
  std::unique_ptr<asio::thread_pool> portal_threads;

  void drain_check() {
    if (counter->total() == 0 || std::chrono::steady_clock::now() >= drain_deadline) {
      if (auto done = std::move(on_drained)) done();
      return;
    }
    drain_timer.expires_after(std::chrono::milliseconds(100));
    drain_timer.async_wait([this](const boost::system::error_code& ec) {
      if (!ec) drain_check();
    });
  }

  Impl(asio::io_context& io_, const Site& site_, DomainDirectory& dir, std::shared_ptr<net::TlsContext> tls_,
       WebMetrics& m, ServerOptions opts)
      : io(io_), site(site_), directory(dir), tls(std::move(tls_)), metrics(m), options(opts),
        counter(std::make_shared<net::ConnectionCounter>(opts.limits)) {}

  // The key authorization when `req` fetches a pending http-01 token.
  std::optional<std::string> challenge_answer(const http::request<http::string_body>& req) const {
    if (!options.acme_challenge) return std::nullopt;
    if (req.method() != http::verb::get && req.method() != http::verb::head) return std::nullopt;
    return options.acme_challenge(std::string_view(req.target().data(), req.target().size()));
  }

  // What the HTTPS side answers for one complete request.
  asio::awaitable<std::pair<std::string, Answer>> answer(const http::request<http::string_body>& req,
                                                         const std::string& ip) {
    const std::string method(req.method_string());
    const std::string target(req.target());
    const std::string host(req[http::field::host]);
    if (portal && portal::Portal::handles(target_path(target))) co_return co_await portal_answer(req, ip);
    Routed routed = route(RequestView{method, target, host, req.body()});
    std::string cls = path_class_name(routed.path_class);
    if (routed.answer) co_return std::make_pair(cls, std::move(*routed.answer));
    const Hosted hosted = co_await directory.hosted(routed.query->domain);
    if (hosted == Hosted::kUnavailable) co_return std::make_pair(cls, unavailable());
    if (hosted == Hosted::kNo) {
      spdlog::debug("{}: domain {} is not hosted here: 404", cls, log::printable(routed.query->domain));
      co_return std::make_pair(cls, not_found());
    }
    try {
      co_return std::make_pair(cls, site.render(*routed.query));
    } catch (const std::exception& e) {
      spdlog::error("{} for domain {}: {}", cls, log::printable(routed.query->domain), e.what());
      co_return std::make_pair(cls, plain(500, "internal error"));
    }
  }

  // A portal request, on the worker pool (its backend calls block).
  asio::awaitable<std::pair<std::string, Answer>> portal_answer(const http::request<http::string_body>& req,
                                                                const std::string& ip) {
    auto work = [this, &req, ip]() {
      const std::string method(req.method_string()), target(req.target()), host(req[http::field::host]),
          cookie(req[http::field::cookie]), origin(req[http::field::origin]), referer(req[http::field::referer]),
          content_type(req[http::field::content_type]);
      portal::Request pr{method, target, host, cookie, origin, referer, content_type, req.body(), ip,
                         static_cast<int64_t>(std::time(nullptr))};
      try {
        return portal->handle(pr);
      } catch (const std::exception& e) {
        spdlog::error("portal {}: {}", log::printable(std::string(target_path(target))), e.what());
        portal::Response r;
        r.route = "other";
        r.answer = plain(500, "internal error");
        return r;
      }
    };
    portal::Response r = co_await async::offload(*portal_threads, std::move(work));
    portal_metrics->request(r.route, r.answer.status);
    if (r.login) portal_metrics->login(*r.login);
    co_return std::make_pair(std::string("portal"), std::move(r.answer));
  }

  // Reads requests from `stream` and writes answers until the peer stops,
  // a limit is broken or the stream fails. `secure`: the HTTPS side (else redirects only).
  template <typename Stream>
  asio::awaitable<void> serve(Stream& stream, beast::tcp_stream& tcp, const std::string& ip, bool secure) {
    beast::flat_buffer buffer(options.max_header_size);
    for (;;) {
      tcp.expires_after(options.request_timeout);
      http::request_parser<http::string_body> parser;
      parser.header_limit(static_cast<std::uint32_t>(options.max_header_size));
      parser.body_limit(options.max_body_size);
      boost::system::error_code ec;
      co_await http::async_read_header(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && !parser.is_done()) {
        // A client that sent "Expect: 100-continue" (curl, .NET for larger
        // POSTs) waits for this before its body; the limits were checked on
        // the header already (Content-Length against web.max_body_size).
        if (beast::iequals(parser.get()[http::field::expect], "100-continue")) {
          http::response<http::empty_body> go_on{http::status::continue_, parser.get().version()};
          co_await http::async_write(stream, go_on, asio::redirect_error(asio::use_awaitable, ec));
        }
        if (!ec) co_await http::async_read(stream, buffer, parser, asio::redirect_error(asio::use_awaitable, ec));
      }
      std::optional<Answer> refusal;
      if (ec == http::error::end_of_stream || ec == asio::error::eof || ec == beast::error::timeout ||
          ec == asio::error::operation_aborted || ec == asio::error::connection_reset ||
          ec == asio::ssl::error::stream_truncated) {
        co_return;
      } else if (ec == http::error::body_limit) {
        refusal = plain(413, "request body too large");
      } else if (ec == http::error::header_limit) {
        refusal = plain(431, "request header fields too large");
      } else if (ec) {
        if (ec.category() != http::make_error_code(http::error::bad_target).category()) co_return;
        refusal = plain(400, "malformed HTTP request");
      }
      std::string cls = secure ? "other" : "redirect";
      Answer a;
      bool keep_alive = false, head = false;
      unsigned version = 11;
      if (refusal) {
        a = std::move(*refusal);
        if (secure) {
          // Name the path class even for a refused body, so 413s show under autodiscover:
          // the request line is stored before the header is complete (Beast checks
          // Content-Length against the body limit as it reads that field).
          const std::string target(parser.get().target());
          cls = path_class_name(route(RequestView{"", target, "", ""}).path_class);
        }
      } else {
        const auto& req = parser.get();
        version = req.version();
        keep_alive = req.keep_alive() && !stopping;
        head = req.method() == http::verb::head;
        if (secure) {
          auto [c, answer_] = co_await answer(req, ip);
          cls = std::move(c);
          a = std::move(answer_);
        } else if (auto key_authorization = challenge_answer(req)) {
          a.content_type = "application/octet-stream";
          a.body = std::move(*key_authorization);  // exactly the key authorization (RFC 8555 8.3)
          cls = "acme_challenge";
        } else if (auto location = https_location(std::string(req[http::field::host]), std::string(req.target()),
                                                  options.public_https_port)) {
          // 301 keeps GET a GET; anything else gets 308 so the method and body survive.
          const bool safe = req.method() == http::verb::get || req.method() == http::verb::head;
          a = plain(safe ? 301 : 308, "moved to HTTPS");
          a.headers.emplace_back("Location", *location);
        } else {
          a = plain(400, "a Host header naming this server is required");
          keep_alive = false;
        }
      }
      metrics.request(cls, a.status);
      // The portal's bodies are whole pages (the cause was logged where it happened).
      if (a.status >= 500)
        spdlog::warn("{} {} from {}: {}", cls, a.status, ip, cls == "portal" ? "" : log::printable(a.body));
      else spdlog::debug("{} {} from {}", cls, a.status, ip);
      Response res = to_response(a, version, keep_alive, head);
      tcp.expires_after(options.request_timeout);
      co_await http::async_write(stream, res, asio::redirect_error(asio::use_awaitable, ec));
      if (!ec && refusal) co_await drain(stream, tcp);
      if (ec || !keep_alive) co_return;
    }
  }

  // After refusing a request whose body (or header) we did not read, take in
  // and drop what the client is still sending, for a bounded time and amount:
  // closing a socket with unread input sends a reset, which can destroy the
  // 413/431 before the client has read it.
  template <typename Stream>
  asio::awaitable<void> drain(Stream& stream, beast::tcp_stream& tcp) {
    tcp.expires_after(std::chrono::seconds(2));
    std::array<char, 16 * 1024> sink;
    size_t total = 0;
    boost::system::error_code ec;
    while (total < 4 * options.max_body_size + (1 << 20)) {
      const size_t n =
          co_await stream.async_read_some(asio::buffer(sink), asio::redirect_error(asio::use_awaitable, ec));
      if (ec) break;
      total += n;
    }
  }

  asio::awaitable<void> https_session(tcp::socket socket, bool over_limit) {
    if (over_limit) {
      metrics.over_limit();
      co_return;  // nothing can be said before TLS; closing is the answer
    }
    boost::system::error_code ec;
    const std::string ip = socket.remote_endpoint(ec).address().to_string();
    auto ctx = tls->current();
    beast::ssl_stream<beast::tcp_stream> stream(beast::tcp_stream(std::move(socket)), *ctx);
    stream.next_layer().expires_after(options.request_timeout);
    co_await stream.async_handshake(asio::ssl::stream_base::server, asio::redirect_error(asio::use_awaitable, ec));
    if (ec) {
      metrics.handshake_failed();
      spdlog::debug("TLS handshake with {} failed: {}", ip, ec.message());
      co_return;
    }
    co_await serve(stream, stream.next_layer(), ip, true);
    stream.next_layer().expires_after(std::chrono::seconds(5));
    co_await stream.async_shutdown(asio::redirect_error(asio::use_awaitable, ec));
  }

  asio::awaitable<void> redirect_session(tcp::socket socket, bool over_limit) {
    if (over_limit) {
      metrics.over_limit();
      co_return;
    }
    boost::system::error_code ec;
    const std::string ip = socket.remote_endpoint(ec).address().to_string();
    beast::tcp_stream stream(std::move(socket));
    co_await serve(stream, stream, ip, false);
    stream.socket().shutdown(tcp::socket::shutdown_both, ec);
  }
};

WebServer::WebServer(asio::io_context& io, const Site& site, DomainDirectory& directory,
                     std::shared_ptr<net::TlsContext> tls, WebMetrics& metrics, ServerOptions options)
    : impl_(std::make_unique<Impl>(io, site, directory, std::move(tls), metrics, options)) {}

WebServer::~WebServer() = default;

std::vector<std::pair<std::string, uint16_t>> WebServer::start(const std::string& address, uint16_t https_port,
                                                               uint16_t redirect_port) {
  Impl* impl = impl_.get();
  std::vector<std::pair<std::string, uint16_t>> bound;
  impl->https = std::make_unique<net::Listener>(
      impl->io, "https",
      [impl](tcp::socket s, bool over) { return impl->https_session(std::move(s), over); }, impl->counter);
  impl->https->start(address, https_port);
  bound.emplace_back("https", impl->https->port());
  if (redirect_port != 0) {
    // The same counter: plain-HTTP connections take slots from the same budget.
    impl->redirect = std::make_unique<net::Listener>(
        impl->io, "http-redirect",
        [impl](tcp::socket s, bool over) { return impl->redirect_session(std::move(s), over); }, impl->counter);
    impl->redirect->start(address, redirect_port);
    bound.emplace_back("http-redirect", impl->redirect->port());
  }
  return bound;
}

void WebServer::enable_portal(const portal::Portal& portal, PortalMetrics& metrics, size_t threads) {
  impl_->portal = &portal;
  impl_->portal_metrics = &metrics;
  impl_->portal_threads = std::make_unique<asio::thread_pool>(threads);
}

size_t WebServer::active() const { return impl_->counter->total(); }

void WebServer::shutdown(std::chrono::seconds grace, std::function<void()> done) {
  Impl* impl = impl_.get();
  impl->stopping = true;
  if (impl->https) impl->https->stop();
  if (impl->redirect) impl->redirect->stop();
  impl->drain_deadline = std::chrono::steady_clock::now() + grace;
  impl->on_drained = std::move(done);
  impl->drain_check();
}

}  // namespace postline::web
