#include "common/mailstore/blob/s3/s3_client.h"

#include "common/log/printable.h"
#include "common/mailstore/blob/s3/s3_xml.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <openssl/ssl.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>

#include <random>
#include <thread>

namespace postline::mailstore::s3 {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using tcp = asio::ip::tcp;

Endpoint parse_endpoint(const std::string& url) {
  Endpoint e;
  std::string rest;
  if (url.rfind("https://", 0) == 0) {
    e.tls = true;
    rest = url.substr(8);
  } else if (url.rfind("http://", 0) == 0) {
    rest = url.substr(7);
  } else {
    throw S3Error("mailstore.s3_endpoint: \"" + log::printable(url, 100) + "\" is not an http:// or https:// URL");
  }
  if (!rest.empty() && rest.back() == '/') rest.pop_back();
  if (rest.empty() || rest.find_first_of("/?#@ \t") != std::string::npos)
    throw S3Error("mailstore.s3_endpoint: \"" + log::printable(url, 100) + "\" must be scheme://host[:port]");
  const auto colon = rest.rfind(':');
  if (colon != std::string::npos && rest.find(']') == std::string::npos) {
    e.host = rest.substr(0, colon);
    e.port = rest.substr(colon + 1);
  } else {
    e.host = rest;
    e.port = e.tls ? "443" : "80";
  }
  if (e.host.empty() || e.port.empty() || e.port.find_first_not_of("0123456789") != std::string::npos)
    throw S3Error("mailstore.s3_endpoint: \"" + log::printable(url, 100) + "\" has no valid host and port");
  return e;
}

struct S3Client::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : requests(prometheus::BuildCounter()
                     .Name("postline_s3_requests_total")
                     .Help("S3 requests (attempts) by operation and HTTP status (error: no answer)")
                     .Register(r)),
        duration(prometheus::BuildHistogram()
                     .Name("postline_s3_request_duration_seconds")
                     .Help("Time of one S3 request attempt, by operation")
                     .Register(r)),
        bytes(prometheus::BuildCounter()
                  .Name("postline_s3_bytes_total")
                  .Help("Body bytes sent to and received from S3")
                  .Register(r)),
        retries(prometheus::BuildCounter()
                    .Name("postline_s3_retries_total")
                    .Help("S3 requests retried after a 5xx answer or a transport failure")
                    .Register(r)),
        sent(bytes.Add({{"direction", "sent"}})),
        received(bytes.Add({{"direction", "received"}})) {}
  prometheus::Family<prometheus::Counter>& requests;
  prometheus::Family<prometheus::Histogram>& duration;
  prometheus::Family<prometheus::Counter>& bytes;
  prometheus::Family<prometheus::Counter>& retries;
  prometheus::Counter& sent;
  prometheus::Counter& received;
};

struct S3Client::Connection {
  asio::io_context ioc{1};
  std::optional<beast::tcp_stream> plain;
  std::optional<beast::ssl_stream<beast::tcp_stream>> tls;
  beast::flat_buffer buffer;
  bool open = false;

  beast::tcp_stream& lowest() { return tls ? beast::get_lowest_layer(*tls) : *plain; }
  void close() {
    boost::system::error_code ignored;
    if (tls) beast::get_lowest_layer(*tls).socket().close(ignored);
    if (plain) plain->socket().close(ignored);
    tls.reset();
    plain.reset();
    buffer.clear();
    open = false;
  }
  ~Connection() { close(); }
};

namespace {

// Runs one asynchronous operation on the connection's own io_context to
// completion (the tcp_stream's expiry bounds it).
template <class Start>
boost::system::error_code run(asio::io_context& ioc, Start&& start) {
  boost::system::error_code result = asio::error::would_block;
  start([&result](boost::system::error_code ec, auto&&...) { result = ec; });
  ioc.restart();
  ioc.run();
  return result;
}

const std::vector<double>& latency_buckets() {
  static const std::vector<double> b{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30};
  return b;
}

bool retryable(unsigned status) { return status == 500 || status == 502 || status == 503 || status == 504; }

const char* verb_name(http::verb v) {
  switch (v) {
    case http::verb::get: return "GET";
    case http::verb::put: return "PUT";
    case http::verb::post: return "POST";
    case http::verb::head: return "HEAD";
    case http::verb::delete_: return "DELETE";
    default: return "GET";
  }
}

}  // namespace

S3Client::S3Client(S3Options options, prometheus::Registry* registry)
    : options_(std::move(options)), endpoint_(parse_endpoint(options_.endpoint)) {
  if (options_.bucket.empty()) throw S3Error("mailstore.s3_bucket is empty");
  if (options_.max_connections == 0) options_.max_connections = 1;
  if (endpoint_.tls) {
    auto ctx = std::make_shared<asio::ssl::context>(asio::ssl::context::tls_client);
    SSL_CTX_set_min_proto_version(ctx->native_handle(), TLS1_2_VERSION);
    boost::system::error_code ec;
    if (options_.ca_file.empty())
      ctx->set_default_verify_paths(ec);
    else
      ctx->load_verify_file(options_.ca_file, ec);
    if (ec) throw S3Error("mailstore.s3_ca_file: cannot load " + options_.ca_file + ": " + ec.message());
    ctx->set_verify_mode(asio::ssl::verify_peer);
    tls_context_ = ctx;
  }
  if (registry) metrics_ = std::make_unique<Metrics>(*registry);
}

S3Client::~S3Client() = default;

uint64_t S3Client::attempts() const {
  std::lock_guard lock(const_cast<std::mutex&>(mu_));
  return attempts_;
}

std::unique_ptr<S3Client::Connection> S3Client::acquire() {
  std::unique_lock lock(mu_);
  cv_.wait(lock, [&] { return !idle_.empty() || open_ < options_.max_connections; });
  ++attempts_;
  if (!idle_.empty()) {
    auto c = std::move(idle_.back());
    idle_.pop_back();
    return c;
  }
  ++open_;
  return std::make_unique<Connection>();
}

void S3Client::release(std::unique_ptr<Connection> c) {
  {
    std::lock_guard lock(mu_);
    if (c && c->open) {
      idle_.push_back(std::move(c));
    } else {
      --open_;
    }
  }
  cv_.notify_one();
}

S3Response S3Client::attempt(Connection& c, http::verb method, const std::string& target,
                             const std::string& host_header, const Headers& headers, std::string_view body) {
  boost::system::error_code ec;
  if (!c.open) {
    c.close();
    tcp::resolver resolver(c.ioc);
    const auto endpoints = resolver.resolve(endpoint_.host, endpoint_.port, ec);
    if (ec) throw S3Error("cannot resolve " + endpoint_.host + ": " + ec.message());
    if (endpoint_.tls) {
      c.tls.emplace(c.ioc, *std::static_pointer_cast<asio::ssl::context>(tls_context_));
      if (!SSL_set_tlsext_host_name(c.tls->native_handle(), endpoint_.host.c_str()))
        throw S3Error("cannot set the TLS server name");
      const std::string sni_host = options_.virtual_host ? options_.bucket + "." + endpoint_.host : endpoint_.host;
      c.tls->set_verify_callback(asio::ssl::host_name_verification(sni_host));
    } else {
      c.plain.emplace(c.ioc);
    }
    c.lowest().expires_after(options_.timeout);
    ec = run(c.ioc, [&](auto h) { c.lowest().async_connect(endpoints, h); });
    if (ec) throw S3Error("cannot connect to " + endpoint_.host + ":" + endpoint_.port + ": " + ec.message());
    if (c.tls) {
      c.lowest().expires_after(options_.timeout);
      ec = run(c.ioc, [&](auto h) { c.tls->async_handshake(asio::ssl::stream_base::client, h); });
      if (ec) throw S3Error("TLS handshake with " + endpoint_.host + " failed: " + ec.message());
    }
    c.open = true;
  }
  http::request<http::string_body> req{method, target, 11};
  req.set(http::field::host, host_header);
  req.set(http::field::user_agent, "postline-mailstore");
  for (const auto& [k, v] : headers) req.set(k, v);
  req.body().assign(body.data(), body.size());
  req.prepare_payload();
  if (method == http::verb::get || method == http::verb::head || method == http::verb::delete_)
    if (body.empty()) req.erase(http::field::content_length);
  http::response_parser<http::string_body> parser;
  parser.header_limit(64 * 1024);
  parser.body_limit(options_.max_response_bytes);
  if (method == http::verb::head) parser.skip(true);
  c.lowest().expires_after(options_.timeout);
  auto write = [&](auto& stream) {
    ec = run(c.ioc, [&](auto h) { http::async_write(stream, req, h); });
    if (ec) return;
    c.lowest().expires_after(options_.timeout);
    ec = run(c.ioc, [&](auto h) { http::async_read(stream, c.buffer, parser, h); });
  };
  if (c.tls) write(*c.tls);
  else write(*c.plain);
  if (ec) {
    c.close();
    throw S3Error(std::string(verb_name(method)) + " " + endpoint_.host + ": " + ec.message());
  }
  auto& res = parser.get();
  S3Response out;
  out.status = res.result_int();
  if (auto it = res.find(http::field::etag); it != res.end()) out.etag = std::string(it->value());
  if (auto it = res.find(http::field::content_length); it != res.end()) {
    try {
      out.content_length = std::stoull(std::string(it->value()));
    } catch (const std::exception&) {
      out.content_length = 0;
    }
  }
  out.body = std::move(res.body());
  if (!parser.keep_alive()) c.close();
  if (out.status >= 300 && !out.body.empty()) out.error_code = xml_error_code(out.body).value_or("");
  return out;
}

S3Response S3Client::call(std::string_view op, http::verb method, const std::string& key, const Query& query,
                          std::string_view body, const Headers& extra) {
  std::string path, host_header;
  const bool default_port = endpoint_.port == (endpoint_.tls ? "443" : "80");
  const std::string host = endpoint_.host + (default_port ? "" : ":" + endpoint_.port);
  if (options_.virtual_host) {
    host_header = options_.bucket + "." + host;
    path = "/" + uri_encode(key, false);
  } else {
    host_header = host;
    path = "/" + uri_encode(options_.bucket, true) + (key.empty() ? "" : "/" + uri_encode(key, false));
  }
  const std::string qs = canonical_query(query);
  const std::string target = qs.empty() ? path : path + "?" + qs;
  const std::string payload_hash = sha256_hex(body);
  const std::string op_name(op);
  std::mt19937 rng(std::random_device{}());
  std::string last_error;
  bool stale_retry_used = false;
  for (int attempt_no = 0;; ++attempt_no) {
    SignInput in;
    in.method = verb_name(method);
    in.canonical_uri = path;
    in.query = query;
    in.payload_sha256 = payload_hash;
    in.amz_date = amz_date(std::chrono::system_clock::now());
    in.region = options_.region;
    in.headers = {{"host", host_header}, {"x-amz-date", in.amz_date}, {"x-amz-content-sha256", payload_hash}};
    if (!options_.credentials.session_token.empty())
      in.headers.emplace_back("x-amz-security-token", options_.credentials.session_token);
    for (const auto& h : extra) in.headers.push_back(h);
    const Signed s = sign(in, options_.credentials);
    Headers headers(in.headers.begin() + 1, in.headers.end());  // host is set by attempt()
    headers.emplace_back("authorization", s.authorization);

    auto conn = acquire();
    const bool reused = conn->open;
    const auto start = std::chrono::steady_clock::now();
    std::optional<S3Response> res;
    try {
      res = attempt(*conn, method, target, host_header, headers, body);
    } catch (const S3Error& e) {
      conn->close();
      last_error = e.what();
    }
    release(std::move(conn));
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (metrics_) {
      metrics_->duration.Add({{"op", op_name}}, latency_buckets()).Observe(seconds);
      metrics_->requests.Add({{"op", op_name}, {"status", res ? std::to_string(res->status) : "error"}}).Increment();
      metrics_->sent.Increment(static_cast<double>(body.size()));
      if (res) metrics_->received.Increment(static_cast<double>(res->body.size()));
    }
    if (res && !retryable(res->status)) return std::move(*res);
    if (!res && reused && !stale_retry_used) {
      // A kept-alive connection the server had closed: once, at once, on a new one.
      stale_retry_used = true;
      --attempt_no;
      continue;
    }
    if (res)
      last_error = "HTTP " + std::to_string(res->status) + (res->error_code.empty() ? "" : " " + log::printable(res->error_code, 64));
    if (attempt_no >= options_.max_retries) {
      if (res) return std::move(*res);
      throw S3Error("S3 " + op_name + " failed after " + std::to_string(attempt_no + 1) + " attempts: " + last_error);
    }
    if (metrics_) metrics_->retries.Add({{"op", op_name}}).Increment();
    auto delay = options_.retry_base * (1LL << std::min(attempt_no, 10));
    delay = std::min<std::chrono::milliseconds>(delay, std::chrono::milliseconds(5000));
    delay = std::chrono::milliseconds(std::uniform_int_distribution<int64_t>(delay.count() / 2, delay.count())(rng));
    spdlog::warn("s3: {} attempt {} failed ({}); retrying in {} ms", op_name, attempt_no + 1, last_error,
                 delay.count());
    std::this_thread::sleep_for(delay);
  }
}

}  // namespace postline::mailstore::s3
