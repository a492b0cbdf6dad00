#include "common/mailauth/ip_address.h"

#include <arpa/inet.h>

#include <cstring>

namespace postline::mailauth {

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
  if (text.size() > 64) return std::nullopt;
  std::string s(text);
  IpAddress ip;
  if (s.find(':') == std::string::npos) {
    in_addr a{};
    if (inet_pton(AF_INET, s.c_str(), &a) != 1) return std::nullopt;
    std::memcpy(ip.bytes.data(), &a, 4);
    ip.v6 = false;
  } else {
    in6_addr a{};
    if (inet_pton(AF_INET6, s.c_str(), &a) != 1) return std::nullopt;
    std::memcpy(ip.bytes.data(), &a, 16);
    ip.v6 = true;
  }
  return ip;
}

IpAddress IpAddress::v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d) {
  IpAddress ip;
  ip.bytes[0] = a;
  ip.bytes[1] = b;
  ip.bytes[2] = c;
  ip.bytes[3] = d;
  return ip;
}

std::string IpAddress::to_string() const {
  char buf[INET6_ADDRSTRLEN] = {};
  inet_ntop(v6 ? AF_INET6 : AF_INET, bytes.data(), buf, sizeof buf);
  return buf;
}

IpAddress IpAddress::unmapped() const {
  static constexpr uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  if (!v6 || std::memcmp(bytes.data(), kMapped, 12) != 0) return *this;
  return v4(bytes[12], bytes[13], bytes[14], bytes[15]);
}

bool IpAddress::in_network(const IpAddress& network, unsigned prefix_len) const {
  if (v6 != network.v6) return false;
  unsigned max_bits = v6 ? 128 : 32;
  if (prefix_len > max_bits) return false;
  unsigned full = prefix_len / 8, rest = prefix_len % 8;
  if (std::memcmp(bytes.data(), network.bytes.data(), full) != 0) return false;
  if (rest == 0) return true;
  uint8_t mask = uint8_t(0xff << (8 - rest));
  return (bytes[full] & mask) == (network.bytes[full] & mask);
}

static const char kHex[] = "0123456789abcdef";

std::string IpAddress::reverse_name() const {
  std::string out;
  if (!v6) {
    for (int i = 3; i >= 0; --i) out += std::to_string(bytes[i]) + ".";
    return out + "in-addr.arpa";
  }
  for (int i = 15; i >= 0; --i) {
    out.push_back(kHex[bytes[i] & 0xf]);
    out.push_back('.');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back('.');
  }
  return out + "ip6.arpa";
}

std::string IpAddress::spf_dotted() const {
  if (!v6) return to_string();
  std::string out;
  for (int i = 0; i < 16; ++i) {
    if (i) out.push_back('.');
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back('.');
    out.push_back(kHex[bytes[i] & 0xf]);
  }
  return out;
}

}  // namespace postline::mailauth
