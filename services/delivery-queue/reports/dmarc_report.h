// DMARC aggregate reports (RFC 7489 section 7.2 and appendix C), sans-I/O:
// the report's data, its XML (generated and parsed), and the rua URIs of a
// DMARC record with their size limits.
#pragma once

#include "services/delivery-queue/reports/xml.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue::reports {

struct DkimAuth {
  std::string domain, selector, result;  // result: none pass fail policy neutral temperror permerror
};

// One <record>: a group of messages that share every field.
struct DmarcRow {
  std::string source_ip;
  int64_t count = 0;
  std::string disposition = "none";  // none | quarantine | reject
  std::string dkim = "fail";         // policy_evaluated: pass | fail
  std::string spf = "fail";
  std::string reason;                // override type ("" = none): forwarded sampled_out trusted_forwarder mailing_list local_policy other
  std::string reason_comment;
  std::string envelope_to, envelope_from, header_from;
  std::vector<DkimAuth> dkim_auth;
  std::string spf_domain, spf_scope = "mfrom", spf_result = "none";
};

struct DmarcPolicyPublished {
  std::string domain;
  std::string adkim = "r", aspf = "r";
  std::string p = "none", sp = "none";
  int pct = 100;
  std::string fo = "0";
};

struct DmarcAggregate {
  std::string org_name, email, extra_contact_info, report_id;
  int64_t begin = 0, end = 0;  // unix seconds (date_range)
  std::vector<std::string> errors;
  DmarcPolicyPublished policy;
  std::vector<DmarcRow> rows;

  int64_t total_messages() const;
  int64_t failed_messages() const;  // neither DKIM nor SPF aligned-pass
};

// The XML of RFC 7489 appendix C, in its namespace
// (http://dmarc.org/dmarc-xml/0.1), so the document validates against the
// RFC's XSD. IPv6 source addresses are written in full (eight groups): the
// XSD's IPAddress pattern accepts nothing shorter.
std::string build_dmarc_xml(const DmarcAggregate& report);

// A received report. Lenient where reporters differ (namespace or none,
// missing optional elements), strict where it matters: one <feedback> root,
// a policy_published domain, numeric counts and dates. Limits: XmlLimits,
// and at most max_records records.
std::optional<DmarcAggregate> parse_dmarc_xml(std::string_view xml, std::string* error,
                                              const XmlLimits& limits = {}, size_t max_records = 100000);

// A report URI of rua= (RFC 7489 6.2/6.4): "mailto:a@b.example!10m".
struct ReportUri {
  std::string uri;        // as written, without the size suffix
  std::string scheme;     // lower-case: mailto, https, ...
  std::string address;    // mailto: the address (percent-decoded); https: the URL
  uint64_t max_bytes = 0; // 0 = no limit given
};
// Comma-separated URIs; malformed entries are skipped, at most `max` kept
// (RFC 7489 6.2: a receiver need not send to more than two).
std::vector<ReportUri> parse_report_uris(std::string_view list, size_t max = 8);

// RFC 7489 7.1: when the rua host's organisational domain differs from the
// policy domain's, the destination must publish TXT
// "<policy-domain>._report._dmarc.<destination-host>" starting with v=DMARC1.
std::string external_verification_name(std::string_view policy_domain, std::string_view destination_host);
bool external_verification_ok(const std::vector<std::string>& txt_records);

// RFC 7489 7.2.1.1: "receiver!policy-domain!begin!end.xml.gz".
std::string dmarc_report_filename(std::string_view receiver, std::string_view policy_domain, int64_t begin,
                                  int64_t end);

// An IPv6 address in full (eight groups of hex, lower-case); IPv4 unchanged;
// "" for something that is not an address.
std::string full_ip(std::string_view address);

}  // namespace postline::queue::reports
