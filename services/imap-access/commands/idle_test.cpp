// IDLE (RFC 2177) as a command: it sends what is pending and hands the
// session to the connection's IDLE loop (server/connection.cpp waits for DONE).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

TEST(Idle, HandsOverToTheConnection) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a IDLE"), "");  // "+ idling" and the tagged OK after DONE are the connection's
  EXPECT_EQ(h.last().effect, Effect::kIdle);
  EXPECT_EQ(h.last().tag, "a");
  EXPECT_EQ(h.last().status, Status::kOk);
}

TEST(Idle, SendsPendingUpdatesFirst) {
  SessionHarness h;
  h.login();
  h.add_message("Subject: 1\r\n\r\nx\r\n", "INBOX", {"\\Deleted"});
  h.add_message("Subject: 2\r\n\r\nx\r\n");
  h.select();
  const int64_t id = h.session().selected->mailbox_id;
  // Expunged elsewhere during a FETCH (deferred), plus a new message.
  h.store().expunge(h.user_id(), id, std::nullopt);
  h.mark_dirty();
  h.run("f FETCH 1 UID");
  h.add_message("Subject: 3\r\n\r\nx\r\n");
  EXPECT_EQ(h.run("a IDLE"), "* 1 EXPUNGE\r\n* 2 EXISTS\r\n");
  EXPECT_EQ(h.last().effect, Effect::kIdle);
  EXPECT_FALSE(h.session().mailbox_dirty);
}

TEST(Idle, BadOrTooEarly) {
  SessionHarness h;
  EXPECT_EQ(h.run("a IDLE"), "a BAD Log in first\r\n");
  h.login();
  EXPECT_EQ(h.run("b IDLE now"), "b BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_EQ(h.last().effect, Effect::kNone);
}

}  // namespace
}  // namespace postline::imap
