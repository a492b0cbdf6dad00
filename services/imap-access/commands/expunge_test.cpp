// EXPUNGE and UID EXPUNGE (RFC 9051 6.4.3, RFC 4315 2.1; VANISHED with
// QRESYNC, RFC 7162 3.2.10) (commands/expunge.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

class Expunge : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override {
    h.login();
    // RFC 9051 6.4.3's example: 3, 4, 7 and 11 have \Deleted.
    for (int i = 1; i <= 11; ++i) {
      std::vector<std::string> flags;
      if (i == 3 || i == 4 || i == 7 || i == 11) flags.push_back("\\Deleted");
      h.add_message("Subject: " + std::to_string(i) + "\r\n\r\nx\r\n", "INBOX", flags);
    }
    h.select();
  }
  int64_t count() { return h.store().status(h.user_id(), {"INBOX"}).at(0).messages; }
};

TEST_F(Expunge, Rfc9051Example) {
  EXPECT_EQ(h.run("A202 EXPUNGE"),
            "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\n* 8 EXPUNGE\r\nA202 OK EXPUNGE completed\r\n");
  EXPECT_EQ(count(), 7);
  EXPECT_EQ(h.session().selected->exists(), 7u);
  EXPECT_EQ(h.run("b EXPUNGE"), "b OK EXPUNGE completed\r\n");  // nothing left to remove
}

TEST_F(Expunge, VanishedWithQresync) {
  h.run("e ENABLE QRESYNC");
  EXPECT_EQ(h.run("a EXPUNGE"), "* VANISHED 3:4,7,11\r\na OK EXPUNGE completed\r\n");
}

TEST_F(Expunge, UidExpungeOnlyAmongTheSet) {
  // RFC 4315 2.1: only the given UIDs, and only those with \Deleted.
  EXPECT_EQ(h.run("a UID EXPUNGE 1:4"), "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\na OK UID EXPUNGE completed\r\n");
  EXPECT_EQ(count(), 9);
  EXPECT_EQ(h.run("b UID EXPUNGE 1:2,5"), "b OK UID EXPUNGE completed\r\n");
  EXPECT_EQ(h.run("c UID EXPUNGE 50:60"), "c OK UID EXPUNGE completed\r\n");
  EXPECT_EQ(h.run("d UID EXPUNGE 11:*"), "* 9 EXPUNGE\r\nd OK UID EXPUNGE completed\r\n");
  EXPECT_EQ(count(), 8);
}

TEST_F(Expunge, BadArgumentsExpungeNothing) {
  for (const char* bad : {"a EXPUNGE 1", "a EXPUNGE ", "a UID EXPUNGE", "a UID EXPUNGE ", "a UID EXPUNGE 0",
                          "a UID EXPUNGE 1 2", "a UID EXPUNGE x"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad;
    EXPECT_EQ(count(), 11) << bad;
  }
}

TEST_F(Expunge, ReadOnlyMailbox) {
  h.run("x EXAMINE INBOX");
  EXPECT_EQ(h.run("a EXPUNGE"), "a NO [READ-ONLY] Mailbox is read-only\r\n");
  EXPECT_EQ(h.run("b UID EXPUNGE 3"), "b NO [READ-ONLY] Mailbox is read-only\r\n");
  EXPECT_EQ(count(), 11);
}

// Another session's expunge, deferred during a FETCH, and our own EXPUNGE:
// every number is valid when the client applies it.
TEST_F(Expunge, TogetherWithAnotherSessionsExpunge) {
  const int64_t id = h.session().selected->mailbox_id;
  h.store().expunge(h.user_id(), id, std::vector<uint32_t>{11});
  h.mark_dirty();
  EXPECT_EQ(h.run("a FETCH 11 UID"), "* 11 FETCH (UID 11)\r\na OK FETCH completed\r\n");  // deferred
  // Ours first; the one still pending follows with the next command that
  // looks at the store (NOOP), at its number after ours.
  EXPECT_EQ(h.run("b EXPUNGE"), "* 3 EXPUNGE\r\n* 3 EXPUNGE\r\n* 5 EXPUNGE\r\nb OK EXPUNGE completed\r\n");
  EXPECT_EQ(h.run("c NOOP"), "* 8 EXPUNGE\r\nc OK NOOP completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 7u);
}

}  // namespace
}  // namespace postline::imap
