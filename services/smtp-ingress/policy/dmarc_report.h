// What one DMARC evaluation at the MX contributes to the aggregate reports
// (RFC 7489 7.2, appendix C), sans-I/O: from the mailauth verdict, the
// envelope and the decision smtpd took. queued counts these per period and
// domain and sends the reports (services/delivery-queue/reports).
#pragma once

#include "common/mailauth/inbound.h"
#include "services/smtp-ingress/policy/spam_policy.h"

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace postline::smtp::policy {

struct DmarcReportEntry {
  int64_t time_unix = 0;
  std::string policy_domain, header_from, envelope_from, envelope_to, source_ip;
  std::string disposition;   // none | quarantine | reject
  std::string dkim_aligned;  // pass | fail
  std::string spf_aligned;
  std::string reason;        // "" | sampled_out | local_policy | trusted_forwarder
  struct Dkim {
    std::string domain, selector, result;
  };
  std::vector<Dkim> dkim;
  std::string spf_domain, spf_scope, spf_result;
  std::string rua, adkim, aspf, p, sp, fo;
  int pct = 100;
};

struct DmarcReportInput {
  const mailauth::InboundVerdict* verdict = nullptr;
  std::string client_ip, helo, mail_from, first_recipient;
  const Decision* decision = nullptr;  // null: refused before the decision (counts as none)
  bool dmarc_enforce = true;
  int64_t now = 0;
};

// nullopt when there is nothing to report: no DMARC record found, or a
// record without rua= (nobody asked for reports).
std::optional<DmarcReportEntry> dmarc_report_entry(const DmarcReportInput& in);

}  // namespace postline::smtp::policy
