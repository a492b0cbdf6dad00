// The DNS seam of mailauth. Everything in this library is sans-I/O: SPF, DKIM and
// DMARC ask this interface for records and never open a socket. common/dns adapts its
// c-ares resolver to it; tests use FakeDnsLookup. Calls are synchronous on purpose:
// the evaluators are small state machines run on a worker thread, and a blocking
// interface keeps them readable. Implementations must enforce their own timeouts and
// report them as kTempFail.
#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailauth/ip_address.h"

namespace postline::mailauth {

// The three outcomes SPF/DKIM/DMARC must tell apart: a name that does not exist, a
// name with no records of the asked type ("void" lookups both), and a failure that
// may succeed later (SERVFAIL, timeout) which must become temperror, never fail.
enum class DnsStatus { kOk, kNxDomain, kNoData, kTempFail };

const char* to_string(DnsStatus s);

struct TxtResult {
  DnsStatus status = DnsStatus::kNoData;
  // One entry per TXT RR, its character-strings already concatenated (RFC 7208 3.3,
  // RFC 6376 3.6.2.2).
  std::vector<std::string> records;
};

struct AddrResult {
  DnsStatus status = DnsStatus::kNoData;
  std::vector<IpAddress> addresses;
};

struct MxRecord {
  uint16_t preference = 0;
  std::string exchange;  // without trailing dot; "" for a null MX (RFC 7505 ".")
};

struct MxResult {
  DnsStatus status = DnsStatus::kNoData;
  std::vector<MxRecord> records;
};

struct PtrResult {
  DnsStatus status = DnsStatus::kNoData;
  std::vector<std::string> names;
};

class DnsLookup {
 public:
  virtual ~DnsLookup() = default;
  virtual TxtResult txt(std::string_view name) = 0;
  virtual AddrResult a(std::string_view name) = 0;
  virtual AddrResult aaaa(std::string_view name) = 0;
  virtual MxResult mx(std::string_view name) = 0;
  virtual PtrResult ptr(const IpAddress& address) = 0;
};

// Memoises another DnsLookup for the life of this object — meant to live for one
// message, so SPF on MAIL FROM and HELO, DKIM and DMARC never ask the same question
// twice. Not thread-safe (one message is judged on one thread).
class CachingDnsLookup : public DnsLookup {
 public:
  explicit CachingDnsLookup(DnsLookup& inner) : inner_(inner) {}
  TxtResult txt(std::string_view name) override;
  AddrResult a(std::string_view name) override;
  AddrResult aaaa(std::string_view name) override;
  MxResult mx(std::string_view name) override;
  PtrResult ptr(const IpAddress& address) override;

 private:
  DnsLookup& inner_;
  std::map<std::string, TxtResult> txt_;
  std::map<std::string, AddrResult> a_, aaaa_;
  std::map<std::string, MxResult> mx_;
  std::map<std::string, PtrResult> ptr_;
};

// In-memory DNS for tests and tools. Names are case-insensitive; a name that has any
// record of any type (or was marked with add_name) answers kNoData for other types,
// every other name kNxDomain, unless a temporary failure was injected. Counts queries
// so tests can assert lookup limits.
class FakeDnsLookup : public DnsLookup {
 public:
  FakeDnsLookup& add_txt(std::string_view name, std::string record);
  FakeDnsLookup& add_a(std::string_view name, std::string_view ip);  // v4 or v6 text
  FakeDnsLookup& add_mx(std::string_view name, uint16_t pref, std::string_view exchange);
  FakeDnsLookup& add_ptr(const IpAddress& ip, std::string_view name);
  FakeDnsLookup& add_name(std::string_view name);  // exists, no records
  FakeDnsLookup& fail(std::string_view name);       // every query for it is kTempFail

  TxtResult txt(std::string_view name) override;
  AddrResult a(std::string_view name) override;
  AddrResult aaaa(std::string_view name) override;
  MxResult mx(std::string_view name) override;
  PtrResult ptr(const IpAddress& address) override;

  int queries() const { return queries_; }

 private:
  struct Node {
    std::vector<std::string> txt;
    std::vector<IpAddress> addrs;
    std::vector<MxRecord> mx;
    std::vector<std::string> ptr;
    bool tempfail = false;
  };
  const Node* find(std::string_view name);
  Node& node(std::string_view name);
  std::map<std::string, Node> nodes_;
  int queries_ = 0;
};

}  // namespace postline::mailauth
