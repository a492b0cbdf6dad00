// SCRAM-SHA-256 against the RFC 7677 section 3 example, plus the failure paths.
#include <gtest/gtest.h>

#include "services/auth/core/scram.h"

namespace postline::auth::scram {
namespace {

constexpr const char* kClientFirst = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
constexpr const char* kServerNonce = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
constexpr const char* kServerFirst =
    "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
constexpr const char* kClientFinal =
    "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
constexpr const char* kServerFinal = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";

Credentials rfc_credentials() { return derive("pencil", *base64_decode("W22ZaJ0SNY7soEsUEjb6gQ=="), 4096); }

TEST(Scram, Rfc7677ExampleSucceeds) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first(kClientFirst).ok);
  EXPECT_EQ(conv.username(), "user");
  auto creds = rfc_credentials();
  auto first = conv.server_first(creds.salt, 4096, {creds}, kServerNonce);
  ASSERT_TRUE(first.ok);
  EXPECT_EQ(first.message, kServerFirst);
  auto final_step = conv.client_final(kClientFinal);
  ASSERT_TRUE(final_step.ok) << final_step.error;
  EXPECT_EQ(final_step.message, kServerFinal);
  EXPECT_EQ(conv.matched(), 0);
}

TEST(Scram, SecondCandidateMatches) {
  // App passwords are extra candidates under the same salt.
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first(kClientFirst).ok);
  auto right = rfc_credentials();
  auto wrong = derive("not-pencil", right.salt, 4096);
  ASSERT_TRUE(conv.server_first(right.salt, 4096, {wrong, right}, kServerNonce).ok);
  auto step = conv.client_final(kClientFinal);
  ASSERT_TRUE(step.ok);
  EXPECT_EQ(conv.matched(), 1);
}

TEST(Scram, WrongPasswordFails) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first(kClientFirst).ok);
  auto creds = rfc_credentials();
  auto wrong = derive("pencil2", creds.salt, 4096);
  ASSERT_TRUE(conv.server_first(creds.salt, 4096, {wrong}, kServerNonce).ok);
  auto step = conv.client_final(kClientFinal);
  EXPECT_FALSE(step.ok);
  EXPECT_TRUE(step.message.empty());
}

TEST(Scram, NoCandidatesFails) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first(kClientFirst).ok);
  ASSERT_TRUE(conv.server_first("0123456789abcdef", 4096, {}, kServerNonce).ok);
  EXPECT_FALSE(conv.client_final(kClientFinal).ok);
}

TEST(Scram, TamperedNonceFails) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first(kClientFirst).ok);
  auto creds = rfc_credentials();
  ASSERT_TRUE(conv.server_first(creds.salt, 4096, {creds}, "other-nonce").ok);
  EXPECT_FALSE(conv.client_final(kClientFinal).ok);
}

TEST(Scram, OnlyOneFinalAttempt) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first(kClientFirst).ok);
  auto creds = rfc_credentials();
  ASSERT_TRUE(conv.server_first(creds.salt, 4096, {creds}, kServerNonce).ok);
  EXPECT_FALSE(conv.client_final("c=biws,r=x,p=AAAA").ok);
  EXPECT_FALSE(conv.client_final(kClientFinal).ok);
}

TEST(Scram, MalformedClientFirst) {
  for (const char* bad : {"", "n,", "x,,n=user,r=abc", "p=tls-unique,,n=user,r=abc", "n,,r=abc,n=user",
                          "n,,n=us=er,r=abc", "n,,n=,r=abc", "n,,n=user,r=", "n,,m=ext,n=user,r=abc"}) {
    ServerConversation conv;
    EXPECT_FALSE(conv.client_first(bad).ok) << bad;
  }
}

TEST(Scram, SaslnameEscapesDecode) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first("n,a=a=2Cb,n=a=2Cb=3Dc,r=abc").ok);
  EXPECT_EQ(conv.username(), "a,b=c");
  EXPECT_EQ(conv.authzid(), "a,b");
}

TEST(Scram, ChannelBindingHeaderMustMatch) {
  ServerConversation conv;
  ASSERT_TRUE(conv.client_first("y,,n=user,r=rOprNGfwEbeRWgbNEkqO").ok);
  auto creds = rfc_credentials();
  ASSERT_TRUE(conv.server_first(creds.salt, 4096, {creds}, kServerNonce).ok);
  // The RFC's final message says c=biws ("n,,"), but this client sent "y,,".
  EXPECT_FALSE(conv.client_final(kClientFinal).ok);
}

TEST(Base64, RoundTripAndRejects) {
  EXPECT_EQ(base64_encode("n,,"), "biws");
  EXPECT_EQ(*base64_decode("biws"), "n,,");
  EXPECT_EQ(*base64_decode("YQ=="), "a");
  EXPECT_EQ(*base64_decode(""), "");
  EXPECT_FALSE(base64_decode("abc").has_value());
  EXPECT_FALSE(base64_decode("ab!d").has_value());
}

}  // namespace
}  // namespace postline::auth::scram
