// A small S3 client for the blob store: HTTP/1.1 over Boost.Beast (TLS via
// OpenSSL, at least TLS 1.2, the server's certificate and name verified),
// SigV4 on every request (sigv4.h), keep-alive connections in a bounded
// pool, path-style (endpoint/bucket/key) or virtual-host-style
// (bucket.endpoint/key) addressing. Blocking and thread-safe: each pooled
// connection runs its operations on its own io_context, each bounded by
// `timeout`.
//
// Retries: a transport failure (connect, timeout, reset) or a 500/502/503/504
// answer is retried up to `max_retries` times with exponential backoff and
// jitter (100 ms, 200 ms, ... capped at 5 s); other answers are returned.
// Metrics (when given a registry):
//   postline_s3_requests_total{op,status}        status = HTTP code, or "error" (no answer)
//   postline_s3_request_duration_seconds{op}     histogram, one sample per attempt
//   postline_s3_bytes_total{direction}           sent|received bodies
//   postline_s3_retries_total{op}
// Credentials are never logged (nor the Authorization header).
#pragma once

#include "common/mailstore/blob/s3/sigv4.h"

#include <boost/beast/http/verb.hpp>

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace prometheus {
class Registry;
}

namespace postline::mailstore::s3 {

struct S3Options {
  std::string endpoint;  // http://127.0.0.1:9000, https://s3.eu-west-1.amazonaws.com
  std::string bucket;
  std::string region = "us-east-1";
  bool virtual_host = false;  // bucket.host/key instead of host/bucket/key
  Credentials credentials;
  std::string ca_file;        // https: CA bundle to trust; empty = the system's
  std::chrono::milliseconds timeout{30'000};
  int max_retries = 4;
  std::chrono::milliseconds retry_base{100};
  size_t max_connections = 16;
  uint64_t max_response_bytes = uint64_t(1) << 30;
};

struct S3Response {
  unsigned status = 0;
  std::string body;
  std::string etag;
  uint64_t content_length = 0;  // of the answer (HEAD: the object's size)
  std::string error_code;       // S3's <Code> for an error answer
};

class S3Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Parses endpoint URLs; throws S3Error for anything but http(s)://host[:port][/].
struct Endpoint {
  bool tls = false;
  std::string host, port;
};
Endpoint parse_endpoint(const std::string& url);

class S3Client {
 public:
  using Query = std::vector<std::pair<std::string, std::string>>;
  using Headers = std::vector<std::pair<std::string, std::string>>;

  explicit S3Client(S3Options options, prometheus::Registry* registry = nullptr);
  ~S3Client();
  S3Client(const S3Client&) = delete;
  S3Client& operator=(const S3Client&) = delete;

  // One operation on `key` (empty: the bucket), retried as above. Throws
  // S3Error when no answer came after the retries (transport) or the last
  // answer was still a 5xx; returns every other answer.
  S3Response call(std::string_view op, boost::beast::http::verb method, const std::string& key, const Query& query,
                  std::string_view body, const Headers& extra = {});

  const S3Options& options() const { return options_; }
  // Requests sent so far (attempts, retries included): for tests.
  uint64_t attempts() const;

 private:
  struct Connection;
  struct Metrics;
  std::unique_ptr<Connection> acquire();
  void release(std::unique_ptr<Connection> c);
  S3Response attempt(Connection& c, boost::beast::http::verb method, const std::string& target,
                     const std::string& host_header, const Headers& headers, std::string_view body);

  S3Options options_;
  Endpoint endpoint_;
  std::shared_ptr<void> tls_context_;  // boost::asio::ssl::context, when https
  std::unique_ptr<Metrics> metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t open_ = 0;
  uint64_t attempts_ = 0;
};

}  // namespace postline::mailstore::s3
