#include "services/smtp-ingress/protocol/data_reader.h"

#include <gtest/gtest.h>

using namespace postline::smtp;

namespace {
struct Result {
  std::string message;
  size_t consumed;
  bool done, bare, too_big;
};
Result read_all(const std::string& in, uint64_t max = 1000) {
  DataReader r;
  r.reset(max);
  size_t used = r.feed(in);
  return {r.take_message(), used, r.done(), r.bare_newline(), r.too_big()};
}
}  // namespace

TEST(DataReader, UnstuffsAndStopsAtTheMarker) {
  auto r = read_all("a\r\n..b\r\n.\r\nMAIL");
  EXPECT_TRUE(r.done);
  EXPECT_EQ(r.message, "a\r\n.b\r\n");
  EXPECT_EQ(r.consumed, 11u);  // MAIL stays for the command parser
  EXPECT_FALSE(r.bare);
}

TEST(DataReader, OnlyCrLfDotCrLfEnds) {
  for (const char* s : {"a\n.\nb", "a\r\n.\nb", "a\n.\r\nb", "a\r.\rb", "a\r\n.\rb"}) {
    auto r = read_all(s);
    EXPECT_FALSE(r.done) << s;
    EXPECT_TRUE(r.bare) << s;
  }
}

TEST(DataReader, SizeLimitKeepsConsuming) {
  auto r = read_all(std::string(50, 'x') + "\r\n.\r\n", 10);
  EXPECT_TRUE(r.done);
  EXPECT_TRUE(r.too_big);
  EXPECT_EQ(r.message.size(), 10u);
}

TEST(DataReader, ByteAtATime) {
  const std::string in = "x\r\n..\r\n.y\r\n\r\n.\r\n";
  DataReader r;
  r.reset(100);
  for (char c : in) r.feed(std::string_view(&c, 1));
  EXPECT_TRUE(r.done());
  EXPECT_EQ(r.take_message(), "x\r\n.\r\ny\r\n\r\n");
}
