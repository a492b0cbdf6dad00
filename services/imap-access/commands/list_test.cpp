// LIST (LIST-EXTENDED RFC 5258, SPECIAL-USE RFC 6154, LIST-STATUS RFC 5819),
// LSUB, NAMESPACE and STATUS (RFC 9051 6.3.9-6.3.11; APPENDLIMIT RFC 7889,
// MAILBOXID RFC 8474, DELETED-STORAGE RFC 9208) (commands/list.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

const std::string kDefaults =
    "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n"
    "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"
    "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
    "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"
    "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
    "* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n";

class List : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override { h.login(); }
};

TEST_F(List, DefaultMailboxes) {
  EXPECT_EQ(h.run("a LIST \"\" *"), kDefaults + "a OK LIST completed\r\n");
  EXPECT_EQ(h.run("b LIST \"\" \"\""), "* LIST (\\Noselect) \"/\" \"\"\r\nb OK LIST completed\r\n");
  EXPECT_EQ(h.run("c LIST \"\" inbox"), "* LIST (\\HasNoChildren) \"/\" INBOX\r\nc OK LIST completed\r\n");
  EXPECT_EQ(h.run("d LIST \"\" nothing*"), "d OK LIST completed\r\n");
}

TEST_F(List, HierarchyWildcardsAndReference) {
  h.run("c CREATE Lists/imap/rfc");
  h.run("c CREATE Lists/smtp");
  EXPECT_EQ(h.run("a LIST \"\" Lists/%"),
            "* LIST (\\HasChildren) \"/\" Lists/imap\r\n"
            "* LIST (\\HasNoChildren) \"/\" Lists/smtp\r\n"
            "a OK LIST completed\r\n");
  EXPECT_EQ(h.run("b LIST Lists/ %"),
            "* LIST (\\HasChildren) \"/\" Lists/imap\r\n"
            "* LIST (\\HasNoChildren) \"/\" Lists/smtp\r\n"
            "b OK LIST completed\r\n");
  EXPECT_EQ(h.run("c LIST \"\" Lists*"),
            "* LIST (\\HasChildren) \"/\" Lists\r\n"
            "* LIST (\\HasChildren) \"/\" Lists/imap\r\n"
            "* LIST (\\HasNoChildren) \"/\" Lists/imap/rfc\r\n"
            "* LIST (\\HasNoChildren) \"/\" Lists/smtp\r\n"
            "c OK LIST completed\r\n");
  // Several patterns (RFC 5258 3).
  EXPECT_EQ(h.run("d LIST \"\" (INBOX Lists/smtp)"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
            "* LIST (\\HasNoChildren) \"/\" Lists/smtp\r\n"
            "d OK LIST completed\r\n");
}

TEST_F(List, Utf7Names) {
  h.run("c CREATE \"K&AOQ-se\"");
  EXPECT_EQ(h.run("a LIST \"\" K*"), "* LIST (\\HasNoChildren) \"/\" K&AOQ-se\r\na OK LIST completed\r\n");
  h.run("e ENABLE UTF8=ACCEPT");
  // UTF-8 as it is (the encoder sends 8-bit names as literals).
  EXPECT_EQ(h.run("b LIST \"\" K*"), "* LIST (\\HasNoChildren) \"/\" {5}\r\nK\xc3\xa4se\r\nb OK LIST completed\r\n");
}

TEST_F(List, SelectionAndReturnOptions) {
  h.run("c CREATE Work");  // not subscribed
  EXPECT_EQ(h.run("a LIST (SUBSCRIBED) \"\" *"),
            "* LIST (\\HasNoChildren \\Subscribed \\Archive) \"/\" Archive\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Drafts) \"/\" Drafts\r\n"
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Junk) \"/\" Junk\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" Sent\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Trash) \"/\" Trash\r\n"
            "a OK LIST completed\r\n");
  EXPECT_EQ(h.run("b LIST \"\" (Work INBOX) RETURN (SUBSCRIBED CHILDREN)"),
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX\r\n"
            "* LIST (\\HasNoChildren) \"/\" Work\r\n"
            "b OK LIST completed\r\n");
  EXPECT_EQ(h.run("c LIST (SPECIAL-USE) \"\" *"),
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n"
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n"
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n"
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n"
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n"
            "c OK LIST completed\r\n");
  EXPECT_EQ(h.run("d LIST (REMOTE) \"\" INBOX"), "* LIST (\\HasNoChildren) \"/\" INBOX\r\nd OK LIST completed\r\n");
}

// RFC 5258 3: RECURSIVEMATCH only modifies another selection option: alone
// (or with REMOTE, which selects nothing by itself) it is BAD.
TEST_F(List, RecursivematchAloneIsBad) {
  EXPECT_EQ(h.run("a LIST (RECURSIVEMATCH) \"\" *"),
            "a BAD Invalid arguments: RECURSIVEMATCH needs a selection option to modify\r\n");
  EXPECT_EQ(h.run("b LIST (REMOTE RECURSIVEMATCH) \"\" *"),
            "b BAD Invalid arguments: RECURSIVEMATCH needs a selection option to modify\r\n");
}

// RFC 5258 3.5: a parent that does not match the criteria but has a
// descendant that does is listed with CHILDINFO.
TEST_F(List, RecursivematchReportsChildinfo) {
  h.run("c CREATE Lists/imap/rfc");
  h.run("s SUBSCRIBE Lists/imap/rfc");
  EXPECT_EQ(h.run("a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %"),
            "* LIST (\\HasNoChildren \\Subscribed \\Archive) \"/\" Archive\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Drafts) \"/\" Drafts\r\n"
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Junk) \"/\" Junk\r\n"
            "* LIST (\\HasChildren) \"/\" Lists (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" Sent\r\n"
            "* LIST (\\HasNoChildren \\Subscribed \\Trash) \"/\" Trash\r\n"
            "a OK LIST completed\r\n");
  EXPECT_EQ(h.run("b LIST (SUBSCRIBED RECURSIVEMATCH) Lists/ %"),
            "* LIST (\\HasChildren) \"/\" Lists/imap (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\nb OK LIST completed\r\n");
  // Without RECURSIVEMATCH the parents are not listed.
  EXPECT_EQ(h.run("c LIST (SUBSCRIBED) Lists/ %"), "c OK LIST completed\r\n");
}

TEST_F(List, ListStatus) {
  h.add_message("Subject: x\r\n\r\nx\r\n");
  EXPECT_EQ(h.run("a LIST \"\" INBOX RETURN (STATUS (MESSAGES UNSEEN))"),
            "* LIST (\\HasNoChildren) \"/\" INBOX\r\n"
            "* STATUS INBOX (MESSAGES 1 UNSEEN 1)\r\n"
            "a OK LIST completed\r\n");
}

TEST_F(List, BadArguments) {
  for (const std::string& bad : std::vector<std::string>{
           "a LIST", "a LIST \"\"", "a LIST (FOO) \"\" *", "a LIST \"\" ()", "a LIST \"\" * RETURN (FOO)",
           "a LIST \"\" * RETURN (STATUS ())", "a LIST \"\" * RETURN (STATUS (FOO))", "a LIST \"\" * x",
           std::string("a LIST \"\" {3+}\r\nI\0*", 19), "a LSUB \"\" (INBOX)", "a LSUB \"\" * RETURN ()"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad;
  }
}

TEST_F(List, Lsub) {
  h.run("c CREATE news");
  EXPECT_EQ(h.run("a LSUB \"\" *"),
            "* LSUB () \"/\" Archive\r\n* LSUB () \"/\" Drafts\r\n* LSUB () \"/\" INBOX\r\n"
            "* LSUB () \"/\" Junk\r\n* LSUB () \"/\" Sent\r\n* LSUB () \"/\" Trash\r\na OK LSUB completed\r\n");
  h.run("s SUBSCRIBE news");
  EXPECT_EQ(h.run("b LSUB \"\" n*"), "* LSUB () \"/\" news\r\nb OK LSUB completed\r\n");
}

TEST_F(List, Namespace) {
  EXPECT_EQ(h.run("a NAMESPACE"), "* NAMESPACE ((\"\" \"/\")) NIL NIL\r\na OK NAMESPACE completed\r\n");
  EXPECT_EQ(h.run("b NAMESPACE x"), "b BAD Invalid arguments: unexpected characters after the command\r\n");
}

class StatusCommand : public List {
 protected:
  std::string small = "Subject: a\r\n\r\na\r\n";
  std::string big = "Subject: big\r\n\r\n" + std::string(3000, 'x') + "\r\n";  // 3018 octets: 3 KiB
  void SetUp() override {
    List::SetUp();
    h.add_message(small, "INBOX", {"\\Seen"});
    h.add_message(big, "INBOX", {"\\Deleted"});
  }
};

TEST_F(StatusCommand, EveryItem) {
  Settings settings = SessionHarness::plaintext_settings();
  EXPECT_EQ(h.run("a STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN DELETED SIZE RECENT)"),
            "* STATUS INBOX (MESSAGES 2 RECENT 0 UIDNEXT 3 UIDVALIDITY 1 UNSEEN 1 DELETED 1 SIZE " +
                std::to_string(small.size() + big.size()) + ")\r\na OK STATUS completed\r\n");
  // RFC 7889 APPENDLIMIT, RFC 8474 MAILBOXID, RFC 9208 DELETED-STORAGE (KiB, rounded up).
  EXPECT_EQ(h.run("b STATUS INBOX (APPENDLIMIT MAILBOXID DELETED-STORAGE)"),
            "* STATUS INBOX (APPENDLIMIT " + std::to_string(settings.max_literal) +
                " MAILBOXID (M1) DELETED-STORAGE 3)\r\nb OK STATUS completed\r\n");
  EXPECT_EQ(h.run("c STATUS Trash (DELETED-STORAGE MESSAGES)"),
            "* STATUS Trash (MESSAGES 0 DELETED-STORAGE 0)\r\nc OK STATUS completed\r\n");
  EXPECT_EQ(h.run("d STATUS Nowhere (MESSAGES)"), "d NO [NONEXISTENT] No such mailbox\r\n");
}

TEST_F(StatusCommand, MailboxIdIsTheOneSelectShows) {
  h.run("c CREATE Other");
  const std::string select = h.run("s SELECT Other");
  const size_t at = select.find("[MAILBOXID (");
  ASSERT_NE(at, std::string::npos);
  const std::string id = select.substr(at + 12, select.find(')', at) - at - 12);
  EXPECT_EQ(h.run("a STATUS Other (MAILBOXID)"),
            "* STATUS Other (MAILBOXID (" + id + "))\r\na OK STATUS completed\r\n");
}

TEST_F(StatusCommand, AppendlimitFollowsTheSettings) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.max_literal = 12345;
  SessionHarness limited(settings);
  limited.login();
  EXPECT_EQ(limited.run("a STATUS INBOX (APPENDLIMIT)"),
            "* STATUS INBOX (APPENDLIMIT 12345)\r\na OK STATUS completed\r\n");
  EXPECT_NE(limited.run("b CAPABILITY").find("APPENDLIMIT=12345"), std::string::npos);
}

TEST_F(StatusCommand, HighestModseqEnablesCondstore) {
  h.select();
  EXPECT_EQ(h.run("a STATUS Trash (HIGHESTMODSEQ)"),
            "* OK [HIGHESTMODSEQ 3] Highest\r\n* STATUS Trash (HIGHESTMODSEQ 1)\r\na OK STATUS completed\r\n");
  EXPECT_TRUE(h.session().condstore);
}

TEST_F(StatusCommand, BadItemsChangeNothing) {
  h.select();
  for (const char* bad : {"a STATUS INBOX (HIGHESTMODSEQ FOO)", "a STATUS INBOX (HIGHESTMODSEQ", "a STATUS INBOX ()",
                          "a STATUS INBOX", "a STATUS INBOX HIGHESTMODSEQ", "a STATUS INBOX (HIGHESTMODSEQ) x"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD Invalid arguments: ", 0), 0u) << bad << " -> " << r;
    EXPECT_FALSE(h.session().condstore) << bad;
  }
}

}  // namespace
}  // namespace postline::imap
