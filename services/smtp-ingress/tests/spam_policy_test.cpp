#include "services/smtp-ingress/policy/spam_policy.h"

#include <gtest/gtest.h>

namespace postline::smtp::policy {
namespace {

using mailauth::AuthResult;
using mailauth::DmarcPolicy;
using mailauth::DmarcResult;
using mailauth::IpAddress;
using mailauth::SpfResult;

IpAddress ip(const char* s) { return *IpAddress::parse(s); }

TEST(Dnsbl, ParsesZoneAndCodes) {
  auto z = parse_dnsbl_zone("zen.example.org.=127.0.0.2|127.0.0.4");
  ASSERT_TRUE(z);
  EXPECT_EQ(z->zone, "zen.example.org");
  ASSERT_EQ(z->codes.size(), 2u);
  EXPECT_EQ(z->codes[1], ip("127.0.0.4"));
  std::string err;
  EXPECT_FALSE(parse_dnsbl_zone("", &err));
  EXPECT_FALSE(parse_dnsbl_zone("bad zone", &err));
  EXPECT_FALSE(parse_dnsbl_zone("z.example=hello", &err));
  EXPECT_NE(err.find("hello"), std::string::npos);
}

TEST(Dnsbl, QueryNames) {
  EXPECT_EQ(dnsbl_query_name(ip("192.0.2.99"), "bl.example"), "99.2.0.192.bl.example");
  EXPECT_EQ(dnsbl_query_name(ip("127.0.0.1"), "bl.example"), "1.0.0.127.bl.example");
  // RFC 5782 2.4: 32 nibbles, least significant first.
  EXPECT_EQ(dnsbl_query_name(ip("2001:db8:1:2:3:4:567:89ab"), "bl.example"),
            "b.a.9.8.7.6.5.0.4.0.0.0.3.0.0.0.2.0.0.0.1.0.0.0.8.b.d.0.1.0.0.2.bl.example");
  // IPv4-mapped clients are looked up as IPv4.
  EXPECT_EQ(dnsbl_query_name(ip("::ffff:192.0.2.1"), "bl.example"), "1.2.0.192.bl.example");
}

TEST(Dnsbl, ReplyCodeMatching) {
  DnsblZone any{"bl.example", {}};
  DnsblZone only2{"bl.example", {ip("127.0.0.2")}};
  EXPECT_TRUE(dnsbl_listed(any, {ip("127.0.0.10")}));
  EXPECT_FALSE(dnsbl_listed(any, {}));
  // A wildcarding resolver or a re-registered dead list answers outside 127/8.
  EXPECT_FALSE(dnsbl_listed(any, {ip("198.51.100.7")}));
  EXPECT_TRUE(dnsbl_listed(only2, {ip("127.0.0.2")}));
  EXPECT_FALSE(dnsbl_listed(only2, {ip("127.0.0.3")}));
  EXPECT_TRUE(dnsbl_listed(only2, {ip("127.0.0.3"), ip("127.0.0.2")}));
}

TEST(Policy, CleanMailIsAccepted) {
  Checks c;
  c.spf = SpfResult::kPass;
  c.dkim = AuthResult::kPass;
  c.dmarc = DmarcResult::kPass;
  auto d = decide(c, {});
  EXPECT_EQ(d.action, Action::kAccept);
  EXPECT_LT(d.score, 0);
  EXPECT_NE(spam_status_header(d, {}).find("X-Spam-Status: No, score=-1.0 required=5.0"), std::string::npos);
}

TEST(Policy, DmarcRejectRefusesUnlessOperatorSaysOtherwise) {
  Checks c;
  c.spf = SpfResult::kFail;
  c.dmarc = DmarcResult::kFail;
  c.dmarc_apply = DmarcPolicy::kReject;
  c.dmarc_domain = "bank.example";
  auto d = decide(c, {});
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.code, 550);
  EXPECT_EQ(d.enhanced, "5.7.1");
  EXPECT_NE(d.text.find("bank.example"), std::string::npos);
  EXPECT_EQ(d.reason, "dmarc_reject");
  PolicyConfig lax;
  lax.dmarc_enforce = false;
  d = decide(c, lax);
  EXPECT_EQ(d.action, Action::kJunk);  // SPF fail 3.5 + DMARC fail 2.0 >= 5
}

TEST(Policy, DmarcPctSampledOutIsNotRejected) {
  Checks c;
  c.dmarc = DmarcResult::kFail;
  c.dmarc_apply = DmarcPolicy::kNone;  // pct roll fell outside: mailauth lowered it
  EXPECT_EQ(decide(c, {}).action, Action::kAccept);
}

TEST(Policy, QuarantineGoesToJunk) {
  Checks c;
  c.dmarc = DmarcResult::kFail;
  c.dmarc_apply = DmarcPolicy::kQuarantine;
  auto d = decide(c, {});
  EXPECT_EQ(d.action, Action::kJunk);
  EXPECT_EQ(d.reason, "dmarc_quarantine");
  EXPECT_NE(spam_status_header(d, {}).find("X-Spam-Status: Yes"), std::string::npos);
}

TEST(Policy, ScoreThresholds) {
  Checks c;
  c.spf = SpfResult::kSoftFail;
  PolicyConfig cfg;
  EXPECT_EQ(decide(c, cfg).action, Action::kAccept);  // 2.0 < 5
  cfg.junk_score = 2.0;
  EXPECT_EQ(decide(c, cfg).action, Action::kJunk);  // the threshold is inclusive
  cfg.reject_score = 2.0;
  auto d = decide(c, cfg);
  EXPECT_EQ(d.action, Action::kReject);
  EXPECT_EQ(d.code, 550);
  EXPECT_EQ(d.reason, "score");
}

TEST(Policy, RspamdActions) {
  Checks c;
  c.rspamd.available = true;
  c.rspamd.score = 3;
  c.rspamd.action = "reject";
  EXPECT_EQ(decide(c, {}).reason, "rspamd_reject");
  c.rspamd.action = "soft reject";
  auto d = decide(c, {});
  EXPECT_EQ(d.action, Action::kTempFail);
  EXPECT_EQ(d.code, 451);
  EXPECT_EQ(d.enhanced, "4.7.1");
  c.rspamd.action = "greylist";
  EXPECT_EQ(decide(c, {}).reason, "rspamd_greylist");
  c.rspamd.action = "add header";
  EXPECT_EQ(decide(c, {}).action, Action::kJunk);
  c.rspamd.action = "no action";
  c.rspamd.score = 6;  // Rspamd's score counts towards ours
  EXPECT_EQ(decide(c, {}).action, Action::kJunk);
  c.rspamd.available = false;  // down: its answer is ignored
  EXPECT_EQ(decide(c, {}).action, Action::kAccept);
}

}  // namespace
}  // namespace postline::smtp::policy

namespace postline::smtp::policy {
namespace {

TEST(Headers, RemovesNamedFieldsWithTheirFoldedLines) {
  std::string m =
      "Received: x\r\nx-postline-mailbox: INBOX\r\n\tcontinued\r\nSubject: hi\r\nX-Postline-Mailbox: Junk\r\n"
      "X-Postline-Mailboxes: other\r\n\r\nX-Postline-Mailbox: in the body stays\r\n";
  EXPECT_EQ(remove_header_fields(m, "X-Postline-Mailbox"), 2u);
  EXPECT_EQ(m,
            "Received: x\r\nSubject: hi\r\nX-Postline-Mailboxes: other\r\n\r\nX-Postline-Mailbox: in the body stays\r\n");
  std::string none = "Subject: a\r\n\r\nbody\r\n";
  EXPECT_EQ(remove_header_fields(none, "X-Spam-Status"), 0u);
  std::string headers_only = "X-Spam-Status: No";  // no end of line, no body
  EXPECT_EQ(remove_header_fields(headers_only, "x-spam-status"), 1u);
  EXPECT_EQ(headers_only, "");
}

TEST(Headers, HasFieldLooksOnlyAtTheHeaderSectionAndNeverMissesWhatRemovalWouldTake) {
  const std::string m =
      "Received: x\r\nSubject: hi\r\n\tX-Spam-Status: folded, not a field\r\nAuthentication-Results : ours; spf=pass\r\n"
      "\r\nX-Postline-Mailbox: in the body\r\n";
  EXPECT_TRUE(has_header_field(m, "subject"));
  EXPECT_TRUE(has_header_field(m, "Authentication-Results")) << "blanks before the colon";
  EXPECT_FALSE(has_header_field(m, "X-Spam-Status")) << "a continuation line is not a field";
  EXPECT_FALSE(has_header_field(m, "X-Postline-Mailbox")) << "the body is not the header";
  EXPECT_FALSE(has_header_field("\r\nSubject: x\r\n", "Subject")) << "no header section at all";
  EXPECT_TRUE(has_header_field("X-Spam-Status: No", "x-spam-status")) << "no end of line, no body";
  EXPECT_FALSE(has_header_field("Subject: a\nX-Other: b\n\nX-Spam-Status: body\n", "X-Spam-Status"));
  // Whatever remove_header_fields removes, has_header_field saw.
  for (std::string c : {std::string("X-Spam-Status: a\r\n\r\n"), std::string("A: b\r\nx-spam-status:\r\n c\r\n"),
                        std::string("X-Spam-Status:"), std::string("B: 1\nX-SPAM-STATUS: 2\n\nbody")}) {
    const bool seen = has_header_field(c, "X-Spam-Status");
    EXPECT_EQ(seen, remove_header_fields(c, "X-Spam-Status") > 0) << c;
  }
}

TEST(Greylist, NetworkKeys) {
  EXPECT_EQ(greylist_network("192.0.2.77"), "192.0.2.0/24");
  EXPECT_EQ(greylist_network("::ffff:192.0.2.77"), "192.0.2.0/24");
  EXPECT_EQ(greylist_network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
  EXPECT_EQ(greylist_network("not an ip"), "not an ip");
}

}  // namespace
}  // namespace postline::smtp::policy
