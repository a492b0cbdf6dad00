#include "services/auth/core/password_policy.h"

#include <gtest/gtest.h>

using postline::auth::dictionary_available;
using postline::auth::kDefaultCracklibDictionary;
using postline::auth::password_problem;
using postline::auth::PasswordPolicy;

TEST(PasswordPolicy, LengthCountsCharactersNotBytes) {
  PasswordPolicy p{.min_length = 10};
  EXPECT_EQ(password_problem(p, "x", "a@b.test"), "password is shorter than 10 characters");
  EXPECT_EQ(password_problem(p, "", "a@b.test"), "password must not be empty");
  // Nine characters of which three are two bytes each: still too short.
  EXPECT_TRUE(password_problem(p, "\xc3\xa9\xc3\xa9\xc3\xa9zzzzzz", "a@b.test").has_value());
  EXPECT_FALSE(password_problem(p, "\xc3\xa9\xc3\xa9\xc3\xa9zzzzzzz", "a@b.test").has_value());
  EXPECT_FALSE(password_problem(PasswordPolicy{}, "x", "a@b.test").has_value());  // no policy
}

TEST(PasswordPolicy, MayNotContainTheUserName) {
  PasswordPolicy p{.min_length = 8};
  EXPECT_EQ(password_problem(p, "1977-Alice-rules", "alice@example.test"), "password contains the user name");
  EXPECT_FALSE(password_problem(p, "1977-Bobby-rules", "alice@example.test").has_value());
  EXPECT_FALSE(password_problem(p, "ab-cd-ef-gh", "ab@example.test").has_value());  // 2 letters: too short to matter
}

TEST(PasswordPolicy, TheDictionaryRefusesWhatGuessersTryFirst) {
  if (!dictionary_available(kDefaultCracklibDictionary)) {
    GTEST_SKIP() << "no cracklib dictionary at " << kDefaultCracklibDictionary
                 << " (scripts/packages/runtime.txt installs cracklib-runtime)";
  }
  PasswordPolicy p{.min_length = 8, .dictionary = kDefaultCracklibDictionary};
  for (const char* weak : {"password1", "qwertyuiop", "aaaaaaaaaaaa", "Elephant1"}) {
    auto why = password_problem(p, weak, "someone@example.test");
    ASSERT_TRUE(why.has_value()) << weak;
    EXPECT_EQ(why->rfind("password is too easy to guess: ", 0), 0u) << *why;
  }
  for (const char* fine : {"correct horse battery staple", "Zebra-Quasar-7781", "limits test password"})
    EXPECT_FALSE(password_problem(p, fine, "someone@example.test").has_value()) << fine;
  EXPECT_FALSE(dictionary_available("/nonexistent/dict"));
}
