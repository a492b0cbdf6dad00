// A small HTTPS client for one request per connection (Boost.Beast over
// asio::ssl): what webd's ACME client and queued's MTA-STS policy fetch share.
// TLS 1.2 minimum; the server's certificate verified against a CA file or the
// system trust store and its name checked by OpenSSL (RFC 6125: a wildcard
// only as the whole left-most label; an IP address against the IP SANs); one
// deadline for connect, handshake, request and answer; the answer's header
// and body bounded.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace postline::net {

// TLS 1.2 minimum, peer verification on, trusting `ca_file` (PEM) or, when it
// is empty, the system trust store. Throws std::runtime_error
// "cannot load <file>: <why>" (callers prefix their config key).
std::shared_ptr<boost::asio::ssl::context> make_https_client_context(const std::string& ca_file);

struct HttpsRequest {
  boost::beast::http::verb method = boost::beast::http::verb::get;
  std::string host;  // the server name (TLS SNI, the certificate check, Host:)
  std::string port = "443";
  std::string target = "/";
  std::string user_agent;
  std::string body, content_type, accept;  // empty: not sent
  size_t max_header = 64 * 1024;
  size_t max_body = 1 << 20;
};

using HttpsResponse = boost::beast::http::response<boost::beast::http::string_body>;

// No TCP connection could be made (another address may do); what() is why.
class ConnectError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// The handshake failed because the certificate did not verify (chain, dates
// or name); what() is the handshake's error, reason() OpenSSL's verify result.
class CertificateError : public std::runtime_error {
 public:
  CertificateError(const std::string& what, std::string reason)
      : std::runtime_error(what), reason_(std::move(reason)) {}
  const std::string& reason() const { return reason_; }

 private:
  std::string reason_;
};

// Sends `request` on a connection of its own (Connection: close) to the first
// of `endpoints` that accepts, and reads the whole answer, all before
// `deadline`. HTTP error statuses are returned; a failure throws ConnectError,
// CertificateError or the std::exception of Asio/Beast (timeouts, limits, a
// broken answer).
boost::asio::awaitable<HttpsResponse> https_request(boost::asio::ssl::context& ctx,
                                                    const std::vector<boost::asio::ip::tcp::endpoint>& endpoints,
                                                    const HttpsRequest& request,
                                                    std::chrono::steady_clock::time_point deadline);

}  // namespace postline::net
