// SELECT, EXAMINE with CONDSTORE and QRESYNC (RFC 9051 6.3.2/6.3.3, RFC 7162
// 3.1.8, 3.2.5), CLOSE and UNSELECT (commands/select.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

std::string msg(int i) {
  return "From: a@example.test\r\nSubject: message " + std::to_string(i) + "\r\n\r\nbody " + std::to_string(i) +
         "\r\n";
}

class Select : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override { h.login(); }
};

TEST_F(Select, EmptyInbox) {
  EXPECT_EQ(h.run("A142 SELECT INBOX"),
            "* 0 EXISTS\r\n"
            "* 0 RECENT\r\n"
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted\r\n"
            "* OK [UIDVALIDITY 1] UIDs valid\r\n"
            "* OK [UIDNEXT 1] Predicted next UID\r\n"
            "* OK [HIGHESTMODSEQ 1] Highest\r\n"
            "* OK [MAILBOXID (M1)] Ok\r\n"
            "A142 OK [READ-WRITE] SELECT completed\r\n");
  EXPECT_EQ(h.session().state, State::kSelected);
  EXPECT_FALSE(h.session().selected->read_only);
}

TEST_F(Select, CountsFirstUnseenAndKeywords) {
  h.add_message(msg(1), "INBOX", {"\\Seen"});
  h.add_message(msg(2), "INBOX", {"$Work"});
  h.add_message(msg(3), "INBOX", {"\\Seen", "\\Flagged"});
  EXPECT_EQ(h.run("a SELECT inbox"),  // INBOX in any case
            "* 3 EXISTS\r\n"
            "* 0 RECENT\r\n"
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Work \\*)] Flags permitted\r\n"
            "* OK [UNSEEN 2] First unseen\r\n"
            "* OK [UIDVALIDITY 1] UIDs valid\r\n"
            "* OK [UIDNEXT 4] Predicted next UID\r\n"
            "* OK [HIGHESTMODSEQ 4] Highest\r\n"
            "* OK [MAILBOXID (M1)] Ok\r\n"
            "a OK [READ-WRITE] SELECT completed\r\n");
}

TEST_F(Select, Imap4rev2HasNoRecentOrUnseen) {
  h.add_message(msg(1));
  h.run("e ENABLE IMAP4rev2");
  const std::string r = h.run("a SELECT INBOX");
  EXPECT_EQ(r.find("RECENT"), std::string::npos) << r;
  EXPECT_EQ(r.find("UNSEEN"), std::string::npos) << r;
  EXPECT_NE(r.find("* 1 EXISTS\r\n"), std::string::npos) << r;
}

TEST_F(Select, ExamineIsReadOnly) {
  h.add_message(msg(1));
  const std::string r = h.run("a EXAMINE INBOX");
  EXPECT_NE(r.find("* OK [PERMANENTFLAGS ()] Flags permitted\r\n"), std::string::npos) << r;
  EXPECT_EQ(last_line(r), "a OK [READ-ONLY] EXAMINE completed");
  EXPECT_EQ(h.run("b STORE 1 +FLAGS (\\Seen)"), "b NO [READ-ONLY] Mailbox is read-only\r\n");
  // Reading a body does not set \Seen in a read-only mailbox.
  const std::string f = h.run("c FETCH 1 BODY[TEXT]");
  EXPECT_EQ(f, "* 1 FETCH (BODY[TEXT] {8}\r\nbody 1\r\n)\r\nc OK FETCH completed\r\n");
  EXPECT_EQ(h.store().open(h.user_id(), "INBOX").index->entries.at(0).system, 0);
}

TEST_F(Select, MissingMailboxClosesThePreviousOne) {
  h.select();
  EXPECT_EQ(h.run("a SELECT Nowhere"),
            "* OK [CLOSED] Previous mailbox closed\r\na NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_EQ(h.session().state, State::kAuthenticated);
  EXPECT_FALSE(h.session().selected);
}

TEST_F(Select, SelectingAgainSaysClosedFirst) {
  h.select();
  const std::string r = h.run("a SELECT Sent");
  EXPECT_EQ(r.rfind("* OK [CLOSED] Previous mailbox closed\r\n* 0 EXISTS\r\n", 0), 0u) << r;
  EXPECT_EQ(h.session().selected->name, "Sent");
}

TEST_F(Select, MailboxNamesInModifiedUtf7) {
  h.run("c CREATE \"K&AOQ-se\"");  // Käse
  const std::string r = h.run("a SELECT \"K&AOQ-se\"");
  EXPECT_EQ(last_line(r), "a OK [READ-WRITE] SELECT completed");
  EXPECT_EQ(h.session().selected->name, "K\xc3\xa4se");
}

TEST_F(Select, CondstoreParameterEnablesCondstore) {
  h.add_message(msg(1));
  const std::string r = h.run("a SELECT INBOX (CONDSTORE)");
  EXPECT_EQ(last_line(r), "a OK [READ-WRITE] SELECT completed");
  EXPECT_TRUE(h.session().condstore);
  EXPECT_EQ(h.run("b FETCH 1 (FLAGS MODSEQ)"), "* 1 FETCH (FLAGS () MODSEQ (2))\r\nb OK FETCH completed\r\n");
}

// The case: a good parameter, then garbage. BAD, and nothing changed:
// CONDSTORE off, the mailbox selected before still selected, no CLOSED.
TEST_F(Select, BadParametersChangeNothing) {
  h.select("Sent");
  for (const char* bad : {
           "a SELECT INBOX (CONDSTORE) x",
           "a SELECT INBOX (CONDSTORE",
           "a SELECT INBOX (CONDSTORE FOO)",
           "a SELECT INBOX (CONDSTORE CONDSTORE)",
           "a SELECT INBOX ()",
           "a EXAMINE INBOX (CONDSTORE) (CONDSTORE)",
           "a SELECT INBOX (QRESYNC (1 2))",  // QRESYNC is not enabled
       }) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD ", 0), 0u) << bad << " -> " << r;
    EXPECT_EQ(r.find("CLOSED"), std::string::npos) << bad;
    EXPECT_FALSE(h.session().condstore) << bad;
    ASSERT_TRUE(h.session().selected) << bad;
    EXPECT_EQ(h.session().selected->name, "Sent") << bad;
  }
  EXPECT_EQ(h.run("a SELECT INBOX (QRESYNC (1 2))"), "a BAD QRESYNC is not enabled\r\n");
}

TEST_F(Select, NulInTheNameIsBad) {
  const std::string name("IN\0BOX", 6);
  EXPECT_EQ(h.run("a SELECT {6+}\r\n" + name), "a BAD Invalid arguments: NUL in mailbox name\r\n");
  EXPECT_EQ(h.session().state, State::kAuthenticated);
}

// The state a client resynchronises from: five messages, then (after the
// client's MODSEQ) a flag change on 3 and the expunge of 2 and 4.
class Qresync : public Select {
 protected:
  int64_t client_modseq = 0;
  void SetUp() override {
    Select::SetUp();
    for (int i = 1; i <= 5; ++i) h.add_message(msg(i));  // UIDs 1..5, MODSEQ 2..6
    client_modseq = h.store().find_mailbox(h.user_id(), "INBOX")->highestmodseq;
    const int64_t id = h.store().find_mailbox(h.user_id(), "INBOX")->mailbox_id;
    h.store().store_flags(h.user_id(), id, {3}, mailstore::FlagMode::kAdd, mailstore::flags_from_names({"\\Seen"}));
    h.store().store_flags(h.user_id(), id, {2, 4}, mailstore::FlagMode::kAdd,
                          mailstore::flags_from_names({"\\Deleted"}));
    h.store().expunge(h.user_id(), id, std::nullopt);
    h.run("e ENABLE QRESYNC");
  }
};

TEST_F(Qresync, VanishedEarlierAndChangedFlags) {
  const std::string r = h.run("A02 SELECT INBOX (QRESYNC (1 " + std::to_string(client_modseq) + "))");
  const auto lines = response_lines(r);
  // MODSEQ 7: \Seen on 3; 8: \Deleted on 2 and 4; 9: their expunge.
  EXPECT_NE(r.find("* OK [HIGHESTMODSEQ 9] Highest\r\n"), std::string::npos) << r;
  EXPECT_NE(r.find("* OK [MAILBOXID (M1)] Ok\r\n* VANISHED (EARLIER) 2,4\r\n"
                   "* 2 FETCH (UID 3 FLAGS (\\Seen) MODSEQ (7))\r\n"
                   "A02 OK [READ-WRITE] SELECT completed\r\n"),
            std::string::npos)
      << r;
  EXPECT_EQ(h.session().selected->exists(), 3u);
}

TEST_F(Qresync, KnownUidsNarrowVanished) {
  const std::string r = h.run("a SELECT INBOX (QRESYNC (1 " + std::to_string(client_modseq) + " 3:5))");
  EXPECT_NE(r.find("* VANISHED (EARLIER) 4\r\n"), std::string::npos) << r;
  EXPECT_EQ(r.find("VANISHED (EARLIER) 2"), std::string::npos) << r;
  // "1:*" (which RFC 7162's grammar does not allow, but clients send) narrows nothing.
  const std::string all = h.run("b SELECT INBOX (QRESYNC (1 " + std::to_string(client_modseq) + " 1:*))");
  EXPECT_NE(all.find("* VANISHED (EARLIER) 2,4\r\n"), std::string::npos) << all;
}

TEST_F(Qresync, OtherUidvalidityMeansAFullResync) {
  const std::string r = h.run("a SELECT INBOX (QRESYNC (77 " + std::to_string(client_modseq) + "))");
  EXPECT_EQ(r.find("VANISHED"), std::string::npos) << r;
  EXPECT_EQ(r.find("FETCH"), std::string::npos) << r;
  EXPECT_EQ(last_line(r), "a OK [READ-WRITE] SELECT completed");
}

TEST_F(Qresync, CondstoreAndQresyncTogether) {
  // RFC 4466 select-params: a list of parameters.
  const std::string r = h.run("a SELECT INBOX (CONDSTORE QRESYNC (1 " + std::to_string(client_modseq) + "))");
  EXPECT_NE(r.find("* VANISHED (EARLIER) 2,4\r\n"), std::string::npos) << r;
  EXPECT_EQ(last_line(r), "a OK [READ-WRITE] SELECT completed");
}

TEST_F(Qresync, BadQresyncDataChangesNothing) {
  h.select("Sent");
  for (const std::string bad : {"a SELECT INBOX (QRESYNC (0 1))", "a SELECT INBOX (QRESYNC (1 9223372036854775808))",
                                "a SELECT INBOX (QRESYNC (1 2 1:5 (1:3 1:5)))",  // sets of different sizes
                                "a SELECT INBOX (QRESYNC (1 2 1:5 (1:* 1:5)))",
                                "a SELECT INBOX (QRESYNC (1 2) QRESYNC (1 2))"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD Invalid arguments: ", 0), 0u) << bad << " -> " << r;
    EXPECT_EQ(h.session().selected->name, "Sent") << bad;
  }
}

// RFC 7162 3.2.5.2: once the expunge history is pruned the store reports
// every missing UID; seq-match-data tells the server which of those the
// client cannot have known about.
TEST_F(Qresync, SeqMatchDataNarrowsVanishedAfterPruning) {
  // The client's state: UIDs 1,3,5 (2 and 4 expunged), then 5 is expunged.
  const int64_t id = h.store().find_mailbox(h.user_id(), "INBOX")->mailbox_id;
  const int64_t known = h.store().find_mailbox(h.user_id(), "INBOX")->highestmodseq;
  h.store().store_flags(h.user_id(), id, {5}, mailstore::FlagMode::kAdd, mailstore::flags_from_names({"\\Deleted"}));
  h.store().expunge(h.user_id(), id, std::nullopt);
  h.advance(std::chrono::hours(48));
  h.store().prune_expunged(std::chrono::hours(24), 1000);
  const std::string since = std::to_string(known);
  // Without seq-match-data: every missing UID.
  std::string r = h.run("a EXAMINE INBOX (QRESYNC (1 " + since + "))");
  EXPECT_NE(r.find("* VANISHED (EARLIER) 2,4:5\r\n"), std::string::npos) << r;
  // MSN 2 was UID 3 for the client and still is: nothing up to 3 vanished since.
  r = h.run("b EXAMINE INBOX (QRESYNC (1 " + since + " 1:5 (1:2 1,3)))");
  EXPECT_NE(r.find("* VANISHED (EARLIER) 4:5\r\n"), std::string::npos) << r;
  // A pair that no longer matches (MSN 3 is not UID 5 any more) narrows nothing.
  r = h.run("c EXAMINE INBOX (QRESYNC (1 " + since + " 1:5 (3 5)))");
  EXPECT_NE(r.find("* VANISHED (EARLIER) 2,4:5\r\n"), std::string::npos) << r;
}

TEST_F(Select, CloseExpungesSilently) {
  h.add_message(msg(1), "INBOX", {"\\Deleted"});
  h.add_message(msg(2));
  h.select();
  EXPECT_EQ(h.run("a CLOSE"), "a OK CLOSE completed\r\n");  // no EXPUNGE responses
  EXPECT_EQ(h.session().state, State::kAuthenticated);
  EXPECT_EQ(h.store().status(h.user_id(), {"INBOX"}).at(0).messages, 1);
}

TEST_F(Select, CloseAfterExamineAndUnselectKeepDeletedMessages) {
  h.add_message(msg(1), "INBOX", {"\\Deleted"});
  h.run("a EXAMINE INBOX");
  EXPECT_EQ(h.run("b CLOSE"), "b OK CLOSE completed\r\n");
  h.select();
  EXPECT_EQ(h.run("c UNSELECT x"), "c BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_EQ(h.session().state, State::kSelected);
  EXPECT_EQ(h.run("d UNSELECT"), "d OK UNSELECT completed\r\n");
  EXPECT_EQ(h.session().state, State::kAuthenticated);
  EXPECT_EQ(h.store().status(h.user_id(), {"INBOX"}).at(0).messages, 1);
  EXPECT_EQ(h.run("e CLOSE"), "e BAD Select a mailbox first\r\n");
}

}  // namespace
}  // namespace postline::imap
