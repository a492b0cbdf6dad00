// The COMPRESS=DEFLATE codec (protocol/deflate.h) against zlib used the way a
// client uses it (raw DEFLATE, windowBits -15): round trips, sync flush
// boundaries, input split at every byte, a decompression bomb, garbage.
#include "services/imap-access/protocol/deflate.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <random>
#include <string>

namespace postline::imap {
namespace {

// The client's side of the stream.
class Peer {
 public:
  Peer() {
    EXPECT_EQ(deflateInit2(&out_, 6, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY), Z_OK);
    EXPECT_EQ(inflateInit2(&in_, -15), Z_OK);
  }
  ~Peer() {
    deflateEnd(&out_);
    inflateEnd(&in_);
  }
  // What the client sends for `plain`, flushed as a client flushes each command.
  std::string compress(const std::string& plain, int mode = Z_SYNC_FLUSH) {
    std::string z;
    out_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(plain.data()));
    out_.avail_in = static_cast<uInt>(plain.size());
    char buf[16384];
    do {
      out_.next_out = reinterpret_cast<Bytef*>(buf);
      out_.avail_out = sizeof buf;
      EXPECT_NE(::deflate(&out_, mode), Z_STREAM_ERROR);
      z.append(buf, sizeof buf - out_.avail_out);
    } while (out_.avail_out == 0);
    EXPECT_EQ(out_.avail_in, 0u);
    return z;
  }
  // What the client reads from the server's bytes (all of them it can).
  std::string decompress(const std::string& z) {
    std::string plain;
    in_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(z.data()));
    in_.avail_in = static_cast<uInt>(z.size());
    char buf[4096];
    do {
      in_.next_out = reinterpret_cast<Bytef*>(buf);
      in_.avail_out = sizeof buf;
      const int rc = ::inflate(&in_, Z_SYNC_FLUSH);
      EXPECT_TRUE(rc == Z_OK || rc == Z_BUF_ERROR) << rc;
      plain.append(buf, sizeof buf - in_.avail_out);
      if (rc != Z_OK) break;
    } while (in_.avail_out == 0 || in_.avail_in > 0);
    return plain;
  }

 private:
  z_stream out_{}, in_{};
};

// Everything the codec gives for what was fed, `max` bytes per call at most.
std::string drain(DeflateCodec& c, size_t max = 2048) {
  std::string plain;
  std::string buf(max, '\0');
  while (c.input_pending()) {
    const auto r = c.inflate(buf.data(), buf.size());
    EXPECT_FALSE(r.error) << c.error();
    if (r.error) break;
    EXPECT_LE(r.bytes, max);
    plain.append(buf.data(), r.bytes);
  }
  return plain;
}

TEST(Deflate, ServerToClientRoundTrip) {
  DeflateCodec c;
  ASSERT_TRUE(c.ok());
  Peer client;
  std::string z;
  c.compress("* OK [CAPABILITY IMAP4rev1] ready\r\n", z);
  c.compress("a1 OK done\r\n", z);
  c.flush(z);
  EXPECT_EQ(client.decompress(z), "* OK [CAPABILITY IMAP4rev1] ready\r\na1 OK done\r\n");
  EXPECT_EQ(c.plain_out(), 47u);
  EXPECT_EQ(c.compressed_out(), z.size());
}

TEST(Deflate, SyncFlushMakesEachBurstDecodableAlone) {
  DeflateCodec c;
  Peer client;
  for (int i = 0; i < 5; ++i) {
    // Without the flush zlib would keep these few bytes back, and the
    // client would wait for a response that never comes.
    std::string z;
    const std::string line = "* " + std::to_string(i) + " EXISTS\r\n";
    c.compress(line, z);
    c.flush(z);
    ASSERT_GE(z.size(), 4u);
    EXPECT_EQ(z.substr(z.size() - 4), std::string("\0\0\xff\xff", 4)) << "an empty stored block ends a sync flush";
    EXPECT_EQ(client.decompress(z), line);
  }
  // A flush with nothing new is harmless and decodes to nothing.
  std::string z;
  c.flush(z);
  c.flush(z);
  EXPECT_EQ(client.decompress(z), "");
}

TEST(Deflate, LargeBodyRoundTrip) {
  DeflateCodec c;
  Peer client;
  std::mt19937 rng(7);
  std::string body;
  for (int i = 0; i < 300000; ++i) body += static_cast<char>('a' + rng() % 26);
  std::string z;
  for (size_t off = 0; off < body.size(); off += 65536) c.compress(std::string_view(body).substr(off, 65536), z);
  c.flush(z);
  EXPECT_EQ(client.decompress(z), body);
}

TEST(Deflate, ClientToServerSplitAtEveryByte) {
  Peer client;
  const std::string commands = "a1 SELECT INBOX\r\na2 APPEND INBOX {11}\r\nhello world\r\na3 IDLE\r\nDONE\r\n";
  std::string z = client.compress(commands.substr(0, 20));  // two flushes, in this order
  z += client.compress(commands.substr(20));
  for (size_t cut = 0; cut <= z.size(); ++cut) {
    DeflateCodec c;
    std::string plain;
    c.feed(std::string_view(z).substr(0, cut));
    plain += drain(c, 7);
    EXPECT_FALSE(c.input_pending());
    c.feed(std::string_view(z).substr(cut));
    plain += drain(c, 7);
    EXPECT_EQ(plain, commands) << "cut at " << cut;
    EXPECT_EQ(c.compressed_in(), z.size());
    EXPECT_EQ(c.plain_in(), commands.size());
  }
}

TEST(Deflate, BombIsInflatedOneBufferAtATime) {
  // 64 MiB of one byte compresses to about 64 KiB: each feed of a few KiB
  // is worth MiB of output, which must come out in caller-sized pieces.
  Peer client;
  const std::string chunk(1 << 20, 'A');
  std::string z;
  for (int i = 0; i < 64; ++i) z += client.compress(chunk, Z_NO_FLUSH);
  z += client.compress("", Z_SYNC_FLUSH);
  ASSERT_LT(z.size(), 200u * 1024);
  DeflateCodec c;
  std::string buf(2048, '\0');
  uint64_t total = 0;
  size_t calls = 0;
  for (size_t off = 0; off < z.size(); off += 2048) {
    c.feed(std::string_view(z).substr(off, 2048));
    while (c.input_pending()) {
      const auto r = c.inflate(buf.data(), buf.size());
      ASSERT_FALSE(r.error) << c.error();
      ASSERT_LE(r.bytes, buf.size());
      total += r.bytes;
      ++calls;
    }
  }
  EXPECT_EQ(total, 64u << 20);
  EXPECT_GE(calls, (64u << 20) / 2048);
}

TEST(Deflate, GarbageIsAStickyError) {
  for (const std::string& garbage : {std::string("a1 NOOP\r\n"), std::string(64, '\xff'), std::string("\x07\x00", 2)}) {
    DeflateCodec c;
    char buf[256];
    c.feed(garbage);
    DeflateCodec::Inflated r;
    for (int i = 0; i < 100 && c.input_pending() && !r.error; ++i) r = c.inflate(buf, sizeof buf);
    EXPECT_TRUE(r.error) << garbage;
    EXPECT_TRUE(c.failed());
    EXPECT_FALSE(c.error().empty());
    EXPECT_FALSE(c.input_pending());
    // Good data after garbage does not revive the stream.
    Peer client;
    c.feed(client.compress("a2 NOOP\r\n"));
    EXPECT_TRUE(c.inflate(buf, sizeof buf).error);
  }
}

TEST(Deflate, DataAfterTheFinalBlockIsAnError) {
  Peer client;
  DeflateCodec c;
  c.feed(client.compress("a1 LOGOUT\r\n", Z_FINISH));
  EXPECT_EQ(drain(c), "a1 LOGOUT\r\n");
  c.feed("more");
  char buf[64];
  EXPECT_TRUE(c.inflate(buf, sizeof buf).error);
}

TEST(Deflate, RandomInputNeverSpins) {
  std::mt19937 rng(42);
  char buf[512];
  for (int round = 0; round < 2000; ++round) {
    DeflateCodec c;
    std::string junk(rng() % 300, '\0');
    for (auto& ch : junk) ch = static_cast<char>(rng());
    c.feed(junk);
    // Each call consumes input or ends it: bounded by the input's size plus
    // what the output can expand to.
    int calls = 0;
    while (c.input_pending() && calls < 100000) {
      if (c.inflate(buf, sizeof buf).error) break;
      ++calls;
    }
    EXPECT_FALSE(c.input_pending() && !c.failed());
  }
}

}  // namespace
}  // namespace postline::imap
