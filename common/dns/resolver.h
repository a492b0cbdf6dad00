// DNS lookups for mail routing over c-ares (RFC 5321 5.1, RFC 7505), blocking
// with a deadline: callers are worker threads, never I/O threads. The servers
// come from `dns.servers` (host:port list) so tests and split-horizon set-ups
// can point the whole platform at their own resolver; empty = /etc/resolv.conf.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace postline::dns {

enum class Status {
  kOk,
  kNoDomain,   // NXDOMAIN, or a domain with neither MX nor address: permanent
  kNullMx,     // RFC 7505 "MX 0 .": the domain accepts no mail: permanent
  kTemporary,  // timeout, SERVFAIL, refused, unreachable server: try later
};

struct MxHost {
  uint16_t preference = 0;
  std::string host;  // without the trailing dot
};

struct MxResult {
  Status status = Status::kTemporary;
  // Sorted by preference, equal preferences shuffled (RFC 5321 5.1). For a
  // domain without MX records: the domain itself, implicit = true.
  std::vector<MxHost> hosts;
  bool implicit = false;
  std::string error;  // for logs and DSN diagnostics
};

struct AddressResult {
  Status status = Status::kTemporary;
  std::vector<std::string> addresses;  // IPv4 first, then IPv6, textual
  std::string error;
};

class Resolver {
 public:
  // servers: "127.0.0.1:5354", "[::1]:53" or bare addresses; empty = system.
  explicit Resolver(std::vector<std::string> servers,
                    std::chrono::milliseconds timeout = std::chrono::seconds(10));

  // Throws std::runtime_error when the servers cannot be used (bad syntax):
  // call at start-up so a typo in dns.servers stops the service.
  void check() const;

  MxResult lookup_mx(const std::string& domain) const;
  AddressResult lookup_addresses(const std::string& host) const;

 private:
  std::vector<std::string> servers_;
  std::chrono::milliseconds timeout_;
};

// Orders MX records: by preference, shuffling equal ones; drops duplicates.
// Exposed for unit tests. rand01 in [0,1).
std::vector<MxHost> order_mx(std::vector<MxHost> records, double (*rand01)());

}  // namespace postline::dns
