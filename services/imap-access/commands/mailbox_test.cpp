// CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE (RFC 9051 6.3.4-6.3.8)
// (commands/mailbox.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

class Mailbox : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override { h.login(); }
  bool exists(const std::string& name) { return h.store().find_mailbox(h.user_id(), name).has_value(); }
  bool subscribed(const std::string& name) {
    const auto subs = h.store().list(h.user_id()).subscriptions;
    return std::find(subs.begin(), subs.end(), name) != subs.end();
  }
};

TEST_F(Mailbox, CreateWithSuperiors) {
  EXPECT_EQ(h.run("A003 CREATE owatagusiam/"), "A003 OK CREATE completed\r\n");  // RFC 9051 6.3.4's example
  EXPECT_TRUE(exists("owatagusiam"));
  EXPECT_EQ(h.run("A004 CREATE owatagusiam/blurdybloop"), "A004 OK CREATE completed\r\n");
  EXPECT_EQ(h.run("a CREATE a/b/c"), "a OK CREATE completed\r\n");
  EXPECT_TRUE(exists("a") && exists("a/b") && exists("a/b/c"));
  EXPECT_EQ(h.run("b CREATE a/b"), "b NO [ALREADYEXISTS] Mailbox already exists\r\n");
  EXPECT_EQ(h.run("c CREATE inbox"), "c NO [ALREADYEXISTS] Mailbox already exists\r\n");
  EXPECT_EQ(h.run("d CREATE a//b"), "d NO [CANNOT] Invalid mailbox name\r\n");
  EXPECT_EQ(h.run("e CREATE \"x*y\""), "e NO [CANNOT] Invalid mailbox name\r\n");
}

TEST_F(Mailbox, NamesInModifiedUtf7OrUtf8) {
  h.run("a CREATE \"Entw&APw-rfe\"");
  EXPECT_TRUE(exists("Entw\xc3\xbcrfe"));
  h.run("e ENABLE UTF8=ACCEPT");
  h.run("b CREATE \"Gr\xc3\xbc\xc3\x9f" "e\"");
  EXPECT_TRUE(exists("Gr\xc3\xbc\xc3\x9f" "e"));
}

TEST_F(Mailbox, BadArgumentsCreateNothing) {
  for (const std::string& bad :
       std::vector<std::string>{"a CREATE", "a CREATE x (USE (\\Drafts))", "a CREATE x y", "a CREATE (x)",
                                std::string("a CREATE {3+}\r\nx\0y", 18), "a CREATE " + std::string(1025, 'm')}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad.substr(0, 30);
  }
  EXPECT_EQ(h.store().list(h.user_id()).mailboxes.size(), 6u);  // the defaults only
  EXPECT_EQ(h.run("b CREATE x (USE (\\Drafts))"), "b BAD Invalid arguments: CREATE parameters are not supported\r\n");
}

TEST_F(Mailbox, Delete) {
  h.run("a CREATE p/q");
  EXPECT_EQ(h.run("b DELETE p"), "b NO [INUSE] Mailbox has children, delete them first\r\n");
  EXPECT_EQ(h.run("c DELETE p/q"), "c OK DELETE completed\r\n");
  EXPECT_EQ(h.run("d DELETE p"), "d OK DELETE completed\r\n");
  EXPECT_FALSE(exists("p"));
  EXPECT_EQ(h.run("e DELETE p"), "e NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_EQ(h.run("f DELETE INBOX"), "f NO [CANNOT] INBOX cannot be deleted\r\n");
  EXPECT_EQ(h.run("g DELETE Trash x"), "g BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_TRUE(exists("Trash"));
}

TEST_F(Mailbox, RenameMovesChildren) {
  h.run("a CREATE blurdybloop");
  h.run("b CREATE foo/bar");
  // RFC 9051 6.3.6's example.
  EXPECT_EQ(h.run("A683 RENAME blurdybloop sarasoop"), "A683 OK RENAME completed\r\n");
  EXPECT_EQ(h.run("A684 RENAME foo zowie"), "A684 OK RENAME completed\r\n");
  EXPECT_TRUE(exists("sarasoop") && exists("zowie") && exists("zowie/bar"));
  EXPECT_FALSE(exists("blurdybloop") || exists("foo") || exists("foo/bar"));
  EXPECT_EQ(h.run("c RENAME zowie Trash"), "c NO [ALREADYEXISTS] Mailbox already exists\r\n");
  EXPECT_EQ(h.run("d RENAME nothing else"), "d NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_EQ(h.run("e RENAME zowie"), "e BAD Invalid arguments: missing argument\r\n");
}

TEST_F(Mailbox, RenameInboxMovesItsMessages) {
  h.add_message("Subject: x\r\n\r\nx\r\n");
  EXPECT_EQ(h.run("a RENAME INBOX Old"), "a OK RENAME completed\r\n");
  EXPECT_EQ(h.store().status(h.user_id(), {"INBOX"}).at(0).messages, 0);
  EXPECT_EQ(h.store().status(h.user_id(), {"Old"}).at(0).messages, 1);
}

TEST_F(Mailbox, SubscribeAndUnsubscribe) {
  h.run("a CREATE news");
  EXPECT_EQ(h.run("b SUBSCRIBE news"), "b OK SUBSCRIBE completed\r\n");
  EXPECT_TRUE(subscribed("news"));
  EXPECT_EQ(h.run("c SUBSCRIBE nothing"), "c NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_EQ(h.run("d UNSUBSCRIBE news"), "d OK UNSUBSCRIBE completed\r\n");
  EXPECT_FALSE(subscribed("news"));
  EXPECT_EQ(h.run("e UNSUBSCRIBE nothing"), "e OK UNSUBSCRIBE completed\r\n");
  EXPECT_EQ(h.run("f SUBSCRIBE"), "f BAD Invalid arguments: missing argument\r\n");
}

TEST_F(Mailbox, NotBeforeLogin) {
  SessionHarness fresh;
  EXPECT_EQ(fresh.run("a CREATE x"), "a BAD Log in first\r\n");
}

}  // namespace
}  // namespace postline::imap
