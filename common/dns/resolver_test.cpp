// The resolver against a tiny in-process DNS server on a loopback UDP port
// (answers from a table), so MX ordering, null MX, NXDOMAIN, implicit MX and
// timeouts are tested without the network or dnsmasq.
#include "common/dns/resolver.h"

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

struct Answer {
  uint16_t type;
  std::string rdata;
};
struct Zone {
  int rcode = 0;  // 0 NOERROR, 3 NXDOMAIN, 2 SERVFAIL
  std::vector<Answer> answers;
};

std::string encode_name(const std::string& name) {
  std::string out;
  size_t start = 0;
  while (start < name.size()) {
    auto dot = name.find('.', start);
    if (dot == std::string::npos) dot = name.size();
    out += static_cast<char>(dot - start);
    out += name.substr(start, dot - start);
    start = dot + 1;
  }
  out += '\0';
  return out;
}

std::string mx(uint16_t pref, const std::string& host) {
  std::string r;
  r += static_cast<char>(pref >> 8);
  r += static_cast<char>(pref & 0xff);
  return r + encode_name(host);
}

std::string a(uint8_t a0, uint8_t a1, uint8_t a2, uint8_t a3) {
  return std::string{static_cast<char>(a0), static_cast<char>(a1), static_cast<char>(a2), static_cast<char>(a3)};
}

class FakeDns {
 public:
  FakeDns() {
    fd_ = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t len = sizeof addr;
    ::getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len);
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { serve(); });
  }
  ~FakeDns() {
    stop_ = true;
    thread_.join();
    ::close(fd_);
  }
  std::string server() const { return "127.0.0.1:" + std::to_string(port_); }
  std::map<std::pair<std::string, uint16_t>, Zone> zones;  // set before queries

 private:
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[512];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      std::string q(buf, static_cast<size_t>(n));
      // question name
      size_t i = 12;
      std::string name;
      while (i < q.size() && q[i] != 0) {
        size_t len = static_cast<unsigned char>(q[i]);
        if (!name.empty()) name += '.';
        name += q.substr(i + 1, len);
        i += len + 1;
      }
      i += 1;
      uint16_t qtype = static_cast<uint16_t>((static_cast<unsigned char>(q[i]) << 8) | static_cast<unsigned char>(q[i + 1]));
      std::string question = q.substr(12, i + 4 - 12);
      Zone z;
      z.rcode = 3;
      auto it = zones.find({name, qtype});
      if (it != zones.end()) z = it->second;
      else
        for (const auto& [k, v] : zones)
          if (k.first == name) z = Zone{};  // name exists, no data of this type
      std::string r = q.substr(0, 2);
      r += static_cast<char>(0x81);
      r += static_cast<char>(0x80 | z.rcode);
      r += std::string{0, 1};
      r += std::string{0, static_cast<char>(z.answers.size())};
      r += std::string(4, '\0');
      r += question;
      for (const auto& ans : z.answers) {
        r += std::string{static_cast<char>(0xc0), 12};
        r += std::string{static_cast<char>(ans.type >> 8), static_cast<char>(ans.type & 0xff), 0, 1};
        r += std::string{0, 0, 0, 60};
        r += static_cast<char>(ans.rdata.size() >> 8);
        r += static_cast<char>(ans.rdata.size() & 0xff);
        r += ans.rdata;
      }
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
  int fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

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
