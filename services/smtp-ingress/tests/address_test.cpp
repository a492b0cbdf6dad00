#include "services/smtp-ingress/protocol/address.h"
#include "services/smtp-ingress/protocol/base64.h"

#include <gtest/gtest.h>

using namespace postline::smtp;

TEST(Address, PlainPathAndParameters) {
  auto r = parse_path(" <Alice.Smith+tag@Example.COM> SIZE=10 BODY=8BITMIME SMTPUTF8", false);
  ASSERT_EQ(r.error, PathError::kNone);
  EXPECT_EQ(r.path.mailbox.local, "Alice.Smith+tag");
  EXPECT_EQ(r.path.mailbox.domain, "Example.COM");
  ASSERT_EQ(r.path.params.size(), 3u);
  EXPECT_EQ(r.path.params[0].keyword, "SIZE");
  EXPECT_EQ(*r.path.params[0].value, "10");
  EXPECT_FALSE(r.path.params[2].value.has_value());
}

TEST(Address, NullPathOnlyWhenAllowed) {
  EXPECT_TRUE(parse_path("<>", true).path.null_path);
  EXPECT_EQ(parse_path("<>", false).error, PathError::kSyntax);
}

TEST(Address, QuotedLocalPart) {
  auto r = parse_path("<\"john \\\"q\\\" doe\"@example.com>", false);
  ASSERT_EQ(r.error, PathError::kNone);
  EXPECT_TRUE(r.path.mailbox.quoted);
  EXPECT_EQ(r.path.mailbox.unquoted_local(), "john \"q\" doe");
  // '>' inside quotes does not end the path.
  EXPECT_EQ(parse_path("<\"a>b\"@example.com>", false).error, PathError::kNone);
}

TEST(Address, SourceRouteIsReported) {
  auto r = parse_path("<@a.example,@b.example:user@c.example>", false);
  ASSERT_EQ(r.error, PathError::kNone);
  EXPECT_TRUE(r.path.source_route);
  EXPECT_EQ(r.path.mailbox.text(), "user@c.example");
}

TEST(Address, Malformed) {
  for (const char* bad : {"alice@example.com", "<alice@example.com", "<alice@@example.com>", "<.alice@example.com>",
                          "<al..ice@example.com>", "<alice@-example.com>", "<alice@exa_mple.com>", "<alice@>",
                          "<alice@example.com>SIZE=1", "<a b@example.com>", "<alice@[1.2.3.4>", "<\"unterminated@x>"}) {
    EXPECT_NE(parse_path(bad, false).error, PathError::kNone) << bad;
  }
  EXPECT_EQ(parse_path("<alice>", false).error, PathError::kNoDomain);
  EXPECT_EQ(parse_path("<a@b.example> =x", false).error, PathError::kParamSyntax);
  EXPECT_EQ(parse_path("<a@b.example> SIZE=", false).error, PathError::kParamSyntax);
  EXPECT_EQ(parse_path("<a@b.example> SIZE=1 size=2", false).error, PathError::kDuplicateParam);
}

TEST(Address, LengthLimits) {
  EXPECT_EQ(parse_path("<" + std::string(64, 'a') + "@example.com>", false).error, PathError::kNone);
  EXPECT_EQ(parse_path("<" + std::string(65, 'a') + "@example.com>", false).error, PathError::kTooLong);
  std::string domain;
  for (int i = 0; i < 50; ++i) domain += "abcd.";
  domain += "com";
  EXPECT_EQ(parse_path("<a@" + domain + ">", false).error, PathError::kTooLong);
  EXPECT_EQ(parse_path("<a@" + std::string(64, 'b') + ".com>", false).error, PathError::kSyntax);  // label > 63
}

TEST(Address, Utf8) {
  auto r = parse_path("<jöran@bücher.example>", false);
  ASSERT_EQ(r.error, PathError::kNone);
  EXPECT_TRUE(r.path.non_ascii);
  EXPECT_EQ(parse_path("<j\xc3@example.com>", false).error, PathError::kBadUtf8);
  EXPECT_EQ(parse_path("<j\xc0\xaf@example.com>", false).error, PathError::kBadUtf8);  // overlong
  EXPECT_FALSE(valid_utf8("\xed\xa0\x80"));                                           // surrogate
  EXPECT_TRUE(valid_utf8("\xf0\x9f\x93\xa7"));
}

TEST(Address, Xtext) {
  EXPECT_TRUE(valid_xtext("abc+2B+3Ddef"));
  EXPECT_FALSE(valid_xtext("a=b"));
  EXPECT_FALSE(valid_xtext("a+2"));
  EXPECT_FALSE(valid_xtext("a+2b"));  // hex must be upper case
  EXPECT_FALSE(valid_xtext("a b"));
}

TEST(Base64, RoundTripAndStrictness) {
  for (std::string s : {std::string(), std::string("a"), std::string("ab"), std::string("abc"), std::string("\0u\0p", 4)}) EXPECT_EQ(*base64_decode(base64_encode(s)), s);
  EXPECT_FALSE(base64_decode("abc").has_value());
  EXPECT_FALSE(base64_decode("ab=c").has_value());
  EXPECT_FALSE(base64_decode("a===").has_value());
  EXPECT_FALSE(base64_decode("ab c").has_value());
  EXPECT_FALSE(base64_decode("YQ==YQ==").has_value());
}
