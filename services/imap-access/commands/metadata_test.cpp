// GETMETADATA and SETMETADATA (RFC 5464 METADATA, METADATA-SERVER) through the
// dispatcher against the in-memory store (commands/metadata.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness
using namespace std::string_literals;

class Metadata : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override { h.login(); }
};

// RFC 5464 4.3's examples (SETMETADATA), then 4.2's (GETMETADATA).
TEST_F(Metadata, RfcExamples) {
  EXPECT_EQ(h.run("a SETMETADATA INBOX (/private/comment \"My new comment\")"), "a OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("a GETMETADATA \"INBOX\" /private/comment"),
            "* METADATA INBOX (/private/comment \"My new comment\")\r\na OK GETMETADATA completed\r\n");
  EXPECT_EQ(h.client("a SETMETADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)\r\n"),
            "+ Ready for literal data\r\na OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("a GETMETADATA INBOX (/shared/comment /private/comment)"),
            "* METADATA INBOX (/private/comment {33}\r\nMy new comment across\r\ntwo lines.)\r\n"
            "a OK GETMETADATA completed\r\n");
  // NIL removes the entry.
  EXPECT_EQ(h.run("a SETMETADATA INBOX (/private/comment NIL)"), "a OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("a GETMETADATA INBOX /private/comment"), "a OK GETMETADATA completed\r\n");
}

TEST_F(Metadata, ServerAnnotationsAndStates) {
  EXPECT_EQ(h.run("a SETMETADATA \"\" (/shared/comment \"Shared comment\" /private/Vendor/X \"1\")"),
            "a OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("b GETMETADATA \"\" (/shared/comment /PRIVATE/VENDOR/x)"),
            "* METADATA \"\" (/private/vendor/x \"1\" /shared/comment \"Shared comment\")\r\n"
            "b OK GETMETADATA completed\r\n");
  EXPECT_TRUE(h.run("c GETMETADATA INBOX /shared/comment").starts_with("c OK"));  // a mailbox's are its own
  // The selected state too.
  h.select();
  EXPECT_EQ(h.run("d GETMETADATA \"\" /shared/comment"),
            "* METADATA \"\" (/shared/comment \"Shared comment\")\r\nd OK GETMETADATA completed\r\n");
  // Not before login.
  SessionHarness fresh;
  EXPECT_TRUE(fresh.run("e GETMETADATA \"\" /shared/comment").starts_with("e BAD")) << "needs a login";
  EXPECT_TRUE(fresh.run("f SETMETADATA \"\" (/shared/comment NIL)").starts_with("f BAD"));
}

TEST_F(Metadata, DepthAndMaxsize) {
  h.run("a SETMETADATA INBOX (/private/a \"1\" /private/a/b \"2\" /private/a/b/c \"3\")");
  h.run("a SETMETADATA INBOX (/private/big {20}\r\n01234567890123456789)");
  EXPECT_EQ(h.run("b GETMETADATA (DEPTH 1) INBOX /private/a"),
            "* METADATA INBOX (/private/a \"1\" /private/a/b \"2\")\r\nb OK GETMETADATA completed\r\n");
  EXPECT_EQ(h.run("c GETMETADATA (DEPTH infinity) INBOX /private/a"),
            "* METADATA INBOX (/private/a \"1\" /private/a/b \"2\" /private/a/b/c \"3\")\r\n"
            "c OK GETMETADATA completed\r\n");
  // MAXSIZE leaves the larger value out and says how large the largest was.
  EXPECT_EQ(h.run("d GETMETADATA (MAXSIZE 10 DEPTH 1) INBOX /private"),
            "* METADATA INBOX (/private/a \"1\")\r\nd OK [METADATA LONGENTRIES 20] GETMETADATA completed\r\n");
  EXPECT_EQ(h.run("e GETMETADATA (MAXSIZE 5) INBOX /private/big"),
            "e OK [METADATA LONGENTRIES 20] GETMETADATA completed\r\n");
  EXPECT_TRUE(h.run("f GETMETADATA (DEPTH 2) INBOX /private").starts_with("f BAD"));
}

TEST_F(Metadata, BinaryValuesComeBackAsLiteral8) {
  EXPECT_EQ(h.client("a SETMETADATA INBOX (/private/blob ~{4}\r\n\0\xff\r\n)\r\n"s),
            "+ Ready for literal data\r\na OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("b GETMETADATA INBOX /private/blob"),
            "* METADATA INBOX (/private/blob ~{4}\r\n\0\xff\r\n)\r\nb OK GETMETADATA completed\r\n"s);
  // 8-bit without NUL is a plain literal, an empty value a quoted string.
  h.run("c SETMETADATA INBOX (/private/blob ~{2}\r\n\xc3\xa9 /private/empty \"\")");
  EXPECT_EQ(h.run("d GETMETADATA INBOX (/private/blob /private/empty)"),
            "* METADATA INBOX (/private/blob {2}\r\n\xc3\xa9 /private/empty \"\")\r\nd OK GETMETADATA completed\r\n");
}

TEST_F(Metadata, BadEntryNames) {
  for (const char* cmd : {"a GETMETADATA INBOX comment", "a GETMETADATA INBOX /public/x",
                          "a GETMETADATA INBOX \"/private/*\"", "a GETMETADATA INBOX \"/shared/%\"",
                          "a GETMETADATA INBOX /private//x", "a GETMETADATA INBOX /private/x/",
                          "a SETMETADATA INBOX (/private \"x\")", "a SETMETADATA INBOX (/shared/a/ \"x\")"}) {
    const std::string r = h.run(cmd);
    EXPECT_TRUE(r.starts_with("a BAD Invalid arguments: ")) << cmd << " -> " << r;
  }
  EXPECT_EQ(h.run("a GETMETADATA INBOX comment"),
            "a BAD Invalid arguments: metadata entry names start with /private or /shared\r\n");
}

TEST_F(Metadata, Limits) {
  const std::string big(mailstore::kMaxMetadataValueOctets + 1, 'x');
  EXPECT_EQ(h.client("a SETMETADATA INBOX (/private/ok \"fine\" /private/big {" + std::to_string(big.size()) +
                     "+}\r\n" + big + ")\r\n"),
            "a NO [METADATA MAXSIZE 65536] Metadata value too long\r\n");
  EXPECT_EQ(h.run("b GETMETADATA INBOX /private/ok"), "b OK GETMETADATA completed\r\n");  // all or nothing
  std::string many = "c SETMETADATA INBOX (";
  for (size_t i = 0; i < mailstore::kMaxMetadataEntries; ++i)
    many += (i ? " /private/e" : "/private/e") + std::to_string(i) + " \"v\"";
  EXPECT_EQ(h.run(many + ")"), "c OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("d SETMETADATA INBOX (/private/one-more \"v\")"),
            "d NO [METADATA TOOMANY] Too many metadata entries (at most 100)\r\n");
  EXPECT_EQ(h.run("e SETMETADATA INBOX (/private/e0 NIL /private/one-more \"v\")"), "e OK SETMETADATA completed\r\n");
}

TEST_F(Metadata, MissingMailboxRenameAndDelete) {
  EXPECT_EQ(h.run("a GETMETADATA Nowhere /private/comment"), "a NO [NONEXISTENT] No such mailbox\r\n");
  EXPECT_EQ(h.run("b SETMETADATA Nowhere (/private/comment \"x\")"), "b NO [NONEXISTENT] No such mailbox\r\n");
  h.run("c CREATE Projects");
  h.run("d SETMETADATA Projects (/private/comment \"p\")");
  EXPECT_EQ(h.run("e RENAME Projects Work"), "e OK RENAME completed\r\n");
  EXPECT_EQ(h.run("f GETMETADATA Work /private/comment"),
            "* METADATA Work (/private/comment \"p\")\r\nf OK GETMETADATA completed\r\n");
  h.run("g DELETE Work");
  h.run("h CREATE Work");
  EXPECT_EQ(h.run("i GETMETADATA Work /private/comment"), "i OK GETMETADATA completed\r\n");
}

TEST_F(Metadata, OtherUsersSeeNothing) {
  h.run("a SETMETADATA INBOX (/shared/comment \"mine\")");
  h.run("b SETMETADATA \"\" (/shared/comment \"mine too\")");
  h.auth().add("other@example.test", "pw");
  auto other = h.another_session();
  other->login("other@example.test", "pw");
  EXPECT_EQ(other->run("c GETMETADATA INBOX /shared/comment"), "c OK GETMETADATA completed\r\n");
  EXPECT_EQ(other->run("d GETMETADATA \"\" /shared/comment"), "d OK GETMETADATA completed\r\n");
  // Another session of the same user sees them.
  auto again = h.another_session();
  again->login();
  EXPECT_EQ(again->run("e GETMETADATA INBOX /shared/comment"),
            "* METADATA INBOX (/shared/comment \"mine\")\r\ne OK GETMETADATA completed\r\n");
}

TEST_F(Metadata, ModifiedUtf7MailboxNames) {
  h.run("a CREATE \"Entw&APw-rfe\"");
  EXPECT_EQ(h.run("b SETMETADATA \"Entw&APw-rfe\" (/private/comment \"x\")"), "b OK SETMETADATA completed\r\n");
  EXPECT_EQ(h.run("c GETMETADATA \"Entw&APw-rfe\" /private/comment"),
            "* METADATA Entw&APw-rfe (/private/comment \"x\")\r\nc OK GETMETADATA completed\r\n");
  EXPECT_TRUE(h.run("d GETMETADATA \"&Jjo\" /private/comment").starts_with("d NO [CANNOT]"));
  EXPECT_TRUE(h.run("e SETMETADATA \"&Jjo\" (/private/comment NIL)").starts_with("e NO [CANNOT]"));
}

}  // namespace
}  // namespace postline::imap
