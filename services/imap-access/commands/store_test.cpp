// STORE and UID STORE (RFC 9051 6.4.6) with UNCHANGEDSINCE/MODIFIED (RFC 7162
// 3.1.3), and new keywords announced before they are shown (RFC 9051 7.3.5).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

std::string msg(int i) { return "Subject: " + std::to_string(i) + "\r\n\r\nbody\r\n"; }

class Store : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override {
    h.login();
    h.add_message(msg(1));
    h.add_message(msg(2), "INBOX", {"\\Seen"});
    h.add_message(msg(3), "INBOX", {"\\Seen"});
    h.add_message(msg(4), "INBOX", {"\\Seen", "\\Flagged"});  // MODSEQ 2..5
    h.select();
  }
  uint8_t stored(uint32_t uid) {
    for (const auto& e : h.store().open(h.user_id(), "INBOX").index->entries)
      if (e.uid == uid) return e.system;
    return 0xff;
  }
};

TEST_F(Store, Rfc9051Example) {
  EXPECT_EQ(h.run("A003 STORE 2:4 +FLAGS (\\Deleted)"),
            "* 2 FETCH (FLAGS (\\Seen \\Deleted))\r\n"
            "* 3 FETCH (FLAGS (\\Seen \\Deleted))\r\n"
            "* 4 FETCH (FLAGS (\\Seen \\Flagged \\Deleted))\r\n"
            "A003 OK STORE completed\r\n");
  EXPECT_EQ(stored(2), mailstore::kSeen | mailstore::kDeleted);
}

TEST_F(Store, ReplaceRemoveSilentAndUid) {
  EXPECT_EQ(h.run("a STORE 4 FLAGS (\\Answered)"), "* 4 FETCH (FLAGS (\\Answered))\r\na OK STORE completed\r\n");
  EXPECT_EQ(h.run("b STORE 2:3 -FLAGS \\Seen"),
            "* 2 FETCH (FLAGS ())\r\n* 3 FETCH (FLAGS ())\r\nb OK STORE completed\r\n");
  EXPECT_EQ(h.run("c STORE 1 +FLAGS.SILENT (\\Seen \\Draft)"), "c OK STORE completed\r\n");
  EXPECT_EQ(stored(1), mailstore::kSeen | mailstore::kDraft);
  EXPECT_EQ(h.run("d UID STORE 1,3 flags ()"),
            "* 1 FETCH (UID 1 FLAGS ())\r\n* 3 FETCH (UID 3 FLAGS ())\r\nd OK UID STORE completed\r\n");
  EXPECT_EQ(h.run("e UID STORE 9 +FLAGS (\\Seen)"), "e OK UID STORE completed\r\n");  // no such UID: nothing
  // System flags in any case; stored and shown canonically.
  EXPECT_EQ(h.run("f STORE 1 +FLAGS (\\sEEN)"), "* 1 FETCH (FLAGS (\\Seen))\r\nf OK STORE completed\r\n");
}

TEST_F(Store, InvalidFlagsAndSetsAreBadAndChangeNothing) {
  for (const std::string& bad : std::vector<std::string>{
           "a STORE 1 +FLAGS (\\Recent)", "a STORE 1 +FLAGS (\\Foo)", "a STORE 1 +FLAGS (\\*)",
           "a STORE 1 +FLAGS (" + std::string(101, 'k') + ")", "a STORE 1 +FLAGS (\\Seen", "a STORE 1 FLAG (\\Seen)",
           "a STORE 1 +FLAGS", "a STORE 0 +FLAGS (\\Seen)", "a STORE 1 +FLAGS (\\Seen) x",
           "a STORE 1 +FLAGS ((\\Seen))"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad;
    EXPECT_EQ(stored(1), 0) << bad;
  }
  EXPECT_EQ(h.run("b STORE 5 +FLAGS (\\Seen)"), "b BAD Invalid message sequence number\r\n");
  EXPECT_EQ(h.run("c STORE 1,5 +FLAGS (\\Seen)"), "c BAD Invalid message sequence number\r\n");
  EXPECT_EQ(stored(1), 0);
}

TEST_F(Store, NewKeywordIsAnnouncedBeforeTheFetchThatShowsIt) {
  EXPECT_EQ(h.run("a STORE 1 +FLAGS ($Work)"),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] Flags permitted\r\n"
            "* 1 FETCH (FLAGS ($Work))\r\n"
            "a OK STORE completed\r\n");
  // Known now: not announced again.
  EXPECT_EQ(h.run("b STORE 2 +FLAGS ($Work)"), "* 2 FETCH (FLAGS (\\Seen $Work))\r\nb OK STORE completed\r\n");
}

TEST_F(Store, KeywordSetByAnotherSessionIsAnnouncedFirst) {
  h.store().store_flags(h.user_id(), h.session().selected->mailbox_id, {3}, mailstore::FlagMode::kAdd,
                        mailstore::flags_from_names({"Urgent"}));
  h.mark_dirty();
  EXPECT_EQ(h.run("a NOOP"),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Urgent)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft Urgent \\*)] Flags permitted\r\n"
            "* 3 FETCH (UID 3 FLAGS (\\Seen Urgent))\r\n"
            "a OK NOOP completed\r\n");
}

TEST_F(Store, UnchangedSinceEnablesCondstoreWithHighestModseq) {
  // RFC 7162 3.1.3: message 4 changed after MODSEQ 4, so it is not stored.
  EXPECT_EQ(h.run("a STORE 3:4 (UNCHANGEDSINCE 4) +FLAGS (\\Answered)"),
            "* OK [HIGHESTMODSEQ 5] Highest\r\n"
            "* 3 FETCH (FLAGS (\\Seen \\Answered) MODSEQ (6))\r\n"
            "a OK [MODIFIED 4] Conditional STORE failed for some messages\r\n");
  EXPECT_TRUE(h.session().condstore);
  EXPECT_EQ(stored(4), mailstore::kSeen | mailstore::kFlagged);
  // UID form: MODIFIED lists UIDs (2 has MODSEQ 3). Once CONDSTORE is on, no
  // second HIGHESTMODSEQ; message 1 had no \Seen, a no-op takes no MODSEQ.
  EXPECT_EQ(h.run("b UID STORE 1:2 (UNCHANGEDSINCE 2) -FLAGS (\\Seen)"),
            "* 1 FETCH (UID 1 FLAGS ())\r\n"
            "b OK [MODIFIED 2] Conditional STORE failed for some messages\r\n");
  EXPECT_EQ(h.run("b2 UID STORE 2:3 (UNCHANGEDSINCE 6) -FLAGS (\\Seen)"),
            "* 2 FETCH (UID 2 FLAGS () MODSEQ (7))\r\n* 3 FETCH (UID 3 FLAGS (\\Answered) MODSEQ (7))\r\n"
            "b2 OK UID STORE completed\r\n");
  // UNCHANGEDSINCE 0 fails for every message (RFC 7162 3.1.3).
  EXPECT_EQ(h.run("c STORE 1 (UNCHANGEDSINCE 0) +FLAGS (\\Seen)"),
            "c OK [MODIFIED 1] Conditional STORE failed for some messages\r\n");
}

TEST_F(Store, ModseqInEveryFetchOnceCondstoreIsOn) {
  h.run("e ENABLE CONDSTORE");
  // .SILENT still reports the new MODSEQ (RFC 7162 3.2); a no-op has none.
  EXPECT_EQ(h.run("a STORE 1 +FLAGS.SILENT (\\Seen)"), "* 1 FETCH (FLAGS (\\Seen) MODSEQ (6))\r\na OK STORE completed\r\n");
  EXPECT_EQ(h.run("b STORE 1 +FLAGS.SILENT (\\Seen)"), "b OK STORE completed\r\n");
  EXPECT_EQ(h.run("c STORE 1 +FLAGS (\\Seen)"), "* 1 FETCH (FLAGS (\\Seen))\r\nc OK STORE completed\r\n");
}

// The rule for STORE: a BAD (syntax or message numbers) never turns
// CONDSTORE on or sends HIGHESTMODSEQ.
TEST_F(Store, BadUnchangedSinceChangesNothing) {
  for (const std::string& bad : std::vector<std::string>{
           "a STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\\Seen", "a STORE 1 (UNCHANGEDSINCE 5 +FLAGS (\\Seen)",
           "a STORE 1 (UNCHANGEDSINCE 9223372036854775808) +FLAGS (\\Seen)",
           "a STORE 1 (UNCHANGEDSINCE 18446744073709551616) +FLAGS (\\Seen)",
           "a STORE 1 (UNCHANGEDSINCE 1 UNCHANGEDSINCE 2) +FLAGS (\\Seen)",
           "a STORE 1 (UNCHANGEDSINCE -1) +FLAGS (\\Seen)", "a STORE 1 (FOO 1) +FLAGS (\\Seen)",
           "a STORE 1 (UNCHANGEDSINCE 5) +FLAGS (\\Recent)", "a STORE 9 (UNCHANGEDSINCE 5) +FLAGS (\\Seen)"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD ", 0), 0u) << bad << " -> " << r;
    EXPECT_EQ(r.find("HIGHESTMODSEQ"), std::string::npos) << bad;
    EXPECT_FALSE(h.session().condstore) << bad;
  }
  EXPECT_EQ(stored(1), 0);
  EXPECT_EQ(h.run("b STORE 1 (UNCHANGEDSINCE 9223372036854775807) +FLAGS.SILENT (\\Seen)"),
            "* OK [HIGHESTMODSEQ 5] Highest\r\n* 1 FETCH (FLAGS (\\Seen) MODSEQ (6))\r\nb OK STORE completed\r\n");
}

TEST_F(Store, ReadOnlyMailbox) {
  h.run("x EXAMINE INBOX");
  EXPECT_EQ(h.run("a STORE 1 +FLAGS (\\Seen)"), "a NO [READ-ONLY] Mailbox is read-only\r\n");
  EXPECT_EQ(stored(1), 0);
}

// While a STORE by sequence number runs, EXPUNGE waits; UID STORE may report it.
TEST_F(Store, ExpungeIsDeferredDuringStoreBySequenceNumber) {
  const int64_t id = h.session().selected->mailbox_id;
  h.store().store_flags(h.user_id(), id, {2}, mailstore::FlagMode::kAdd, mailstore::flags_from_names({"\\Deleted"}));
  h.store().expunge(h.user_id(), id, std::nullopt);
  h.mark_dirty();
  EXPECT_EQ(h.run("a STORE 1:4 +FLAGS.SILENT (\\Answered)"), "a OK STORE completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 4u);
  h.mark_dirty();
  EXPECT_EQ(h.run("b UID STORE 1 -FLAGS.SILENT (\\Answered)"), "* 2 EXPUNGE\r\nb OK UID STORE completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 3u);
}

}  // namespace
}  // namespace postline::imap
