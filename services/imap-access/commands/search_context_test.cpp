// RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT (PARTIAL, UPDATE, CANCELUPDATE)
// through the dispatcher against the in-memory store.
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

constexpr int64_t kNow = 1795633200;  // the harness's clock

bool has(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class Contexts : public ::testing::Test {
 protected:
  SessionHarness h;
  std::unique_ptr<SessionHarness> other;
  void SetUp() override {
    h.login();
    // Subjects a..e (UIDs 1..5); 2 and 4 unseen, the rest seen.
    const char* subjects[] = {"a", "b", "c", "d", "e"};
    for (int i = 0; i < 5; ++i) {
      std::vector<std::string> flags;
      if (i != 1 && i != 3) flags.push_back("\\Seen");
      h.add_message(std::string("From: x@example.test\r\nSubject: ") + subjects[i] + "\r\n\r\nbody " + subjects[i] +
                        "\r\n",
                    "INBOX", flags, kNow - 3600 * (10 - i));
    }
    h.select();
    other = h.another_session();
    other->login();
    other->select();
  }
  // A change made by the other session reaches this one at its next NOOP.
  std::string elsewhere(const std::string& command) {
    other->run(command);
    h.mark_dirty();
    return h.run("n NOOP");
  }
};

TEST_F(Contexts, Advertised) {
  const std::string caps = h.run("c CAPABILITY");
  EXPECT_TRUE(has(caps, " CONTEXT=SEARCH ")) << caps;
  EXPECT_TRUE(has(caps, " CONTEXT=SORT ")) << caps;
}

TEST_F(Contexts, SearchPartial) {
  EXPECT_EQ(h.run("a SEARCH RETURN (PARTIAL 1:2) ALL"),
            "* ESEARCH (TAG \"a\") PARTIAL (1:2 1:2)\r\na OK SEARCH completed\r\n");
  // 4:2 is 2:4 (RFC 5267 5); -1:-2 the last two (RFC 9394); past the end: what is there, or NIL.
  EXPECT_EQ(h.run("b SEARCH RETURN (PARTIAL 4:2) ALL"),
            "* ESEARCH (TAG \"b\") PARTIAL (2:4 2:4)\r\nb OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("c UID SEARCH RETURN (PARTIAL -1:-2) ALL"),
            "* ESEARCH (TAG \"c\") UID PARTIAL (-1:-2 4:5)\r\nc OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("d SEARCH RETURN (PARTIAL 4:9 COUNT) ALL"),
            "* ESEARCH (TAG \"d\") PARTIAL (4:9 4:5) COUNT 5\r\nd OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("e SEARCH RETURN (PARTIAL 6:9) ALL"),
            "* ESEARCH (TAG \"e\") PARTIAL (6:9 NIL)\r\ne OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("f SEARCH RETURN (CONTEXT PARTIAL -1:-1) UNSEEN"),
            "* ESEARCH (TAG \"f\") PARTIAL (-1:-1 4)\r\nf OK SEARCH completed\r\n");
  // RFC 5267 4.2's example: CONTEXT is a hint.
  EXPECT_EQ(h.run("A01 SEARCH RETURN (CONTEXT COUNT) UNSEEN"),
            "* ESEARCH (TAG \"A01\") COUNT 2\r\nA01 OK SEARCH completed\r\n");
}

TEST_F(Contexts, PartialErrors) {
  for (const char* bad : {"a SEARCH RETURN (PARTIAL 1) ALL", "a SEARCH RETURN (PARTIAL 1:*) ALL",
                          "a SEARCH RETURN (PARTIAL *:1) ALL", "a SEARCH RETURN (PARTIAL 0:3) ALL",
                          "a SEARCH RETURN (PARTIAL 1:-3) ALL", "a SEARCH RETURN (PARTIAL -0:-3) ALL",
                          "a SEARCH RETURN (PARTIAL 1:4294967296) ALL", "a SEARCH RETURN (PARTIAL) ALL",
                          "a SEARCH RETURN (PARTIAL 1:2 ALL) ALL", "a SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
                          "a SEARCH RETURN (UPDATE UPDATE) ALL", "a SORT RETURN (PARTIAL 1:2 ALL) (SUBJECT) UTF-8 ALL",
                          "a SORT RETURN (PARTIAL x) (SUBJECT) UTF-8 ALL"}) {
    const std::string out = h.run(bad);
    EXPECT_TRUE(has(out, "a BAD ")) << bad << " -> " << out;
    EXPECT_FALSE(has(out, "ESEARCH")) << bad;
  }
  // The largest position there is still parses.
  EXPECT_EQ(h.run("b SEARCH RETURN (PARTIAL 4294967295:4294967294) ALL"),
            "* ESEARCH (TAG \"b\") PARTIAL (4294967294:4294967295 NIL)\r\nb OK SEARCH completed\r\n");
}

TEST_F(Contexts, SortPartialIsInSortOrder) {
  EXPECT_EQ(h.run("a SORT RETURN (PARTIAL 1:3) (REVERSE SUBJECT) UTF-8 ALL"),
            "* ESEARCH (TAG \"a\") PARTIAL (1:3 5,4,3)\r\na OK SORT completed\r\n");
  EXPECT_EQ(h.run("b UID SORT RETURN (PARTIAL -1:-2 COUNT) (SUBJECT) UTF-8 ALL"),
            "* ESEARCH (TAG \"b\") UID PARTIAL (-1:-2 4:5) COUNT 5\r\nb OK UID SORT completed\r\n");
}

TEST_F(Contexts, SearchUpdateFollowsFlagChangesOfAnotherSession) {
  EXPECT_EQ(h.run("u UID SEARCH RETURN (UPDATE) UNSEEN"),
            "* ESEARCH (TAG \"u\") UID ALL 2,4\r\nu OK UID SEARCH completed\r\n");
  std::string out = elsewhere("s STORE 3 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"u\") UID ADDTO (0 3)\r\n")) << out;
  out = elsewhere("s STORE 2:3 +FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"u\") UID REMOVEFROM (0 2:3)\r\n")) << out;
  // A change that leaves the result as it is says nothing.
  out = elsewhere("s STORE 4 +FLAGS (\\Flagged)");
  EXPECT_FALSE(has(out, "ESEARCH")) << out;
}

TEST_F(Contexts, OwnStoreByNumberWaitsForACommandThatAllowsExpunge) {
  h.run("u SEARCH RETURN (UPDATE) UNSEEN");
  const std::string store = h.run("s STORE 2 +FLAGS (\\Seen)");
  EXPECT_FALSE(has(store, "ESEARCH")) << store;  // not during STORE by message number
  EXPECT_EQ(h.run("n NOOP"), "* ESEARCH (TAG \"u\") REMOVEFROM (0 2)\r\nn OK NOOP completed\r\n");
  // UID STORE allows EXPUNGE, so the update comes with it.
  const std::string uid_store = h.run("t UID STORE 1 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(uid_store, "* ESEARCH (TAG \"u\") ADDTO (0 1)\r\nt OK")) << uid_store;
}

TEST_F(Contexts, ExpungeRemovesBeforeTheExpungeResponses) {
  EXPECT_EQ(h.run("m SEARCH RETURN (UPDATE COUNT) ALL"), "* ESEARCH (TAG \"m\") COUNT 5\r\nm OK SEARCH completed\r\n");
  h.run("s STORE 2,4 +FLAGS.SILENT (\\Deleted)");
  EXPECT_EQ(h.run("x EXPUNGE"),
            "* ESEARCH (TAG \"m\") REMOVEFROM (0 2,4)\r\n* 2 EXPUNGE\r\n* 3 EXPUNGE\r\nx OK EXPUNGE completed\r\n");
  // Expunged by another session: REMOVEFROM with the numbers before the EXPUNGE.
  const std::string out = elsewhere("s STORE 1 +FLAGS.SILENT (\\Deleted)");
  other->run("x EXPUNGE");
  h.mark_dirty();
  const std::string noop = h.run("n NOOP");
  EXPECT_TRUE(has(noop, "* ESEARCH (TAG \"m\") REMOVEFROM (0 1)\r\n* 1 EXPUNGE\r\n")) << out << noop;
}

TEST_F(Contexts, NewMailAndTextCriteria) {
  // SUBJECT is the store's to answer: the re-evaluation asks it for the new message only.
  EXPECT_EQ(h.run("t UID SEARCH RETURN (UPDATE) SUBJECT hello"),
            "* ESEARCH (TAG \"t\") UID\r\nt OK UID SEARCH completed\r\n");
  h.add_message("From: y@example.test\r\nSubject: hello there\r\n\r\nhi\r\n", "INBOX", {}, kNow);
  h.add_message("From: y@example.test\r\nSubject: other\r\n\r\nhi\r\n", "INBOX", {}, kNow);
  h.mark_dirty();
  const std::string out = h.run("n NOOP");
  EXPECT_TRUE(has(out, "* 7 EXISTS\r\n* ESEARCH (TAG \"t\") UID ADDTO (0 6)\r\n")) << out;
}

TEST_F(Contexts, SortUpdatePositions) {
  EXPECT_EQ(h.run("s UID SORT RETURN (UPDATE) (SUBJECT) UTF-8 UNSEEN"),
            "* ESEARCH (TAG \"s\") UID ALL 2,4\r\ns OK UID SORT completed\r\n");
  // c joins between b and d (position 2), then e at the end (position 4).
  std::string out = elsewhere("x STORE 3,5 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s\") UID ADDTO (2 3 4 5)\r\n")) << out;
  out = elsewhere("x STORE 1 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s\") UID ADDTO (1 1)\r\n")) << out;  // now a b c d e
  // b and c leave from position 2: after b goes, c is at 2.
  out = elsewhere("x STORE 2:3 +FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s\") UID REMOVEFROM (2 2:3)\r\n")) << out;  // a d e
  // Reverse order, message numbers: the ranges ascend, positions follow the sort.
  EXPECT_EQ(h.run("r SORT RETURN (UPDATE ALL) (REVERSE SUBJECT) UTF-8 UNSEEN"),
            "* ESEARCH (TAG \"r\") ALL 5,4,1\r\nr OK SORT completed\r\n");
  out = elsewhere("x STORE 2 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"s\") UID ADDTO (2 2)\r\n")) << out;
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"r\") ADDTO (3 2)\r\n")) << out;  // e d b a
}

TEST_F(Contexts, CancelUpdate) {
  h.run("u UID SEARCH RETURN (UPDATE) UNSEEN");
  h.run("v UID SEARCH RETURN (UPDATE) SEEN");
  EXPECT_EQ(h.run("c1 CANCELUPDATE \"u\" \"nope\""), "c1 NO No UPDATE context with tag \"nope\"\r\n");
  EXPECT_EQ(h.run("c2 CANCELUPDATE \"u\""), "c2 OK CANCELUPDATE completed\r\n");
  std::string out = elsewhere("s STORE 3 -FLAGS (\\Seen)");
  EXPECT_FALSE(has(out, "(TAG \"u\")")) << out;
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"v\") UID REMOVEFROM (0 3)\r\n")) << out;
  EXPECT_EQ(h.run("c3 CANCELUPDATE \"u\""), "c3 NO No UPDATE context with tag \"u\"\r\n");
  EXPECT_TRUE(has(h.run("c4 CANCELUPDATE u"), "c4 BAD "));
  EXPECT_TRUE(has(h.run("c5 CANCELUPDATE"), "c5 BAD "));
  // The tag of an active context cannot start another one.
  EXPECT_TRUE(has(h.run("v SEARCH RETURN (UPDATE) ALL"), "v BAD "));
  EXPECT_EQ(h.run("c6 CANCELUPDATE \"v\""), "c6 OK CANCELUPDATE completed\r\n");
  out = elsewhere("s STORE 3 +FLAGS (\\Seen)");
  EXPECT_FALSE(has(out, "ESEARCH")) << out;
}

TEST_F(Contexts, LimitGivesNoUpdate) {
  for (size_t i = 0; i < kMaxUpdateContexts; ++i) {
    const std::string tag = "k" + std::to_string(i);
    EXPECT_EQ(h.run(tag + " SEARCH RETURN (UPDATE COUNT) UNSEEN"),
              "* ESEARCH (TAG \"" + tag + "\") COUNT 2\r\n" + tag + " OK SEARCH completed\r\n");
  }
  EXPECT_EQ(h.run("over SEARCH RETURN (UPDATE COUNT) UNSEEN"),
            "* NO [NOUPDATE \"over\"] Too many UPDATE contexts (at most 10), no updates for this one\r\n"
            "* ESEARCH (TAG \"over\") COUNT 2\r\nover OK SEARCH completed\r\n");
  const std::string out = elsewhere("s STORE 3 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "(TAG \"k9\") ADDTO (0 3)")) << out;
  EXPECT_FALSE(has(out, "(TAG \"over\")")) << out;
}

TEST_F(Contexts, UnselectAndSelectEndUpdates) {
  h.run("u UID SEARCH RETURN (UPDATE) UNSEEN");
  h.run("x UNSELECT");
  h.select();
  std::string out = elsewhere("s STORE 3 -FLAGS (\\Seen)");
  EXPECT_FALSE(has(out, "ESEARCH")) << out;
  EXPECT_EQ(h.run("c CANCELUPDATE \"u\""), "c NO No UPDATE context with tag \"u\"\r\n");
  h.run("v UID SEARCH RETURN (UPDATE) UNSEEN");
  h.select();
  out = elsewhere("s STORE 3 +FLAGS (\\Seen)");
  EXPECT_FALSE(has(out, "ESEARCH")) << out;
}

TEST_F(Contexts, SaveWithUpdateKeepsTheFirstResult) {
  EXPECT_EQ(h.run("a UID SEARCH RETURN (SAVE UPDATE) UNSEEN"), "a OK UID SEARCH completed\r\n");
  const std::string out = elsewhere("s STORE 3 -FLAGS (\\Seen)");
  EXPECT_TRUE(has(out, "* ESEARCH (TAG \"a\") UID ADDTO (0 3)\r\n")) << out;
  EXPECT_EQ(h.run("f UID SEARCH $"), "* SEARCH 2 4\r\nf OK UID SEARCH completed\r\n");
}

}  // namespace
}  // namespace postline::imap
