#include "services/web/acme/https_client.h"

#include "services/web/acme/errors.h"

#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>

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
    : ctx_(std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client)), timeout_(timeout),
      max_body_(max_body) {
  SSL_CTX_set_min_proto_version(ctx_->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (ca_file.empty())
    ctx_->set_default_verify_paths(ec);
  else
    ctx_->load_verify_file(ca_file, ec);
  if (ec) throw AcmeError("acme.ca_file: cannot load " + ca_file + ": " + ec.message());
  ctx_->set_verify_mode(asio::ssl::verify_peer);
}

asio::awaitable<HttpsResponse> HttpsClient::request(http::verb method, const std::string& url, std::string body,
                                                    std::string content_type, std::string accept) {
  const Url u = parse_https_url(url);
  auto ex = co_await asio::this_coro::executor;
  HttpsResponse out;
  try {
    asio::ip::tcp::resolver resolver(ex);
    beast::ssl_stream<beast::tcp_stream> stream(ex, *ctx_);
    if (!SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str()))
      throw AcmeError("cannot set the TLS server name");
    stream.set_verify_callback(asio::ssl::host_name_verification(u.host));
    const auto endpoints = co_await resolver.async_resolve(u.host, u.port, asio::use_awaitable);
    beast::get_lowest_layer(stream).expires_after(timeout_);
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
    http::request<http::string_body> req{method, u.target, 11};
    req.set(http::field::host, u.port == "443" ? u.host : u.host + ":" + u.port);
    req.set(http::field::user_agent, "postline-webd-acme");
    req.set(http::field::connection, "close");
    if (!content_type.empty()) req.set(http::field::content_type, content_type);
    if (!accept.empty()) req.set(http::field::accept, accept);
    req.body() = std::move(body);
    req.prepare_payload();
    co_await http::async_write(stream, req, asio::use_awaitable);
    beast::flat_buffer buffer;
    http::response_parser<http::string_body> parser;
    parser.header_limit(64 * 1024);
    parser.body_limit(max_body_);
    if (method == http::verb::head) parser.skip(true);
    co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
    const auto& res = parser.get();
    out.status = res.result_int();
    out.body = res.body();
    out.location = std::string(res[http::field::location]);
    out.replay_nonce = std::string(res["Replay-Nonce"]);
    out.retry_after = std::string(res[http::field::retry_after]);
    out.content_type = std::string(res[http::field::content_type]);
    // No close_notify exchange: the answer is complete, and Connection: close ends it.
    beast::get_lowest_layer(stream).socket().close();
  } catch (const AcmeError&) {
    throw;
  } catch (const std::exception& e) {
    throw AcmeError(std::string(http::to_string(method)) + " " + url.substr(0, 200) + ": " + e.what());
  }
  co_return out;
}

}  // namespace postline::web::acme
