#include "services/smtp-ingress/protocol/data_reader.h"

#include <gtest/gtest.h>

#include <random>

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

namespace {
// The reader as it was before the memchr fast path: one octet at a time. The
// fast path must store, consume and flag exactly the same for any input cut
// at any points.
struct Reference {
  std::string message;
  uint64_t size = 0, max = 0;
  int state = 0;  // 0 line start, 1 dot at line start, 2 in line
  bool cr = false, done = false, bare = false;
  void put(char c) {
    ++size;
    if (size <= max) message.push_back(c);
  }
  size_t feed(std::string_view in) {
    size_t i = 0;
    while (i < in.size() && !done) {
      const char c = in[i++];
      if (cr) {
        cr = false;
        if (c == '\n') {
          if (state == 1) {
            done = true;
            break;
          }
          put('\r');
          put('\n');
          state = 0;
          continue;
        }
        bare = true;
        put('\r');
        state = 2;
      }
      if (c == '\r') {
        cr = true;
      } else if (c == '\n') {
        bare = true;
        put('\n');
        state = 2;
      } else if (state == 0 && c == '.') {
        state = 1;
      } else {
        put(c);
        state = 2;
      }
    }
    return i;
  }
};
}  // namespace

TEST(DataReader, SameAsOctetByOctetForRandomInputCutAnywhere) {
  std::mt19937 rng(14);
  const char alphabet[] = {'a', '.', '\r', '\n', ' ', 'b'};
  for (int round = 0; round < 3000; ++round) {
    std::string in;
    const size_t len = rng() % 200;
    for (size_t i = 0; i < len; ++i) {
      // Mostly text and CRLFs, so whole-line runs, dots and the marker all occur.
      const unsigned pick = rng() % 10;
      if (pick < 4) in += alphabet[pick % 2 ? 5 : 0];
      else if (pick < 7) in += "\r\n";
      else in += alphabet[rng() % 6];
    }
    if (rng() % 2) in += "\r\n.\r\nQUIT\r\n";
    const uint64_t max = rng() % 3 ? 1000 : rng() % 50;
    DataReader r;
    r.reset(max, rng() % 2 ? 100 : 0, 16);
    Reference ref;
    ref.max = max;
    size_t pos = 0;
    while (pos < in.size() && !r.done()) {
      const size_t n = std::min<size_t>(in.size() - pos, 1 + rng() % 40);
      const std::string_view piece(in.data() + pos, n);
      const size_t used = r.feed(piece);
      ASSERT_EQ(used, ref.feed(piece)) << round;
      pos += used;
    }
    EXPECT_EQ(r.done(), ref.done) << round;
    EXPECT_EQ(r.bare_newline(), ref.bare) << round;
    EXPECT_EQ(r.size(), ref.size) << round;
    EXPECT_EQ(r.take_message(), ref.message) << round;
  }
}

TEST(DataReader, ManyBareLineFeedsBeforeACarriageReturnStayLinear) {
  // Each bare LF once made the fast path look for the next CR again from
  // scratch; the reader remembers where it is. 2 MB must take no time.
  std::string in(2 * 1024 * 1024, '\n');
  in += "\r\n.\r\n";
  DataReader r;
  r.reset(in.size());
  EXPECT_EQ(r.feed(in), in.size());
  EXPECT_TRUE(r.done());
  EXPECT_TRUE(r.bare_newline());
}
