// SMTP TLS reports (RFC 8460), sans-I/O: the report's data, its JSON
// (section 4.4, generated and parsed) and the _smtp._tls TXT record
// (section 3).
#pragma once

#include "services/delivery-queue/reports/dmarc_report.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue::reports {

// RFC 8460 4.3 result types, and the policy types of 4.4.
inline constexpr const char* kTlsResultTypes[] = {
    "starttls-not-supported", "certificate-host-mismatch", "certificate-expired", "certificate-not-trusted",
    "validation-failure",     "tlsa-invalid",              "dnssec-invalid",      "dane-required",
    "sts-policy-fetch-error", "sts-policy-invalid",        "sts-webpki-invalid"};
bool known_result_type(std::string_view t);
bool known_policy_type(std::string_view t);  // sts | tlsa | no-policy-found

struct TlsFailureDetail {
  std::string result_type;
  std::string sending_mta_ip;
  std::string receiving_mx_hostname;
  std::string receiving_mx_helo;
  std::string receiving_ip;
  int64_t failed_session_count = 0;
  std::string additional_information;
  std::string failure_reason_code;
};

struct TlsPolicyReport {
  std::string policy_type = "no-policy-found";
  std::vector<std::string> policy_strings;
  std::string policy_domain;
  std::vector<std::string> mx_hosts;  // "mx-host": MX patterns of an STS policy
  int64_t successful = 0;
  int64_t failed = 0;
  std::vector<TlsFailureDetail> failures;
};

struct TlsReport {
  std::string organization_name;
  std::string contact_info;
  std::string report_id;
  int64_t start = 0, end = 0;  // unix seconds
  std::vector<TlsPolicyReport> policies;

  int64_t total_successful() const;
  int64_t total_failed() const;
};

// RFC 8460 4.4; dates as RFC 3339 "YYYY-MM-DDTHH:MM:SSZ".
std::string build_tlsrpt_json(const TlsReport& report);

// A received report: at most max_bytes of JSON, max_policies policies of at
// most max_failures failure details each.
std::optional<TlsReport> parse_tlsrpt_json(std::string_view json, std::string* error, size_t max_bytes = 16 << 20,
                                           size_t max_policies = 10000, size_t max_failures = 10000);

// "v=TLSRPTv1; rua=mailto:a@b.example,https://r.example/tlsrpt" (RFC 8460 3).
// nullopt when the record is not TLSRPTv1 or has no usable rua.
std::optional<std::vector<ReportUri>> parse_tlsrpt_record(std::string_view txt);

// RFC 8460 5.1: "sender!policy-domain!begin!end!unique-id.json.gz".
std::string tlsrpt_filename(std::string_view submitter, std::string_view policy_domain, int64_t begin, int64_t end,
                            std::string_view unique_id);

std::string rfc3339(int64_t unix_seconds);
std::optional<int64_t> parse_rfc3339(std::string_view text);

}  // namespace postline::queue::reports
