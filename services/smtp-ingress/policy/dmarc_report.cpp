#include "services/smtp-ingress/policy/dmarc_report.h"

#include "common/mailauth/text_util.h"

namespace postline::smtp::policy {

using mailauth::DmarcPolicy;
using mailauth::DmarcResult;

namespace {

std::string domain_of(const std::string& address) {
  auto at = address.rfind('@');
  return at == std::string::npos ? "" : mailauth::to_lower(address.substr(at + 1));
}

int strength(DmarcPolicy p) { return p == DmarcPolicy::kReject ? 2 : p == DmarcPolicy::kQuarantine ? 1 : 0; }

}  // namespace

std::optional<DmarcReportEntry> dmarc_report_entry(const DmarcReportInput& in) {
  if (!in.verdict) return std::nullopt;
  const auto& v = *in.verdict;
  const auto& dm = v.dmarc;
  if (!dm.record || dm.record->rua.empty() || dm.policy_domain.empty()) return std::nullopt;
  if (dm.result != DmarcResult::kPass && dm.result != DmarcResult::kFail) return std::nullopt;
  DmarcReportEntry e;
  e.time_unix = in.now;
  e.policy_domain = mailauth::to_lower(dm.policy_domain);
  e.header_from = mailauth::to_lower(dm.from_domain);
  e.envelope_from = in.mail_from.empty() ? mailauth::to_lower(in.helo) : domain_of(in.mail_from);
  e.envelope_to = domain_of(in.first_recipient);
  e.source_ip = in.client_ip;
  e.dkim_aligned = dm.dkim_aligned ? "pass" : "fail";
  e.spf_aligned = dm.spf_aligned ? "pass" : "fail";

  DmarcPolicy done = DmarcPolicy::kNone;
  if (dm.result == DmarcResult::kFail && in.decision) {
    if (in.decision->reason == "dmarc_reject") done = DmarcPolicy::kReject;
    else if (in.decision->reason == "dmarc_quarantine") done = DmarcPolicy::kQuarantine;
  }
  e.disposition = mailauth::to_string(done);
  if (dm.result == DmarcResult::kFail && strength(done) < strength(dm.published)) {
    if (dm.arc_override) e.reason = "trusted_forwarder";
    else if (strength(dm.apply) < strength(dm.published)) e.reason = "sampled_out";
    else if (!in.dmarc_enforce) e.reason = "local_policy";
    else if (in.decision && in.decision->action == Action::kReject) e.disposition = "reject";  // refused anyway
    else e.reason = "local_policy";
  }

  for (const auto& s : v.dkim.signatures) {
    if (s.domain.empty()) continue;
    e.dkim.push_back({s.domain, s.selector, mailauth::to_string(s.result)});
  }
  e.spf_domain = v.spf.domain;
  e.spf_scope = in.mail_from.empty() ? "helo" : "mfrom";
  e.spf_result = mailauth::to_string(v.spf.result);
  const auto& r = *dm.record;
  e.rua = r.rua;
  e.adkim = r.adkim == mailauth::Alignment::kStrict ? "s" : "r";
  e.aspf = r.aspf == mailauth::Alignment::kStrict ? "s" : "r";
  e.p = mailauth::to_string(r.p);
  e.sp = mailauth::to_string(r.sp.value_or(r.p));
  e.pct = r.pct;
  e.fo = r.fo.empty() ? "0" : r.fo;
  return e;
}

}  // namespace postline::smtp::policy
