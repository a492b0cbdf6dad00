#include <gtest/gtest.h>

#include "services/auth/core/password.h"

namespace postline::auth {
namespace {

// Cheap parameters: the cost is a production setting, the behaviour is not.
HashParams cheap() { return {1, 8u << 10}; }

TEST(Password, HashVerifies) {
  PasswordHasher h(cheap());
  const auto hash = h.hash("correct horse");
  EXPECT_EQ(hash.rfind("$argon2id$", 0), 0u) << hash;
  EXPECT_TRUE(h.verify(hash, "correct horse"));
  EXPECT_FALSE(h.verify(hash, "correct horsf"));
  EXPECT_FALSE(h.verify(hash, ""));
}

TEST(Password, ParametersLiveInTheHash) {
  PasswordHasher weak(cheap());
  PasswordHasher stronger({2, 16u << 10});
  const auto hash = weak.hash("pw");
  EXPECT_NE(hash.find("m=8,t=1"), std::string::npos) << hash;
  // A hasher with other parameters still verifies it and asks for a rehash.
  EXPECT_TRUE(stronger.verify(hash, "pw"));
  EXPECT_TRUE(stronger.needs_rehash(hash));
  EXPECT_FALSE(weak.needs_rehash(hash));
}

TEST(Password, SaltsDiffer) {
  PasswordHasher h(cheap());
  EXPECT_NE(h.hash("same"), h.hash("same"));
}

TEST(Password, PasswordsWithNulAndUtf8) {
  PasswordHasher h(cheap());
  const std::string pw("a\0b\xc3\xa9", 5);
  const auto hash = h.hash(pw);
  EXPECT_TRUE(h.verify(hash, pw));
  EXPECT_FALSE(h.verify(hash, std::string("a")));
}

TEST(Password, GarbageHashNeverVerifies) {
  PasswordHasher h(cheap());
  EXPECT_FALSE(h.verify("", "x"));
  EXPECT_FALSE(h.verify("$argon2id$nonsense", "x"));
  EXPECT_FALSE(h.verify(std::string(200, 'a'), "x"));
  h.dummy_verify("anything");  // must not throw
}

TEST(Password, ParametersBelowMinimumAreRefused) {
  EXPECT_THROW(PasswordHasher({0, 8u << 10}), std::invalid_argument);
  EXPECT_THROW(PasswordHasher({1, 1024}), std::invalid_argument);
}

TEST(Password, SecretEqual) {
  EXPECT_TRUE(secret_equal("Bearer abc", "Bearer abc"));
  EXPECT_FALSE(secret_equal("Bearer abc", "Bearer abd"));
  EXPECT_FALSE(secret_equal("Bearer abc", "Bearer abcd"));
  EXPECT_FALSE(secret_equal("", "x"));
}

}  // namespace
}  // namespace postline::auth
