// ARC (RFC 8617): sealing and chain validation against each other, broken
// structures, tampering, and the trusted-sealer override of a DMARC failure.
// Interoperability with dkimpy: tests/mailauth/test_arc_dkimpy.py.
#include <gtest/gtest.h>

#include "common/mailauth/arc.h"
#include "common/mailauth/dkim_keygen.h"
#include "common/mailauth/inbound.h"
#include "common/mailauth/public_suffix.h"

namespace postline::mailauth {
namespace {

const char* kMessage =
    "From: Alice <alice@bank.example>\r\n"
    "To: list@forwarder.example\r\n"
    "Subject: statement\r\n"
    "Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
    "Message-ID: <1@bank.example>\r\n"
    "\r\n"
    "Your statement is ready.\r\n";

struct Hops {
  PrivateKey k1 = *PrivateKey::generate(KeyType::kRsa, 2048);
  PrivateKey k2 = *PrivateKey::generate(KeyType::kEd25519, 0);
  FakeDnsLookup dns;
  Hops() {
    dns.add_txt("arc._domainkey.hop1.example", dkim_txt_record(k1));
    dns.add_txt("arc._domainkey.hop2.example", dkim_txt_record(k2));
  }
  std::string seal(const std::string& m, int hop, std::optional<ArcResult> cv = std::nullopt) {
    std::string domain = hop == 1 ? "hop1.example" : "hop2.example";
    std::string with_ar = "Authentication-Results: " + domain + "; spf=pass smtp.mailfrom=bank.example\r\n" + m;
    ArcSealOptions o;
    o.domain = domain;
    o.selector = "arc";
    o.authserv_id = domain;
    o.timestamp = 1764000000;
    o.chain = cv;
    auto r = arc_seal(with_ar, hop == 1 ? k1 : k2, o, &dns);
    EXPECT_TRUE(r.ok) << r.error;
    return r.headers + with_ar;
  }
};

TEST(Arc, NoSetsIsNone) {
  FakeDnsLookup dns;
  auto v = arc_verify(std::string_view(kMessage), dns);
  EXPECT_EQ(v.result, ArcResult::kNone);
  EXPECT_EQ(dns.queries(), 0);
}

TEST(Arc, OneHopSealsAndValidates) {
  Hops h;
  std::string m = h.seal(kMessage, 1);
  EXPECT_NE(m.find("ARC-Seal: i=1; a=rsa-sha256; cv=none; d=hop1.example; s=arc;"), std::string::npos) << m;
  EXPECT_NE(m.find("ARC-Authentication-Results: i=1; hop1.example; spf=pass"), std::string::npos);
  auto v = arc_verify(std::string_view(m), h.dns);
  EXPECT_EQ(v.result, ArcResult::kPass) << v.reason;
  EXPECT_EQ(v.instances, 1);
  EXPECT_EQ(v.latest_sealer(), "hop1.example");
}

TEST(Arc, TwoHopsWithBothAlgorithms) {
  Hops h;
  std::string m = h.seal(h.seal(kMessage, 1), 2);  // hop 2 verifies the chain itself (dns)
  EXPECT_NE(m.find("cv=pass"), std::string::npos);
  auto v = arc_verify(std::string_view(m), h.dns);
  ASSERT_EQ(v.result, ArcResult::kPass) << v.reason;
  EXPECT_EQ(v.instances, 2);
  EXPECT_EQ(v.sealers, (std::vector<std::string>{"hop1.example", "hop2.example"}));
  EXPECT_EQ(v.oldest_pass, 0);  // every AMS still validates
}

TEST(Arc, ForwarderThatChangesTheBodyKeepsItsOwnSetValid) {
  Hops h;
  std::string m = h.seal(kMessage, 1);
  // A list footer: AMS 1 breaks, but hop 2 seals what it sends.
  m.insert(m.size(), "-- \r\nlist footer\r\n");
  std::string m2 = h.seal(m, 2, ArcResult::kPass);  // hop 2 saw the chain pass before it changed the body
  auto v = arc_verify(std::string_view(m2), h.dns);
  ASSERT_EQ(v.result, ArcResult::kPass) << v.reason;
  EXPECT_EQ(v.oldest_pass, 2);  // AMS 1 no longer validates
}

TEST(Arc, TamperingFails) {
  Hops h;
  std::string m = h.seal(h.seal(kMessage, 1), 2);
  std::string body = m;
  body.replace(body.find("statement is ready"), 18, "statement is fake!");
  EXPECT_EQ(arc_verify(std::string_view(body), h.dns).result, ArcResult::kFail);
  std::string aar = m;
  aar.replace(aar.find("i=1; hop1.example; spf=pass"), 27, "i=1; hop1.example; spf=fail");
  auto v = arc_verify(std::string_view(aar), h.dns);
  EXPECT_EQ(v.result, ArcResult::kFail);
  EXPECT_NE(v.reason.find("AS"), std::string::npos) << v.reason;
}

TEST(Arc, BrokenStructuresFail) {
  Hops h;
  std::string m = h.seal(kMessage, 1);
  // Missing AMS.
  std::string no_ams = m;
  size_t a = no_ams.find("ARC-Message-Signature:");
  size_t e = no_ams.find("ARC-Authentication-Results:");
  no_ams.erase(a, e - a);
  EXPECT_EQ(arc_verify(std::string_view(no_ams), h.dns).result, ArcResult::kFail);
  // Two AARs for instance 1.
  std::string dup = "ARC-Authentication-Results: i=1; x.example; none\r\n" + m;
  EXPECT_EQ(arc_verify(std::string_view(dup), h.dns).result, ArcResult::kFail);
  // Instance out of range (RFC 8617 4.2.1: 1..50).
  std::string big = "ARC-Authentication-Results: i=51; x.example; none\r\n" + m;
  auto v = arc_verify(std::string_view(big), h.dns);
  EXPECT_EQ(v.result, ArcResult::kFail);
  EXPECT_NE(v.reason.find("out of range"), std::string::npos) << v.reason;
  // A gap: instance 2 without instance 1's neighbours being complete.
  std::string gap = "ARC-Seal: i=3; a=rsa-sha256; cv=pass; d=x.example; s=arc; b=AAAA\r\n" + m;
  EXPECT_EQ(arc_verify(std::string_view(gap), h.dns).result, ArcResult::kFail);
  // cv=pass on the first seal is a lie about a chain that did not exist.
  std::string first_pass = h.seal(kMessage, 1, ArcResult::kPass);  // sealer corrects it to none
  EXPECT_NE(first_pass.find("cv=none"), std::string::npos);
}

TEST(Arc, FailedChainIsSealedOnceAndNotExtended) {
  Hops h;
  std::string m = h.seal(kMessage, 1, ArcResult::kNone);
  std::string sealed = h.seal(m, 2, ArcResult::kFail);
  EXPECT_NE(sealed.find("cv=fail"), std::string::npos);
  EXPECT_EQ(arc_verify(std::string_view(sealed), h.dns).result, ArcResult::kFail);
  // Nobody seals on top of cv=fail.
  ArcSealOptions o;
  o.domain = "hop1.example";
  o.selector = "arc";
  o.authserv_id = "hop1.example";
  auto r = arc_seal("Authentication-Results: hop1.example; none\r\n" + sealed, h.k1, o, &h.dns);
  EXPECT_FALSE(r.ok);
}

TEST(Arc, NothingToSealWithoutOurAuthenticationResults) {
  Hops h;
  ArcSealOptions o;
  o.domain = "hop1.example";
  o.selector = "arc";
  o.authserv_id = "hop1.example";
  o.chain = ArcResult::kNone;
  auto r = arc_seal(kMessage, h.k1, o);
  EXPECT_FALSE(r.ok);
  EXPECT_NE(r.error.find("Authentication-Results"), std::string::npos);
}

TEST(Arc, ResultInAuthenticationResults) {
  EXPECT_EQ(arc_result_in_auth_results(" mx.example; spf=pass; arc=pass (i=2 as.d=x); dmarc=fail"), "pass");
  EXPECT_EQ(arc_result_in_auth_results(" mx.example; arc=FAIL"), "fail");
  EXPECT_EQ(arc_result_in_auth_results(" mx.example; spf=pass"), "");
}

// A forwarder broke SPF and DKIM; its ARC chain passes. Only a sealer the
// operator trusts turns the DMARC reject off.
TEST(Arc, TrustedSealerOverridesDmarcReject) {
  Hops h;
  h.dns.add_txt("_dmarc.bank.example", "v=DMARC1; p=reject; rua=mailto:d@bank.example");
  h.dns.add_txt("bank.example", "v=spf1 -all");
  h.dns.add_txt("hop1.example", "v=spf1 -all");
  std::string m = h.seal(kMessage, 1);
  InboundInput in{*IpAddress::parse("198.51.100.7"), "mx.hop1.example", "bounces@hop1.example", m,
                  "mx.postline.test", 1764000100};
  auto plain = authenticate_inbound(h.dns, in, {}, PublicSuffixList::fallback());
  EXPECT_EQ(plain.dmarc.result, DmarcResult::kFail);
  EXPECT_EQ(plain.dmarc.apply, DmarcPolicy::kReject);
  EXPECT_EQ(plain.arc.result, ArcResult::kPass);
  EXPECT_NE(plain.authentication_results.find("arc=pass"), std::string::npos) << plain.authentication_results;

  InboundOptions trusting;
  trusting.arc_trusted_sealers = {"hop1.example"};
  auto v = authenticate_inbound(h.dns, in, trusting, PublicSuffixList::fallback());
  EXPECT_EQ(v.dmarc.result, DmarcResult::kFail);  // still reported as it is
  EXPECT_EQ(v.dmarc.apply, DmarcPolicy::kNone);
  EXPECT_TRUE(v.dmarc.arc_override);
  EXPECT_NE(v.authentication_results.find("arc-override=hop1.example"), std::string::npos);

  InboundOptions other;
  other.arc_trusted_sealers = {"someone-else.example"};
  EXPECT_EQ(authenticate_inbound(h.dns, in, other, PublicSuffixList::fallback()).dmarc.apply, DmarcPolicy::kReject);
}

}  // namespace
}  // namespace postline::mailauth
