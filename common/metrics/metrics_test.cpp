// The shared /metrics parts: the /proc/self process collector (parsing and the
// real /proc of this test), the pool and certificate collectors, and
// HttpServer's postline_ready over real HTTP.
#include "common/metrics/certificate_collector.h"
#include "common/metrics/http_server.h"
#include "common/metrics/pool_collector.h"
#include "common/metrics/process_collector.h"

#include <boost/asio/connect.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <atomic>
#include <cmath>
#include <ctime>
#include <limits>
#include <set>

namespace postline::metrics {
namespace {

// A real /proc/<pid>/stat line whose command name holds a space and a ')'.
constexpr const char* kStat =
    "4242 (post line) d) S 1 4242 4242 0 -1 4194560 1234 0 5 0 250 150 0 0 20 0 9 0 "
    "360000 123456789 2048 18446744073709551615 1 1 0 0 0 0 0 4096 1 0 0 0 17 1 0 0 0 0 0\n";
constexpr const char* kLimits =
    "Limit                     Soft Limit           Hard Limit           Units     \n"
    "Max cpu time              unlimited            unlimited            seconds   \n"
    "Max open files            1024                 524288               files     \n";
constexpr const char* kProcStat = "cpu  1 2 3 4\nintr 5\nbtime 1700000000\nprocesses 9\n";

TEST(ProcessCollector, ParsesStatLimitsAndBootTime) {
  auto p = parse_process(kStat, kLimits, kProcStat, 100, 4096, 7);
  ASSERT_TRUE(p);
  EXPECT_DOUBLE_EQ(p->cpu_seconds, 4.0);                      // (250 + 150) / 100
  EXPECT_DOUBLE_EQ(p->start_time_seconds, 1700000000 + 3600);  // btime + 360000 / 100
  EXPECT_DOUBLE_EQ(p->virtual_bytes, 123456789);
  EXPECT_DOUBLE_EQ(p->resident_bytes, 2048.0 * 4096);
  EXPECT_DOUBLE_EQ(p->open_fds, 7);
  EXPECT_DOUBLE_EQ(p->max_fds, 1024);
}

TEST(ProcessCollector, UnlimitedFilesIsInfinity) {
  auto p = parse_process(kStat, "Max open files            unlimited            unlimited            files\n",
                         kProcStat, 100, 4096, 1);
  ASSERT_TRUE(p);
  EXPECT_TRUE(std::isinf(p->max_fds));
}

TEST(ProcessCollector, RefusesTruncatedInput) {
  EXPECT_FALSE(parse_process("4242 (x) S 1 2 3", kLimits, kProcStat, 100, 4096, 1));
  EXPECT_FALSE(parse_process("no parenthesis", kLimits, kProcStat, 100, 4096, 1));
  EXPECT_FALSE(parse_process(kStat, "Max cpu time unlimited\n", kProcStat, 100, 4096, 1));
  EXPECT_FALSE(parse_process(kStat, kLimits, "cpu 1 2 3\n", 100, 4096, 1));
  EXPECT_FALSE(parse_process(kStat, kLimits, kProcStat, 0, 4096, 1));
}

TEST(ProcessCollector, ReadsThisProcess) {
  auto before = read_process();
  ASSERT_TRUE(before);
  // Three more descriptors are counted.
  int fds[3];
  for (int& fd : fds) fd = ::open("/dev/null", O_RDONLY);
  auto after = read_process();
  for (int fd : fds) ::close(fd);
  ASSERT_TRUE(after);
  EXPECT_EQ(after->open_fds, before->open_fds + 3);
  EXPECT_GT(after->resident_bytes, 1 << 20);
  EXPECT_GE(after->virtual_bytes, after->resident_bytes);
  EXPECT_GT(after->max_fds, after->open_fds);
  const double now = static_cast<double>(std::time(nullptr));
  EXPECT_LE(after->start_time_seconds, now + 1);
  EXPECT_GT(after->start_time_seconds, now - 600);  // this test started moments ago
  EXPECT_GE(after->cpu_seconds, 0);
  EXPECT_FALSE(read_process("/proc/self/no-such-dir"));
}

TEST(ProcessCollector, ExportsTheStandardNames) {
  auto families = ProcessCollector().Collect();
  std::set<std::string> names;
  for (const auto& f : families) names.insert(f.name);
  EXPECT_EQ(names, (std::set<std::string>{"process_cpu_seconds_total", "process_resident_memory_bytes",
                                          "process_virtual_memory_bytes", "process_open_fds", "process_max_fds",
                                          "process_start_time_seconds"}));
}

const prometheus::ClientMetric* sample(const std::vector<prometheus::MetricFamily>& families, const std::string& name,
                                       const std::vector<prometheus::ClientMetric::Label>& labels) {
  for (const auto& f : families)
    if (f.name == name)
      for (const auto& m : f.metric)
        if (m.label == labels) return &m;
  return nullptr;
}

TEST(PoolCollector, ReportsEachPool) {
  PoolCollector pools;
  EXPECT_TRUE(pools.Collect().empty());
  db::PoolStats a;
  a.max = 8;
  a.open = 5;
  a.in_use = 2;
  a.waits = 3;
  a.timeouts = 1;
  a.wait_seconds = 0.25;
  a.dropped = 6;
  a.connect_failures = 7;
  pools.add("rpc", [&] { return a; });
  pools.add("workers", [] { return db::PoolStats{4, 0, 0, 0, 0, 0, 0, 0}; });
  const auto f = pools.Collect();
  ASSERT_TRUE(sample(f, "postline_db_pool_connections", {{"pool", "rpc"}, {"state", "in_use"}}));
  EXPECT_EQ(sample(f, "postline_db_pool_connections", {{"pool", "rpc"}, {"state", "in_use"}})->gauge.value, 2);
  EXPECT_EQ(sample(f, "postline_db_pool_connections", {{"pool", "rpc"}, {"state", "idle"}})->gauge.value, 3);
  EXPECT_EQ(sample(f, "postline_db_pool_max_connections", {{"pool", "rpc"}})->gauge.value, 8);
  EXPECT_EQ(sample(f, "postline_db_pool_waits_total", {{"pool", "rpc"}})->counter.value, 3);
  EXPECT_EQ(sample(f, "postline_db_pool_acquire_timeouts_total", {{"pool", "rpc"}})->counter.value, 1);
  EXPECT_EQ(sample(f, "postline_db_pool_wait_seconds_total", {{"pool", "rpc"}})->counter.value, 0.25);
  EXPECT_EQ(sample(f, "postline_db_pool_connections_dropped_total", {{"pool", "rpc"}})->counter.value, 6);
  EXPECT_EQ(sample(f, "postline_db_pool_connect_failures_total", {{"pool", "rpc"}})->counter.value, 7);
  EXPECT_EQ(sample(f, "postline_db_pool_max_connections", {{"pool", "workers"}})->gauge.value, 4);
  // Read at each scrape, not copied once.
  a.in_use = 5;
  EXPECT_EQ(sample(pools.Collect(), "postline_db_pool_connections", {{"pool", "rpc"}, {"state", "in_use"}})->gauge.value,
            5);
}

TEST(CertificateCollector, OneSamplePerLoadedCertificate) {
  CertificateCollector certs;
  std::optional<double> smtp = 1.8e9;
  certs.add("tls.cert_file", "/etc/postline/tls/tls.crt", [&] { return smtp; });
  certs.add("grpc.tls_cert_file", "/missing.crt", [] { return std::optional<double>(); });
  auto f = certs.Collect();
  ASSERT_EQ(f.size(), 1u);
  ASSERT_EQ(f[0].metric.size(), 1u);
  EXPECT_EQ(f[0].name, "postline_tls_certificate_not_after_timestamp_seconds");
  EXPECT_TRUE(sample(f, f[0].name, {{"setting", "tls.cert_file"}, {"file", "/etc/postline/tls/tls.crt"}}));
  EXPECT_EQ(f[0].metric[0].gauge.value, 1.8e9);
  smtp = 1.9e9;  // a reload shows at the next scrape
  EXPECT_EQ(certs.Collect()[0].metric[0].gauge.value, 1.9e9);
}

std::string http_get(uint16_t port, const std::string& target, int* status) {
  namespace beast = boost::beast;
  boost::asio::io_context io;
  boost::asio::ip::tcp::socket socket(io);
  socket.connect({boost::asio::ip::make_address("127.0.0.1"), port});
  beast::http::request<beast::http::empty_body> req(beast::http::verb::get, target, 11);
  req.set(beast::http::field::host, "127.0.0.1");
  beast::http::write(socket, req);
  beast::flat_buffer buffer;
  beast::http::response<beast::http::string_body> res;
  beast::http::read(socket, buffer, res);
  *status = res.result_int();
  return res.body();
}

TEST(HttpServer, MetricsCarryReadinessProcessAndPools) {
  auto registry = std::make_shared<prometheus::Registry>();
  std::atomic<bool> ready{true};
  HttpServer http(registry, [&] { return ready.load(); });
  http.pools().add("main", [] { return db::PoolStats{4, 1, 1, 0, 0, 0, 0, 0}; });
  http.start("127.0.0.1", 0);
  int status = 0;
  std::string body = http_get(http.port(), "/metrics", &status);
  EXPECT_EQ(status, 200);
  EXPECT_NE(body.find("\npostline_ready 1"), std::string::npos) << body;
  EXPECT_NE(body.find("\nprocess_resident_memory_bytes "), std::string::npos);
  EXPECT_NE(body.find("\nprocess_start_time_seconds "), std::string::npos);
  EXPECT_NE(body.find("postline_db_pool_max_connections{pool=\"main\"} 4"), std::string::npos) << body;

  ready = false;
  http_get(http.port(), "/readyz", &status);
  EXPECT_EQ(status, 503);
  body = http_get(http.port(), "/metrics", &status);
  EXPECT_NE(body.find("\npostline_ready 0"), std::string::npos) << body;
  ready = true;
  http_get(http.port(), "/readyz", &status);
  EXPECT_EQ(status, 200);
  EXPECT_NE(http_get(http.port(), "/metrics", &status).find("\npostline_ready 1"), std::string::npos);
  http.stop();
}

}  // namespace
}  // namespace postline::metrics
