// The resolver against a tiny in-process DNS server on a loopback UDP port
// (answers from a table), so MX ordering, null MX, NXDOMAIN, implicit MX and
// timeouts are tested without the network or dnsmasq.
#include "common/dns/resolver.h"
#include "common/dns/testing/fake_dns_server.h"

#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <map>
#include <thread>

using namespace postline::dns;

namespace {

using postline::dns::fake::Answer;
using postline::dns::fake::encode_name;
using postline::dns::fake::FakeDns;
using postline::dns::fake::Zone;

std::string mx(uint16_t pref, const std::string& host) {
  std::string r;
  r += static_cast<char>(pref >> 8);
  r += static_cast<char>(pref & 0xff);
  return r + encode_name(host);
}

std::string a(uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3) {
  return std::string{static_cast<char>(a0), static_cast<char>(a1), static_cast<char>(a2), static_cast<char>(a3)};
}

}  // namespace

TEST(Dns, MxRecordsSortedByPreference) {
  FakeDns dns;
  dns.zones[{"example.test", 15}] = Zone{0, {{15, mx(20, "b.example.test")}, {15, mx(10, "a.example.test")}}};
  Resolver r({dns.server()}, std::chrono::seconds(3));
  auto res = r.lookup_mx("example.test");
  ASSERT_EQ(res.status, Status::kOk) << res.error;
  ASSERT_EQ(res.hosts.size(), 2u);
  EXPECT_EQ(res.hosts[0].host, "a.example.test");
  EXPECT_EQ(res.hosts[1].host, "b.example.test");
  EXPECT_FALSE(res.implicit);
}

TEST(Dns, NullMxMeansNoMail) {
  FakeDns dns;
  dns.zones[{"nomail.test", 15}] = Zone{0, {{15, std::string{0, 0, 0}}}};
  Resolver r({dns.server()}, std::chrono::seconds(3));
  EXPECT_EQ(r.lookup_mx("nomail.test").status, Status::kNullMx);
}

TEST(Dns, NxdomainIsPermanent) {
  FakeDns dns;
  Resolver r({dns.server()}, std::chrono::seconds(3));
  EXPECT_EQ(r.lookup_mx("nowhere.test").status, Status::kNoDomain);
}

TEST(Dns, NoMxFallsBackToTheDomainsAddress) {
  FakeDns dns;
  dns.zones[{"plain.test", 1}] = Zone{0, {{1, a(127, 0, 0, 1)}}};
  Resolver r({dns.server()}, std::chrono::seconds(3));
  auto res = r.lookup_mx("plain.test");
  ASSERT_EQ(res.status, Status::kOk) << res.error;
  EXPECT_TRUE(res.implicit);
  ASSERT_EQ(res.hosts.size(), 1u);
  EXPECT_EQ(res.hosts[0].host, "plain.test");
  auto addr = r.lookup_addresses("plain.test");
  ASSERT_EQ(addr.status, Status::kOk);
  EXPECT_EQ(addr.addresses, std::vector<std::string>{"127.0.0.1"});
}

TEST(Dns, ServfailIsTemporary) {
  FakeDns dns;
  dns.zones[{"broken.test", 15}] = Zone{2, {}};
  Resolver r({dns.server()}, std::chrono::seconds(3));
  EXPECT_EQ(r.lookup_mx("broken.test").status, Status::kTemporary);
}

TEST(Dns, SilentServerTimesOutAsTemporary) {
  // A bound socket that never answers.
  int fd = ::socket(AF_INET, SOCK_DGRAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
  socklen_t len = sizeof addr;
  ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  Resolver r({"127.0.0.1:" + std::to_string(ntohs(addr.sin_port))}, std::chrono::milliseconds(1500));
  const auto t0 = std::chrono::steady_clock::now();
  EXPECT_EQ(r.lookup_mx("example.test").status, Status::kTemporary);
  EXPECT_LT(std::chrono::steady_clock::now() - t0, std::chrono::seconds(5));
  ::close(fd);
}

TEST(Dns, OrderMxShufflesOnlyEqualPreferences) {
  static int calls = 0;
  auto rand = +[]() -> double { return (calls++ % 2) ? 0.1 : 0.9; };
  auto out = order_mx({{10, "x"}, {5, "y"}, {10, "z"}, {10, "x"}}, rand);
  ASSERT_EQ(out.size(), 3u);
  EXPECT_EQ(out[0].host, "y");
  EXPECT_EQ(out[1].preference, 10);
  EXPECT_EQ(out[2].preference, 10);
}

TEST(Dns, CheckRejectsMalformedServers) {
  EXPECT_NO_THROW(Resolver({"127.0.0.1:5354"}).check());
  EXPECT_THROW(Resolver({"not a server at all"}).check(), std::runtime_error);
}
