// The outcome of one transport-security policy evaluation (MTA-STS, DANE, or
// none) for one delivery attempt to one MX host, in the terms of SMTP TLS
// Reporting (RFC 8460 4.3/4.4), so that a TLS-RPT recorder can count it as it
// is: queued's remote delivery yields one per connection attempt
// (RemoteSession::take_policy_results, delivery/interfaces.h) and the workers
// count them in postline_queued_transport_policy_total{policy,result}.
// Documented in ../README.md ("Transport-security results").
#pragma once

#include <string>
#include <vector>

namespace postline::queue {

// RFC 8460 4.4 "policy-type".
enum class PolicyType { kSts, kTlsa, kNoPolicyFound };

// RFC 8460 4.3 "result-type" (kSuccess: a successful session, counted in
// "total-successful-session-count"; the rest are failure result types).
enum class PolicyResultType {
  kSuccess,
  kStartTlsNotSupported,     // "starttls-not-supported"
  kCertificateHostMismatch,  // "certificate-host-mismatch"
  kCertificateExpired,       // "certificate-expired"
  kCertificateNotTrusted,    // "certificate-not-trusted"
  kValidationFailure,        // "validation-failure" (also: MX not in the STS policy, TLS handshake failed)
  kTlsaInvalid,              // "tlsa-invalid"
  kDnssecInvalid,            // "dnssec-invalid"
  kDaneRequired,             // "dane-required" (not produced: Postline never requires DANE by configuration)
  kStsPolicyFetchError,      // "sts-policy-fetch-error"
  kStsPolicyInvalid,         // "sts-policy-invalid"
  kStsWebpkiInvalid,         // "sts-webpki-invalid"
};

inline const char* policy_type_name(PolicyType t) {
  switch (t) {
    case PolicyType::kSts: return "sts";
    case PolicyType::kTlsa: return "tlsa";
    case PolicyType::kNoPolicyFound: break;
  }
  return "no-policy-found";
}

inline const char* result_type_name(PolicyResultType r) {
  switch (r) {
    case PolicyResultType::kSuccess: return "success";
    case PolicyResultType::kStartTlsNotSupported: return "starttls-not-supported";
    case PolicyResultType::kCertificateHostMismatch: return "certificate-host-mismatch";
    case PolicyResultType::kCertificateExpired: return "certificate-expired";
    case PolicyResultType::kCertificateNotTrusted: return "certificate-not-trusted";
    case PolicyResultType::kValidationFailure: return "validation-failure";
    case PolicyResultType::kTlsaInvalid: return "tlsa-invalid";
    case PolicyResultType::kDnssecInvalid: return "dnssec-invalid";
    case PolicyResultType::kDaneRequired: return "dane-required";
    case PolicyResultType::kStsPolicyFetchError: return "sts-policy-fetch-error";
    case PolicyResultType::kStsPolicyInvalid: return "sts-policy-invalid";
    case PolicyResultType::kStsWebpkiInvalid: return "sts-webpki-invalid";
  }
  return "validation-failure";
}

struct TransportPolicyResult {
  PolicyType policy_type = PolicyType::kNoPolicyFound;
  std::string policy_domain;                // the recipient domain (RFC 8460 "policy-domain")
  std::vector<std::string> policy_strings;  // sts: the policy file's lines; tlsa: each TLSA record
                                            // ("3 1 1 ab12..."); empty for no-policy-found
  std::vector<std::string> mx_patterns;     // sts: the policy's mx patterns ("mx-host")
  PolicyResultType result = PolicyResultType::kSuccess;
  std::string receiving_mx_hostname;        // the MX host tried ("" when none was: a fetch error before any)
  std::string receiving_ip;                 // its address when a connection was made
  std::string failure_reason;               // "additional-information": our words, for logs and reports
  // What the failure did: true when the message was not sent to this host
  // because of it (enforce mode, DANE, REQUIRETLS); false in testing mode or
  // when the failure only cost the policy (fetch error: delivered
  // opportunistically).
  bool blocked = false;
};

}  // namespace postline::queue
