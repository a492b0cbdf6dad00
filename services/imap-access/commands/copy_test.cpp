// COPY, MOVE and their UID forms (RFC 9051 6.4.7/6.4.8, RFC 6851, COPYUID
// RFC 4315) (commands/copy.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

std::string msg(int i) { return "Subject: " + std::to_string(i) + "\r\n\r\nbody " + std::to_string(i) + "\r\n"; }

class Copy : public ::testing::Test {
 protected:
  SessionHarness h;
  int64_t trash_uidvalidity = 0;
  void SetUp() override {
    h.login();
    h.add_message(msg(1));
    h.add_message(msg(2), "INBOX", {"\\Flagged", "$Work"});
    h.add_message(msg(3), "INBOX", {"\\Seen"});
    h.select();
    trash_uidvalidity = h.store().find_mailbox(h.user_id(), "Trash")->uidvalidity;
  }
  int64_t count(const std::string& box) { return h.store().status(h.user_id(), {box}).at(0).messages; }
  std::string uv() { return std::to_string(trash_uidvalidity); }
};

TEST_F(Copy, CopyKeepsFlagsAndReportsCopyuid) {
  EXPECT_EQ(h.run("A003 COPY 2:3 Trash"), "A003 OK [COPYUID " + uv() + " 2:3 1:2] COPY completed\r\n");
  EXPECT_EQ(count("Trash"), 2);
  EXPECT_EQ(count("INBOX"), 3);
  auto trash = h.store().open(h.user_id(), "Trash").index;
  EXPECT_EQ(trash->flags_of(trash->entries.at(0)), mailstore::flags_from_names({"\\Flagged", "$Work"}));
  EXPECT_EQ(h.run("b UID COPY 1,3 Trash"), "b OK [COPYUID " + uv() + " 1,3 3:4] UID COPY completed\r\n");
  EXPECT_EQ(h.run("c UID COPY 7:9 Trash"), "c OK UID COPY completed\r\n");  // nothing to copy
  // The copies are the same messages (RFC 8474: same EMAILID).
  const std::string inbox_id = h.run("d FETCH 2 EMAILID");
  h.select("Trash");
  const std::string trash_id = h.run("d FETCH 1 EMAILID");
  EXPECT_EQ(inbox_id.substr(0, inbox_id.find("\r\n")).substr(12), trash_id.substr(0, trash_id.find("\r\n")).substr(12));
}

// The copy is \Recent in this session (RFC 3501 6.4.7 SHOULD), and said so.
TEST_F(Copy, IntoTheSelectedMailboxAnnouncesTheNewMessages) {
  EXPECT_EQ(h.run("a COPY 1 INBOX"), "* 4 EXISTS\r\n* 1 RECENT\r\na OK [COPYUID 1 1 4] COPY completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 4u);
  EXPECT_EQ(h.run("b FETCH 4 FLAGS"), "* 4 FETCH (FLAGS (\\Recent))\r\nb OK FETCH completed\r\n");
}

TEST_F(Copy, MissingDestinationIsTrycreate) {
  EXPECT_EQ(h.run("a COPY 1 Nowhere"), "a NO [TRYCREATE] No such mailbox\r\n");
  EXPECT_EQ(h.run("b MOVE 1 Nowhere"), "b NO [TRYCREATE] No such mailbox\r\n");
  EXPECT_EQ(count("INBOX"), 3);
}

TEST_F(Copy, BadArgumentsCopyNothing) {
  for (const std::string& bad : std::vector<std::string>{"a COPY 1", "a COPY 1 Trash x", "a COPY Trash",
                                                         "a COPY 0 Trash", "a COPY 1: Trash",
                                                         std::string("a COPY 1 {5+}\r\nTr\0sh", 20), "a MOVE 1:2"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad;
  }
  EXPECT_EQ(h.run("b COPY 4 Trash"), "b BAD Invalid message sequence number\r\n");
  EXPECT_EQ(h.run("c MOVE 2:4 Trash"), "c BAD Invalid message sequence number\r\n");
  EXPECT_EQ(count("Trash"), 0);
  EXPECT_EQ(count("INBOX"), 3);
}

TEST_F(Copy, MoveReportsCopyuidThenExpunges) {
  // RFC 6851 4.3's order: COPYUID in an untagged OK, then the expunges.
  EXPECT_EQ(h.run("a MOVE 1:2 Trash"),
            "* OK [COPYUID " + uv() + " 1:2 1:2] Moved\r\n* 1 EXPUNGE\r\n* 1 EXPUNGE\r\na OK MOVE completed\r\n");
  EXPECT_EQ(count("INBOX"), 1);
  EXPECT_EQ(count("Trash"), 2);
  EXPECT_EQ(h.session().selected->exists(), 1u);
  EXPECT_EQ(h.session().selected->uid_at(1), 3u);
}

TEST_F(Copy, UidMoveWithQresyncSaysVanished) {
  h.run("e ENABLE QRESYNC");
  EXPECT_EQ(h.run("a UID MOVE 1,3 Trash"),
            "* OK [COPYUID " + uv() + " 1,3 1:2] Moved\r\n* VANISHED 1,3\r\na OK UID MOVE completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 1u);
}

TEST_F(Copy, MoveNeedsAWritableMailbox) {
  h.run("x EXAMINE INBOX");
  EXPECT_EQ(h.run("a MOVE 1 Trash"), "a NO [READ-ONLY] Mailbox is read-only\r\n");
  EXPECT_EQ(h.run("b COPY 1 Trash"), "b OK [COPYUID " + uv() + " 1 1] COPY completed\r\n");  // copying reads only
}

TEST_F(Copy, QuotaRefusesCopyButNotMove) {
  auto& account = h.auth().account(SessionHarness::kUser);
  account.quota_messages = 4;
  h.session().quota_read_at = {};  // as if read long ago: COPY re-reads them
  EXPECT_EQ(h.run("a COPY 1:2 Trash"), "a NO [OVERQUOTA] Quota exceeded\r\n");
  EXPECT_EQ(count("Trash"), 0);
  EXPECT_EQ(h.run("b COPY 1 Trash"), "b OK [COPYUID " + uv() + " 1 1] COPY completed\r\n");
  EXPECT_EQ(h.run("c MOVE 2:3 Trash"),
            "* OK [COPYUID " + uv() + " 2:3 2:3] Moved\r\n* 2 EXPUNGE\r\n* 2 EXPUNGE\r\nc OK MOVE completed\r\n");
}

}  // namespace
}  // namespace postline::imap
