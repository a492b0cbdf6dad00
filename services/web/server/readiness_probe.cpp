#include "services/web/server/readiness_probe.h"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <optional>
#include <stdexcept>

namespace postline::web {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::vector<HealthUrl> parse_health_urls(const std::vector<std::string>& entries) {
  std::vector<HealthUrl> out;
  for (const auto& e : entries) {
    const auto bad = [&](const std::string& why) {
      return std::invalid_argument("\"" + e.substr(0, 100) + "\": " + why + " (want name=http://host:port/path)");
    };
    const auto eq = e.find('=');
    if (eq == std::string::npos || eq == 0) throw bad("no name");
    HealthUrl u;
    u.name = e.substr(0, eq);
    u.url = e.substr(eq + 1);
    constexpr std::string_view scheme = "http://";
    if (u.url.rfind(scheme, 0) != 0) throw bad("not an http:// URL");
    const std::string rest = u.url.substr(scheme.size());
    const auto slash = rest.find('/');
    const std::string authority = rest.substr(0, slash);
    u.target = slash == std::string::npos ? "/" : rest.substr(slash);
    const auto colon = authority.rfind(':');
    if (colon == std::string::npos) throw bad("no port");
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
    if (u.host.empty() || u.port.empty() || u.port.size() > 5 ||
        u.port.find_first_not_of("0123456789") != std::string::npos ||
        u.host.find_first_of("@ \t[]") != std::string::npos)
      throw bad("not host:port");
    out.push_back(std::move(u));
  }
  return out;
}

const char* readiness_name(Readiness r) {
  switch (r) {
    case Readiness::kReady: return "ready";
    case Readiness::kNotReady: return "not ready";
    case Readiness::kUnreachable: return "unreachable";
  }
  return "unreachable";
}

ProbeResult probe_readyz(const HealthUrl& url, std::chrono::milliseconds timeout) {
  // A private io_context per probe: the page's worker thread runs it until the
  // answer or the deadline, so no probe can hold up webd's listeners.
  asio::io_context io(1);
  std::optional<ProbeResult> result;
  asio::co_spawn(
      io,
      [&]() -> asio::awaitable<void> {
        asio::ip::tcp::resolver resolver(io);
        beast::tcp_stream stream(io);
        const auto endpoints = co_await resolver.async_resolve(url.host, url.port, asio::use_awaitable);
        stream.expires_after(timeout);
        co_await stream.async_connect(endpoints, asio::use_awaitable);
        http::request<http::empty_body> req{http::verb::get, url.target, 11};
        req.set(http::field::host, url.host + ":" + url.port);
        req.set(http::field::user_agent, "postline-webd-health");
        req.set(http::field::connection, "close");
        co_await http::async_write(stream, req, asio::use_awaitable);
        beast::flat_buffer buffer;
        http::response_parser<http::string_body> parser;
        parser.body_limit(4096);
        co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
        const auto& res = parser.get();
        ProbeResult r;
        r.readiness = res.result_int() == 200 ? Readiness::kReady : Readiness::kNotReady;
        r.detail = "HTTP " + std::to_string(res.result_int());
        std::string first = res.body().substr(0, res.body().find('\n'));
        if (first.size() > 200) first.resize(200);
        if (r.readiness == Readiness::kNotReady && !first.empty()) r.detail += ": " + first;
        result = std::move(r);
      },
      [&](std::exception_ptr e) {
        if (!e || result) return;
        try {
          std::rethrow_exception(e);
        } catch (const std::exception& ex) {
          result = ProbeResult{Readiness::kUnreachable, ex.what()};
        }
      });
  io.run_for(timeout);
  if (!result) return {Readiness::kUnreachable, "no answer within " + std::to_string(timeout.count()) + " ms"};
  return *result;
}

}  // namespace postline::web
