#include "tools/postline/dns_records.h"

#include <gtest/gtest.h>

#include <map>

namespace postline::cli::dnsrec {
namespace {

using mailauth::DnsStatus;

DomainSetup setup() {
  DomainSetup s;
  s.domain = "example.org";
  s.host = "mail.example.org";
  s.dkim = {{"s1", "v=DKIM1; k=rsa; p=MIIBIjANBgkq"}};
  return s;
}

std::map<std::string, Record> by_purpose(const std::vector<Record>& rs) {
  std::map<std::string, Record> m;
  for (const auto& r : rs) m.emplace(r.purpose, r);
  return m;
}

Observed seen(std::vector<std::string> values, std::string canonical = "") {
  return Observed{DnsStatus::kOk, std::move(values), std::move(canonical), {}};
}

TEST(DnsRecords, EveryRecordTheDomainNeeds) {
  auto m = by_purpose(records_for(setup()));
  EXPECT_EQ(m["mx"].name, "example.org");
  EXPECT_EQ(m["mx"].value, "10 mail.example.org.");
  EXPECT_TRUE(m["mx"].required);
  EXPECT_EQ(m["address"].name, "mail.example.org");
  EXPECT_EQ(m["address"].value, "");  // no --ipv4: advice only
  EXPECT_NE(m["address"].note.find("PTR"), std::string::npos);
  EXPECT_EQ(m["spf"].value, "v=spf1 mx -all");
  EXPECT_EQ(m["dkim"].name, "s1._domainkey.example.org");
  EXPECT_EQ(m["dkim"].value, "v=DKIM1; k=rsa; p=MIIBIjANBgkq");
  EXPECT_EQ(m["dmarc"].name, "_dmarc.example.org");
  EXPECT_EQ(m["dmarc"].value, "v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org");
  EXPECT_EQ(m["mta-sts"].name, "_mta-sts.example.org");
  EXPECT_EQ(m["mta-sts"].value.rfind("v=STSv1; id=", 0), 0u);
  EXPECT_FALSE(m["mta-sts"].required);
  EXPECT_EQ(m["mta-sts-host"].value, "mail.example.org.");
  EXPECT_EQ(m["tls-rpt"].name, "_smtp._tls.example.org");
  EXPECT_EQ(m["tls-rpt"].value, "v=TLSRPTv1; rua=mailto:postmaster@example.org");
  EXPECT_EQ(m["submissions"].name, "_submissions._tcp.example.org");
  EXPECT_EQ(m["submissions"].value, "0 1 465 mail.example.org.");
  EXPECT_EQ(m["submission"].value, "10 1 587 mail.example.org.");
  EXPECT_EQ(m["imaps"].value, "0 1 993 mail.example.org.");
  EXPECT_EQ(m["imap"].value, "10 1 143 mail.example.org.");
  EXPECT_EQ(m["autoconfig"].name, "autoconfig.example.org");
  EXPECT_EQ(m["autodiscover"].type, Type::kCname);
}

TEST(DnsRecords, OptionsChangeTheRecords) {
  DomainSetup s = setup();
  s.ipv4 = {"192.0.2.25"};
  s.ipv6 = {"2001:db8::25"};
  s.dmarc_policy = "reject";
  s.report_address = "reports@example.net";
  s.submission_port = 2587;
  s.dkim.clear();
  auto rs = records_for(s);
  auto m = by_purpose(rs);
  EXPECT_EQ(m["dmarc"].value, "v=DMARC1; p=reject; rua=mailto:reports@example.net");
  EXPECT_EQ(m["submission"].value, "10 1 2587 mail.example.org.");
  EXPECT_EQ(m["dkim"].value, "");  // no key configured: the note says how to make one
  EXPECT_NE(m["dkim"].note.find("postline dkim generate example.org"), std::string::npos);
  int a = 0, aaaa = 0;
  for (const auto& r : rs) {
    a += r.type == Type::kA && r.value == "192.0.2.25";
    aaaa += r.type == Type::kAaaa && r.value == "2001:db8::25";
  }
  EXPECT_EQ(a, 1);
  EXPECT_EQ(aaaa, 1);
}

TEST(DnsRecords, MtaStsIdFollowsThePolicy) {
  DomainSetup s = setup();
  const std::string testing = mta_sts_id(mta_sts_policy(s));
  EXPECT_EQ(testing, mta_sts_id(mta_sts_policy(s)));
  EXPECT_EQ(testing.size(), 20u);
  for (char c : testing) EXPECT_TRUE(std::isalnum(static_cast<unsigned char>(c))) << testing;
  s.mta_sts_mode = "enforce";
  EXPECT_NE(testing, mta_sts_id(mta_sts_policy(s)));
  EXPECT_EQ(mta_sts_policy(s), "version: STSv1\nmode: enforce\nmx: mail.example.org\nmax_age: 604800\n");
  EXPECT_EQ(mta_sts_policy_url(s), "https://mta-sts.example.org/.well-known/mta-sts.txt");
}

TEST(DnsRecords, ZoneFileSplitsLongTxtAndCommentsAdvice) {
  DomainSetup s = setup();
  s.dkim = {{"s1", "v=DKIM1; k=rsa; p=" + std::string(400, 'A')}};
  const std::string zone = zone_file(s, records_for(s));
  EXPECT_NE(zone.find("example.org.                       IN MX    10 mail.example.org.\n"), std::string::npos) << zone;
  EXPECT_NE(zone.find("s1._domainkey.example.org.         IN TXT   ( \"v=DKIM1; k=rsa; p="), std::string::npos) << zone;
  EXPECT_NE(zone.find("\" \""), std::string::npos);  // split into <=255-octet strings
  EXPECT_NE(zone.find("; mail.example.org."), std::string::npos);  // the address is advice, commented
  EXPECT_NE(zone.find(";   mode: testing\n"), std::string::npos);
  EXPECT_NE(zone.find("_submissions._tcp.example.org.     IN SRV   0 1 465 mail.example.org.\n"), std::string::npos);
}

TEST(DnsCheck, MxAndSrv) {
  auto m = by_purpose(records_for(setup()));
  EXPECT_EQ(compare(m["mx"], seen({"10 mail.example.org."}), {}).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["mx"], seen({"10 MAIL.example.org", "20 backup.example.net."}), {}).verdict, Verdict::kOk);
  auto wrong = compare(m["mx"], seen({"10 mx.elsewhere.example."}), {});
  EXPECT_EQ(wrong.verdict, Verdict::kWrong);
  EXPECT_EQ(wrong.found, std::vector<std::string>{"10 mx.elsewhere.example."});
  EXPECT_EQ(compare(m["mx"], Observed{DnsStatus::kNxDomain, {}, "", {}}, {}).verdict, Verdict::kMissing);
  EXPECT_EQ(compare(m["mx"], Observed{DnsStatus::kTempFail, {}, "", {}}, {}).verdict, Verdict::kUnchecked);
  EXPECT_EQ(compare(m["submissions"], seen({"0 1 465 mail.example.org."}), {}).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["submissions"], seen({"0 1 4465 mail.example.org."}), {}).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["imap"], seen({"0 0 0 ."}), {}).verdict, Verdict::kWrong);
}

TEST(DnsCheck, TxtRecords) {
  auto m = by_purpose(records_for(setup()));
  EXPECT_EQ(compare(m["spf"], seen({"google-site-verification=x", "v=spf1  MX -all"}), {}).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["spf"], seen({"v=spf1 -all"}), {}).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["spf"], seen({"v=spf1 mx -all", "v=spf1 a -all"}), {}).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["spf"], seen({"google-site-verification=x"}), {}).verdict, Verdict::kMissing);
  EXPECT_EQ(compare(m["dkim"], seen({"v=DKIM1; k=rsa; p=MIIBIjANBgkq"}), {}).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["dkim"], seen({"k=rsa; p=MIIBIjAN Bgkq"}), {}).verdict, Verdict::kOk);  // v= optional, folded
  EXPECT_EQ(compare(m["dkim"], seen({"v=DKIM1; k=rsa; p=OTHERKEY"}), {}).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["dkim"], seen({"v=DKIM1; k=ed25519; p=MIIBIjANBgkq"}), {}).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["dmarc"], seen({"v=DMARC1; p=quarantine; rua=mailto:postmaster@example.org; pct=100"}), {})
                .verdict,
            Verdict::kOk);
  EXPECT_EQ(compare(m["dmarc"], seen({"v=DMARC1; p=quarantine; rua=mailto:x@y.example,mailto:POSTMASTER@example.org"}),
                    {})
                .verdict,
            Verdict::kOk);
  auto none = compare(m["dmarc"], seen({"v=DMARC1; p=none; rua=mailto:postmaster@example.org"}), {});
  EXPECT_EQ(none.verdict, Verdict::kWrong);
  EXPECT_NE(none.detail.find("p=none instead of p=quarantine"), std::string::npos) << none.detail;
  EXPECT_EQ(compare(m["mta-sts"], seen({"v=STSv1; id=20250101"}), {}).verdict, Verdict::kOk);  // any id
  EXPECT_EQ(compare(m["mta-sts"], seen({"v=STSv1;"}), {}).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["tls-rpt"], seen({"v=TLSRPTv1; rua=mailto:postmaster@example.org"}), {}).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["tls-rpt"], seen({"v=TLSRPTv1; rua=mailto:other@example.org"}), {}).verdict, Verdict::kWrong);
}

TEST(DnsCheck, AddressesAndCnames) {
  DomainSetup s = setup();
  auto m = by_purpose(records_for(s));
  EXPECT_EQ(compare(m["address"], seen({"192.0.2.25"}), {}).verdict, Verdict::kOk);  // any address when none given
  EXPECT_EQ(compare(m["address"], Observed{DnsStatus::kNoData, {}, "", {}}, {}).verdict, Verdict::kMissing);
  s.ipv4 = {"192.0.2.25"};
  auto given = by_purpose(records_for(s));
  EXPECT_EQ(compare(given["address"], seen({"192.0.2.26"}), {}).verdict, Verdict::kWrong);
  const std::vector<std::string> server = {"192.0.2.25"};
  EXPECT_EQ(compare(m["autoconfig"], seen({"192.0.2.25"}, "mail.example.org"), server).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["autoconfig"], seen({"192.0.2.25"}, "autoconfig.example.org"), server).verdict, Verdict::kOk);
  EXPECT_EQ(compare(m["autoconfig"], seen({"198.51.100.1"}, "autoconfig.example.org"), server).verdict,
            Verdict::kWrong);
  EXPECT_EQ(compare(m["autoconfig"], seen({"198.51.100.1"}, "web.example.net"), server).verdict, Verdict::kWrong);
  EXPECT_EQ(compare(m["autodiscover"], Observed{DnsStatus::kNxDomain, {}, "", {}}, server).verdict, Verdict::kMissing);
}

TEST(DnsRecords, PtrForEachGivenAddress) {
  DomainSetup s = setup();
  s.outbound_host = "out.example.org";
  s.ipv4 = {"192.0.2.25"};
  s.ipv6 = {"2001:db8::25"};
  std::vector<Record> ptrs;
  for (const auto& r : records_for(s))
    if (r.type == Type::kPtr) ptrs.push_back(r);
  ASSERT_EQ(ptrs.size(), 2u);
  EXPECT_EQ(ptrs[0].name, "25.2.0.192.in-addr.arpa");
  EXPECT_EQ(ptrs[0].value, "out.example.org.");  // the EHLO name, not the MX name
  EXPECT_EQ(ptrs[0].address, "192.0.2.25");
  EXPECT_TRUE(ptrs[0].required);
  EXPECT_EQ(ptrs[1].name.substr(ptrs[1].name.size() - 9), ".ip6.arpa");
  const std::string zone = zone_file(s, records_for(s));
  const auto line_at = zone.find("\n25.2.0.192.in-addr.arpa. ");
  ASSERT_NE(line_at, std::string::npos) << zone;
  const std::string line = zone.substr(line_at + 1, zone.find('\n', line_at + 1) - line_at - 1);
  EXPECT_NE(line.find(" IN PTR   out.example.org."), std::string::npos) << line;
  EXPECT_TRUE(ptr_records(setup(), {}).empty());  // no address given: `dns check` resolves them
}

TEST(DnsCheck, ReverseDnsMustNameTheHostAndResolveBack) {
  DomainSetup s = setup();
  const Record r = ptr_records(s, {"192.0.2.25"}).at(0);
  EXPECT_EQ(compare(r, Observed{DnsStatus::kNxDomain, {}, "", {}}, {}).verdict, Verdict::kMissing);
  Observed right{DnsStatus::kOk, {"mail.example.org"}, "", {"mail.example.org"}};
  EXPECT_EQ(compare(r, right, {}).verdict, Verdict::kOk);
  Observed upper{DnsStatus::kOk, {"MAIL.example.org."}, "", {"MAIL.example.org."}};
  EXPECT_EQ(compare(r, upper, {}).verdict, Verdict::kOk);
  Observed unconfirmed{DnsStatus::kOk, {"mail.example.org"}, "", {}};
  auto f = compare(r, unconfirmed, {});
  EXPECT_EQ(f.verdict, Verdict::kWrong);
  EXPECT_NE(f.detail.find("does not resolve back"), std::string::npos);
  Observed generic{DnsStatus::kOk, {"25-2-0-192.pool.example.net"}, "", {"25-2-0-192.pool.example.net"}};
  f = compare(r, generic, {});
  EXPECT_EQ(f.verdict, Verdict::kWrong);
  EXPECT_NE(f.detail.find("does not name mail.example.org"), std::string::npos);
  EXPECT_TRUE(fails(r, f));
  EXPECT_EQ(compare(r, Observed{DnsStatus::kTempFail, {}, "", {}}, {}).verdict, Verdict::kUnchecked);
}

TEST(DnsCheck, WhatFails) {
  DomainSetup s = setup();
  s.dkim.clear();
  auto m = by_purpose(records_for(s));
  auto unconfigured = compare(m["dkim"], seen({}), {});
  EXPECT_EQ(unconfigured.verdict, Verdict::kUnchecked);
  EXPECT_TRUE(fails(m["dkim"], unconfigured));
  EXPECT_TRUE(fails(m["mx"], Finding{Verdict::kMissing, {}, ""}));
  EXPECT_FALSE(fails(m["imap"], Finding{Verdict::kMissing, {}, ""}));  // recommended: may be absent
  EXPECT_TRUE(fails(m["imap"], Finding{Verdict::kWrong, {}, ""}));      // but not wrong
  EXPECT_FALSE(fails(m["mx"], Finding{Verdict::kOk, {}, ""}));
}

}  // namespace
}  // namespace postline::cli::dnsrec
