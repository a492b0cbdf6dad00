#include <gtest/gtest.h>

#include "services/auth/core/address.h"

namespace postline::auth {
namespace {

TEST(Address, DomainIsLowerCasedAndTrimmed) {
  auto a = normalise_address("  Anna@Example.COM. ", {});
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.value.str(), "anna@example.com");
}

TEST(Address, LocalPartCaseFollowsPolicy) {
  AddressPolicy sensitive;
  sensitive.local_part_case_sensitive = true;
  EXPECT_EQ(normalise_address("Anna@EXAMPLE.com", sensitive).value.str(), "Anna@example.com");
  EXPECT_EQ(normalise_address("Anna@EXAMPLE.com", {}).value.str(), "anna@example.com");
}

TEST(Address, AngleBracketsAreStripped) {
  EXPECT_EQ(normalise_address("<bob@example.org>", {}).value.str(), "bob@example.org");
}

TEST(Address, InternationalisedDomainBecomesALabel) {
  auto a = normalise_address("info@B\xc3\xbc" "cher.Example", {});
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.value.domain, "xn--bcher-kva.example");
  auto d = normalise_domain("xn--bcher-kva.example");
  ASSERT_TRUE(d.ok());
  EXPECT_EQ(d.value, "xn--bcher-kva.example");
}

TEST(Address, Utf8LocalPartIsKept) {
  auto a = normalise_address("J\xc3\xb6rg@example.com", {});
  ASSERT_TRUE(a.ok()) << a.error;
  EXPECT_EQ(a.value.local, "j\xc3\xb6rg");  // ASCII lower-cased only
}

TEST(Address, BadAddressesAreRefusedWithAReason) {
  for (const char* bad : {"", "anna", "@example.com", "anna@", "an na@example.com", "\"anna\"@example.com",
                          "anna@-example.com", "anna@exa mple.com", "anna@example..com", ".anna@example.com",
                          "an..na@example.com", "anna@[192.0.2.1]"}) {
    auto a = normalise_address(bad, {});
    EXPECT_FALSE(a.ok()) << bad;
    EXPECT_FALSE(a.error.empty()) << bad;
  }
  EXPECT_FALSE(normalise_address(std::string(65, 'a') + "@example.com", {}).ok());
  EXPECT_FALSE(normalise_domain(std::string(64, 'a') + ".com").ok());
}

TEST(Address, LastAtSplits) {
  // '@' in the local part is refused rather than guessed at.
  EXPECT_FALSE(normalise_address("a@b@example.com", {}).ok());
}

TEST(Address, PlusAddressing) {
  EXPECT_EQ(base_local_part("anna+lists", "+"), "anna");
  EXPECT_EQ(base_local_part("anna+a+b", "+"), "anna");
  EXPECT_EQ(base_local_part("anna", "+"), "anna");
  EXPECT_EQ(base_local_part("+anna", "+"), "+anna");
  EXPECT_EQ(base_local_part("anna-x", "+-"), "anna");
  EXPECT_EQ(base_local_part("anna+x", ""), "anna+x");
}

}  // namespace
}  // namespace postline::auth
