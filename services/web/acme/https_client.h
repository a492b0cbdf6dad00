// The ACME client's HTTPS on common/net's https_client.h: one request per
// connection, the server's certificate verified against acme.ca_file (or the
// system trust store) and its host name, every request bounded by
// acme.request_timeout (resolve excepted) and the answer by a size limit.
#pragma once

#include <boost/asio/awaitable.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <memory>
#include <string>

namespace postline::web::acme {

struct HttpsResponse {
  unsigned status = 0;
  std::string body;
  std::string location, replay_nonce, retry_after, content_type;
};

struct Url {
  std::string host, port, target;
};
// https://host[:port]/path?query; throws AcmeError for anything else.
Url parse_https_url(const std::string& url);

class HttpsClient {
 public:
  HttpsClient(const std::string& ca_file, std::chrono::seconds timeout, size_t max_body = 1 << 20);
  // Throws AcmeError naming the URL when the request cannot be made or the
  // answer cannot be read (HTTP error statuses are returned, not thrown).
  boost::asio::awaitable<HttpsResponse> request(boost::beast::http::verb method, const std::string& url,
                                                std::string body = {}, std::string content_type = {},
                                                std::string accept = {});

 private:
  std::shared_ptr<boost::asio::ssl::context> ctx_;
  std::chrono::seconds timeout_;
  size_t max_body_;
};

}  // namespace postline::web::acme
