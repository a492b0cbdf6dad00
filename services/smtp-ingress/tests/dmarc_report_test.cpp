// What one DMARC evaluation contributes to the aggregate reports: only
// evaluations under a record with rua=, the disposition smtpd applied, and
// why it applied less than the published policy.
#include <gtest/gtest.h>

#include "services/smtp-ingress/policy/dmarc_report.h"

namespace postline::smtp::policy {
namespace {

using mailauth::DmarcPolicy;
using mailauth::DmarcResult;

mailauth::InboundVerdict verdict(DmarcResult result, DmarcPolicy published, DmarcPolicy apply) {
  mailauth::InboundVerdict v;
  v.dmarc.result = result;
  v.dmarc.from_domain = "Bank.Example";
  v.dmarc.policy_domain = "bank.example";
  mailauth::DmarcRecord r;
  r.p = published;
  r.pct = 50;
  r.rua = "mailto:dmarc@bank.example";
  v.dmarc.record = r;
  v.dmarc.published = published;
  v.dmarc.apply = apply;
  v.dmarc.dkim_aligned = result == DmarcResult::kPass;
  v.spf.result = mailauth::SpfResult::kFail;
  v.spf.domain = "spoofer.example";
  mailauth::DkimSignatureResult s;
  s.domain = "bank.example";
  s.selector = "s1";
  s.result = mailauth::AuthResult::kFail;
  v.dkim.signatures.push_back(s);
  return v;
}

DmarcReportInput input(const mailauth::InboundVerdict& v, const Decision& d) {
  DmarcReportInput in;
  in.verdict = &v;
  in.client_ip = "192.0.2.9";
  in.helo = "mx.spoofer.example";
  in.mail_from = "x@Spoofer.Example";
  in.first_recipient = "alice@Postline.Test";
  in.decision = &d;
  in.now = 1764806500;
  return in;
}

TEST(DmarcReportEntry, RejectedForgery) {
  auto v = verdict(DmarcResult::kFail, DmarcPolicy::kReject, DmarcPolicy::kReject);
  Decision d;
  d.action = Action::kReject;
  d.reason = "dmarc_reject";
  auto e = dmarc_report_entry(input(v, d));
  ASSERT_TRUE(e);
  EXPECT_EQ(e->policy_domain, "bank.example");
  EXPECT_EQ(e->header_from, "bank.example");
  EXPECT_EQ(e->envelope_from, "spoofer.example");
  EXPECT_EQ(e->envelope_to, "postline.test");
  EXPECT_EQ(e->disposition, "reject");
  EXPECT_EQ(e->reason, "");
  EXPECT_EQ(e->dkim_aligned, "fail");
  EXPECT_EQ(e->spf_result, "fail");
  EXPECT_EQ(e->spf_scope, "mfrom");
  ASSERT_EQ(e->dkim.size(), 1u);
  EXPECT_EQ(e->dkim[0].result, "fail");
  EXPECT_EQ(e->p, "reject");
  EXPECT_EQ(e->sp, "reject");
  EXPECT_EQ(e->pct, 50);
}

TEST(DmarcReportEntry, OverrideReasons) {
  Decision accept;
  {
    auto v = verdict(DmarcResult::kFail, DmarcPolicy::kReject, DmarcPolicy::kQuarantine);  // pct sampled
    Decision junk;
    junk.action = Action::kJunk;
    junk.reason = "dmarc_quarantine";
    auto e = dmarc_report_entry(input(v, junk));
    EXPECT_EQ(e->disposition, "quarantine");
    EXPECT_EQ(e->reason, "sampled_out");
  }
  {
    auto v = verdict(DmarcResult::kFail, DmarcPolicy::kReject, DmarcPolicy::kReject);
    auto in = input(v, accept);
    in.dmarc_enforce = false;
    auto e = dmarc_report_entry(in);
    EXPECT_EQ(e->disposition, "none");
    EXPECT_EQ(e->reason, "local_policy");
  }
  {
    auto v = verdict(DmarcResult::kFail, DmarcPolicy::kReject, DmarcPolicy::kNone);
    v.dmarc.arc_override = true;
    auto e = dmarc_report_entry(input(v, accept));
    EXPECT_EQ(e->disposition, "none");
    EXPECT_EQ(e->reason, "trusted_forwarder");
  }
  {
    auto v = verdict(DmarcResult::kPass, DmarcPolicy::kReject, DmarcPolicy::kNone);
    auto e = dmarc_report_entry(input(v, accept));
    EXPECT_EQ(e->disposition, "none");
    EXPECT_EQ(e->reason, "");
    EXPECT_EQ(e->dkim_aligned, "pass");
  }
}

TEST(DmarcReportEntry, NothingToReport) {
  Decision d;
  auto no_rua = verdict(DmarcResult::kPass, DmarcPolicy::kNone, DmarcPolicy::kNone);
  no_rua.dmarc.record->rua.clear();
  EXPECT_FALSE(dmarc_report_entry(input(no_rua, d)));
  auto none = verdict(DmarcResult::kNone, DmarcPolicy::kNone, DmarcPolicy::kNone);
  none.dmarc.record.reset();
  EXPECT_FALSE(dmarc_report_entry(input(none, d)));
  auto temp = verdict(DmarcResult::kTempError, DmarcPolicy::kReject, DmarcPolicy::kReject);
  EXPECT_FALSE(dmarc_report_entry(input(temp, d)));
  // The null sender: the HELO name stands for the envelope sender, SPF scope helo.
  auto v = verdict(DmarcResult::kPass, DmarcPolicy::kNone, DmarcPolicy::kNone);
  auto in = input(v, d);
  in.mail_from = "";
  auto e = dmarc_report_entry(in);
  EXPECT_EQ(e->envelope_from, "mx.spoofer.example");
  EXPECT_EQ(e->spf_scope, "helo");
}

}  // namespace
}  // namespace postline::smtp::policy
