#include "services/web/acme/https_client.h"

#include "common/net/https_client.h"
#include "services/web/acme/errors.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/http.hpp>

#include <vector>

namespace postline::web::acme {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

Url parse_https_url(const std::string& url) {
  constexpr std::string_view scheme = "https://";
  if (url.rfind(scheme, 0) != 0) throw AcmeError("\"" + url.substr(0, 100) + "\" is not an https:// URL");
  const std::string rest = url.substr(scheme.size());
  const auto slash = rest.find('/');
  const std::string authority = rest.substr(0, slash);
  Url u;
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  const auto colon = authority.rfind(':');
  if (colon != std::string::npos && authority.find(']') == std::string::npos) {
    u.host = authority.substr(0, colon);
    u.port = authority.substr(colon + 1);
  } else {
    u.host = authority;
    u.port = "443";
  }
  if (u.host.empty() || u.port.empty() || u.port.find_first_not_of("0123456789") != std::string::npos ||
      u.host.find_first_of("@ \t") != std::string::npos)
    throw AcmeError("\"" + url.substr(0, 100) + "\" is not an https://host[:port]/path URL");
  return u;
}

HttpsClient::HttpsClient(const std::string& ca_file, std::chrono::seconds timeout, size_t max_body)
    : timeout_(timeout), max_body_(max_body) {
  try {
    ctx_ = net::make_https_client_context(ca_file);
  } catch (const std::exception& e) {
    throw AcmeError(std::string("acme.ca_file: ") + e.what());
  }
}

asio::awaitable<HttpsResponse> HttpsClient::request(http::verb method, const std::string& url, std::string body,
                                                    std::string content_type, std::string accept) {
  const Url u = parse_https_url(url);
  auto ex = co_await asio::this_coro::executor;
  HttpsResponse out;
  try {
    asio::ip::tcp::resolver resolver(ex);
    const auto resolved = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
    const std::vector<asio::ip::tcp::endpoint> endpoints(resolved.begin(), resolved.end());
    net::HttpsRequest req;
    req.method = method;
    req.host = u.host;
    req.port = u.port;
    req.target = u.target;
    req.user_agent = "postline-webd-acme";
    req.body = std::move(body);
    req.content_type = std::move(content_type);
    req.accept = std::move(accept);
    req.max_body = max_body_;
    // acme.request_timeout from after the resolve.
    const auto res = co_await net::https_request(*ctx_, endpoints, req, std::chrono::steady_clock::now() + timeout_);
    out.status = res.result_int();
    out.body = res.body();
    out.location = std::string(res[http::field::location]);
    out.replay_nonce = std::string(res["Replay-Nonce"]);
    out.retry_after = std::string(res[http::field::retry_after]);
    out.content_type = std::string(res[http::field::content_type]);
  } catch (const AcmeError&) {
    throw;
  } catch (const std::exception& e) {
    throw AcmeError(std::string(http::to_string(method)) + " " + url.substr(0, 200) + ": " + e.what());
  }
  co_return out;
}

}  // namespace postline::web::acme
