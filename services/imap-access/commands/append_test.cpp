// APPEND (RFC 9051 6.3.12) with APPENDUID (RFC 4315), literal8 (RFC 3516),
// UTF8 (RFC 6855 3.4) and the quota (commands/append.cpp).
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

// RFC 9051 6.3.12's example message.
const std::string kExample =
    "Date: Mon, 7 Feb 1994 21:52:25 -0800 (PST)\r\n"
    "From: Fred Foobar <foobar@Blurdybloop.example>\r\n"
    "Subject: afternoon meeting\r\n"
    "To: mooch@owatagu.siam.edu.example\r\n"
    "Message-Id: <B27397-0100000@Blurdybloop.example>\r\n"
    "MIME-Version: 1.0\r\n"
    "Content-Type: TEXT/PLAIN; CHARSET=US-ASCII\r\n"
    "\r\n"
    "Hello Joe, do you think we can meet at 3:30 tomorrow?\r\n";

std::string lit(const std::string& s, const std::string& prefix = "") {
  return prefix + "{" + std::to_string(s.size()) + "}\r\n" + s;
}

class Append : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override { h.login(); }
  // The message as stored, read by another session (EXAMINE, UID FETCH BODY.PEEK[]).
  std::string stored(const std::string& box, uint32_t uid) {
    auto reader = h.another_session();
    reader->login();
    reader->run("x EXAMINE \"" + box + "\"");
    const std::string r = reader->run("y UID FETCH " + std::to_string(uid) + " BODY.PEEK[]");
    const size_t open = r.find(" BODY[] {");
    if (open == std::string::npos) return "<none: " + r + ">";
    const size_t close = r.find('}', open);
    return r.substr(close + 3, std::stoul(r.substr(open + 9, close - open - 9)));
  }
  std::string uv(const std::string& box) {
    return std::to_string(h.store().find_mailbox(h.user_id(), box)->uidvalidity);
  }
};

TEST_F(Append, Rfc9051Example) {
  EXPECT_EQ(h.run("A003 APPEND Drafts (\\Seen) " + lit(kExample)),
            "A003 OK [APPENDUID " + uv("Drafts") + " 1] APPEND completed\r\n");
  EXPECT_EQ(stored("Drafts", 1), kExample);
  auto index = h.store().open(h.user_id(), "Drafts").index;
  EXPECT_EQ(index->entries.at(0).system, mailstore::kSeen);
}

// MULTIAPPEND (RFC 3502): every message with its own flags and date, one
// APPENDUID uid-set (RFC 4315), one EXISTS for the selected mailbox.
TEST_F(Append, MultiappendStoresAllInOrder) {
  h.select();
  const std::string second = "Subject: two\r\n\r\nsecond\r\n";
  EXPECT_EQ(h.run("a APPEND INBOX " + lit(kExample) + " (\\Flagged) \" 7-Feb-1994 21:52:25 -0800\" " + lit(second)),
            "* 2 EXISTS\r\n* 2 RECENT\r\na OK [APPENDUID " + uv("INBOX") + " 1:2] APPEND completed\r\n");
  EXPECT_EQ(stored("INBOX", 1), kExample);
  EXPECT_EQ(stored("INBOX", 2), second);
  const std::string r = h.run("b FETCH 2 (FLAGS INTERNALDATE)");
  EXPECT_EQ(r, "* 2 FETCH (FLAGS (\\Flagged \\Recent) INTERNALDATE \"08-Feb-1994 05:52:25 +0000\")\r\n"
               "b OK FETCH completed\r\n");
}

// RFC 3502 6.3.11: if one message cannot be appended, none is.
TEST_F(Append, MultiappendIsAllOrNothing) {
  EXPECT_EQ(h.run("a APPEND INBOX " + lit(kExample) + " {0}\r\n"), "a NO Empty message\r\n");
  EXPECT_EQ(h.run("b APPEND Nonexistent " + lit(kExample) + " " + lit(kExample)),
            "b NO [TRYCREATE] No such mailbox\r\n");
  EXPECT_EQ(h.store().status(h.user_id(), {"INBOX"}).at(0).messages, 0);
}

// REPLACE (RFC 8508): APPENDUID, then the old message's EXPUNGE, then (into
// the selected mailbox) the new EXISTS, then the tagged OK.
TEST_F(Append, ReplaceInTheSelectedMailbox) {
  h.run("a APPEND Drafts (\\Draft) " + lit(kExample));
  h.run("b APPEND Drafts " + lit(kExample));
  h.select("Drafts");
  const std::string v2 = "Subject: draft v2\r\n\r\nsecond version\r\n";
  const std::string r = h.run("c REPLACE 1 Drafts (\\Seen \\Draft) " + lit(v2));
  const std::string appenduid = "* OK [APPENDUID " + uv("Drafts") + " 3] Replacement message ready\r\n";
  ASSERT_EQ(r.rfind(appenduid + "* 1 EXPUNGE\r\n* 2 EXISTS\r\n", 0), 0u) << r;
  EXPECT_NE(r.find("c OK REPLACE completed\r\n"), std::string::npos) << r;
  EXPECT_EQ(stored("Drafts", 3), v2);
  EXPECT_EQ(h.run("d UID SEARCH ALL"), "* SEARCH 2 3\r\nd OK UID SEARCH completed\r\n");
  // UID REPLACE into another mailbox: only the EXPUNGE here.
  const std::string r2 = h.run("e UID REPLACE 3 INBOX " + lit(v2));
  EXPECT_EQ(r2, "* OK [APPENDUID " + uv("INBOX") + " 1] Replacement message ready\r\n* 2 EXPUNGE\r\n"
                "e OK UID REPLACE completed\r\n");
  EXPECT_EQ(stored("INBOX", 1), v2);
}

TEST_F(Append, ReplaceRefusals) {
  h.run("a APPEND Drafts " + lit(kExample));
  h.select("Drafts");
  EXPECT_EQ(h.run("b REPLACE 2 Drafts " + lit(kExample)).rfind("b BAD ", 0), 0u);  // no message 2
  EXPECT_EQ(h.run("c UID REPLACE 9 Drafts " + lit(kExample)), "c NO No such message\r\n");
  EXPECT_EQ(h.run("d REPLACE 1 Nope " + lit(kExample)), "d NO [TRYCREATE] No such mailbox\r\n");
  EXPECT_EQ(h.run("e REPLACE 1:2 Drafts " + lit(kExample)).rfind("e BAD Invalid arguments: ", 0), 0u);
  EXPECT_EQ(h.run("f REPLACE 1 Drafts " + lit(kExample) + " " + lit(kExample)).rfind("f BAD Invalid arguments: ", 0),
            0u);
  EXPECT_EQ(h.store().status(h.user_id(), {"Drafts"}).at(0).messages, 1);
  h.run("g EXAMINE Drafts");
  EXPECT_EQ(h.run("h REPLACE 1 Drafts " + lit(kExample)), "h NO [READ-ONLY] Mailbox is read-only\r\n");
  h.run("i UNSELECT");
  EXPECT_EQ(h.run("j REPLACE 1 Drafts " + lit(kExample)), "j BAD Select a mailbox first\r\n");
  EXPECT_EQ(h.store().status(h.user_id(), {"Drafts"}).at(0).messages, 1);
}

// CATENATE (RFC 4469): a new message from TEXT literals and URLs of the
// user's own messages (header, a section, a partial), one APPEND.
TEST_F(Append, CatenateBuildsTheMessageFromUrlsAndText) {
  const std::string original =
      "From: a@example.test\r\nSubject: draft\r\nMIME-Version: 1.0\r\n"
      "Content-Type: multipart/mixed; boundary=b\r\n\r\n"
      "--b\r\nContent-Type: text/plain\r\n\r\nthe text\r\n"
      "--b\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--b--\r\n";
  h.run("a APPEND Drafts " + lit(original));
  const std::string v = uv("Drafts");
  const std::string header = original.substr(0, original.find("\r\n\r\n") + 4);
  const std::string r = h.run("b APPEND Drafts (\\Seen) CATENATE (URL \"/Drafts;UIDVALIDITY=" + v +
                              "/;UID=1/;section=HEADER\" TEXT " + lit("--b\r\n") + " URL \"/Drafts/;UID=1/;SECTION=2.MIME\"" +
                              " URL \"/Drafts/;UID=1/;SECTION=2\" TEXT " + lit("\r\n--b--\r\n") +
                              " URL \"/Drafts/;UID=1/;SECTION=1/;PARTIAL=4.4\")");
  EXPECT_EQ(r, "b OK [APPENDUID " + v + " 2] APPEND completed\r\n");
  EXPECT_EQ(stored("Drafts", 2), header + "--b\r\nContent-Type: application/pdf\r\n\r\n%PDF-1.4\r\n--b--\r\ntext");
}

// RFC 4469 5: a URL that names nothing (stale UIDVALIDITY, no such message or
// mailbox, another user's, not a message URL) is NO [BADURL url]; nothing stored.
TEST_F(Append, CatenateRefusesUnusableUrls) {
  h.run("a APPEND Drafts " + lit(kExample));
  const std::string v = uv("Drafts");
  for (const std::string& url : {"/Drafts;UIDVALIDITY=1/;UID=1", "/Drafts/;UID=2", "/Nope/;UID=1",
                                 "imap://someone.else@example.test/Drafts/;UID=1", "/Drafts",
                                 "/Drafts/;UID=1/;SECTION=NOT-A-SECTION"}) {
    EXPECT_EQ(h.run("b APPEND Drafts CATENATE (TEXT {1}\r\nx URL \"" + url + "\")"),
              "b NO [BADURL \"" + url + "\"] Unusable CATENATE URL\r\n");
  }
  EXPECT_EQ(h.store().status(h.user_id(), {"Drafts"}).at(0).messages, 1);
  EXPECT_NE(h.run("c CAPABILITY").find(" CATENATE"), std::string::npos);
}

TEST_F(Append, FlagsAndInternalDate) {
  h.run("a APPEND INBOX (\\Flagged $Todo \\draft) \" 7-Feb-1994 21:52:25 -0800\" " + lit(kExample));
  ASSERT_EQ(h.last().status, Status::kOk);
  h.select();
  EXPECT_EQ(h.run("b FETCH 1 (FLAGS INTERNALDATE)"),
            "* 1 FETCH (FLAGS (\\Flagged \\Draft \\Recent $Todo) INTERNALDATE \"08-Feb-1994 05:52:25 +0000\")\r\n"
            "b OK FETCH completed\r\n");
}

TEST_F(Append, ToTheSelectedMailboxAnnouncesItBeforeTheTaggedOk) {
  h.select();
  EXPECT_EQ(h.run("a APPEND INBOX ($New) " + lit(kExample)),
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $New)\r\n"
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $New \\*)] Flags permitted\r\n"
            "* 1 EXISTS\r\n"
            "* 1 RECENT\r\n"
            "a OK [APPENDUID 1 1] APPEND completed\r\n");
}

TEST_F(Append, Refusals) {
  EXPECT_EQ(h.run("a APPEND Nowhere " + lit(kExample)), "a NO [TRYCREATE] No such mailbox\r\n");
  EXPECT_EQ(h.run("b APPEND INBOX {0}\r\n"), "b NO Empty message\r\n");
  h.auth().account(SessionHarness::kUser).quota_bytes = 100;
  h.session().quota_read_at = {};  // APPEND re-reads limits older than 30 s
  EXPECT_EQ(h.run("c APPEND INBOX " + lit(kExample)), "c NO [OVERQUOTA] Quota exceeded\r\n");
  EXPECT_EQ(h.session().quota_bytes, 100);
  EXPECT_EQ(h.store().status(h.user_id(), {"INBOX"}).at(0).messages, 0);
}

TEST_F(Append, BadArgumentsStoreNothing) {
  for (const std::string& bad : std::vector<std::string>{
           "a APPEND INBOX (\\Recent) " + lit(kExample), "a APPEND INBOX (\\Foo) " + lit(kExample),
           "a APPEND INBOX \"31-Feb-1994 00:00:00 +0000\" " + lit(kExample), "a APPEND INBOX", "a APPEND INBOX ()",
           "a APPEND INBOX " + lit(kExample) + "  " + lit(kExample),  // MULTIAPPEND takes one SP
           "a APPEND INBOX " + lit(kExample) + " (\\Recent) " + lit(kExample),  // the second's flags checked too
           "a APPEND INBOX " + lit(kExample) + " x", "a APPEND INBOX \"text\"", "a APPEND " + lit(kExample),
           "a APPEND INBOX UTF8 " + lit(kExample, "~"),  // UTF8 takes "(" literal8 ")"
           "a APPEND INBOX FOO (" + lit(kExample, "~") + ")"}) {
    EXPECT_EQ(h.run(bad).rfind("a BAD Invalid arguments: ", 0), 0u) << bad.substr(0, 40);
  }
  EXPECT_EQ(h.store().status(h.user_id(), {"INBOX"}).at(0).messages, 0);
}

// A plain literal is canonicalised (bare LF -> CRLF); literal8 (~{n}) is kept
// byte for byte, NUL included (RFC 3516 4.4).
TEST_F(Append, Literal8KeepsTheBytes) {
  const std::string bare = "Subject: bare\n\nline one\nline two\n";
  static const char kBinary[] = "Subject: bin\r\n\r\n\x00\x01\nraw\n";
  const std::string binary(kBinary, sizeof kBinary - 1);
  h.run("a APPEND INBOX " + lit(bare));
  h.run("b APPEND INBOX " + lit(binary, "~"));
  ASSERT_EQ(h.last().status, Status::kOk) << h.last().reply;
  EXPECT_EQ(stored("INBOX", 1), "Subject: bare\r\n\r\nline one\r\nline two\r\n");
  // BODY[] is a {n} literal, which cannot carry NUL: it goes out as 0x80.
  std::string as_literal = binary;
  as_literal[16] = '\x80';
  EXPECT_EQ(stored("INBOX", 2), as_literal);
  // BINARY[] sends the stored octets, NUL included, as literal8.
  auto reader = h.another_session();
  reader->login();
  reader->run("x EXAMINE INBOX");
  EXPECT_EQ(reader->run("y UID FETCH 2 BINARY.PEEK[]"),
            "* 2 FETCH (UID 2 BINARY[] ~{" + std::to_string(binary.size()) + "}\r\n" + binary +
                ")\r\ny OK UID FETCH completed\r\n");
}

TEST_F(Append, Utf8NeedsUtf8Accept) {
  const std::string m = "Subject: K\xc3\xa4se\r\n\r\nx\nx\r\n";
  EXPECT_EQ(h.run("a APPEND INBOX UTF8 (" + lit(m, "~") + ")"), "a BAD UTF8 APPEND needs ENABLE UTF8=ACCEPT\r\n");
  h.run("e ENABLE UTF8=ACCEPT");
  EXPECT_EQ(h.run("b APPEND INBOX UTF8 (" + lit(m, "~") + ")"),
            "b OK [APPENDUID 1 1] APPEND completed\r\n");
  EXPECT_EQ(stored("INBOX", 1), "Subject: K\xc3\xa4se\r\n\r\nx\r\nx\r\n");  // not binary: canonicalised
}

// Through the Receiver: a synchronising literal is invited with "+", a
// non-synchronising one (LITERAL+) is not.
TEST_F(Append, LiteralsFromTheWire) {
  EXPECT_EQ(h.client("a APPEND INBOX {" + std::to_string(kExample.size()) + "}\r\n"),
            "+ Ready for literal data\r\n");
  EXPECT_EQ(h.client(kExample + "\r\n"), "a OK [APPENDUID 1 1] APPEND completed\r\n");
  EXPECT_EQ(h.client("b APPEND INBOX {" + std::to_string(kExample.size()) + "+}\r\n" + kExample + "\r\n"),
            "b OK [APPENDUID 1 2] APPEND completed\r\n");
  EXPECT_EQ(stored("INBOX", 2), kExample);
}

}  // namespace
}  // namespace postline::imap
