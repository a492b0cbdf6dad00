// COMPRESS (RFC 4978) as a command: the handler parses the mechanism, refuses
// a second COMPRESS and hands the deflate stage to the connection
// (Effect::kCompress; server/connection.cpp and tests/e2e/test_imap_compress.py
// do the bytes).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

TEST(Compress, TurnsOnOnceAfterLogin) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a COMPRESS DEFLATE"), "a OK DEFLATE active\r\n");
  EXPECT_EQ(h.last().effect, Effect::kCompress);
  EXPECT_EQ(h.last().status, Status::kOk);
  EXPECT_TRUE(h.session().compressed);
  EXPECT_EQ(h.run("b COMPRESS DEFLATE"), "b NO [COMPRESSIONACTIVE] DEFLATE active via COMPRESS\r\n");
  EXPECT_EQ(h.last().effect, Effect::kNone);
  EXPECT_TRUE(h.session().compressed);
}

TEST(Compress, InSelectedStateToo) {
  SessionHarness h;
  h.login();
  h.select();
  EXPECT_EQ(h.run("a compress deflate"), "a OK DEFLATE active\r\n");
  EXPECT_EQ(h.last().effect, Effect::kCompress);
}

TEST(Compress, NotBeforeLogin) {
  SessionHarness h;
  EXPECT_EQ(h.run("a COMPRESS DEFLATE"), "a BAD Log in first\r\n");
  EXPECT_EQ(h.last().effect, Effect::kNone);
  EXPECT_FALSE(h.session().compressed);
}

TEST(Compress, UnknownMechanismIsBadAndChangesNothing) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a COMPRESS GZIP"), "a BAD Invalid arguments: unknown compression mechanism\r\n");
  EXPECT_EQ(h.last().effect, Effect::kNone);
  EXPECT_FALSE(h.session().compressed);
  EXPECT_EQ(h.run("b COMPRESS"), "b BAD Invalid arguments: missing argument\r\n");
  EXPECT_FALSE(h.session().compressed);
  // Still possible afterwards.
  EXPECT_EQ(h.run("c COMPRESS DEFLATE"), "c OK DEFLATE active\r\n");
}

TEST(Compress, AdvertisedOnlyOnceAuthenticated) {
  SessionHarness h;
  EXPECT_EQ(h.run("a CAPABILITY").find("COMPRESS=DEFLATE"), std::string::npos);
  h.login();
  EXPECT_NE(h.run("b CAPABILITY").find(" COMPRESS=DEFLATE "), std::string::npos);
}

TEST(Compress, StarttlsNeverAfterCompress) {
  SessionHarness h;
  h.login();
  h.run("a COMPRESS DEFLATE");
  // TLS would have to go under the deflate stream (RFC 4978 4): refused, in
  // every state.
  EXPECT_EQ(h.run("b STARTTLS").rfind("b BAD ", 0), 0u);
  EXPECT_EQ(h.last().effect, Effect::kNone);
}

}  // namespace
}  // namespace postline::imap
