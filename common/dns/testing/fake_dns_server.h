// A tiny DNS server on a loopback UDP port for unit tests: answers from a
// table (name, type) -> rcode and records, counts the queries it got. Enough
// of RFC 1035 for c-ares: one question, answers with a compression pointer to
// it, an optional SOA in the authority section of negative answers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

namespace postline::dns::fake {

struct Answer {
  uint16_t type;
  std::string rdata;
};
struct Zone {
  Zone(int rcode_ = 0, std::vector<Answer> answers_ = {}, uint32_t ttl_ = 60,
       std::optional<uint32_t> soa_minimum_ = std::nullopt)
      : rcode(rcode_), answers(std::move(answers_)), ttl(ttl_), soa_minimum(soa_minimum_) {}
  int rcode;  // 0 NOERROR, 3 NXDOMAIN, 2 SERVFAIL
  std::vector<Answer> answers;
  uint32_t ttl;                         // of every answer record
  std::optional<uint32_t> soa_minimum;  // negative answers: an SOA (TTL `ttl`) with this MINIMUM
};

inline std::string encode_name(const std::string& name) {
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
  std::atomic<int> queries{0};                              // received so far

 private:
  static std::string be32(uint32_t v) {
    return std::string{static_cast<char>(v >> 24), static_cast<char>(v >> 16), static_cast<char>(v >> 8),
                       static_cast<char>(v)};
  }
  void serve() {
    while (!stop_) {
      pollfd p{fd_, POLLIN, 0};
      if (::poll(&p, 1, 50) <= 0) continue;
      char buf[512];
      sockaddr_in from{};
      socklen_t flen = sizeof from;
      ssize_t n = ::recvfrom(fd_, buf, sizeof buf, 0, reinterpret_cast<sockaddr*>(&from), &flen);
      if (n < 12) continue;
      ++queries;
      std::string q(buf, static_cast<size_t>(n));
      // question name
      size_t i = 12;
      std::string name;
      while (i < q.size() && q[i] != 0) {
        size_t len = static_cast<unsigned char>(q[i]);
        if (!name.empty()) name += '.';
        for (char c : q.substr(i + 1, len)) name += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : c;  // names are case-insensitive
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
      const bool soa = z.answers.empty() && z.soa_minimum.has_value();
      r += std::string{0, 1};
      r += std::string{0, static_cast<char>(z.answers.size())};
      r += std::string{0, static_cast<char>(soa ? 1 : 0)};
      r += std::string(2, '\0');
      r += question;
      for (const auto& ans : z.answers) {
        r += std::string{static_cast<char>(0xc0), 12};
        r += std::string{static_cast<char>(ans.type >> 8), static_cast<char>(ans.type & 0xff), 0, 1};
        r += be32(z.ttl);
        r += static_cast<char>(ans.rdata.size() >> 8);
        r += static_cast<char>(ans.rdata.size() & 0xff);
        r += ans.rdata;
      }
      if (soa) {
        // MNAME and RNAME as pointers to the question name, then the five counters.
        std::string rdata = std::string{static_cast<char>(0xc0), 12} + std::string{static_cast<char>(0xc0), 12};
        rdata += be32(1) + be32(3600) + be32(600) + be32(86400) + be32(*z.soa_minimum);
        r += std::string{static_cast<char>(0xc0), 12};
        r += std::string{0, 6, 0, 1};
        r += be32(z.ttl);
        r += std::string{0, static_cast<char>(rdata.size())};
        r += rdata;
      }
      ::sendto(fd_, r.data(), r.size(), 0, reinterpret_cast<sockaddr*>(&from), flen);
    }
  }
  int fd_;
  uint16_t port_;
  std::atomic<bool> stop_{false};
  std::thread thread_;
};

}  // namespace postline::dns::fake
