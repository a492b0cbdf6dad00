#include "tests/support/s3_test_server.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>

#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>

namespace postline::testing {

namespace beast = boost::beast;
namespace http = beast::http;

S3TestServer s3_test_server() {
  const char* file = std::getenv("POSTLINE_TEST_S3_ENV_FILE");
  if (!file || !*file)
    throw std::runtime_error("no S3 test server: run through ctest (fixture `s3`, scripts/s3 start DIR) "
                             "or set POSTLINE_TEST_S3_ENV_FILE to DIR/env");
  std::ifstream in(file);
  if (!in) throw std::runtime_error(std::string("cannot read ") + file + ": is the ctest fixture s3_start running?");
  S3TestServer s;
  std::string line;
  while (std::getline(in, line)) {
    const auto eq = line.find('=');
    if (eq == std::string::npos) continue;
    s.env[line.substr(0, eq)] = line.substr(eq + 1);
  }
  s.endpoint = s.env["POSTLINE_MAILSTORE_S3_ENDPOINT"];
  s.bucket = s.env["POSTLINE_MAILSTORE_S3_BUCKET"];
  s.region = s.env["POSTLINE_MAILSTORE_S3_REGION"];
  s.access_key_id = s.env["POSTLINE_MAILSTORE_S3_ACCESS_KEY_ID"];
  std::ifstream secret(s.env["POSTLINE_MAILSTORE_S3_SECRET_ACCESS_KEY_FILE"]);
  std::getline(secret, s.secret_access_key);
  if (s.endpoint.empty() || s.secret_access_key.empty()) throw std::runtime_error(std::string("incomplete ") + file);
  return s;
}

namespace {

std::string plain_request(const S3TestServer& s, http::verb verb, const std::string& target) {
  const std::string hostport = s.endpoint.substr(s.endpoint.find("://") + 3);
  const auto colon = hostport.rfind(':');
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::resolver resolver(ioc);
  beast::tcp_stream stream(ioc);
  stream.connect(resolver.resolve(hostport.substr(0, colon), hostport.substr(colon + 1)));
  http::request<http::empty_body> req{verb, target, 11};
  req.set(http::field::host, hostport);
  http::write(stream, req);
  beast::flat_buffer buf;
  http::response<http::string_body> res;
  http::read(stream, buf, res);
  if (res.result_int() >= 300) throw std::runtime_error("S3 test server " + target + ": " + std::to_string(res.result_int()));
  return res.body();
}

}  // namespace

std::string s3_test_stats(const S3TestServer& s, const std::string& prefix) {
  return plain_request(s, http::verb::get, prefix.empty() ? "/__stats" : "/__stats?prefix=" + prefix);
}

long s3_test_stat(const S3TestServer& s, const std::string& name, const std::string& prefix) {
  const std::string json = s3_test_stats(s, prefix);
  std::string key = name, scope = json;
  if (auto dot = name.find('.'); dot != std::string::npos) {
    const auto at = json.find("\"" + name.substr(0, dot) + "\"");
    if (at == std::string::npos) return 0;
    scope = json.substr(at, json.find('}', at) - at);
    key = name.substr(dot + 1);
  }
  const auto at = scope.find("\"" + key + "\":");
  if (at == std::string::npos) return 0;
  return std::strtol(scope.c_str() + at + key.size() + 3, nullptr, 10);
}

void s3_test_fail_next(const S3TestServer& s, int count, int status, int after, const std::string& prefix) {
  plain_request(s, http::verb::post, "/__fail?count=" + std::to_string(count) + "&status=" + std::to_string(status) +
                                         "&after=" + std::to_string(after) + (prefix.empty() ? "" : "&prefix=" + prefix));
}

std::string s3_test_prefix() {
  std::random_device rd;
  std::mt19937_64 rng(rd());
  std::string p = "t-";
  static const char* alphabet = "abcdefghijklmnopqrstuvwxyz0123456789";
  for (int i = 0; i < 10; ++i) p += alphabet[rng() % 36];
  return p + "/";
}

}  // namespace postline::testing
