#include "common/net/https_client.h"

#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

namespace postline::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

std::shared_ptr<asio::ssl::context> make_https_client_context(const std::string& ca_file) {
  auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
  boost::system::error_code ec;
  if (ca_file.empty())
    ctx->set_default_verify_paths(ec);
  else
    ctx->load_verify_file(ca_file, ec);
  if (ec) throw std::runtime_error("cannot load " + ca_file + ": " + ec.message());
  ctx->set_verify_mode(asio::ssl::verify_peer);
  return ctx;
}

asio::awaitable<HttpsResponse> https_request(asio::ssl::context& ctx, const std::vector<asio::ip::tcp::endpoint>& endpoints,
                                             const HttpsRequest& request,
                                             std::chrono::steady_clock::time_point deadline) {
  auto ex = co_await asio::this_coro::executor;
  beast::ssl_stream<beast::tcp_stream> stream(ex, ctx);
  SSL* ssl = stream.native_handle();
  if (!SSL_set_tlsext_host_name(ssl, request.host.c_str())) throw std::runtime_error("cannot set the TLS server name");
  // OpenSSL's own name check, so a mismatch shows as X509_V_ERR_HOSTNAME_MISMATCH.
  boost::system::error_code ip_ec;
  asio::ip::make_address(request.host, ip_ec);
  if (!ip_ec) {
    if (!X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(ssl), request.host.c_str()))
      throw std::runtime_error("cannot set the certificate address to check");
  } else {
    SSL_set_hostflags(ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
    if (!SSL_set1_host(ssl, request.host.c_str())) throw std::runtime_error("cannot set the certificate name to check");
  }
  beast::get_lowest_layer(stream).expires_at(deadline);
  try {
    co_await beast::get_lowest_layer(stream).async_connect(endpoints, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    throw ConnectError(e.what());
  }
  try {
    co_await stream.async_handshake(asio::ssl::stream_base::client, asio::use_awaitable);
  } catch (const boost::system::system_error& e) {
    const long verify = SSL_get_verify_result(ssl);
    if (verify != X509_V_OK) throw CertificateError(e.what(), X509_verify_cert_error_string(verify));
    throw;
  }
  http::request<http::string_body> req{request.method, request.target, 11};
  req.set(http::field::host, request.port == "443" ? request.host : request.host + ":" + request.port);
  if (!request.user_agent.empty()) req.set(http::field::user_agent, request.user_agent);
  req.set(http::field::connection, "close");
  if (!request.content_type.empty()) req.set(http::field::content_type, request.content_type);
  if (!request.accept.empty()) req.set(http::field::accept, request.accept);
  req.body() = request.body;
  req.prepare_payload();  // no Content-Length for an empty GET or HEAD
  co_await http::async_write(stream, req, asio::use_awaitable);
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.header_limit(static_cast<std::uint32_t>(request.max_header));
  parser.body_limit(request.max_body);
  if (request.method == http::verb::head) parser.skip(true);
  co_await http::async_read(stream, buffer, parser, asio::use_awaitable);
  HttpsResponse res = parser.release();
  // No close_notify exchange: the answer is complete, and Connection: close ends it.
  beast::get_lowest_layer(stream).socket().close();
  co_return res;
}

}  // namespace postline::net
