// DKIM: RFC 8463 Appendix A vectors, sign/verify round trips, and hostile input.
#include <gtest/gtest.h>

#include <fstream>

#include "common/mailauth/dkim.h"
#include "common/mailauth/dkim_keygen.h"
#include "common/mailauth/text_util.h"

namespace postline::mailauth {

void PrintTo(AuthResult r, std::ostream* os) { *os << to_string(r); }

namespace {

const char* kRfc8463Message =
    "DKIM-Signature: v=1; a=ed25519-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=brisbane; t=1528637909; h=from : to :\r\n"
    " subject : date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=/gCrinpcQOoIfuHNQIbq4pgh9kyIK3AQUdt9OdqQehSwhEIug4D11Bus\r\n"
    " Fa3bT3FY5OsU7ZbnKELq+eXdp1Q1Dw==\r\n"
    "DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed;\r\n"
    " d=football.example.com; i=@football.example.com;\r\n"
    " q=dns/txt; s=test; t=1528637909; h=from : to : subject :\r\n"
    " date : message-id : from : subject : date;\r\n"
    " bh=2jUSOH9NhtVGCQWNr9BrIAPreKQjO6Sn7XIkfJVOzv8=;\r\n"
    " b=F45dVWDfMbQDGHJFlXUNB2HKfbCeLRyhDXgFpEL8GwpsRe0IeIixNTe3\r\n"
    " DhCVlUrSjV4BwcVcOF6+FF3Zo9Rpo1tFOeS9mPYQTnGdaSGsgeefOsk2Jz\r\n"
    " dA+L10TeYt9BgDfQNZtKdN1WO//KgIqXP7OdEFE4LjFYNcUxZQ4FADY+8=\r\n"
    "From: Joe SixPack <joe@football.example.com>\r\n"
    "To: Suzie Q <suzie@shopping.example.net>\r\n"
    "Subject: Is dinner ready?\r\n"
    "Date: Fri, 11 Jul 2003 21:00:37 -0700 (PDT)\r\n"
    "Message-ID: <20030712040037.46341.5F8J@football.example.com>\r\n"
    "\r\n"
    "Hi.\r\n"
    "\r\n"
    "We lost the game.  Are you hungry yet?\r\n"
    "\r\n"
    "Joe.\r\n";

const char* kRfc8463Ed25519Record = "v=DKIM1; k=ed25519; p=11qYAYKxCrfVS/7TyWQHOg7hcvPapiMlrwIaaPcHURo=";
const char* kRfc8463RsaRecord =
    "v=DKIM1; k=rsa; p=MIGfMA0GCSqGSIb3DQEBAQUAA4GNADCBiQKBgQDkHlOQoBTzWRiGs5V6NpP3idY6Wk08a5qhdR6wy5bdOKb2jLQiY/"
    "J16JYi0Qvx/byYzCNb3W91y3FutACDfzwQ/BC/e/8uBsCR+yz1Lxj+PL6lHvqMKrM3rG4hstT5QjvHO9PzoxZyVYLzBfO2EeC3Ip3G+"
    "2kryOTIKT+l/K4w3QIDAQAB";

FakeDnsLookup rfc8463_dns() {
  FakeDnsLookup dns;
  dns.add_txt("brisbane._domainkey.football.example.com", kRfc8463Ed25519Record);
  dns.add_txt("test._domainkey.football.example.com", kRfc8463RsaRecord);
  return dns;
}

TEST(DkimRfc8463, BothSignaturesVerify) {
  auto dns = rfc8463_dns();
  auto r = dkim_verify(std::string_view(kRfc8463Message), dns);
  ASSERT_EQ(r.signatures.size(), 2u);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPass) << r.signatures[0].reason;
  EXPECT_EQ(r.signatures[0].algorithm, "ed25519-sha256");
  EXPECT_FALSE(r.signatures[0].weak);
  EXPECT_EQ(r.signatures[1].result, AuthResult::kPass) << r.signatures[1].reason;
  EXPECT_TRUE(r.signatures[1].weak);  // 1024-bit RSA test key
  EXPECT_EQ(r.signatures[1].key_bits, 1024);
  EXPECT_EQ(r.overall(), AuthResult::kPass);
  EXPECT_EQ(r.signatures[0].domain, "football.example.com");
  EXPECT_EQ(r.signatures[0].identity, "@football.example.com");
}

TEST(DkimRfc8463, SecretKeyYieldsPublishedPublicKey) {
  auto seed = base64_decode("nWGxne/9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A=");
  ASSERT_TRUE(seed);
  auto key = PrivateKey::from_ed25519_seed(*seed);
  ASSERT_TRUE(key);
  EXPECT_EQ(dkim_txt_record(*key), kRfc8463Ed25519Record);
}

TEST(DkimRfc8463, TamperedBodyFails) {
  auto dns = rfc8463_dns();
  std::string msg = kRfc8463Message;
  msg.replace(msg.find("hungry"), 6, "HUNGRY");
  auto r = dkim_verify(std::string_view(msg), dns);
  ASSERT_EQ(r.signatures.size(), 2u);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kFail);
  EXPECT_EQ(r.signatures[0].reason, "body hash did not verify");
}

TEST(DkimRfc8463, TamperedHeaderFails) {
  auto dns = rfc8463_dns();
  std::string msg = kRfc8463Message;
  msg.replace(msg.find("Is dinner ready?"), 16, "Is lunch ready?");
  auto r = dkim_verify(std::string_view(msg), dns);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kFail);
  EXPECT_EQ(r.signatures[0].reason, "signature did not verify");
  EXPECT_EQ(r.overall(), AuthResult::kFail);
}

TEST(DkimRfc8463, RelaxedToleratesWhitespaceChanges) {
  auto dns = rfc8463_dns();
  std::string msg = kRfc8463Message;
  msg.replace(msg.find("Subject: Is"), 11, "subject:   Is");
  msg.replace(msg.find("the game."), 9, "the  game.  \t");
  auto r = dkim_verify(std::string_view(msg), dns);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPass) << r.signatures[0].reason;
}

TEST(DkimRfc8463, AddedFromBreaksOversignedSignature) {
  auto dns = rfc8463_dns();
  std::string msg = std::string(kRfc8463Message);
  size_t body = msg.find("\r\n\r\n");
  msg.insert(body + 2, "From: attacker@evil.example\r\n");
  auto r = dkim_verify(std::string_view(msg), dns);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kFail);
}

TEST(DkimRfc8463, MissingKeyTempfailAndRevoked) {
  FakeDnsLookup none;
  auto r = dkim_verify(std::string_view(kRfc8463Message), none);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPermError);
  EXPECT_EQ(r.signatures[0].reason, "no key for signature");

  FakeDnsLookup temp;
  temp.fail("brisbane._domainkey.football.example.com");
  r = dkim_verify(std::string_view(kRfc8463Message), temp);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kTempError);

  FakeDnsLookup revoked;
  revoked.add_txt("brisbane._domainkey.football.example.com", "v=DKIM1; k=ed25519; p=");
  r = dkim_verify(std::string_view(kRfc8463Message), revoked);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPermError);
  EXPECT_EQ(r.signatures[0].reason, "key revoked");
}

TEST(DkimRfc8463, KeyRestrictions) {
  FakeDnsLookup wrong_type;
  wrong_type.add_txt("brisbane._domainkey.football.example.com",
                     std::string(kRfc8463RsaRecord));  // rsa key for an ed25519 signature
  auto r = dkim_verify(std::string_view(kRfc8463Message), wrong_type);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPermError);

  FakeDnsLookup sha1_only;
  sha1_only.add_txt("test._domainkey.football.example.com", std::string(kRfc8463RsaRecord) + "; h=sha1");
  r = dkim_verify(std::string_view(kRfc8463Message), sha1_only);
  EXPECT_EQ(r.signatures[1].result, AuthResult::kPermError);
  EXPECT_EQ(r.signatures[1].reason, "hash algorithm not allowed by key");

  FakeDnsLookup min2048 = rfc8463_dns();
  DkimVerifyOptions o;
  o.min_rsa_bits = 2048;
  r = dkim_verify(std::string_view(kRfc8463Message), min2048, o);
  EXPECT_EQ(r.signatures[1].result, AuthResult::kPermError);
  EXPECT_EQ(r.signatures[1].reason, "RSA key too short");
}

TEST(DkimRfc8463, TestingFlagReported) {
  FakeDnsLookup dns;
  dns.add_txt("brisbane._domainkey.football.example.com", std::string(kRfc8463Ed25519Record) + "; t=y");
  auto r = dkim_verify(std::string_view(kRfc8463Message), dns);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPass);
  EXPECT_TRUE(r.signatures[0].testing);
}

TEST(DkimRfc8463, LfOnlyMessageVerifies) {
  auto dns = rfc8463_dns();
  std::string lf;
  for (char c : std::string(kRfc8463Message))
    if (c != '\r') lf.push_back(c);
  auto r = dkim_verify(std::string_view(lf), dns);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPass);
}

// ---------------------------------------------------------------- round trips

const std::string& rsa_key_pem() {
  static const std::string pem = [] {
    auto k = PrivateKey::generate(KeyType::kRsa, 2048);
    return k->to_pem();
  }();
  return pem;
}

struct Keys {
  PrivateKey rsa = *PrivateKey::from_pem(rsa_key_pem());
  PrivateKey ed = *PrivateKey::generate(KeyType::kEd25519, 0);
  FakeDnsLookup dns;
  Keys() {
    dns.add_txt("rsa._domainkey.example.org", dkim_txt_record(rsa));
    dns.add_txt("ed._domainkey.example.org", dkim_txt_record(ed));
  }
};

const char* kPlain =
    "From: Alice <alice@example.org>\r\n"
    "To: bob@example.net\r\n"
    "Subject: hello   there\r\n"
    "Date: Wed, 25 Nov 2026 10:00:00 +0000\r\n"
    "Message-ID: <1@example.org>\r\n"
    "\r\n"
    "Line one  \r\n"
    "\tLine two\r\n"
    "\r\n"
    "\r\n";

std::string sign(const PrivateKey& key, const std::string& selector, std::string_view msg, Canon hc, Canon bc) {
  DkimSignOptions o;
  o.domain = "example.org";
  o.selector = selector;
  o.header_canon = hc;
  o.body_canon = bc;
  o.timestamp = 1790000000;
  auto r = dkim_sign(msg, key, o);
  EXPECT_TRUE(r.ok) << r.error;
  return r.header + std::string(msg);
}

TEST(DkimRoundTrip, AllCanonicalisationsBothAlgorithms) {
  Keys k;
  for (Canon hc : {Canon::kSimple, Canon::kRelaxed}) {
    for (Canon bc : {Canon::kSimple, Canon::kRelaxed}) {
      for (int alg = 0; alg < 2; ++alg) {
        const PrivateKey& key = alg ? k.ed : k.rsa;
        std::string signed_msg = sign(key, alg ? "ed" : "rsa", kPlain, hc, bc);
        auto r = dkim_verify(std::string_view(signed_msg), k.dns);
        ASSERT_EQ(r.signatures.size(), 1u);
        EXPECT_EQ(r.signatures[0].result, AuthResult::kPass)
            << to_string(hc) << "/" << to_string(bc) << " alg " << alg << ": " << r.signatures[0].reason << "\n"
            << signed_msg;
      }
    }
  }
}

TEST(DkimRoundTrip, SignatureHeaderShape) {
  Keys k;
  std::string signed_msg = sign(k.rsa, "rsa", kPlain, Canon::kRelaxed, Canon::kRelaxed);
  std::string header = signed_msg.substr(0, signed_msg.find("From:"));
  EXPECT_NE(header.find("a=rsa-sha256"), std::string::npos);
  EXPECT_NE(header.find("c=relaxed/relaxed"), std::string::npos);
  // From is oversigned: listed once more than present.
  EXPECT_NE(header.find("h=from:from:"), std::string::npos) << header;
  for (auto line : split(header, '\n')) EXPECT_LE(line.size(), 80u) << header;
}

TEST(DkimRoundTrip, OversignedHeadersCannotBeAdded) {
  Keys k;
  std::string signed_msg = sign(k.ed, "ed", kPlain, Canon::kRelaxed, Canon::kRelaxed);
  std::string forged = signed_msg;
  forged.insert(forged.find("\r\n\r\n") + 2, "Subject: buy now\r\n");
  EXPECT_EQ(dkim_verify(std::string_view(forged), k.dns).overall(), AuthResult::kFail);
  // An unsigned header may be added freely.
  std::string extra = signed_msg;
  extra.insert(extra.find("\r\n\r\n") + 2, "X-Extra: fine\r\n");
  EXPECT_EQ(dkim_verify(std::string_view(extra), k.dns).overall(), AuthResult::kPass);
}

TEST(DkimRoundTrip, SimpleBodyRejectsWhitespaceChange) {
  Keys k;
  std::string signed_msg = sign(k.rsa, "rsa", kPlain, Canon::kSimple, Canon::kSimple);
  std::string changed = signed_msg;
  changed.replace(changed.find("Line one  "), 10, "Line one ");
  EXPECT_EQ(dkim_verify(std::string_view(changed), k.dns).overall(), AuthResult::kFail);
  // Trailing empty lines are ignored by simple body canonicalisation.
  EXPECT_EQ(dkim_verify(std::string_view(signed_msg + "\r\n\r\n"), k.dns).overall(), AuthResult::kPass);
}

TEST(DkimRoundTrip, NoFromIsRefusedWhenSigning) {
  Keys k;
  DkimSignOptions o;
  o.domain = "example.org";
  o.selector = "rsa";
  auto r = dkim_sign("Subject: x\r\n\r\nbody\r\n", k.rsa, o);
  EXPECT_FALSE(r.ok);
}

TEST(DkimRoundTrip, Expiry) {
  Keys k;
  DkimSignOptions o;
  o.domain = "example.org";
  o.selector = "ed";
  o.timestamp = 1000;
  o.expiration = 2000;
  auto s = dkim_sign(kPlain, k.ed, o);
  std::string msg = s.header + kPlain;
  DkimVerifyOptions v;
  v.now = 1500;
  EXPECT_EQ(dkim_verify(std::string_view(msg), k.dns, v).overall(), AuthResult::kPass);
  v.now = 2500;
  auto r = dkim_verify(std::string_view(msg), k.dns, v);
  EXPECT_EQ(r.overall(), AuthResult::kFail);
  EXPECT_EQ(r.signatures[0].reason, "signature expired");
}

TEST(DkimBodyLength, AppendedContentIsNeverPass) {
  Keys k;
  DkimSignOptions o;
  o.domain = "example.org";
  o.selector = "ed";
  o.body_length_tag = true;
  auto s = dkim_sign(kPlain, k.ed, o);
  ASSERT_TRUE(s.ok);
  std::string exact = s.header + kPlain;
  auto r = dkim_verify(std::string_view(exact), k.dns);
  EXPECT_EQ(r.overall(), AuthResult::kPass) << r.signatures[0].reason;
  EXPECT_FALSE(r.signatures[0].body_length_partial);

  std::string appended = exact + "Click here: http://evil.example/\r\n";
  r = dkim_verify(std::string_view(appended), k.dns);
  EXPECT_EQ(r.overall(), AuthResult::kPolicy);
  EXPECT_TRUE(r.signatures[0].body_length_partial);
  EXPECT_GT(r.signatures[0].unsigned_body_bytes, 0u);

  DkimVerifyOptions lenient;
  lenient.accept_partial_body = true;
  r = dkim_verify(std::string_view(appended), k.dns, lenient);
  EXPECT_EQ(r.overall(), AuthResult::kPass);
  EXPECT_TRUE(r.signatures[0].body_length_partial);

  // A body shorter than l= cannot verify.
  std::string truncated = exact.substr(0, exact.size() - 14);
  EXPECT_EQ(dkim_verify(std::string_view(truncated), k.dns).overall(), AuthResult::kFail);
}

TEST(DkimRoundTrip, IdentityAndStrictKeys) {
  Keys k;
  DkimSignOptions o;
  o.domain = "example.org";
  o.selector = "ed";
  o.identity = "@news.example.org";
  auto s = dkim_sign(kPlain, k.ed, o);
  ASSERT_TRUE(s.ok) << s.error;
  std::string msg = s.header + kPlain;
  auto r = dkim_verify(std::string_view(msg), k.dns);
  EXPECT_EQ(r.overall(), AuthResult::kPass);
  EXPECT_EQ(r.signatures[0].identity, "@news.example.org");
  // t=s: the i= domain must equal d=.
  FakeDnsLookup strict;
  strict.add_txt("ed._domainkey.example.org", dkim_txt_record(k.ed) + "; t=s");
  EXPECT_EQ(dkim_verify(std::string_view(msg), strict).overall(), AuthResult::kPermError);
  o.identity = "user@other.example";
  EXPECT_FALSE(dkim_sign(kPlain, k.ed, o).ok);
}

TEST(DkimRoundTrip, SeveralSignaturesOneGood) {
  Keys k;
  DkimSignOptions o;
  o.domain = "example.org";
  o.selector = "ed";
  std::string msg = dkim_sign(kPlain, k.ed, o).header + kPlain;
  // A second, broken signature from another domain on top.
  o.domain = "third.example";
  o.selector = "nokey";
  msg = dkim_sign(msg, k.rsa, o).header + msg;
  auto r = dkim_verify(std::string_view(msg), k.dns);
  ASSERT_EQ(r.signatures.size(), 2u);
  EXPECT_EQ(r.signatures[0].result, AuthResult::kPermError);
  EXPECT_EQ(r.signatures[0].domain, "third.example");
  EXPECT_EQ(r.signatures[1].result, AuthResult::kPass);
  EXPECT_EQ(r.overall(), AuthResult::kPass);
}

TEST(DkimRfc8463, Sha1CanBeRefused) {
  // Re-label the RSA signature as rsa-sha1: with sha1 refused it is a permerror before
  // any DNS query; allowed, it fails cryptographically (the signature is sha256).
  std::string msg = kRfc8463Message;
  msg.replace(msg.find("a=rsa-sha256"), 12, "a=rsa-sha1");
  auto dns = rfc8463_dns();
  DkimVerifyOptions o;
  o.allow_sha1 = false;
  auto r = dkim_verify(std::string_view(msg), dns, o);
  EXPECT_EQ(r.signatures[1].result, AuthResult::kPermError);
  r = dkim_verify(std::string_view(msg), dns);
  EXPECT_EQ(r.signatures[1].result, AuthResult::kFail);
  EXPECT_TRUE(r.signatures[1].weak);
}

TEST(DkimKeyRecord, Parsing) {
  std::string err;
  auto r = parse_dkim_key_record("v=DKIM1; k=ed25519; h=sha256; s=email; t=y:s; p=AAAA", &err);
  ASSERT_TRUE(r) << err;
  EXPECT_EQ(r->key_type, KeyType::kEd25519);
  EXPECT_TRUE(r->testing);
  EXPECT_TRUE(r->strict_identity);
  EXPECT_FALSE(parse_dkim_key_record("k=rsa; v=DKIM1; p=AAAA", &err));  // v not first
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM2; p=AAAA", &err));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; k=dsa; p=AAAA", &err));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; s=tlsrpt; p=AAAA", &err));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; k=rsa", &err));
  EXPECT_FALSE(parse_dkim_key_record("v=DKIM1; p=!!!", &err));
  auto rev = parse_dkim_key_record("v=DKIM1; p=", &err);
  ASSERT_TRUE(rev);
  EXPECT_TRUE(rev->revoked());
  EXPECT_TRUE(parse_dkim_key_record("p=AAAA; future=tag", &err));  // unknown tags ignored
}

TEST(DkimHostile, MalformedSignaturesArePermerrorNotCrashes) {
  FakeDnsLookup dns;
  const char* bad[] = {
      "DKIM-Signature: v=1\r\n",
      "DKIM-Signature: v=1; v=1; a=rsa-sha256\r\n",
      "DKIM-Signature: ;;;;\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=to; bh=AAAA; b=AAAA\r\n",
      "DKIM-Signature: v=1; a=md5; d=example.org; s=x; h=from; bh=AAAA; b=AAAA\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; d=exa mple.org; s=x; h=from; bh=AAAA; b=AAAA\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=AAAA; b=AAAA; i=user@other.org\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=A; b=AAAA\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=AAAA; b=AAAA; l=99999999999999999999999\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; c=fancy; d=example.org; s=x; h=from; bh=AAAA; b=AAAA\r\n",
      "DKIM-Signature: v=1; a=rsa-sha256; d=example.org; s=x; h=from; bh=AAAA; b=AAAA; t=20; x=10\r\n",
      "DKIM-Signature: \x01\x02\xff=\xfe\r\n",
  };
  for (const char* h : bad) {
    std::string msg = std::string(h) + "From: a@example.org\r\n\r\nbody\r\n";
    auto r = dkim_verify(std::string_view(msg), dns);
    ASSERT_EQ(r.signatures.size(), 1u) << h;
    EXPECT_EQ(r.signatures[0].result, AuthResult::kPermError) << h << " -> " << r.signatures[0].reason;
  }
  EXPECT_EQ(dns.queries(), 0);  // no DNS for signatures that cannot verify
}

TEST(DkimHostile, LimitsHold) {
  FakeDnsLookup dns;
  std::string many;
  for (int i = 0; i < 20; ++i) many += "DKIM-Signature: v=1\r\n";
  auto r = dkim_verify(std::string_view(many + "From: a@b.example\r\n\r\n"), dns);
  ASSERT_EQ(r.signatures.size(), 20u);
  EXPECT_EQ(r.signatures[19].result, AuthResult::kNeutral);

  std::string huge = "Subject: " + std::string(2 * 1024 * 1024, 'x') + "\r\n\r\n";
  r = dkim_verify(std::string_view(huge), dns);
  EXPECT_EQ(r.overall(), AuthResult::kPermError);

  std::string fields;
  for (int i = 0; i < 2000; ++i) fields += "X: y\r\n";
  r = dkim_verify(std::string_view(fields + "\r\n"), dns);
  EXPECT_EQ(r.overall(), AuthResult::kPermError);

  EXPECT_EQ(dkim_verify(std::string_view("From: a@b.example\r\n\r\nhi\r\n"), dns).overall(), AuthResult::kNone);
  EXPECT_EQ(dkim_verify(std::string_view(""), dns).overall(), AuthResult::kNone);
}

TEST(DkimKeys, LoadingFromFiles) {
  std::string err;
  std::string dir = ::testing::TempDir();
  EXPECT_FALSE(PrivateKey::from_pem_file(dir + "/does-not-exist.pem", &err));
  EXPECT_NE(err.find("cannot open"), std::string::npos);
  {
    std::ofstream(dir + "/garbage.pem") << "-----BEGIN PRIVATE KEY-----\nnot base64\n-----END PRIVATE KEY-----\n";
  }
  EXPECT_FALSE(PrivateKey::from_pem_file(dir + "/garbage.pem", &err));
  {
    std::ofstream(dir + "/empty.pem");
  }
  EXPECT_FALSE(PrivateKey::from_pem_file(dir + "/empty.pem", &err));
  {
    std::ofstream(dir + "/rsa.pem") << rsa_key_pem();
  }
  auto k = PrivateKey::from_pem_file(dir + "/rsa.pem", &err);
  ASSERT_TRUE(k) << err;
  EXPECT_EQ(k->type(), KeyType::kRsa);
  EXPECT_EQ(k->bits(), 2048);
  // An EC key is not a DKIM key.
  const char* ec =
      "-----BEGIN PRIVATE KEY-----\n"
      "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgevZzL1gdAFr88hb2\n"
      "OF/2NxApJCzGCEDdfSp6VQO30hyhRANCAAQRWz+jn65BtOMvdyHKcvjBeBSDZH2r\n"
      "1RTwjmYSi9R/zpBnuQ4EiMnCqfMPWiZqB4QdbAd0E7oH50VpuZ1P087G\n"
      "-----END PRIVATE KEY-----\n";
  EXPECT_FALSE(PrivateKey::from_pem(ec, &err));
  EXPECT_NE(err.find("unsupported key type"), std::string::npos) << err;
}

TEST(DkimKeygen, GeneratesUsableKeys) {
  for (KeyType t : {KeyType::kEd25519, KeyType::kRsa}) {
    std::string err;
    auto m = generate_dkim_key("Example.ORG", "sel2026", t, 2048, &err);
    ASSERT_TRUE(m) << err;
    EXPECT_EQ(m->dns_name, "sel2026._domainkey.example.org");
    auto key = PrivateKey::from_pem(m->private_key_pem, &err);
    ASSERT_TRUE(key) << err;
    FakeDnsLookup dns;
    dns.add_txt(m->dns_name, m->txt_record);
    DkimSignOptions o;
    o.domain = "example.org";
    o.selector = "sel2026";
    auto s = dkim_sign(kPlain, *key, o);
    ASSERT_TRUE(s.ok);
    EXPECT_EQ(dkim_verify(std::string_view(s.header + kPlain), dns).overall(), AuthResult::kPass);
    EXPECT_NE(m->zone_line.find("IN TXT ( \"v=DKIM1; k="), std::string::npos);
    if (t == KeyType::kRsa) {
      EXPECT_NE(m->zone_line.find("\" \""), std::string::npos);  // split at 255
    }
  }
  EXPECT_FALSE(generate_dkim_key("bad domain", "s", KeyType::kEd25519));
  EXPECT_FALSE(generate_dkim_key("example.org", "s", KeyType::kRsa, 512));
}

}  // namespace
}  // namespace postline::mailauth
