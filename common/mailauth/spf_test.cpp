// SPF: RFC 7208 Appendix A examples, the section 7.4 macro examples, and
// openspf-suite-style cases for limits, loops and errors.
#include <gtest/gtest.h>

#include "common/mailauth/spf.h"

namespace postline::mailauth {
namespace {

IpAddress ip(const char* s) { return *IpAddress::parse(s); }
}  // namespace

void PrintTo(SpfResult r, std::ostream* os) { *os << to_string(r); }

namespace {

// The DNS of RFC 7208 Appendix A.
FakeDnsLookup appendix_a(const std::string& example_com_record) {
  FakeDnsLookup d;
  d.add_txt("example.com", example_com_record);
  d.add_mx("example.com", 10, "mx.example.com").add_mx("example.com", 20, "mx2.example.com");
  d.add_a("mx.example.com", "192.0.2.1").add_a("mx2.example.com", "192.0.2.129");
  d.add_a("example.com", "192.0.2.10").add_a("example.com", "192.0.2.11");
  d.add_a("amy.example.com", "192.0.2.65").add_a("bob.example.com", "192.0.2.66");
  d.add_a("mail-a.example.com", "192.0.2.129").add_a("mail-c.example.org", "192.0.2.140");
  d.add_name("example.org");
  d.add_ptr(ip("192.0.2.10"), "example.com").add_ptr(ip("192.0.2.11"), "example.com");
  d.add_ptr(ip("192.0.2.65"), "amy.example.com").add_ptr(ip("192.0.2.66"), "bob.example.com");
  d.add_ptr(ip("192.0.2.129"), "mail-a.example.com").add_ptr(ip("192.0.2.140"), "mail-c.example.org");
  d.add_ptr(ip("10.0.0.4"), "bob.example.com");
  return d;
}

SpfResult check(FakeDnsLookup& dns, const char* client, const SpfOptions& o = {}) {
  return spf_check_host(dns, ip(client), "example.com", "user@example.com", "mx.example.com", o).result;
}

TEST(SpfAppendixA, Simple) {
  {
    auto d = appendix_a("v=spf1 +all");
    EXPECT_EQ(check(d, "198.51.100.1"), SpfResult::kPass);
  }
  {
    auto d = appendix_a("v=spf1 a -all");
    EXPECT_EQ(check(d, "192.0.2.10"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.11"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.12"), SpfResult::kFail);
  }
  {
    auto d = appendix_a("v=spf1 a:example.org -all");
    EXPECT_EQ(check(d, "192.0.2.10"), SpfResult::kFail);
  }
  {
    auto d = appendix_a("v=spf1 mx -all");
    EXPECT_EQ(check(d, "192.0.2.129"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.10"), SpfResult::kFail);
  }
  {
    auto d = appendix_a("v=spf1 mx:example.org -all");
    EXPECT_EQ(check(d, "192.0.2.129"), SpfResult::kFail);
  }
  {
    auto d = appendix_a("v=spf1 mx mx:example.org -all");
    EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPass);
  }
  {
    auto d = appendix_a("v=spf1 mx/30 mx:example.org/30 -all");
    EXPECT_EQ(check(d, "192.0.2.2"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.131"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.132"), SpfResult::kFail);
  }
  {
    auto d = appendix_a("v=spf1 ip4:192.0.2.128/28 -all");
    EXPECT_EQ(check(d, "192.0.2.143"), SpfResult::kPass);
    EXPECT_EQ(check(d, "192.0.2.65"), SpfResult::kFail);
  }
}

TEST(SpfAppendixA, PtrIsConservativeByDefault) {
  auto d = appendix_a("v=spf1 ptr -all");
  EXPECT_EQ(check(d, "192.0.2.65"), SpfResult::kFail);  // never matches by default
  SpfOptions full;
  full.evaluate_ptr = true;
  EXPECT_EQ(check(d, "192.0.2.65", full), SpfResult::kPass);    // amy.example.com, forward-confirmed
  EXPECT_EQ(check(d, "192.0.2.10", full), SpfResult::kPass);
  EXPECT_EQ(check(d, "192.0.2.140", full), SpfResult::kFail);   // mail-c.example.org
  EXPECT_EQ(check(d, "10.0.0.4", full), SpfResult::kFail);      // PTR not confirmed by A
}

TEST(SpfAppendixA, Explanation) {
  auto d = appendix_a("v=spf1 mx -all exp=explain._spf.%{d}");
  d.add_txt("explain._spf.example.com", "See http://%{d}/why.html?s=%{S}&i=%{I}");
  auto v = spf_check_host(d, ip("192.0.2.200"), "example.com", "user@example.com", "h.example.com");
  EXPECT_EQ(v.result, SpfResult::kFail);
  EXPECT_EQ(v.explanation, "See http://example.com/why.html?s=user%40example.com&i=192.0.2.200");
}

// RFC 7208 A.4: excluding hosts with "-include".
TEST(SpfAppendixA, DnsblStyleInclude) {
  auto d = appendix_a("v=spf1 -include:ip4._spf.%{d} -include:ptr._spf.%{d} +all");
  d.add_txt("ip4._spf.example.com", "v=spf1 -ip4:192.0.2.0/24 +all");
  d.add_txt("ptr._spf.example.com", "v=spf1 -ptr:example.com +all");
  SpfOptions full;
  full.evaluate_ptr = true;
  EXPECT_EQ(check(d, "198.51.100.1", full), SpfResult::kFail);  // outside 192.0.2.0/24
  EXPECT_EQ(check(d, "192.0.2.66", full), SpfResult::kPass);    // bob.example.com
  EXPECT_EQ(check(d, "192.0.2.140", full), SpfResult::kFail);   // mail-c.example.org
}

TEST(SpfResults, Qualifiers) {
  for (auto [rec, want] : std::vector<std::pair<const char*, SpfResult>>{
           {"v=spf1 -all", SpfResult::kFail},
           {"v=spf1 ~all", SpfResult::kSoftFail},
           {"v=spf1 ?all", SpfResult::kNeutral},
           {"v=spf1 +all", SpfResult::kPass},
           {"v=spf1", SpfResult::kNeutral},
           {"v=spf1 ip4:10.0.0.0/8", SpfResult::kNeutral},
           {"V=SPF1 -ALL", SpfResult::kFail},
       }) {
    FakeDnsLookup d;
    d.add_txt("example.com", rec);
    EXPECT_EQ(check(d, "192.0.2.1"), want) << rec;
  }
}

TEST(SpfResults, NoneAndErrors) {
  FakeDnsLookup d;
  EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kNone);  // NXDOMAIN
  d.add_txt("example.com", "some other text");
  EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kNone);  // no SPF record
  FakeDnsLookup two;
  two.add_txt("example.com", "v=spf1 -all").add_txt("example.com", "v=spf1 +all");
  EXPECT_EQ(check(two, "192.0.2.1"), SpfResult::kPermError);
  FakeDnsLookup temp;
  temp.fail("example.com");
  EXPECT_EQ(check(temp, "192.0.2.1"), SpfResult::kTempError);
  FakeDnsLookup notspf;
  notspf.add_txt("example.com", "v=spf10 -all");
  EXPECT_EQ(check(notspf, "192.0.2.1"), SpfResult::kNone);
}

TEST(SpfSyntax, ErrorsAnywhereArePermerror) {
  for (const char* rec : {"v=spf1 -all foo", "v=spf1 ip4:300.1.1.1 -all", "v=spf1 ip4:1.2.3.4/33",
                          "v=spf1 ip6:::1/129", "v=spf1 a:foo.com/040", "v=spf1 include", "v=spf1 include:",
                          "v=spf1 redirect=a.example redirect=b.example", "v=spf1 exp=a.example exp=b.example",
                          "v=spf1 exists:%{q}.example.com", "v=spf1 exists:%{d0}.example.com", "v=spf1 a:%",
                          "v=spf1 mx:foo.1", "v=spf1 a:nodots", "v=spf1 all:x", "v=spf1 +all -", "v=spf1 ip4:1.2.3.4 ip6:1.2.3.4"}) {
    FakeDnsLookup d;
    d.add_txt("example.com", rec);
    EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPermError) << rec;
  }
  // Unknown modifiers are ignored; syntax is checked even after a match.
  FakeDnsLookup ok;
  ok.add_txt("example.com", "v=spf1 +all moo=cow.%{d}");
  EXPECT_EQ(check(ok, "192.0.2.1"), SpfResult::kPass);
}

TEST(SpfMechanisms, Ip6AndMappedClients) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 ip6:2001:db8::/32 ip4:192.0.2.0/24 a//64 -all");
  d.add_a("example.com", "2001:db9:1:2::1");
  EXPECT_EQ(check(d, "2001:db8::cb01"), SpfResult::kPass);
  EXPECT_EQ(check(d, "2001:db9:1:2:ffff::9"), SpfResult::kPass);  // a//64
  EXPECT_EQ(check(d, "2001:dba::1"), SpfResult::kFail);
  EXPECT_EQ(check(d, "::ffff:192.0.2.7"), SpfResult::kPass);     // mapped -> IPv4
}

TEST(SpfMechanisms, IncludeResults) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 include:pass.example include:fail.example ~all");
  d.add_txt("pass.example", "v=spf1 ip4:192.0.2.1 -all");
  d.add_txt("fail.example", "v=spf1 -all");
  EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPass);
  EXPECT_EQ(check(d, "192.0.2.2"), SpfResult::kSoftFail);  // included fail = no match

  FakeDnsLookup none;
  none.add_txt("example.com", "v=spf1 include:nothing.example -all");
  EXPECT_EQ(check(none, "192.0.2.1"), SpfResult::kPermError);  // include of none

  FakeDnsLookup temp;
  temp.add_txt("example.com", "v=spf1 include:down.example -all").fail("down.example");
  EXPECT_EQ(check(temp, "192.0.2.1"), SpfResult::kTempError);
}

TEST(SpfMechanisms, Redirect) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 ip4:10.0.0.1 redirect=_spf.example.net");
  d.add_txt("_spf.example.net", "v=spf1 ip4:192.0.2.0/24 ~all");
  EXPECT_EQ(check(d, "10.0.0.1"), SpfResult::kPass);  // mechanisms first
  EXPECT_EQ(check(d, "192.0.2.9"), SpfResult::kPass);
  EXPECT_EQ(check(d, "198.51.100.1"), SpfResult::kSoftFail);

  FakeDnsLookup ignored;  // redirect is ignored when all is present
  ignored.add_txt("example.com", "v=spf1 -all redirect=_spf.example.net");
  ignored.add_txt("_spf.example.net", "v=spf1 +all");
  EXPECT_EQ(check(ignored, "192.0.2.9"), SpfResult::kFail);

  FakeDnsLookup missing;
  missing.add_txt("example.com", "v=spf1 redirect=nowhere.example");
  EXPECT_EQ(check(missing, "192.0.2.9"), SpfResult::kPermError);
}

TEST(SpfLimits, IncludeLoops) {
  FakeDnsLookup self;
  self.add_txt("example.com", "v=spf1 include:example.com -all");
  auto v = spf_check_host(self, ip("192.0.2.1"), "example.com", "a@example.com", "h");
  EXPECT_EQ(v.result, SpfResult::kPermError);
  EXPECT_NE(v.reason.find("loop"), std::string::npos) << v.reason;

  FakeDnsLookup cycle;
  cycle.add_txt("example.com", "v=spf1 include:b.example -all");
  cycle.add_txt("b.example", "v=spf1 include:c.example -all");
  cycle.add_txt("c.example", "v=spf1 redirect=example.com");
  EXPECT_EQ(check(cycle, "192.0.2.1"), SpfResult::kPermError);
}

TEST(SpfLimits, TenDnsMechanisms) {
  FakeDnsLookup ok;
  std::string rec = "v=spf1";
  for (int i = 0; i < 10; ++i) {
    std::string n = "h" + std::to_string(i) + ".example.com";
    rec += " a:" + n;
    ok.add_a(n, "198.51.100." + std::to_string(i));
  }
  ok.add_txt("example.com", rec + " -all");
  EXPECT_EQ(check(ok, "198.51.100.9"), SpfResult::kPass);  // exactly 10: allowed
  EXPECT_EQ(check(ok, "192.0.2.1"), SpfResult::kFail);

  FakeDnsLookup over = ok;
  over.add_a("h10.example.com", "198.51.100.10");
  over.add_txt("over.example", rec + " a:h10.example.com -all");
  auto v = spf_check_host(over, ip("198.51.100.10"), "over.example", "a@over.example", "h");
  EXPECT_EQ(v.result, SpfResult::kPermError);
  EXPECT_EQ(v.dns_mechanisms, 11);

  // Nested includes count toward the same limit.
  FakeDnsLookup nested;
  for (int i = 0; i < 12; ++i)
    nested.add_txt("n" + std::to_string(i) + ".example",
                   "v=spf1 include:n" + std::to_string(i + 1) + ".example -all");
  nested.add_txt("n12.example", "v=spf1 +all");
  v = spf_check_host(nested, ip("192.0.2.1"), "n0.example", "a@n0.example", "h");
  EXPECT_EQ(v.result, SpfResult::kPermError);
  EXPECT_LE(nested.queries(), 12);  // evaluation stopped at the limit
}

TEST(SpfLimits, VoidLookups) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 a:v1.example.com a:v2.example.com a:v3.example.com +all");
  auto v = spf_check_host(d, ip("192.0.2.1"), "example.com", "a@example.com", "h");
  EXPECT_EQ(v.result, SpfResult::kPermError);
  EXPECT_EQ(v.void_lookups, 3);
  FakeDnsLookup two;
  two.add_txt("example.com", "v=spf1 a:v1.example.com mx:v2.example.com +all");
  EXPECT_EQ(check(two, "192.0.2.1"), SpfResult::kPass);
}

TEST(SpfLimits, TooManyMxRecords) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 mx -all");
  for (int i = 0; i < 11; ++i) d.add_mx("example.com", uint16_t(i), "mx" + std::to_string(i) + ".example.com");
  EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPermError);
}

TEST(SpfMechanisms, ExistsUsesA) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 exists:%{ir}.list.example.com -all");
  d.add_a("1.2.0.192.list.example.com", "127.0.0.2");
  EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPass);
  EXPECT_EQ(check(d, "192.0.2.2"), SpfResult::kFail);
}

// RFC 7208 7.4 examples. sender strong-bad@email.example.com, client 192.0.2.3.
class SpfMacro : public ::testing::Test {
 protected:
  std::string expand(const std::string& macro, const char* client = "192.0.2.3") {
    FakeDnsLookup d;
    d.add_txt("email.example.com", "v=spf1 -all exp=exp.example.net");
    d.add_txt("exp.example.net", macro);
    SpfOptions o;
    o.receiving_host = "mx.example.org";
    o.now = 1700000000;
    auto v = spf_check_host(d, ip(client), "email.example.com", "strong-bad@email.example.com",
                            "helo.example.com", o);
    EXPECT_EQ(v.result, SpfResult::kFail);
    return v.explanation;
  }
};

TEST_F(SpfMacro, Rfc7208Examples) {
  EXPECT_EQ(expand("%{s}"), "strong-bad@email.example.com");
  EXPECT_EQ(expand("%{o}"), "email.example.com");
  EXPECT_EQ(expand("%{d}"), "email.example.com");
  EXPECT_EQ(expand("%{d4}"), "email.example.com");
  EXPECT_EQ(expand("%{d3}"), "email.example.com");
  EXPECT_EQ(expand("%{d2}"), "example.com");
  EXPECT_EQ(expand("%{d1}"), "com");
  EXPECT_EQ(expand("%{dr}"), "com.example.email");
  EXPECT_EQ(expand("%{d2r}"), "example.email");
  EXPECT_EQ(expand("%{l}"), "strong-bad");
  EXPECT_EQ(expand("%{l-}"), "strong.bad");
  EXPECT_EQ(expand("%{lr}"), "strong-bad");
  EXPECT_EQ(expand("%{lr-}"), "bad.strong");
  EXPECT_EQ(expand("%{l1r-}"), "strong");
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}"), "3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp._spf.%{d2}"), "bad.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{lr-}.lp.%{ir}.%{v}._spf.%{d2}"), "bad.strong.lp.3.2.0.192.in-addr._spf.example.com");
  EXPECT_EQ(expand("%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}"), "3.2.0.192.in-addr.strong.lp._spf.example.com");
  EXPECT_EQ(expand("%{d2}.trusted-domains.example.net"), "example.com.trusted-domains.example.net");
  EXPECT_EQ(expand("%{ir}.%{v}._spf.%{d2}", "2001:db8::cb01"),
            "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST_F(SpfMacro, ExplanationOnlyMacrosAndEscapes) {
  EXPECT_EQ(expand("%{c} %{r} %{t} %{h} %{p}"), "192.0.2.3 mx.example.org 1700000000 helo.example.com unknown");
  EXPECT_EQ(expand("100%% sure%_now%-x"), "100% sure now%20x");
  EXPECT_EQ(expand("%{L}"), "strong-bad");
  EXPECT_EQ(expand("%{S}"), "strong-bad%40email.example.com");
  EXPECT_EQ(expand("%{c}", "2001:db8::cb01"), "2001:db8::cb01");
  EXPECT_EQ(expand("bad %{z}"), "");  // a broken explanation is dropped, result stays fail
}

TEST(SpfIdentities, MailFromAndHelo) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 ip4:192.0.2.1 -all");
  d.add_txt("mx.example.com", "v=spf1 a -all");
  d.add_a("mx.example.com", "192.0.2.25");
  EXPECT_EQ(spf_check_mail_from(d, ip("192.0.2.1"), "alice@example.com", "mx.example.com").result, SpfResult::kPass);
  // Null reverse-path: the HELO identity is checked (postmaster@helo).
  auto v = spf_check_mail_from(d, ip("192.0.2.25"), "", "mx.example.com");
  EXPECT_EQ(v.result, SpfResult::kPass);
  EXPECT_EQ(v.domain, "mx.example.com");
  EXPECT_EQ(spf_check_helo(d, ip("192.0.2.26"), "mx.example.com").result, SpfResult::kFail);
  EXPECT_EQ(spf_check_helo(d, ip("192.0.2.26"), "[192.0.2.26]").result, SpfResult::kNone);
  EXPECT_EQ(spf_check_helo(d, ip("192.0.2.26"), "localhost").result, SpfResult::kNone);
  // A sender without local part is "postmaster".
  FakeDnsLookup m;
  m.add_txt("example.com", "v=spf1 -all exp=e.example.com").add_txt("e.example.com", "%{l}");
  EXPECT_EQ(spf_check_mail_from(m, ip("192.0.2.1"), "@example.com", "h.example").explanation, "postmaster");
}

TEST(SpfHostile, OversizedAndWeirdRecords) {
  FakeDnsLookup d;
  d.add_txt("example.com", "v=spf1 " + std::string(5000, 'a'));
  EXPECT_EQ(check(d, "192.0.2.1"), SpfResult::kPermError);
  FakeDnsLookup many;
  std::string rec = "v=spf1";
  for (int i = 0; i < 100; ++i) rec += " ip4:10.0.0." + std::to_string(i);
  many.add_txt("example.com", rec);
  EXPECT_EQ(check(many, "192.0.2.1"), SpfResult::kPermError);
  // A macro expanding to a huge name is truncated from the left, never overflows.
  FakeDnsLookup big;
  big.add_txt("example.com", "v=spf1 exists:%{l}%{l}%{l}%{l}%{l}.example.com -all");
  auto v = spf_check_host(big, ip("192.0.2.1"), "example.com", std::string(60, 'x') + "@example.com", "h");
  EXPECT_EQ(v.result, SpfResult::kFail);
  EXPECT_EQ(spf_check_host(big, ip("192.0.2.1"), "bad domain!", "a@b", "h").result, SpfResult::kNone);
}

}  // namespace
}  // namespace postline::mailauth
