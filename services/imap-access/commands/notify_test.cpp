// NOTIFY (RFC 5465) as a command: what it records and answers
// (commands/notify.cpp). Pushing the events is the connection's
// (server/connection.cpp), matching them protocol/notify_spec.h's.
#include "services/imap-access/commands/testing/session_harness.h"

#include "services/imap-access/commands/registry.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

const char* kBadEvent =
    "NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange "
    "ServerMetadataChange)] ";

class Notify : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override {
    h.login();
    h.add_message("Subject: x\r\n\r\nx\r\n");
  }
};

TEST_F(Notify, SetStatusSendsTheInitialStatus) {
  h.select("Sent");
  // Every watched mailbox but the selected one, before the tagged OK (RFC 5465 3.1).
  EXPECT_EQ(h.run("a NOTIFY SET STATUS (personal (MessageNew MessageExpunge))"),
            "* STATUS Archive (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 6 UNSEEN 0)\r\n"
            "* STATUS Drafts (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 3 UNSEEN 0)\r\n"
            "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1 UNSEEN 1)\r\n"
            "* STATUS Junk (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 5 UNSEEN 0)\r\n"
            "* STATUS Trash (MESSAGES 0 UIDNEXT 1 UIDVALIDITY 4 UNSEEN 0)\r\n"
            "a OK NOTIFY completed\r\n");
  ASSERT_TRUE(h.session().notify);
  EXPECT_EQ(h.session().notify->mailboxes.size(), 6u);
  EXPECT_EQ(h.session().notify_generation, 1u);
  // With CONDSTORE the lines carry HIGHESTMODSEQ.
  h.run("e ENABLE CONDSTORE");
  EXPECT_EQ(h.run("b NOTIFY SET STATUS (inboxes (MessageNew MessageExpunge))"),
            "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY 1 UNSEEN 1 HIGHESTMODSEQ 2)\r\nb OK NOTIFY completed\r\n");
}

TEST_F(Notify, SetWithoutStatusAndNone) {
  EXPECT_EQ(h.run("a NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) (mailboxes inbox (MailboxName))"),
            "a OK NOTIFY completed\r\n");
  ASSERT_TRUE(h.session().notify);
  ASSERT_EQ(h.session().notify->spec.groups.size(), 2u);
  EXPECT_EQ(h.session().notify->spec.groups[1].mailboxes, std::vector<std::string>{"INBOX"});  // store spelling
  EXPECT_EQ(h.run("b NOTIFY NONE"), "b OK NOTIFY completed\r\n");
  EXPECT_FALSE(h.session().notify);
  EXPECT_EQ(h.session().notify_generation, 2u);
}

// With METADATA advertised, its events are part of NOTIFY (RFC 5465 5.9, 5.10).
TEST_F(Notify, MetadataEventsAreAccepted) {
  EXPECT_EQ(h.run("a NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))"), "a OK NOTIFY completed\r\n");
  ASSERT_TRUE(h.session().notify);
  EXPECT_TRUE(h.session().notify->spec.server_metadata());
  EXPECT_EQ(h.session().notify->events_for_name("INBOX"), unsigned{kEvMailboxMetadataChange | kEvServerMetadataChange});
  EXPECT_EQ(notify_metadata_line(h.session(), "", {"/private/a", "/shared/b c"}),
            "* METADATA \"\" /private/a \"/shared/b c\"\r\n");
  EXPECT_EQ(notify_metadata_line(h.session(), "INBOX", {"/private/a"}), "* METADATA INBOX /private/a\r\n");
}

// An unsupported event: NO [BADEVENT], and the NOTIFY in force stays.
TEST_F(Notify, UnsupportedEventIsBadeventAndChangesNothing) {
  h.run("a NOTIFY SET (inboxes (MessageNew MessageExpunge))");
  for (const char* ev : {"a NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))",
                         "a NOTIFY SET (personal (Whatever))",
                         "a NOTIFY SET (selected (MessageNew (uid) MessageExpunge))"}) {
    const std::string r = h.run(ev);
    EXPECT_EQ(r.rfind(std::string("a ") + kBadEvent, 0), 0u) << ev << " -> " << r;
    ASSERT_TRUE(h.session().notify);
    EXPECT_EQ(h.session().notify->spec.groups.at(0).filter, NotifyFilter::kInboxes);
    EXPECT_EQ(h.session().notify_generation, 1u);
  }
}

// A syntax error anywhere is BAD, also after an unsupported event (the whole
// command is parsed before BADEVENT is answered).
TEST_F(Notify, SyntaxErrorAfterAnUnsupportedEventIsBad) {
  for (const char* bad : {"a NOTIFY SET (personal (AnnotationChange MessageNew MessageExpunge)) junk",
                          "a NOTIFY SET (personal (Whatever)) (personal (MailboxName))",
                          "a NOTIFY SET (personal (Whatever)) (subtree)",
                          "a NOTIFY SET (personal (AnnotationChange))",  // needs MessageNew and MessageExpunge
                          "a NOTIFY SET (personal (Whatever)"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD Invalid arguments: ", 0), 0u) << bad << " -> " << r;
  }
  EXPECT_FALSE(h.session().notify);
  EXPECT_EQ(h.session().notify_generation, 0u);
}

TEST_F(Notify, RfcMustRejectRulesAreBad) {
  for (const char* bad : {"a NOTIFY SET (personal (MessageNew))", "a NOTIFY SET (personal (FlagChange))",
                          "a NOTIFY SET (inboxes (MessageNew (uid) MessageExpunge))",
                          "a NOTIFY SET (selected (MailboxName))", "a NOTIFY", "a NOTIFY GET",
                          "a NOTIFY SET (selected NONE) (selected-delayed NONE)"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad;
  }
  EXPECT_FALSE(h.session().notify);
}

TEST_F(Notify, WatchingTooManyMailboxesIsRefused) {
  for (int i = 0; i < 1000; ++i)
    ASSERT_EQ(h.store().create_mailbox(h.user_id(), "m" + std::to_string(i)), mailstore::StoreError::kNone);
  const std::string r = h.run("a NOTIFY SET (personal (MailboxName))");
  EXPECT_EQ(r, "a NO [LIMIT] NOTIFY would watch 1006 mailboxes, at most 1000 are allowed\r\n");
  EXPECT_FALSE(h.session().notify);
  EXPECT_EQ(h.run("b NOTIFY SET (subtree m1 (MailboxName))"), "b OK NOTIFY completed\r\n");
}

}  // namespace
}  // namespace postline::imap
