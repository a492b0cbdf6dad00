// DNSSEC-validated look-ups for DANE (RFC 7672) through libunbound: MX,
// A/AAAA and TLSA, each answer marked secure, insecure or bogus. libunbound
// validates locally against a configured trust anchor (dns.trust_anchor_file)
// and sends its queries to dns.servers (forwarders; empty = /etc/resolv.conf),
// so a test can point it at a private signed zone. Blocking with a deadline,
// for worker threads; one DnssecResolver per thread (its cache lives as long
// as it does). Library postline_dns_dnssec (see README.md).
#pragma once

#include "common/dns/resolver.h"

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::dns {

enum class Security {
  kSecure,    // validated from the trust anchor down (RFC 4033 5)
  kInsecure,  // provably unsigned (or outside every trust anchor): no DANE
  kBogus,     // should have validated and did not: an attack or a broken zone
};
const char* security_name(Security s);

struct TlsaRecord {
  uint8_t usage = 0;     // 0 PKIX-TA, 1 PKIX-EE, 2 DANE-TA, 3 DANE-EE
  uint8_t selector = 0;  // 0 full certificate, 1 SubjectPublicKeyInfo
  uint8_t mtype = 0;     // 0 exact, 1 SHA-256, 2 SHA-512
  std::string data;      // the association data, binary
  // Presentation form, "3 1 1 ab12...", for logs and TLS-RPT policy-strings.
  std::string text() const;
};

struct SecureMxResult {
  Status status = Status::kTemporary;
  Security security = Security::kInsecure;
  std::vector<MxHost> hosts;  // ordered as Resolver::lookup_mx orders them
  bool implicit = false;      // no MX RRset: the domain itself (RFC 5321 5.1)
  std::string error;          // kBogus: libunbound's why_bogus
};

struct SecureAddressResult {
  Status status = Status::kTemporary;
  Security security = Security::kInsecure;  // of the weakest of the A and AAAA answers
  std::vector<std::string> addresses;       // IPv4 first, then IPv6
  std::string error;
};

struct TlsaResult {
  // kOk with records; kNoDomain: no TLSA RRset (NXDOMAIN or no data; with
  // security kSecure that is a proof of absence); kTemporary: no answer.
  Status status = Status::kTemporary;
  Security security = Security::kInsecure;
  std::vector<TlsaRecord> records;
  size_t malformed = 0;  // records too short to be TLSA (left out of `records`)
  std::string error;
};

class DnssecResolver {
 public:
  // servers: as for Resolver ("127.0.0.1:5354", "[::1]:53"; empty = the
  // system's /etc/resolv.conf). trust_anchor_file: DS or DNSKEY records in
  // zone-file format (e.g. Debian's /usr/share/dns/root.key). Throws
  // std::runtime_error when libunbound refuses either.
  DnssecResolver(std::vector<std::string> servers, std::string trust_anchor_file,
                 std::chrono::milliseconds timeout = std::chrono::seconds(10));
  ~DnssecResolver();
  DnssecResolver(const DnssecResolver&) = delete;
  DnssecResolver& operator=(const DnssecResolver&) = delete;

  SecureMxResult lookup_mx(const std::string& domain);
  SecureAddressResult lookup_addresses(const std::string& host);
  // _<port>._tcp.<host> TLSA (RFC 6698 3, RFC 7672 2.2.3).
  TlsaResult lookup_tlsa(const std::string& host, uint16_t port);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

// Wire-format RDATA parsers (exposed for unit tests).
// MX: preference, then an uncompressed domain name ("" for the root: null MX).
std::optional<MxHost> parse_mx_rdata(std::string_view rdata);
std::optional<TlsaRecord> parse_tlsa_rdata(std::string_view rdata);
// An uncompressed wire-format name at rdata[pos...] as text without the final
// dot; nullopt when malformed. Advances pos.
std::optional<std::string> parse_wire_name(std::string_view rdata, size_t& pos);

}  // namespace postline::dns
