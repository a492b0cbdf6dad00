// SEARCH and UID SEARCH (RFC 9051 6.4.4) with ESEARCH (RFC 4731), MODSEQ
// (RFC 7162 3.1.5), OLDER/YOUNGER (RFC 5032) against the in-memory store.
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1795633200;  // the harness's clock: 25-Nov-2026 19:00:00 +0000

class Search : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override {
    h.login();
    // 1: from Smith, flagged, sent and received 20-Nov-2026
    h.add_message("From: John Smith <smith@example.test>\r\nSubject: Quarterly report\r\n"
                  "Date: Fri, 20 Nov 2026 10:00:00 +0000\r\n\r\nThe numbers are in.\r\n",
                  "INBOX", {"\\Flagged", "\\Seen"}, kNow - 5 * kDay);
    // 2: from Jones, unseen, keyword $Work, received 24-Nov-2026
    h.add_message("From: Ann Jones <jones@example.test>\r\nSubject: Lunch\r\n"
                  "Date: Tue, 24 Nov 2026 12:00:00 +0000\r\n\r\nNoon at the usual place? Bring the report.\r\n",
                  "INBOX", {"$Work"}, kNow - 1 * kDay);
    // 3: no Date header, deleted, large, received an hour ago
    h.add_message("From: Robot <robot@example.test>\r\nSubject: Build log\r\nX-Build: 42\r\n\r\n" +
                      std::string(5000, 'x') + "\r\n",
                  "INBOX", {"\\Deleted", "\\Seen"}, kNow - 3600);
    h.select();
  }
};

TEST_F(Search, Rfc9051Examples) {
  EXPECT_EQ(h.run("A282 SEARCH FLAGGED SINCE 1-Feb-1994 NOT FROM \"Jones\""),
            "* SEARCH 1\r\nA282 OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("A283 SEARCH TEXT \"string not in mailbox\""), "* SEARCH\r\nA283 OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("A284 SEARCH CHARSET UTF-8 TEXT {6+}\r\nreport"), "* SEARCH 1 2\r\nA284 OK SEARCH completed\r\n");
}

TEST_F(Search, FlagsKeywordsAndSetsFromTheView) {
  EXPECT_EQ(h.run("a SEARCH ALL"), "* SEARCH 1 2 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH UNSEEN"), "* SEARCH 2\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH DELETED"), "* SEARCH 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH UNDELETED SEEN"), "* SEARCH 1\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH KEYWORD $Work"), "* SEARCH 2\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH UNKEYWORD $Work"), "* SEARCH 1 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH OR FLAGGED DELETED"), "* SEARCH 1 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH 2:*"), "* SEARCH 2 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH NOT 2"), "* SEARCH 1 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH UID 3"), "* SEARCH 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a UID SEARCH SEEN"), "* SEARCH 1 3\r\na OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH NEW"), "* SEARCH\r\na OK SEARCH completed\r\n");  // \Recent is never set
  EXPECT_EQ(h.run("a SEARCH OLD"), "* SEARCH 1 2 3\r\na OK SEARCH completed\r\n");
}

TEST_F(Search, TextKeysFromTheStore) {
  EXPECT_EQ(h.run("a SEARCH FROM smith"), "* SEARCH 1\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH SUBJECT LUNCH"), "* SEARCH 2\r\na OK SEARCH completed\r\n");  // case-insensitive
  EXPECT_EQ(h.run("a SEARCH BODY report"), "* SEARCH 2\r\na OK SEARCH completed\r\n");  // the body only
  EXPECT_EQ(h.run("a SEARCH HEADER X-Build 42"), "* SEARCH 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH HEADER X-Build \"\""), "* SEARCH 3\r\na OK SEARCH completed\r\n");  // present at all
  EXPECT_EQ(h.run("a UID SEARCH OR FROM jones SUBJECT build"), "* SEARCH 2 3\r\na OK UID SEARCH completed\r\n");
}

TEST_F(Search, SizesAndDates) {
  EXPECT_EQ(h.run("a SEARCH LARGER 1000"), "* SEARCH 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH SMALLER 1000"), "* SEARCH 1 2\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH BEFORE 24-Nov-2026"), "* SEARCH 1\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH ON 24-Nov-2026"), "* SEARCH 2\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH SINCE 24-Nov-2026"), "* SEARCH 2 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH SENTON 20-Nov-2026"), "* SEARCH 1\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH SENTSINCE 21-Nov-2026"), "* SEARCH 2\r\na OK SEARCH completed\r\n");
  // NOT is the complement: the message without a Date: matches NOT SENT...
  EXPECT_EQ(h.run("a SEARCH NOT SENTBEFORE 1-Jan-2100"), "* SEARCH 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH YOUNGER 7200"), "* SEARCH 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("a SEARCH OLDER 7200"), "* SEARCH 1 2\r\na OK SEARCH completed\r\n");
  h.advance(std::chrono::hours(2));
  EXPECT_EQ(h.run("a SEARCH YOUNGER 7200"), "* SEARCH\r\na OK SEARCH completed\r\n");
}

TEST_F(Search, Esearch) {
  EXPECT_EQ(h.run("a SEARCH RETURN (MIN MAX COUNT) ALL"),
            "* ESEARCH (TAG \"a\") MIN 1 MAX 3 COUNT 3\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("b UID SEARCH RETURN (ALL) SEEN"),
            "* ESEARCH (TAG \"b\") UID ALL 1,3\r\nb OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("c SEARCH RETURN (MIN COUNT) KEYWORD nothing"),
            "* ESEARCH (TAG \"c\") COUNT 0\r\nc OK SEARCH completed\r\n");
  // RETURN () means ALL (RFC 4731 3.1).
  EXPECT_EQ(h.run("d SEARCH RETURN () SEEN"), "* ESEARCH (TAG \"d\") ALL 1,3\r\nd OK SEARCH completed\r\n");
}

TEST_F(Search, Imap4rev2AnswersWithEsearch) {
  h.run("e ENABLE IMAP4rev2");
  EXPECT_EQ(h.run("a SEARCH SEEN"), "* ESEARCH (TAG \"a\") ALL 1,3\r\na OK SEARCH completed\r\n");
}

TEST_F(Search, ModseqEnablesCondstoreAndReportsTheHighest) {
  // Another session answers message 2 (MODSEQ 5); this one has heard of it.
  h.store().store_flags(h.user_id(), h.session().selected->mailbox_id, {2}, mailstore::FlagMode::kAdd,
                        mailstore::flags_from_names({"\\Answered"}));
  h.mark_dirty();
  h.run("n NOOP");
  EXPECT_EQ(h.run("a SEARCH MODSEQ 4"),
            "* OK [HIGHESTMODSEQ 5] Highest\r\n* SEARCH 2 3 (MODSEQ 5)\r\na OK SEARCH completed\r\n");
  EXPECT_TRUE(h.session().condstore);
  EXPECT_EQ(h.run("b SEARCH MODSEQ \"/flags/\\\\answered\" all 5"),
            "* SEARCH 2 (MODSEQ 5)\r\nb OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("c SEARCH RETURN (COUNT) MODSEQ 5"),
            "* ESEARCH (TAG \"c\") COUNT 1 MODSEQ 5\r\nc OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("d SEARCH MODSEQ 6"), "* SEARCH\r\nd OK SEARCH completed\r\n");  // no MODSEQ for no match
}

TEST_F(Search, CharsetAndBadCriteria) {
  EXPECT_EQ(h.run("a SEARCH CHARSET KOI8-R TEXT x"),
            "a NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n");
  for (const char* bad :
       {"a SEARCH", "a SEARCH FOO", "a SEARCH (ALL", "a SEARCH ALL )", "a SEARCH SINCE 31-Feb-2026x",
        "a SEARCH SINCE yesterday", "a SEARCH LARGER 9223372036854775808", "a SEARCH MODSEQ 9223372036854775808",
        "a SEARCH MODSEQ 1 x", "a SEARCH MODSEQ", "a SEARCH OR ALL", "a SEARCH RETURN (FOO) ALL", "a SEARCH 0"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD Invalid arguments: ", 0), 0u) << bad << " -> " << r;
    EXPECT_EQ(r.find("HIGHESTMODSEQ"), std::string::npos) << bad;
    EXPECT_FALSE(h.session().condstore) << bad;
  }
}

// Messages another session expunged stay numbered (and EXPUNGE waits) during a
// SEARCH by sequence number; messages not yet announced are not reported.
TEST_F(Search, OnlyWhatTheSessionWasToldAbout) {
  const int64_t id = h.session().selected->mailbox_id;
  h.store().expunge(h.user_id(), id, std::vector<uint32_t>{3});
  h.add_message("From: New <new@example.test>\r\nSubject: Quarterly numbers\r\n\r\nx\r\n");
  h.mark_dirty();
  EXPECT_EQ(h.run("a SEARCH SUBJECT quarterly"), "* SEARCH 1\r\n* 4 EXISTS\r\na OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("b SEARCH SUBJECT quarterly"), "* SEARCH 1 4\r\nb OK SEARCH completed\r\n");
  h.mark_dirty();
  EXPECT_EQ(h.run("c UID SEARCH SUBJECT quarterly"), "* SEARCH 1 4\r\n* 3 EXPUNGE\r\nc OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("d SEARCH ALL"), "* SEARCH 1 2 3\r\nd OK SEARCH completed\r\n");
}

// SEARCHRES (RFC 5182): RETURN (SAVE) keeps the result for "$", which FETCH,
// STORE, COPY, SEARCH and their UID forms accept; SAVE alone sends nothing.
TEST_F(Search, SearchResSavesTheResultForDollar) {
  EXPECT_EQ(h.run("a SEARCH RETURN (SAVE) SEEN"), "a OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("b FETCH $ (UID)"), "* 1 FETCH (UID 1)\r\n* 3 FETCH (UID 3)\r\nb OK FETCH completed\r\n");
  EXPECT_EQ(h.run("c UID SEARCH $"), "* SEARCH 1 3\r\nc OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("d SEARCH UID $ UNDELETED"), "* SEARCH 1\r\nd OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("e SEARCH OR $ 2"), "* SEARCH 1 2 3\r\ne OK SEARCH completed\r\n");
  // With other options: the ESEARCH response as usual, and the result kept.
  EXPECT_EQ(h.run("f UID SEARCH RETURN (SAVE COUNT) UNSEEN"),
            "* ESEARCH (TAG \"f\") UID COUNT 1\r\nf OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("g UID STORE $ +FLAGS.SILENT (\\Answered)"), "g OK UID STORE completed\r\n");
  EXPECT_EQ(h.run("h SEARCH ANSWERED"), "* SEARCH 2\r\nh OK SEARCH completed\r\n");
  // MIN and MAX without ALL or COUNT save just those (RFC 5182 2.4).
  EXPECT_EQ(h.run("i SEARCH RETURN (MIN MAX SAVE) ALL"),
            "* ESEARCH (TAG \"i\") MIN 1 MAX 3\r\ni OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("j SEARCH $"), "* SEARCH 1 3\r\nj OK SEARCH completed\r\n");
  // Expunged messages drop out of "$".
  EXPECT_EQ(h.run("k EXPUNGE"), "* 3 EXPUNGE\r\nk OK EXPUNGE completed\r\n");
  EXPECT_EQ(h.run("l SEARCH $"), "* SEARCH 1\r\nl OK SEARCH completed\r\n");
  // A SEARCH that asked to SAVE and failed leaves "$" empty (RFC 5182 2.1).
  EXPECT_EQ(h.run("m SEARCH RETURN (SAVE) CHARSET KOI8-R ALL"),
            "m NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n");
  EXPECT_EQ(h.run("n SEARCH $"), "* SEARCH\r\nn OK SEARCH completed\r\n");
  h.run("o SEARCH RETURN (SAVE) ALL");
  EXPECT_EQ(h.run("p SEARCH RETURN (SAVE) NOSUCHKEY").rfind("p BAD ", 0), 0u);
  EXPECT_EQ(h.run("q SEARCH $"), "* SEARCH\r\nq OK SEARCH completed\r\n");
  // A new SELECT starts with nothing saved.
  h.run("r SEARCH RETURN (SAVE) ALL");
  h.select();
  EXPECT_EQ(h.run("s FETCH $ UID"), "s OK FETCH completed\r\n");
  EXPECT_NE(h.run("t CAPABILITY").find(" SEARCHRES"), std::string::npos);
}

}  // namespace
}  // namespace postline::imap
