// SORT, UID SORT, ESORT, THREAD and UID THREAD (RFC 5256, RFC 5957, RFC 5267)
// through the dispatcher against the in-memory store.
#include "services/imap-access/commands/testing/session_harness.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

constexpr int64_t kDay = 86400;
constexpr int64_t kNow = 1795633200;  // the harness's clock: 25-Nov-2026 19:00:00 +0000

std::string dated(const std::string& headers, int nov_day) {
  return headers + "Date: " + std::to_string(nov_day) + " Nov 2026 12:00:00 +0000\r\n\r\nbody\r\n";
}

class Sort : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override {
    h.login();
    // RFC 5256 6's A283 answer (5 3 4 1 2 for SUBJECT REVERSE DATE) from
    // two base subjects: "b" (1, 2) and "a" (3, 4, 5).
    h.add_message(dated("From: Zoe <zoe@example.test>\r\nTo: amy@example.test\r\nSubject: b\r\n", 5), "INBOX", {},
                  kNow - 10 * kDay);
    h.add_message(dated("From: \"Adam\" <yves@example.test>\r\nTo: bob@example.test\r\nSubject: Re: b\r\n", 1),
                  "INBOX", {"\\Seen"}, kNow - 9 * kDay);
    h.add_message(dated("From: bea@example.test\r\nSubject: a\r\n", 3), "INBOX", {}, kNow - 8 * kDay);
    h.add_message(dated("From: Carl <carl@example.test>\r\nSubject: [x] a\r\n", 2), "INBOX", {"\\Seen"},
                  kNow - 7 * kDay);
    h.add_message(dated("From: dan@example.test\r\nSubject: Fwd: a\r\n", 4), "INBOX", {}, kNow - 6 * kDay);
    h.select();
  }
};

TEST_F(Sort, CapabilitiesAfterLogin) {
  const std::string caps = h.run("c CAPABILITY");
  for (const char* cap : {" SORT ", " SORT=DISPLAY ", " ESORT ", " THREAD=ORDEREDSUBJECT ", " THREAD=REFERENCES "})
    EXPECT_NE(caps.find(cap), std::string::npos) << cap << " in " << caps;
}

TEST_F(Sort, Rfc5256Examples) {
  EXPECT_EQ(h.run("A282 SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994"), "* SORT 3 4 5 1 2\r\nA282 OK SORT completed\r\n");
  EXPECT_EQ(h.run("A283 SORT (SUBJECT REVERSE DATE) UTF-8 ALL"), "* SORT 5 3 4 1 2\r\nA283 OK SORT completed\r\n");
  EXPECT_EQ(h.run("A284 SORT (SUBJECT) US-ASCII TEXT \"not in mailbox\""), "* SORT\r\nA284 OK SORT completed\r\n");
  EXPECT_EQ(h.run("A286 THREAD REFERENCES US-ASCII TEXT \"gewp\""), "* THREAD\r\nA286 OK THREAD completed\r\n");
}

TEST_F(Sort, KeysAndUids) {
  EXPECT_EQ(h.run("a SORT (FROM) UTF-8 ALL"), "* SORT 3 4 5 2 1\r\na OK SORT completed\r\n");  // bea carl dan yves zoe
  EXPECT_EQ(h.run("a SORT (DISPLAYFROM) UTF-8 ALL"),  // adam bea@ carl dan@ zoe
            "* SORT 2 3 4 5 1\r\na OK SORT completed\r\n");
  EXPECT_EQ(h.run("a SORT (TO) UTF-8 ALL"), "* SORT 3 4 5 1 2\r\na OK SORT completed\r\n");
  EXPECT_EQ(h.run("a SORT (REVERSE ARRIVAL) UTF-8 ALL"), "* SORT 5 4 3 2 1\r\na OK SORT completed\r\n");
  EXPECT_EQ(h.run("a SORT (DATE) UTF-8 UNSEEN"), "* SORT 3 5 1\r\na OK SORT completed\r\n");
  EXPECT_EQ(h.run("a sort (date) utf-8 2:4"), "* SORT 2 4 3\r\na OK SORT completed\r\n");
  // Another session expunges 1: UIDs stay, sequence numbers follow the view.
  auto other = h.another_session();
  other->login();
  other->select();
  other->run("s STORE 1 +FLAGS (\\Deleted)");
  other->run("e EXPUNGE");
  h.mark_dirty();
  EXPECT_EQ(h.run("u UID SORT (DATE) UTF-8 ALL"), "* SORT 2 4 3 5\r\n* 1 EXPUNGE\r\nu OK UID SORT completed\r\n");
  EXPECT_EQ(h.run("s SORT (DATE) UTF-8 ALL"), "* SORT 1 3 2 4\r\ns OK SORT completed\r\n");
}

TEST_F(Sort, Esort) {
  EXPECT_EQ(h.run("a SORT RETURN (MIN MAX COUNT ALL) (SUBJECT REVERSE DATE) UTF-8 ALL"),
            "* ESEARCH (TAG \"a\") MIN 5 MAX 2 ALL 5,3:4,1:2 COUNT 5\r\na OK SORT completed\r\n");
  EXPECT_EQ(h.run("b UID SORT RETURN () (DATE) UTF-8 ALL"),
            "* ESEARCH (TAG \"b\") UID ALL 2,4,3,5,1\r\nb OK UID SORT completed\r\n");
  EXPECT_EQ(h.run("c SORT RETURN (COUNT MIN) (DATE) UTF-8 KEYWORD nothing"),
            "* ESEARCH (TAG \"c\") COUNT 0\r\nc OK SORT completed\r\n");
}

// SEARCHRES (RFC 5182): SORT RETURN (SAVE) keeps the result as "$" (a set),
// which later SORT, THREAD and FETCH use; a failed SORT with SAVE empties it.
TEST_F(Sort, SaveKeepsTheResultForDollar) {
  EXPECT_EQ(h.run("a SORT RETURN (SAVE) (DATE) UTF-8 UNSEEN"), "a OK SORT completed\r\n");
  EXPECT_EQ(h.run("b UID SEARCH $"), "* SEARCH 1 3 5\r\nb OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("c SORT (REVERSE DATE) UTF-8 $"), "* SORT 1 5 3\r\nc OK SORT completed\r\n");
  EXPECT_EQ(h.run("d THREAD ORDEREDSUBJECT UTF-8 $"), "* THREAD (3 5)(1)\r\nd OK THREAD completed\r\n");
  // With MIN alone only the first in sort order is saved.
  EXPECT_EQ(h.run("e SORT RETURN (SAVE MIN) (DATE) UTF-8 ALL"),
            "* ESEARCH (TAG \"e\") MIN 2\r\ne OK SORT completed\r\n");
  EXPECT_EQ(h.run("f UID SEARCH $"), "* SEARCH 2\r\nf OK UID SEARCH completed\r\n");
  EXPECT_EQ(h.run("g SORT RETURN (SAVE) (DATE) KOI8-R ALL"),
            "g NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n");
  EXPECT_EQ(h.run("h UID SEARCH $"), "* SEARCH\r\nh OK UID SEARCH completed\r\n");
  h.run("i SORT RETURN (SAVE) (DATE) UTF-8 ALL");
  EXPECT_EQ(h.run("j SORT RETURN (SAVE) (FOO) UTF-8 ALL").rfind("j BAD ", 0), 0u);
  EXPECT_EQ(h.run("k UID SEARCH $"), "* SEARCH\r\nk OK UID SEARCH completed\r\n");
}

TEST_F(Sort, ModseqIsReported) {
  EXPECT_EQ(h.run("a SORT (DATE) UTF-8 MODSEQ 1"),
            "* OK [HIGHESTMODSEQ 6] Highest\r\n* SORT 2 4 3 5 1 (MODSEQ 6)\r\na OK SORT completed\r\n");
  EXPECT_TRUE(h.session().condstore);
}

TEST_F(Sort, BadArgumentsAndCharsets) {
  EXPECT_EQ(h.run("a SORT (DATE) KOI8-R ALL"), "a NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n");
  EXPECT_EQ(h.run("a THREAD REFERENCES KOI8-R ALL"), "a NO [BADCHARSET (UTF-8 US-ASCII)] Unsupported charset\r\n");
  std::string many = "a SORT (";
  for (int i = 0; i < 33; ++i) many += i ? " DATE" : "DATE";
  many += ") UTF-8 ALL";
  for (const std::string& bad : std::vector<std::string>{"a SORT", "a SORT ()", "a SORT (FOO) UTF-8 ALL", "a SORT (DATE) UTF-8", "a SORT (DATE)", "a SORT DATE UTF-8 ALL",
        "a SORT (REVERSE) UTF-8 ALL", "a SORT (REVERSE REVERSE DATE) UTF-8 ALL", "a SORT (DATE) UTF-8 ALL )",
        "a SORT (DATE ) UTF-8 ALL", "a SORT RETURN (PARTIAL 1:5 ALL) (DATE) UTF-8 ALL",
"a SORT RETURN (DATE) UTF-8 ALL", "a SORT (DATE) UTF-8 FOO",
        many}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD ", 0), 0u) << bad << " -> " << r;
  }
}

TEST_F(Sort, BadThreadArguments) {
  for (const char* bad : {"a THREAD", "a THREAD FOO UTF-8 ALL", "a THREAD REFERENCES", "a THREAD REFERENCES UTF-8",
                          "a THREAD (REFERENCES) UTF-8 ALL", "a UID THREAD REFERENCES UTF-8 ALL x",
                          "a THREAD REFERENCES UTF-8 (ALL", "a THREAD ORDEREDSUBJECT \"\" ALL"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD ", 0), 0u) << bad << " -> " << r;
  }
}

TEST(SortState, NeedsASelectedMailbox) {
  SessionHarness h;
  h.login();
  EXPECT_EQ(h.run("a SORT (DATE) UTF-8 ALL").rfind("a BAD ", 0), 0u);
  EXPECT_EQ(h.run("b THREAD REFERENCES UTF-8 ALL").rfind("b BAD ", 0), 0u);
  h.select();
  EXPECT_EQ(h.run("c SORT (DATE) UTF-8 ALL"), "* SORT\r\nc OK SORT completed\r\n");
  EXPECT_EQ(h.run("d THREAD ORDEREDSUBJECT UTF-8 ALL"), "* THREAD\r\nd OK THREAD completed\r\n");
}

// RFC 5256 4's example answer, (2)(3 6 (4 23)(44 7 96)), from a mailbox of 96
// messages where those eight carry a marker header.
TEST(Thread, Rfc5256ResponseExample) {
  SessionHarness h;
  h.login();
  struct T {
    int msn;
    const char* refs;
    const char* subject;
    int day;
  };
  const T thread[] = {{2, "", "Solo", 1},
                      {3, "", "Topic", 2},
                      {6, "<m3@x>", "Re: Topic", 3},
                      {4, "<m3@x> <m6@x>", "Re: Topic", 4},
                      {23, "<m3@x> <m6@x> <m4@x>", "Re: Topic", 5},
                      {44, "<m3@x> <m6@x>", "Re: Topic", 6},
                      {7, "<m3@x> <m6@x> <m44@x>", "Re: Topic", 7},
                      {96, "<m3@x> <m6@x> <m44@x> <m7@x>", "Re: Topic", 8}};
  for (int msn = 1; msn <= 96; ++msn) {
    std::string m = "Message-ID: <m" + std::to_string(msn) + "@x>\r\n";
    const T* t = nullptr;
    for (const auto& x : thread)
      if (x.msn == msn) t = &x;
    if (t) {
      m += "X-T: yes\r\nSubject: " + std::string(t->subject) + "\r\n";
      if (*t->refs) m += "References: " + std::string(t->refs) + "\r\n";
      m = dated(m, t->day);
    } else {
      m = dated(m + "Subject: filler " + std::to_string(msn) + "\r\n", 20);
    }
    h.add_message(m);
  }
  h.select();
  EXPECT_EQ(h.run("a THREAD REFERENCES UTF-8 HEADER X-T yes"),
            "* THREAD (2)(3 6 (4 23)(44 7 96))\r\na OK THREAD completed\r\n");
  EXPECT_EQ(h.run("b THREAD ORDEREDSUBJECT UTF-8 HEADER X-T yes"),
            "* THREAD (2)(3 (6)(4)(23)(44)(7)(96))\r\nb OK THREAD completed\r\n");
  // UID THREAD answers UIDs (the same numbers here), THREAD of a subset.
  EXPECT_EQ(h.run("c UID THREAD REFERENCES UTF-8 HEADER X-T yes UID 44:96"),
            "* THREAD (44 96)\r\nc OK UID THREAD completed\r\n");  // 7 is not in the set: 96 hangs under 44
}

TEST(Thread, DummiesAndMissingParents) {
  SessionHarness h;
  h.login();
  h.add_message(dated("Message-ID: <f@x>\r\nReferences: <zz@x>\r\nSubject: Re: Party\r\n", 6));
  h.add_message(dated("Message-ID: <g@x>\r\nReferences: <zz@x>\r\nSubject: Re: Party\r\n", 7));
  h.add_message(dated("Message-ID: <h@x>\r\nReferences: <yy@x>\r\nSubject: Re: Alone\r\n", 8));
  h.select();
  // <zz@x> never arrived: a dummy with two children stays, one with a single child goes.
  EXPECT_EQ(h.run("a THREAD REFERENCES UTF-8 ALL"), "* THREAD ((1)(2))(3)\r\na OK THREAD completed\r\n");
}

}  // namespace
}  // namespace postline::imap
