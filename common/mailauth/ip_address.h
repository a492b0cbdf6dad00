// An IPv4 or IPv6 address as raw bytes, for SPF matching and the DNS interface.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace postline::mailauth {

struct IpAddress {
  bool v6 = false;
  std::array<uint8_t, 16> bytes{};  // IPv4 uses the first 4 bytes

  static std::optional<IpAddress> parse(std::string_view text);
  static IpAddress v4(uint8_t a, uint8_t b, uint8_t c, uint8_t d);
  std::string to_string() const;
  // SPF (RFC 7208 section 5) evaluates an IPv4-mapped IPv6 client as IPv4.
  IpAddress unmapped() const;
  // True when the first prefix_len bits equal those of other (same family only).
  bool in_network(const IpAddress& network, unsigned prefix_len) const;
  // Reverse-DNS name without trailing dot ("4.3.2.1.in-addr.arpa" or nibbles.ip6.arpa).
  std::string reverse_name() const;
  // Dotted form used by the SPF %{i} macro: IPv4 as usual, IPv6 as 32 dotted nibbles.
  std::string spf_dotted() const;
  bool operator==(const IpAddress&) const = default;
};

}  // namespace postline::mailauth
