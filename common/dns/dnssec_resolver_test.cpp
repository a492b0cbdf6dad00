// The wire-format parsers of dnssec_resolver (no network: the look-ups
// themselves are tested against a real unbound in tests/e2e/test_queue_transport_security.py).
#include "common/dns/dnssec_resolver.h"

#include <gtest/gtest.h>

using namespace postline::dns;

TEST(DnssecRdata, ParsesMx) {
  const std::string rdata("\x00\x0a\x02mx\x07" "Example\x03org\x00", 2 + 16);
  auto mx = parse_mx_rdata(rdata);
  ASSERT_TRUE(mx);
  EXPECT_EQ(mx->preference, 10);
  EXPECT_EQ(mx->host, "mx.example.org");
  // Null MX: preference 0, the root.
  auto null_mx = parse_mx_rdata(std::string("\x00\x00\x00", 3));
  ASSERT_TRUE(null_mx);
  EXPECT_EQ(null_mx->host, "");
}

TEST(DnssecRdata, RefusesMalformedNames) {
  EXPECT_FALSE(parse_mx_rdata(std::string("\x00\x0a", 2)));
  EXPECT_FALSE(parse_mx_rdata(std::string("\x00\x0a\x05mx", 5)));          // label runs past the end
  EXPECT_FALSE(parse_mx_rdata(std::string("\x00\x0a\xc0\x0c", 4)));        // a compression pointer
  EXPECT_FALSE(parse_mx_rdata(std::string("\x00\x0a\x02mx\x00junk", 9)));  // bytes after the name
  std::string long_name("\x00\x0a", 2);
  for (int i = 0; i < 5; ++i) long_name += std::string("\x3f") + std::string(63, 'a');
  long_name += '\0';
  EXPECT_FALSE(parse_mx_rdata(long_name));  // over 255 octets
}

TEST(DnssecRdata, ParsesTlsa) {
  auto t = parse_tlsa_rdata(std::string("\x03\x01\x01\xab\x12", 5));
  ASSERT_TRUE(t);
  EXPECT_EQ(t->usage, 3);
  EXPECT_EQ(t->selector, 1);
  EXPECT_EQ(t->mtype, 1);
  EXPECT_EQ(t->text(), "3 1 1 ab12");
  EXPECT_FALSE(parse_tlsa_rdata(std::string("\x03\x01\x01", 3)));
}

TEST(DnssecResolver, RefusesAMissingTrustAnchor) {
  EXPECT_THROW(DnssecResolver({"127.0.0.1:1"}, "/nonexistent/root.key"), std::runtime_error);
  EXPECT_THROW(DnssecResolver({"127.0.0.1:1"}, ""), std::runtime_error);
}
