// DMARC: record parsing, the Public Suffix List, an alignment table, and policy
// evaluation including sp= and pct= sampling.
#include <gtest/gtest.h>

#include "common/mailauth/dmarc.h"

namespace postline::mailauth {

void PrintTo(DmarcResult r, std::ostream* os) { *os << to_string(r); }
void PrintTo(DmarcPolicy p, std::ostream* os) { *os << to_string(p); }

namespace {

TEST(PublicSuffix, FallbackAndSystemList) {
  const auto& fb = PublicSuffixList::fallback();
  EXPECT_EQ(fb.organizational_domain("a.b.example.co.uk"), "example.co.uk");
  EXPECT_EQ(fb.organizational_domain("mail.example.com"), "example.com");
  EXPECT_EQ(fb.organizational_domain("example.com"), "example.com");
  EXPECT_EQ(fb.organizational_domain("co.uk"), "co.uk");
  EXPECT_EQ(fb.organizational_domain("x.foo.bar.ck"), "foo.bar.ck");  // *.ck
  EXPECT_EQ(fb.organizational_domain("a.www.ck"), "www.ck");          // !www.ck
  EXPECT_EQ(fb.organizational_domain("a.b.unlisted"), "b.unlisted");  // default rule "*"
  EXPECT_EQ(fb.organizational_domain("Mail.Example.COM."), "example.com");

  auto sys = PublicSuffixList::load();
  if (!sys) GTEST_SKIP() << "Debian publicsuffix package not installed";
  EXPECT_GT(sys->size(), 5000u);
  EXPECT_EQ(sys->organizational_domain("www.bbc.co.uk"), "bbc.co.uk");
  EXPECT_EQ(sys->organizational_domain("a.b.example.com.au"), "example.com.au");
  EXPECT_EQ(sys->organizational_domain("someone.github.io"), "someone.github.io");  // private section
  EXPECT_EQ(sys->organizational_domain("a.www.ck"), "www.ck");
  EXPECT_EQ(sys->organizational_domain("mail.city.kawasaki.jp"), "city.kawasaki.jp");  // exception rule
  // IDN suffixes: the list's UTF-8 rules match A-label domains (公司.cn, 個人.香港).
  EXPECT_EQ(sys->organizational_domain("www.shop.xn--55qx5d.cn"), "shop.xn--55qx5d.cn");
  EXPECT_EQ(sys->organizational_domain("a.b.xn--gmqw5a.xn--j6w193g"), "b.xn--gmqw5a.xn--j6w193g");
}

TEST(PublicSuffix, Punycode) {
  EXPECT_EQ(idn_to_ascii_for_psl("公司.cn"), "xn--55qx5d.cn");
  EXPECT_EQ(idn_to_ascii_for_psl("香港"), "xn--j6w193g");
  EXPECT_EQ(idn_to_ascii_for_psl("bücher.example"), "xn--bcher-kva.example");
  EXPECT_EQ(idn_to_ascii_for_psl("example.com"), "example.com");
  EXPECT_EQ(idn_to_ascii_for_psl("\xff\xfe"), "");
}

TEST(DmarcRecord, Parsing) {
  std::string err;
  auto r = parse_dmarc_record("v=DMARC1; p=reject; sp=quarantine; pct=50; adkim=s; aspf=s; rua=mailto:d@x.example",
                              &err);
  ASSERT_TRUE(r) << err;
  EXPECT_EQ(r->p, DmarcPolicy::kReject);
  EXPECT_EQ(*r->sp, DmarcPolicy::kQuarantine);
  EXPECT_EQ(r->pct, 50);
  EXPECT_EQ(r->adkim, Alignment::kStrict);
  EXPECT_EQ(r->aspf, Alignment::kStrict);

  auto d = parse_dmarc_record("v=DMARC1;p=none", &err);
  ASSERT_TRUE(d);
  EXPECT_EQ(d->pct, 100);
  EXPECT_EQ(d->adkim, Alignment::kRelaxed);
  EXPECT_FALSE(d->sp);

  EXPECT_FALSE(parse_dmarc_record("p=reject; v=DMARC1", &err));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1", &err));
  EXPECT_FALSE(parse_dmarc_record("v=DMARC1; p=bogus", &err));
  auto rua_only = parse_dmarc_record("v=DMARC1; p=bogus; rua=mailto:a@b.example", &err);
  ASSERT_TRUE(rua_only);  // RFC 7489 6.6.3: treated as p=none
  EXPECT_EQ(rua_only->p, DmarcPolicy::kNone);
  auto bad_pct = parse_dmarc_record("v=DMARC1; p=reject; pct=250; adkim=x", &err);
  ASSERT_TRUE(bad_pct);
  EXPECT_EQ(bad_pct->pct, 100);
  EXPECT_EQ(bad_pct->adkim, Alignment::kRelaxed);
}

struct AlignCase {
  const char* from;
  const char* auth;
  Alignment mode;
  bool aligned;
};

TEST(DmarcAlignment, Table) {
  const AlignCase cases[] = {
      {"example.com", "example.com", Alignment::kStrict, true},
      {"example.com", "example.com", Alignment::kRelaxed, true},
      {"example.com", "mail.example.com", Alignment::kRelaxed, true},
      {"example.com", "mail.example.com", Alignment::kStrict, false},
      {"news.example.com", "bounce.example.com", Alignment::kRelaxed, true},
      {"news.example.com", "bounce.example.com", Alignment::kStrict, false},
      {"EXAMPLE.com", "example.COM.", Alignment::kStrict, true},
      {"example.com", "example.net", Alignment::kRelaxed, false},
      {"example.com", "example.com.evil.example", Alignment::kRelaxed, false},
      {"example.co.uk", "other.co.uk", Alignment::kRelaxed, false},
      {"shop.example.co.uk", "example.co.uk", Alignment::kRelaxed, true},
      {"com", "example.com", Alignment::kRelaxed, false},
      {"alice.github.io", "bob.github.io", Alignment::kRelaxed, false},
      {"a.alice.github.io", "alice.github.io", Alignment::kRelaxed, true},
      {"example.com", "", Alignment::kRelaxed, false},
  };
  for (const auto& c : cases) {
    EXPECT_EQ(domains_aligned(c.from, c.auth, c.mode, PublicSuffixList::fallback()), c.aligned)
        << c.from << " vs " << c.auth << (c.mode == Alignment::kStrict ? " strict" : " relaxed");
    EXPECT_EQ(domains_aligned(c.from, c.auth, c.mode, PublicSuffixList::system()), c.aligned)
        << c.from << " vs " << c.auth << " (system list)";
  }
}

DkimSignatureResult dkim(const char* domain, AuthResult r = AuthResult::kPass) {
  DkimSignatureResult s;
  s.domain = domain;
  s.result = r;
  return s;
}

class DmarcEval : public ::testing::Test {
 protected:
  FakeDnsLookup dns;
  DmarcVerdict eval(DmarcInput in) { return dmarc_evaluate(dns, in, PublicSuffixList::fallback()); }
};

TEST_F(DmarcEval, NoRecordIsNone) {
  auto v = eval({"example.com", {}, SpfResult::kFail, "example.com", 0});
  EXPECT_EQ(v.result, DmarcResult::kNone);
  EXPECT_EQ(v.apply, DmarcPolicy::kNone);
}

TEST_F(DmarcEval, AlignedDkimOrSpfPasses) {
  dns.add_txt("_dmarc.example.com", "v=DMARC1; p=reject");
  auto v = eval({"example.com", {dkim("mail.example.com")}, SpfResult::kFail, "other.example", 0});
  EXPECT_EQ(v.result, DmarcResult::kPass);
  EXPECT_TRUE(v.dkim_aligned);
  EXPECT_EQ(v.apply, DmarcPolicy::kNone);

  v = eval({"example.com", {}, SpfResult::kPass, "bounce.example.com", 0});
  EXPECT_EQ(v.result, DmarcResult::kPass);
  EXPECT_TRUE(v.spf_aligned);
}

TEST_F(DmarcEval, FailuresApplyPolicy) {
  dns.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; adkim=s; aspf=s");
  // Passing but unaligned (strict) identifiers.
  auto v = eval({"example.com", {dkim("mail.example.com"), dkim("example.net")}, SpfResult::kPass,
                 "bounce.example.com", 0});
  EXPECT_EQ(v.result, DmarcResult::kFail);
  EXPECT_EQ(v.published, DmarcPolicy::kReject);
  EXPECT_EQ(v.apply, DmarcPolicy::kReject);
  // Aligned but not passing.
  v = eval({"example.com", {dkim("example.com", AuthResult::kFail), dkim("example.com", AuthResult::kPolicy)},
            SpfResult::kSoftFail, "example.com", 0});
  EXPECT_EQ(v.result, DmarcResult::kFail);
}

TEST_F(DmarcEval, SubdomainPolicyAndOrgFallback) {
  dns.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; sp=quarantine");
  auto v = eval({"news.example.com", {}, SpfResult::kNone, "", 0});
  EXPECT_EQ(v.result, DmarcResult::kFail);
  EXPECT_EQ(v.policy_domain, "example.com");
  EXPECT_EQ(v.published, DmarcPolicy::kQuarantine);
  // A record at the subdomain itself wins, and its p= applies.
  dns.add_txt("_dmarc.news.example.com", "v=DMARC1; p=none");
  v = eval({"news.example.com", {}, SpfResult::kNone, "", 0});
  EXPECT_EQ(v.policy_domain, "news.example.com");
  EXPECT_EQ(v.apply, DmarcPolicy::kNone);
}

TEST_F(DmarcEval, PctSampling) {
  dns.add_txt("_dmarc.example.com", "v=DMARC1; p=reject; pct=20");
  EXPECT_EQ(eval({"example.com", {}, SpfResult::kFail, "example.com", 19}).apply, DmarcPolicy::kReject);
  EXPECT_EQ(eval({"example.com", {}, SpfResult::kFail, "example.com", 20}).apply, DmarcPolicy::kQuarantine);
  FakeDnsLookup q;
  q.add_txt("_dmarc.example.com", "v=DMARC1; p=quarantine; pct=0");
  EXPECT_EQ(dmarc_evaluate(q, {"example.com", {}, SpfResult::kFail, "example.com", 0}).apply, DmarcPolicy::kNone);
}

TEST_F(DmarcEval, DnsProblems) {
  dns.fail("_dmarc.example.com");
  EXPECT_EQ(eval({"example.com", {}, SpfResult::kFail, "example.com", 0}).result, DmarcResult::kTempError);
  FakeDnsLookup two;
  two.add_txt("_dmarc.example.com", "v=DMARC1; p=reject").add_txt("_dmarc.example.com", "v=DMARC1; p=none");
  EXPECT_EQ(dmarc_evaluate(two, {"example.com", {}, SpfResult::kFail, "example.com", 0}).result, DmarcResult::kNone);
  EXPECT_EQ(eval({"not a domain", {}, SpfResult::kFail, "", 0}).result, DmarcResult::kPermError);
}

TEST(DmarcFrom, HeaderDomain) {
  EXPECT_EQ(*from_header_domain(" Joe <joe@Example.COM>"), "example.com");
  EXPECT_EQ(*from_header_domain(" joe@example.com (Joe, the <boss>)"), "example.com");
  EXPECT_EQ(*from_header_domain(" \"Doe, <John>\" <john@example.org>"), "example.org");
  EXPECT_FALSE(from_header_domain(" a@example.com, b@example.net"));
  EXPECT_FALSE(from_header_domain(" undisclosed"));
  EXPECT_FALSE(from_header_domain(" <a@exa mple.com>"));
  EXPECT_FALSE(from_header_domain(""));
}

}  // namespace
}  // namespace postline::mailauth
