// Canonicalisation (RFC 6376 3.4, including the 3.4.6 example), the tag-list parser,
// the message splitter and base64.
#include <gtest/gtest.h>

#include "common/mailauth/canonicalization.h"
#include "common/mailauth/message.h"
#include "common/mailauth/tag_list.h"
#include "common/mailauth/text_util.h"

namespace postline::mailauth {
namespace {

// RFC 6376 section 3.4.6.
TEST(Canonicalization, Rfc6376Example) {
  EXPECT_EQ(canonicalize_header("A: X\r\n", Canon::kRelaxed), "a:X\r\n");
  EXPECT_EQ(canonicalize_header("B : Y\t\r\n\tZ  \r\n", Canon::kRelaxed), "b:Y Z\r\n");
  EXPECT_EQ(canonicalize_header("B : Y\t\r\n\tZ  \r\n", Canon::kSimple), "B : Y\t\r\n\tZ  \r\n");
  const std::string body = " C \r\nD \t E\r\n\r\n\r\n";
  EXPECT_EQ(canonicalize_body(body, Canon::kRelaxed), " C\r\nD E\r\n");
  EXPECT_EQ(canonicalize_body(body, Canon::kSimple), " C \r\nD \t E\r\n");
}

TEST(Canonicalization, EmptyAndUnterminatedBodies) {
  EXPECT_EQ(canonicalize_body("", Canon::kSimple), "\r\n");
  EXPECT_EQ(canonicalize_body("", Canon::kRelaxed), "");
  EXPECT_EQ(canonicalize_body("\r\n\r\n", Canon::kSimple), "\r\n");
  EXPECT_EQ(canonicalize_body("  \r\n\t\r\n", Canon::kRelaxed), "");
  EXPECT_EQ(canonicalize_body("abc", Canon::kSimple), "abc\r\n");
  EXPECT_EQ(canonicalize_body("abc  ", Canon::kRelaxed), "abc\r\n");
}

TEST(Canonicalization, StreamingHashMatchesMaterialisedBody) {
  const std::vector<std::string> bodies = {"", "\r\n", "a", "a\r\n\r\n\r\n", " \t \r\n x  y \t\r\n\r\n z",
                                           "\r\n\r\nmid\r\n\r\nend  \r\n  \r\n",
                                           std::string(100000, 'x') + "\r\n" + std::string(5000, '\n')};
  for (const auto& b : bodies) {
    for (Canon c : {Canon::kSimple, Canon::kRelaxed}) {
      std::string canon = canonicalize_body(b, c);
      auto full = body_hash(b, c, HashAlg::kSha256);
      EXPECT_EQ(full.canonical_length, canon.size());
      EXPECT_EQ(full.digest, digest(HashAlg::kSha256, canon));
      for (uint64_t l : {uint64_t(0), uint64_t(1), uint64_t(canon.size() / 2), uint64_t(canon.size()),
                         uint64_t(canon.size() + 10)}) {
        auto part = body_hash(b, c, HashAlg::kSha1, l);
        EXPECT_EQ(part.digest, digest(HashAlg::kSha1, std::string_view(canon).substr(0, l)));
        EXPECT_EQ(part.canonical_length, canon.size());
      }
    }
  }
}

TEST(TagList, ParsesWithFoldingWhitespace) {
  std::string err;
  auto t = TagList::parse(" v=1;\r\n\ta = rsa-sha256 ; b= ab\r\n cd ;", &err);
  ASSERT_TRUE(t) << err;
  ASSERT_EQ(t->tags().size(), 3u);
  EXPECT_EQ(*t->get("a"), "rsa-sha256");
  EXPECT_EQ(*t->get("b"), "ab\r\n cd");
  EXPECT_EQ(t->get("x"), nullptr);
}

TEST(TagList, RejectsBadInput) {
  std::string err;
  EXPECT_FALSE(TagList::parse("a=1; a=2", &err));
  EXPECT_EQ(err, "duplicate tag a");
  EXPECT_FALSE(TagList::parse("a", &err));
  EXPECT_FALSE(TagList::parse("=x", &err));
  EXPECT_FALSE(TagList::parse("1a=x", &err));
  EXPECT_FALSE(TagList::parse("a=x;;b=y", &err));
  EXPECT_FALSE(TagList::parse("a=\x01", &err));
  EXPECT_FALSE(TagList::parse("a=x\r\ny", &err));  // CRLF not followed by WSP
  std::string many;
  for (int i = 0; i < 100; ++i) many += "t" + std::to_string(i) + "=x;";
  EXPECT_FALSE(TagList::parse(many, &err));
  EXPECT_EQ(err, "too many tags");
  EXPECT_FALSE(TagList::parse("a=" + std::string(20000, 'x'), &err));
  EXPECT_TRUE(TagList::parse("a=", &err));  // empty values are legal
}

TEST(Message, SplitsHeadersAndBody) {
  std::string err;
  auto m = parse_message("From: a\r\nSubject: x\r\n  y\r\nbad line\r\n\r\nbody\r\n", &err);
  ASSERT_TRUE(m) << err;
  ASSERT_EQ(m->headers.size(), 2u);
  EXPECT_EQ(m->headers[1].raw, "Subject: x\r\n  y\r\n");
  EXPECT_EQ(m->headers[1].value(), " x\r\n  y");
  EXPECT_EQ(m->body, "body\r\n");
  auto lf = parse_message("From: a\nTo: b\n\nx\ny\n", &err);
  ASSERT_TRUE(lf);
  EXPECT_EQ(lf->headers[0].raw, "From: a\r\n");
  EXPECT_EQ(lf->body, "x\r\ny\r\n");
  auto nobody = parse_message("From: a", &err);
  ASSERT_TRUE(nobody);
  EXPECT_EQ(nobody->headers[0].raw, "From: a\r\n");
  EXPECT_EQ(nobody->body, "");
}

TEST(Base64, RoundTripAndStrictness) {
  for (std::string s : {"", "f", "fo", "foo", "foob", "fooba", "foobar"}) {
    auto d = base64_decode(base64_encode(s));
    ASSERT_TRUE(d);
    EXPECT_EQ(*d, s);
  }
  EXPECT_EQ(base64_encode("foobar"), "Zm9vYmFy");
  EXPECT_EQ(*base64_decode("Zm9v\r\n YmE="), "fooba");
  EXPECT_FALSE(base64_decode("Zm9v!"));
  EXPECT_FALSE(base64_decode("Zm9vY"));
  EXPECT_FALSE(base64_decode("Zg==Zg=="));
  EXPECT_FALSE(base64_decode("Zg==="));
}

TEST(Domains, Normalize) {
  EXPECT_EQ(*normalize_domain("Example.COM."), "example.com");
  EXPECT_FALSE(normalize_domain(""));
  EXPECT_FALSE(normalize_domain("a..b"));
  EXPECT_FALSE(normalize_domain("a b.com"));
  EXPECT_FALSE(normalize_domain(std::string(64, 'a') + ".com"));
  EXPECT_TRUE(normalize_domain("_dmarc.example.com"));
}

}  // namespace
}  // namespace postline::mailauth
