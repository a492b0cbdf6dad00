#include <gtest/gtest.h>

#include "services/auth/core/sasl.h"

namespace postline::auth::sasl {
namespace {

TEST(Sasl, PlainRfc4616) {
  auto c = parse_plain(std::string("\0tim\0tanstaaftanstaaf", 21));
  ASSERT_TRUE(c.ok()) << c.error;
  EXPECT_EQ(c.authcid, "tim");
  EXPECT_EQ(c.password, "tanstaaftanstaaf");
  auto same = parse_plain(std::string("tim\0tim\0pw", 10));
  EXPECT_TRUE(same.ok());
}

TEST(Sasl, PlainRejectsProxyAndMalformed) {
  EXPECT_FALSE(parse_plain(std::string("Ursel\0Kurt\0xipj3plmq", 20)).ok());  // act as another user
  EXPECT_FALSE(parse_plain("no-nuls").ok());
  EXPECT_FALSE(parse_plain(std::string("\0only-one", 9)).ok());
  EXPECT_FALSE(parse_plain(std::string("\0\0pw", 4)).ok());
}

TEST(Sasl, MechanismNames) {
  EXPECT_EQ(canonical_mechanism("plain"), "PLAIN");
  EXPECT_EQ(canonical_mechanism("scram-sha-256"), "SCRAM-SHA-256");
  EXPECT_EQ(canonical_mechanism("CRAM-MD5"), "");
}

TEST(Sasl, PlaintextMechanismsOnlyOverTls) {
  EXPECT_EQ(mechanisms(false, false), (std::vector<std::string>{"SCRAM-SHA-256"}));
  EXPECT_EQ(mechanisms(true, false), (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
  EXPECT_EQ(mechanisms(false, true), (std::vector<std::string>{"SCRAM-SHA-256", "PLAIN", "LOGIN"}));
}

}  // namespace
}  // namespace postline::auth::sasl
