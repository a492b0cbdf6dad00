// SPF (RFC 7208): check_host() over the DnsLookup seam.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/mailauth/dns_lookup.h"
#include "common/mailauth/ip_address.h"

namespace postline::mailauth {

enum class SpfResult { kNone, kNeutral, kPass, kFail, kSoftFail, kTempError, kPermError };
const char* to_string(SpfResult r);

struct SpfOptions {
  int max_dns_mechanisms = 10;  // RFC 7208 4.6.4: include a mx ptr exists redirect
  int max_void_lookups = 2;     // RFC 7208 4.6.4: NXDOMAIN / empty answers
  int max_mx_names = 10;        // more MX records than this: permerror
  int max_ptr_names = 10;       // PTR names beyond this are ignored
  size_t max_record_bytes = 4096;
  size_t max_terms = 64;
  // ptr is deprecated (RFC 7208 5.5) and costs lookups on attacker-chosen names. By
  // default it counts as a DNS mechanism but never matches, and %{p} expands to
  // "unknown". Set true for full evaluation.
  bool evaluate_ptr = false;
  std::string receiving_host = "unknown";  // %{r} in explanations
  uint64_t now = 0;                        // %{t}
  bool fetch_explanation = true;           // exp= on fail
};

struct SpfVerdict {
  SpfResult result = SpfResult::kNone;
  std::string domain;       // the identity's domain that was checked
  std::string reason;       // which mechanism matched or what went wrong
  std::string explanation;  // expanded exp= text on fail (may be empty)
  int dns_mechanisms = 0;
  int void_lookups = 0;
};

// The RFC's check_host(<ip>, <domain>, <sender>); helo feeds %{h}.
SpfVerdict spf_check_host(DnsLookup& dns, const IpAddress& ip, std::string_view domain, std::string_view sender,
                          std::string_view helo, const SpfOptions& options = {});

// MAIL FROM identity: an empty reverse-path is checked as postmaster@<helo>
// (RFC 7208 2.4); a sender without local part gets "postmaster".
SpfVerdict spf_check_mail_from(DnsLookup& dns, const IpAddress& ip, std::string_view mail_from,
                               std::string_view helo, const SpfOptions& options = {});

// HELO identity (RFC 7208 2.3). Address literals and non-domain names give none.
SpfVerdict spf_check_helo(DnsLookup& dns, const IpAddress& ip, std::string_view helo,
                          const SpfOptions& options = {});

}  // namespace postline::mailauth
