// mailauth's DnsLookup over c-ares (TXT, A, AAAA, MX, PTR) for smtpd's inbound
// checks (SPF, DKIM, DMARC) and DNSBL queries. A separate file from resolver.cpp
// on purpose: the routing resolver belongs to the queue and answers a different
// question (where to deliver); this one must tell NXDOMAIN, "no records of this
// type" and temporary failure apart, which SPF's void-lookup limit and DMARC's
// temperror depend on (RFC 7208 4.6.4, 2.6.6; RFC 7489 6.6.3).
//
// It also answers the two questions `postline dns check` needs beyond those:
// SRV records (RFC 6186 mail client discovery) and where a name's CNAME chain
// ends (autoconfig.<domain> -> the mail server).
//
// Blocking with a deadline: call it on a worker thread, never on an I/O thread.
#pragma once

#include "common/dns/answer_cache.h"
#include "common/mailauth/dns_lookup.h"

#include <chrono>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

namespace postline::dns {

struct SrvRecord {
  uint16_t priority = 0, weight = 0, port = 0;
  std::string target;  // without trailing dot; "" for "." (service not offered, RFC 2782)
};

struct SrvResult {
  mailauth::DnsStatus status = mailauth::DnsStatus::kNoData;
  std::vector<SrvRecord> records;
};

struct CanonicalResult {
  mailauth::DnsStatus status = mailauth::DnsStatus::kNoData;
  std::string canonical_name;                   // the end of the CNAME chain; the name itself without one
  std::vector<mailauth::IpAddress> addresses;  // its A records
};

// Thrown by a cache-only MailauthLookup (MailauthLookup::cache_only) for a
// question whose answer is not in the cache: the work that asked would have
// had to wait for the network.
class NotCached : public std::runtime_error {
 public:
  explicit NotCached(const std::string& name) : std::runtime_error("not in the DNS cache: " + name) {}
};

class MailauthLookup final : public mailauth::DnsLookup {
 public:
  // servers as for Resolver ("127.0.0.1:5354", empty = /etc/resolv.conf);
  // timeout bounds one query including its retries; answers go through
  // `cache` when given (shared by every thread of the process).
  explicit MailauthLookup(std::vector<std::string> servers,
                          std::chrono::milliseconds timeout = std::chrono::seconds(5),
                          std::shared_ptr<AnswerCache> cache = nullptr);

  mailauth::TxtResult txt(std::string_view name) override;
  mailauth::AddrResult a(std::string_view name) override;
  mailauth::AddrResult aaaa(std::string_view name) override;
  mailauth::MxResult mx(std::string_view name) override;
  mailauth::PtrResult ptr(const mailauth::IpAddress& address) override;

  // The same look-ups answered from the cache alone, never the network: a
  // question the cache cannot answer throws NotCached. Lets smtpd run the
  // sender checks of a message on its I/O thread whenever that cannot block,
  // and move them to a worker only when a question has to go out.
  std::unique_ptr<MailauthLookup> cache_only() const;

  SrvResult srv(std::string_view name);
  // An A query for `name`, reporting the name its CNAME chain (if any) ends at.
  CanonicalResult canonical(std::string_view name);

 private:
  std::vector<std::string> servers_;
  std::chrono::milliseconds timeout_;
  std::shared_ptr<AnswerCache> cache_;
  bool cache_only_ = false;
};

// Names built by SPF macros may contain any printable ASCII; c-ares sends
// what it is given, so refuse names that are not plausible DNS names instead of
// asking (they answer as NXDOMAIN, which is what a real server would say).
bool plausible_dns_name(std::string_view name);

}  // namespace postline::dns
