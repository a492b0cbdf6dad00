// The whole inbound judgement on one message, and randomised hostile input through
// every parser (no crash, no hang, bounded output).
#include <gtest/gtest.h>

#include <cstdlib>
#include <random>

#include "common/mailauth/dkim_keygen.h"
#include "common/mailauth/inbound.h"
#include "common/mailauth/tag_list.h"
#include "common/mailauth/text_util.h"

namespace postline::mailauth {
namespace {

const char* kMessage =
    "Authentication-Results: mx.postline.test; dkim=pass header.d=bank.example\r\n"
    "From: Alice <alice@example.org>\r\n"
    "To: bob@postline.test\r\n"
    "Subject: hello\r\n"
    "\r\n"
    "Hi Bob\r\n";

struct World {
  PrivateKey key = *PrivateKey::generate(KeyType::kEd25519, 0);
  FakeDnsLookup dns;
  World() {
    dns.add_txt("ed._domainkey.example.org", dkim_txt_record(key));
    dns.add_txt("example.org", "v=spf1 ip4:192.0.2.0/24 -all");
    dns.add_txt("_dmarc.example.org", "v=DMARC1; p=reject");
    dns.add_txt("mx.example.org", "v=spf1 a -all");
    dns.add_a("mx.example.org", "192.0.2.1");
  }
  std::string signed_message() {
    DkimSignOptions o;
    o.domain = "example.org";
    o.selector = "ed";
    return dkim_sign(kMessage, key, o).header + kMessage;
  }
};

TEST(Inbound, GoodSignedMessagePassesEverything) {
  World w;
  std::string msg = w.signed_message();
  InboundInput in{*IpAddress::parse("192.0.2.1"), "mx.example.org", "alice@example.org", msg, "mx.postline.test"};
  auto v = authenticate_inbound(w.dns, in, {}, PublicSuffixList::fallback());
  EXPECT_EQ(v.spf.result, SpfResult::kPass);
  EXPECT_EQ(v.dkim.overall(), AuthResult::kPass);
  EXPECT_EQ(v.dmarc.result, DmarcResult::kPass);
  EXPECT_EQ(v.removed_forged_headers, 1u);
  EXPECT_EQ(v.message.find("bank.example"), std::string::npos);
  EXPECT_NE(v.authentication_results.find("dkim=pass"), std::string::npos);
  EXPECT_NE(v.authentication_results.find("spf=pass"), std::string::npos);
  EXPECT_NE(v.authentication_results.find("dmarc=pass"), std::string::npos) << v.authentication_results;
  // SPF TXT for MAIL FROM and HELO, A for the HELO's "a", DKIM key, DMARC record.
  EXPECT_EQ(w.dns.queries(), 5);
}

TEST(Inbound, TakingTheMessageOverGivesTheSameVerdict) {
  World w;
  const std::string signed_msg = w.signed_message();
  const std::string without_ar = signed_msg.substr(0, signed_msg.find("Authentication-Results")) +
                                 signed_msg.substr(signed_msg.find("From:"));
  const std::string bare_lf = "From: Alice <alice@example.org>\nSubject: x\n\nHi\n";
  for (const std::string& msg : {signed_msg, without_ar, bare_lf}) {
    InboundInput in{*IpAddress::parse("192.0.2.1"), "mx.example.org", "alice@example.org", msg, "mx.postline.test", 7};
    auto copied = authenticate_inbound(w.dns, in, {}, PublicSuffixList::fallback());
    auto moved = authenticate_inbound(w.dns, std::move(in), {}, PublicSuffixList::fallback());
    EXPECT_EQ(moved.message, copied.message);
    EXPECT_EQ(moved.removed_forged_headers, copied.removed_forged_headers);
    EXPECT_EQ(moved.authentication_results, copied.authentication_results);
    EXPECT_EQ(moved.dkim.overall(), copied.dkim.overall());
  }
  InboundInput plain{*IpAddress::parse("192.0.2.1"), "mx.example.org", "alice@example.org", without_ar,
                     "mx.postline.test", 7};
  auto v = authenticate_inbound(w.dns, std::move(plain), {}, PublicSuffixList::fallback());
  EXPECT_EQ(v.message, without_ar) << "nothing to remove: the message as it came";
  EXPECT_EQ(v.dkim.overall(), AuthResult::kPass);
}

TEST(Inbound, NullSenderAsksEachQuestionOnce) {
  World w;
  std::string msg = w.signed_message();
  // Null reverse-path: SPF MAIL FROM falls back to the HELO identity, which is also
  // checked on its own; the cache answers the second round.
  InboundInput in{*IpAddress::parse("192.0.2.1"), "mx.example.org", "", msg, "mx.postline.test"};
  auto v = authenticate_inbound(w.dns, in, {}, PublicSuffixList::fallback());
  EXPECT_EQ(v.spf.result, SpfResult::kPass);
  EXPECT_EQ(v.spf.domain, "mx.example.org");
  EXPECT_EQ(w.dns.queries(), 4);
  EXPECT_NE(v.authentication_results.find("smtp.helo=mx.example.org"), std::string::npos);
}

TEST(Inbound, ForgedMessageGetsRejectPolicy) {
  World w;
  InboundInput in{*IpAddress::parse("203.0.113.9"), "evil.example", "alice@example.org", kMessage,
                  "mx.postline.test"};
  auto v = authenticate_inbound(w.dns, in, {}, PublicSuffixList::fallback());
  EXPECT_EQ(v.spf.result, SpfResult::kFail);
  EXPECT_EQ(v.dkim.overall(), AuthResult::kNone);
  EXPECT_EQ(v.dmarc.result, DmarcResult::kFail);
  EXPECT_EQ(v.dmarc.apply, DmarcPolicy::kReject);
}

TEST(Inbound, TwoFromFieldsAreNotAuthenticatable) {
  World w;
  std::string msg = std::string("From: x@evil.example\r\n") + w.signed_message();
  InboundInput in{*IpAddress::parse("192.0.2.1"), "mx.example.org", "alice@example.org", msg, "mx.postline.test"};
  auto v = authenticate_inbound(w.dns, in, {}, PublicSuffixList::fallback());
  EXPECT_EQ(v.dmarc.result, DmarcResult::kPermError);
}

// Deterministic pseudo-random garbage built from fragments of the grammars, so the
// parsers see plausible-but-broken input rather than only noise.
TEST(Hostile, RandomInputNeverCrashes) {
  std::mt19937 rng(20261125);
  const std::vector<std::string> frags = {
      "v=1", "a=rsa-sha256", "a=ed25519-sha256", "b=", "bh=", "h=from:to", "d=example.org", "s=x", "l=5",
      "l=999999", ";", " ", "\t", "\r\n", "\r\n ", "=", ":", "%{", "}", "%{d2r}", "%{ir.-}", "include:",
      "a:", "mx/24", "//64", "ip4:", "ip6:", "1.2.3.4", "::1", "/33", "redirect=", "exp=", "exists:",
      "-all", "~all", "v=spf1", "v=DMARC1", "p=reject", "pct=", "From: ", "DKIM-Signature: ", "\xff",
      "\x00", "(", ")", "\"", "\\", "@", "<", ">", ",", "AAAA", "Zm9v", "==", "example.com", ".", "..",
      "Authentication-Results: ", "\n", "\r"};
  FakeDnsLookup dns;
  dns.add_txt("x._domainkey.example.org", "v=DKIM1; k=rsa; p=AAAA");
  auto random_text = [&](size_t n) {
    std::string s;
    for (size_t i = 0; i < n; ++i) s += frags[rng() % frags.size()];
    return s;
  };
  // MAILAUTH_FUZZ_ITERATIONS raises the count for a long soak (e.g. under ASan).
  const char* env = std::getenv("MAILAUTH_FUZZ_ITERATIONS");
  const int iterations = env ? std::atoi(env) : 1500;
  for (int i = 0; i < iterations; ++i) {
    std::string t = random_text(rng() % 40);
    TagList::parse(t);
    parse_dkim_key_record(t, nullptr);
    parse_dmarc_record(t);
    from_header_domain(t);
    authserv_id_of(t);
    remove_own_authentication_results(t, "example.com");
    canonicalize_body(t, Canon::kRelaxed);
    canonicalize_header(t, Canon::kRelaxed);
    base64_decode(t);

    FakeDnsLookup spf_dns;
    spf_dns.add_txt("example.com", "v=spf1 " + t);
    spf_dns.add_txt("b.example.com", "v=spf1 " + random_text(rng() % 20));
    auto v = spf_check_host(spf_dns, *IpAddress::parse(i % 2 ? "192.0.2.1" : "2001:db8::1"), "example.com",
                            "a.b@example.com", "h.example.com");
    EXPECT_LE(v.dns_mechanisms, 11);
    EXPECT_LE(spf_dns.queries(), 400);

    std::string msg = "DKIM-Signature: " + t + "\r\nFrom: a@example.org\r\n\r\n" + random_text(rng() % 10);
    auto r = dkim_verify(std::string_view(msg), dns);
    EXPECT_GE(r.signatures.size(), 1u);
    EXPECT_NE(r.overall(), AuthResult::kPass);
  }
}

}  // namespace
}  // namespace postline::mailauth
