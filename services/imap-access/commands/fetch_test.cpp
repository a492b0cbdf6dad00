// FETCH and UID FETCH (RFC 9051 6.4.5, 7.5.2; RFC 3516 BINARY; RFC 7162
// CHANGEDSINCE/VANISHED; RFC 8474 EMAILID/THREADID; RFC 8514 SAVEDATE;
// RFC 8970 PREVIEW) through the dispatcher against the in-memory store.
#include "services/imap-access/commands/testing/session_harness.h"

#include "common/mailstore/message_meta.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <regex>
#include <set>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

std::string msg(int i) {
  return "From: a@example.test\r\nSubject: message " + std::to_string(i) + "\r\n\r\nbody " + std::to_string(i) +
         "\r\n";
}

// The bytes of the literal that follows " NAME " in a response ("BODY[1]").
std::string literal_after(const std::string& response, const std::string& name) {
  const std::string key = name + " ";
  size_t at = 0;
  for (;; ++at) {
    at = response.find(key, at);
    if (at == std::string::npos) return "<no " + name + ">";
    if (at > 0 && (response[at - 1] == ' ' || response[at - 1] == '(')) break;
  }
  at += key.size();
  if (response[at] == '~') ++at;
  if (response[at] != '{') return "<not a literal>";
  const size_t close = response.find('}', at);
  const size_t n = std::stoul(response.substr(at + 1, close - at - 1));
  return response.substr(close + 3, n);
}

// "* n FETCH (...)" responses by message number.
std::map<uint32_t, std::string> fetches(const std::string& response) {
  std::map<uint32_t, std::string> out;
  for (const auto& line : response_lines(response)) {
    static const std::regex kFetch(R"(^\* (\d+) FETCH )");
    std::smatch m;
    if (std::regex_search(line, m, kFetch)) out[std::stoul(m[1])] = line;
  }
  return out;
}

std::string golden(const std::string& name) {
  std::string s = corpus_message(name);
  while (!s.empty() && (s.back() == '\n' || s.back() == '\r')) s.pop_back();
  return s;
}

class Fetch : public ::testing::Test {
 protected:
  SessionHarness h;
  void SetUp() override { h.login(); }
};

TEST_F(Fetch, ViewItemsNeedNoStore) {
  h.add_message(msg(1), "INBOX", {"\\Seen", "$Work"});
  h.add_message(msg(2), "INBOX", {"\\Flagged"});
  h.select();
  EXPECT_EQ(h.run("a FETCH 1:* (UID FLAGS)"),
            "* 1 FETCH (UID 1 FLAGS (\\Seen $Work))\r\n"
            "* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\n"
            "a OK FETCH completed\r\n");
  EXPECT_EQ(h.run("b UID FETCH 2 FLAGS"), "* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\nb OK UID FETCH completed\r\n");
  EXPECT_EQ(h.run("c FETCH 2 MODSEQ"), "* OK [HIGHESTMODSEQ 3] Highest\r\n* 2 FETCH (MODSEQ (3))\r\nc OK FETCH completed\r\n");
}

TEST_F(Fetch, RecordItems) {
  const int64_t date = 1795633200 - 3600;  // 25-Nov-2026 18:00:00 +0000
  const std::string m = corpus_message("02-multipart-alternative.eml");
  h.add_message(m, "INBOX", {}, date, true);
  h.select();
  const std::string r = h.run("a FETCH 1 (INTERNALDATE RFC822.SIZE ENVELOPE SAVEDATE THREADID)");
  EXPECT_EQ(r, "* 1 FETCH (INTERNALDATE \"25-Nov-2026 18:00:00 +0000\" RFC822.SIZE " + std::to_string(m.size()) +
                   " ENVELOPE " + golden("02-multipart-alternative.envelope") +
                   " SAVEDATE \"25-Nov-2026 19:00:00 +0000\" THREADID (" +
                   *mailstore::thread_id_of(mailstore::sort_keys_of(m)) + "))\r\na OK FETCH completed\r\n");
  const std::string id = h.run("b FETCH 1 EMAILID");
  EXPECT_TRUE(std::regex_search(id, std::regex(R"(^\* 1 FETCH \(EMAILID \([A-Za-z0-9_-]+\)\)\r\n)"))) << id;
  EXPECT_EQ(h.run("c FETCH 1 PREVIEW"), "* 1 FETCH (PREVIEW \"Lunch at noon?\")\r\nc OK FETCH completed\r\n");
}

// ENVELOPE and BODYSTRUCTURE of every corpus message through the store equal
// the parser's golden files (the record holds the parsed tree).
TEST_F(Fetch, EnvelopeAndBodystructureOfTheCorpus) {
  std::vector<std::string> names;
  for (const auto& e : std::filesystem::directory_iterator(std::filesystem::path(POSTLINE_MIME_CORPUS)))
    if (e.path().extension() == ".eml") names.push_back(e.path().stem().string());
  std::sort(names.begin(), names.end());
  ASSERT_GT(names.size(), 30u);
  for (const auto& n : names) h.add_message(corpus_message(n + ".eml"), "INBOX", {}, std::nullopt, true);
  h.select();
  const auto got = fetches(h.run("a FETCH 1:* (ENVELOPE BODYSTRUCTURE)"));
  ASSERT_EQ(got.size(), names.size());
  for (size_t i = 0; i < names.size(); ++i) {
    SCOPED_TRACE(names[i]);
    EXPECT_EQ(got.at(i + 1), "* " + std::to_string(i + 1) + " FETCH (ENVELOPE " + golden(names[i] + ".envelope") +
                                 " BODYSTRUCTURE " + golden(names[i] + ".bodystructure") + ")");
  }
  // BODY is BODYSTRUCTURE without the extension data.
  const std::string body = h.run("b FETCH 2 BODY");
  EXPECT_EQ(body.rfind("* 2 FETCH (BODY ((\"text\" \"plain\" (\"charset\" \"utf-8\") NIL NIL \"7bit\" 14 1)", 0), 0u)
      << body;
}

class FetchSections : public Fetch {
 protected:
  std::string alt, nested, forwarded;
  void SetUp() override {
    Fetch::SetUp();
    alt = corpus_message("02-multipart-alternative.eml");
    nested = corpus_message("03-nested-multipart.eml");
    forwarded = corpus_message("04-message-rfc822.eml");
    h.add_message(alt);
    h.add_message(nested);
    h.add_message(forwarded);
    h.select();
  }
  std::string one(const std::string& n, const std::string& item) {
    const std::string r = h.run("s FETCH " + n + " " + item);
    EXPECT_EQ(last_line(r), "s OK FETCH completed");
    return r;
  }
};

TEST_F(FetchSections, WholeMessageHeaderAndText) {
  const size_t split = alt.find("\r\n\r\n") + 4;
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[]"), "BODY[]"), alt);
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[HEADER]"), "BODY[HEADER]"), alt.substr(0, split));
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[TEXT]"), "BODY[TEXT]"), alt.substr(split));
  EXPECT_EQ(literal_after(one("1", "RFC822.HEADER"), "RFC822.HEADER"), alt.substr(0, split));
}

TEST_F(FetchSections, HeaderFieldsAndNot) {
  EXPECT_EQ(one("1", "BODY.PEEK[HEADER.FIELDS (Subject DATE)]"),
            "* 1 FETCH (BODY[HEADER.FIELDS (Subject DATE)] {57}\r\n"
            "Subject: Lunch?\r\nDate: Tue, 1 Jul 2003 10:52:37 +0200\r\n\r\n)\r\ns OK FETCH completed\r\n");
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID In-Reply-To)]"),
                          "BODY[HEADER.FIELDS.NOT (From To Cc Subject Date Message-ID In-Reply-To)]"),
            "MIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"b1\"\r\n\r\n");
  // A field the message does not have: just the blank line.
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[HEADER.FIELDS (X-Nothing)]"), "BODY[HEADER.FIELDS (X-Nothing)]"),
            "\r\n");
}

TEST_F(Fetch, AHeaderTooLargeForTheCacheIsReadFromTheBody) {
  // Over mailstore::kMaxCachedHeader the record holds no header: FETCH finds the
  // body's key itself and cuts the header out of the body.
  const std::string big = "X-Big: " + std::string(70 * 1024, 'h') + "\r\nSubject: big\r\nFrom: a@example.test\r\n\r\nbody\r\n";
  h.add_message(msg(1));
  h.add_message(big);
  h.select();
  const std::string header = big.substr(0, big.find("\r\n\r\n") + 4);
  auto r = fetches(h.run("a FETCH 1:2 (BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[HEADER])"));
  ASSERT_EQ(r.size(), 2u);
  EXPECT_EQ(literal_after(r[2], "BODY[HEADER.FIELDS (SUBJECT)]"), "Subject: big\r\n\r\n");
  EXPECT_EQ(literal_after(r[2], "BODY[HEADER]"), header);
  EXPECT_EQ(literal_after(r[1], "BODY[HEADER.FIELDS (SUBJECT)]"), "Subject: message 1\r\n\r\n");
}

TEST_F(FetchSections, PartsOfMultipartMessages) {
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[1]"), "BODY[1]"), "Lunch at noon?");
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[2]"), "BODY[2]"), "<p>Lunch at <b>noon</b>?</p>");
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[1.MIME]"), "BODY[1.MIME]"),
            "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 7bit\r\n\r\n");
  EXPECT_EQ(literal_after(one("2", "BODY.PEEK[1.1]"), "BODY[1.1]"), "See attached.");
  EXPECT_EQ(literal_after(one("2", "BODY.PEEK[1.2]"), "BODY[1.2]"), "<p>See attached.</p>");
  EXPECT_EQ(literal_after(one("2", "BODY.PEEK[2]"), "BODY[2]"), "JVBERi0xLjQK");
  // An attached message: its header, its text and its own parts.
  const std::string inner = forwarded.substr(forwarded.find("From: orig@"));
  const std::string inner_message = inner.substr(0, inner.find("\r\n--fwd--"));
  EXPECT_EQ(literal_after(one("3", "BODY.PEEK[2]"), "BODY[2]"), inner_message);
  EXPECT_EQ(literal_after(one("3", "BODY.PEEK[2.HEADER]"), "BODY[2.HEADER]"),
            inner_message.substr(0, inner_message.find("\r\n\r\n") + 4));
  EXPECT_EQ(literal_after(one("3", "BODY.PEEK[2.TEXT]"), "BODY[2.TEXT]"),
            inner_message.substr(inner_message.find("\r\n\r\n") + 4));
  EXPECT_EQ(literal_after(one("3", "BODY.PEEK[2.1]"), "BODY[2.1]"), "Plain.");
  EXPECT_EQ(literal_after(one("3", "BODY.PEEK[2.2]"), "BODY[2.2]"), "<b>Html.</b>");
  EXPECT_EQ(literal_after(one("3", "BODY.PEEK[2.HEADER.FIELDS (SUBJECT)]"), "BODY[2.HEADER.FIELDS (SUBJECT)]"),
            "Subject: original\r\n\r\n");
  // A part that does not exist is empty, not an error (RFC 9051 6.4.5).
  EXPECT_EQ(one("1", "BODY.PEEK[7]"), "* 1 FETCH (BODY[7] {0}\r\n)\r\ns OK FETCH completed\r\n");
}

TEST_F(FetchSections, Partials) {
  EXPECT_EQ(one("1", "BODY.PEEK[]<0.4>"), "* 1 FETCH (BODY[]<0> {4}\r\nFrom)\r\ns OK FETCH completed\r\n");
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[]<6.7>"), "BODY[]<6>"), alt.substr(6, 7));
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[1]<6.3>"), "BODY[1]<6>"), "at ");
  EXPECT_EQ(literal_after(one("1", "BODY.PEEK[1]<6>"), "BODY[1]<6>"), "at noon?");  // no length: to the end
  // Past the end: empty.
  EXPECT_EQ(one("1", "BODY.PEEK[]<100000.10>"), "* 1 FETCH (BODY[]<100000> {0}\r\n)\r\ns OK FETCH completed\r\n");
  EXPECT_EQ(literal_after(one("1", "BINARY.PEEK[1]<0.5>"), "BINARY[1]<0>"), "Lunch");
}

TEST_F(FetchSections, BinaryDecodesTransferEncodings) {
  EXPECT_EQ(one("2", "(BINARY.PEEK[2] BINARY.SIZE[2])"),
            "* 2 FETCH (BINARY[2] {9}\r\n%PDF-1.4\n BINARY.SIZE[2] 9)\r\ns OK FETCH completed\r\n");
  EXPECT_EQ(literal_after(one("1", "BINARY.PEEK[1]"), "BINARY[1]"), "Lunch at noon?");
  // Decoded data with NUL goes out as literal8 (RFC 3516 4.2).
  const std::string data("\x00\x01\x02zz", 5);
  h.add_message("Subject: bin\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                "--b\r\nContent-Type: text/plain\r\n\r\nhi\r\n"
                "--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
                "AAECeno=\r\n--b--\r\n");
  h.mark_dirty();
  h.run("n NOOP");
  EXPECT_EQ(one("4", "BINARY.PEEK[2]"), "* 4 FETCH (BINARY[2] ~{5}\r\n" + data + ")\r\ns OK FETCH completed\r\n");
  EXPECT_EQ(one("4", "BINARY.SIZE[2]"), "* 4 FETCH (BINARY.SIZE[2] 5)\r\ns OK FETCH completed\r\n");
}

TEST_F(FetchSections, MacrosAndRfc822Items) {
  const std::string all = one("1", "ALL");
  EXPECT_EQ(all.rfind("* 1 FETCH (FLAGS () INTERNALDATE \"25-Nov-2026 19:00:00 +0000\" RFC822.SIZE " +
                          std::to_string(alt.size()) + " ENVELOPE (",
                      0),
            0u)
      << all;
  EXPECT_EQ(one("1", "FAST"), "* 1 FETCH (FLAGS () INTERNALDATE \"25-Nov-2026 19:00:00 +0000\" RFC822.SIZE " +
                                  std::to_string(alt.size()) + ")\r\ns OK FETCH completed\r\n");
  EXPECT_NE(one("1", "FULL").find(" BODY ((\"text\" \"plain\""), std::string::npos);
  // RFC822 is BODY[] and sets \Seen; RFC822.TEXT likewise.
  const std::string r = one("1", "RFC822");
  EXPECT_EQ(r.rfind("* 1 FETCH (FLAGS (\\Seen) RFC822 {", 0), 0u) << r;
  EXPECT_EQ(literal_after(r, "RFC822"), alt);
}

TEST_F(Fetch, BodyWithoutPeekSetsSeenAndReportsFlags) {
  h.add_message(msg(1));
  h.add_message(msg(2), "INBOX", {"\\Seen"});
  h.select();
  EXPECT_EQ(h.run("a FETCH 1:2 BODY[TEXT]"),
            "* 1 FETCH (FLAGS (\\Seen) BODY[TEXT] {8}\r\nbody 1\r\n)\r\n"
            "* 2 FETCH (BODY[TEXT] {8}\r\nbody 2\r\n)\r\n"  // already \Seen: no FLAGS
            "a OK FETCH completed\r\n");
  EXPECT_EQ(h.store().open(h.user_id(), "INBOX").index->entries.at(0).system, mailstore::kSeen);
  // PEEK does not.
  h.run("b STORE 1 -FLAGS.SILENT (\\Seen)");
  EXPECT_EQ(h.run("c FETCH 1 BODY.PEEK[TEXT]"), "* 1 FETCH (BODY[TEXT] {8}\r\nbody 1\r\n)\r\nc OK FETCH completed\r\n");
  EXPECT_EQ(h.store().open(h.user_id(), "INBOX").index->entries.at(0).system, 0);
}

TEST_F(Fetch, EmptyMailboxAndMissingMessages) {
  h.select();
  EXPECT_EQ(h.run("a FETCH 1:* FLAGS"), "a OK FETCH completed\r\n");  // no data, not BAD
  h.add_message(msg(1));
  h.add_message(msg(2));
  h.mark_dirty();
  h.run("n NOOP");
  EXPECT_EQ(h.run("b FETCH 3 FLAGS"), "b BAD Invalid message sequence number\r\n");
  EXPECT_EQ(h.run("c FETCH 2:4 FLAGS"), "c BAD Invalid message sequence number\r\n");
  EXPECT_EQ(h.run("d UID FETCH 7:9 FLAGS"), "d OK UID FETCH completed\r\n");  // UIDs that do not exist: nothing
  // n:* with n above the highest UID still means the highest (RFC 9051 6.4.8).
  EXPECT_EQ(h.run("e UID FETCH 9:* FLAGS"), "* 2 FETCH (UID 2 FLAGS ())\r\ne OK UID FETCH completed\r\n");
}

// Nothing changes before the whole command is known to be valid: no \Seen,
// no CONDSTORE (and no HIGHESTMODSEQ) for a BAD.
TEST_F(Fetch, BadCommandsChangeNothing) {
  h.add_message(msg(1));
  h.select();
  for (const char* bad : {"a FETCH 1 BODY[] x", "a FETCH 1 (MODSEQ BODY[]", "a FETCH 2 (MODSEQ BODY[])",
                          "a FETCH 1 (BODY[]) (CHANGEDSINCE 9223372036854775808)",
                          "a FETCH 1 (BODY[]) (CHANGEDSINCE 18446744073709551616)",
                          "a FETCH 1 (BODY[]) (CHANGEDSINCE 1 VANISHED)", "a UID FETCH 1 (BODY[]) (VANISHED)",
                          "a UID FETCH 1 (BODY[]) (CHANGEDSINCE 1 VANISHED)",  // QRESYNC not enabled
                          "a FETCH 1 (BODY[] RFC822.FOO)", "a FETCH 0 BODY[]", "a FETCH 1 ()"}) {
    const std::string r = h.run(bad);
    EXPECT_EQ(r.rfind("a BAD ", 0), 0u) << bad << " -> " << r;
    EXPECT_EQ(r.find("HIGHESTMODSEQ"), std::string::npos) << bad;
    EXPECT_FALSE(h.session().condstore) << bad;
    EXPECT_EQ(h.session().selected->system_flags_at(1), 0) << bad;
  }
  EXPECT_EQ(h.store().open(h.user_id(), "INBOX").index->entries.at(0).system, 0);
}

TEST_F(Fetch, ChangedSinceEnablesCondstoreAndFilters) {
  for (int i = 1; i <= 3; ++i) h.add_message(msg(i));  // MODSEQ 2, 3, 4
  h.select();
  // Another session flags message 2 (MODSEQ 5); this one hears of it.
  h.store().store_flags(h.user_id(), h.session().selected->mailbox_id, {2}, mailstore::FlagMode::kAdd,
                        mailstore::flags_from_names({"\\Flagged"}));
  h.mark_dirty();
  EXPECT_EQ(h.run("a NOOP"), "* 2 FETCH (UID 2 FLAGS (\\Flagged))\r\na OK NOOP completed\r\n");
  // RFC 7162 3.1.4.1: the first CONDSTORE-enabling command gets HIGHESTMODSEQ first.
  EXPECT_EQ(h.run("b FETCH 1:* (FLAGS) (CHANGEDSINCE 3)"),
            "* OK [HIGHESTMODSEQ 5] Highest\r\n"
            "* 2 FETCH (FLAGS (\\Flagged) MODSEQ (5))\r\n"
            "* 3 FETCH (FLAGS () MODSEQ (4))\r\n"
            "b OK FETCH completed\r\n");
  EXPECT_TRUE(h.session().condstore);
  EXPECT_EQ(h.run("c UID FETCH 1:* (UID) (CHANGEDSINCE 4)"),
            "* 2 FETCH (UID 2 MODSEQ (5))\r\nc OK UID FETCH completed\r\n");
  EXPECT_EQ(h.run("d FETCH 1:* (FLAGS) (CHANGEDSINCE 9223372036854775807)"), "d OK FETCH completed\r\n");
}

TEST_F(Fetch, VanishedEarlierWithQresync) {
  for (int i = 1; i <= 4; ++i) h.add_message(msg(i));  // MODSEQ 2..5
  h.run("e ENABLE QRESYNC");
  h.select();
  h.run("a STORE 2,3 +FLAGS.SILENT (\\Deleted)");  // 6
  h.run("b EXPUNGE");                              // 7
  h.run("c UID STORE 4 +FLAGS.SILENT (\\Seen)");   // 8
  // RFC 7162 3.2.6: the expunged UIDs in the set, then the changed messages.
  EXPECT_EQ(h.run("d UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5 VANISHED)"),
            "* VANISHED (EARLIER) 2:3\r\n"
            "* 2 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (8))\r\n"
            "d OK UID FETCH completed\r\n");
  EXPECT_EQ(h.run("f UID FETCH 3:4 (FLAGS) (CHANGEDSINCE 5 VANISHED)"),
            "* VANISHED (EARLIER) 3\r\n"
            "* 2 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (8))\r\n"
            "f OK UID FETCH completed\r\n");
}

// EXPUNGE responses wait while a FETCH by sequence number runs; a message
// expunged meanwhile by another session gets no data (and no error).
TEST_F(Fetch, ExpungeIsDeferredDuringFetchBySequenceNumber) {
  for (int i = 1; i <= 3; ++i) h.add_message(msg(i));
  h.select();
  const int64_t id = h.session().selected->mailbox_id;
  h.store().store_flags(h.user_id(), id, {2}, mailstore::FlagMode::kAdd, mailstore::flags_from_names({"\\Deleted"}));
  h.store().expunge(h.user_id(), id, std::nullopt);
  h.mark_dirty();
  EXPECT_EQ(h.run("a FETCH 1:3 BODY.PEEK[TEXT]"),
            "* 1 FETCH (BODY[TEXT] {8}\r\nbody 1\r\n)\r\n"
            "* 3 FETCH (BODY[TEXT] {8}\r\nbody 3\r\n)\r\n"
            "a OK FETCH completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 3u);  // message 2 is still numbered
  EXPECT_EQ(h.run("b FETCH 2 FLAGS"), "* 2 FETCH (FLAGS ())\r\nb OK FETCH completed\r\n");
  // A command that allows expunges reports it.
  EXPECT_EQ(h.run("c NOOP"), "* 2 EXPUNGE\r\nc OK NOOP completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 2u);
  // The post-command sync of a UID FETCH may report expunges too.
  h.store().store_flags(h.user_id(), id, {3}, mailstore::FlagMode::kAdd, mailstore::flags_from_names({"\\Deleted"}));
  h.store().expunge(h.user_id(), id, std::nullopt);
  h.mark_dirty();
  EXPECT_EQ(h.run("d UID FETCH 1 UID"), "* 1 FETCH (UID 1)\r\n* 2 EXPUNGE\r\nd OK UID FETCH completed\r\n");
}

// A FETCH of 1:* answers, message for message, the bytes one FETCH per
// message answers (tests/e2e/test_imap_fetch_bulk.py): more messages than one
// store hop takes and more bytes than one chunk, multipart messages with NUL
// in their decoded parts, plain ones and a few large ones.
constexpr int kBulkCount = 300;
const std::set<int> kBig = {40, 150, 151, 290};

std::string bulk_message(int i) {
  std::string head = "From: Sender " + std::to_string(i) + " <s" + std::to_string(i) + "@remote.test>\r\n" +
                     "To: user@example.test\r\nSubject: bulk message " + std::to_string(i) + "\r\n" +
                     "Date: Wed, 25 Nov 2026 19:00:00 +0000\r\nMessage-ID: <bulk-" + std::to_string(i) +
                     "@remote.test>\r\nMIME-Version: 1.0\r\n";
  const std::string line = "line of message " + std::to_string(i) + " with some words to fill it up a bit more\r\n";
  auto repeat = [&](size_t n) {
    std::string s;
    for (size_t k = 0; k < n; ++k) s += line;
    return s;
  };
  if (kBig.count(i)) return head + "Content-Type: text/plain\r\n\r\n" + repeat(1'500'000 / line.size());
  if (i % 3 == 0) return head + "Content-Type: text/plain\r\n\r\n" + repeat(i % 40 + 1);
  // base64 of (0, 1, 2, i % 256) repeated: every group of three bytes encodes alone.
  std::string data;
  for (int k = 0; k < i % 50 + 1; ++k) data += std::string{'\0', '\1', '\2', static_cast<char>(i % 256)};
  static constexpr char kB64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string b64;
  for (size_t k = 0; k < data.size(); k += 3) {
    uint32_t n = static_cast<uint8_t>(data[k]) << 16;
    if (k + 1 < data.size()) n |= static_cast<uint8_t>(data[k + 1]) << 8;
    if (k + 2 < data.size()) n |= static_cast<uint8_t>(data[k + 2]);
    b64 += kB64[(n >> 18) & 63];
    b64 += kB64[(n >> 12) & 63];
    b64 += k + 1 < data.size() ? kB64[(n >> 6) & 63] : '=';
    b64 += k + 2 < data.size() ? kB64[n & 63] : '=';
    if (b64.size() % 78 == 76) b64 += "\r\n";
  }
  return head + "Content-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n--b1\r\n" +
         "Content-Type: text/plain; charset=utf-8\r\n\r\n" + repeat(i % 7 + 1) +
         "--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n" + b64 +
         "\r\n--b1--\r\n";
}

std::string bulk_data(int i) {
  std::string data;
  for (int k = 0; k < i % 50 + 1; ++k) data += std::string{'\0', '\1', '\2', static_cast<char>(i % 256)};
  return data;
}

TEST_F(Fetch, BulkFetchEqualsSingleFetchesAndTheStoredBytes) {
  std::vector<std::string> msgs;
  for (int i = 1; i <= kBulkCount; ++i) {
    msgs.push_back(bulk_message(i));
    h.add_message(msgs.back());
  }
  h.select();
  const std::string items =
      "(UID FLAGS RFC822.SIZE BODY.PEEK[] BODY.PEEK[]<7.20> BODY.PEEK[1] BODY.PEEK[1]<2.5> BINARY.PEEK[2] "
      "BINARY.SIZE[2] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT] BINARY.PEEK[])";
  const int flushes_before = h.flushes();
  const std::string all = h.run("a FETCH 1:* " + items);
  EXPECT_GT(h.flushes() - flushes_before, 1);  // written in chunks, not as one buffer
  const auto bulk = fetches(all);
  ASSERT_EQ(bulk.size(), static_cast<size_t>(kBulkCount));
  for (int n = 1; n <= kBulkCount; ++n) {
    SCOPED_TRACE(n);
    const std::string& r = bulk.at(n);
    const std::string& src = msgs[n - 1];
    EXPECT_NE(r.find("RFC822.SIZE " + std::to_string(src.size()) + " "), std::string::npos);
    EXPECT_EQ(literal_after(r, "BODY[]"), src);
    EXPECT_EQ(literal_after(r, "BODY[]<7>"), src.substr(7, 20));
    EXPECT_EQ(literal_after(r, "BODY[TEXT]"), src.substr(src.find("\r\n\r\n") + 4));
    EXPECT_EQ(literal_after(r, "BODY[HEADER.FIELDS (SUBJECT)]"), "Subject: bulk message " + std::to_string(n) + "\r\n\r\n");
    if (n % 3 && !kBig.count(n)) {
      const std::string data = bulk_data(n);
      EXPECT_NE(r.find(" BINARY[2] ~{" + std::to_string(data.size()) + "}\r\n"), std::string::npos);
      EXPECT_EQ(literal_after(r, "BINARY[2]"), data);
      EXPECT_NE(r.find("BINARY.SIZE[2] " + std::to_string(data.size())), std::string::npos);
    }
  }
  for (int n = 1; n <= kBulkCount; ++n) {
    if (n % 37 != 1 && !kBig.count(n) && n != kBulkCount) continue;
    const auto single = fetches(h.run("b FETCH " + std::to_string(n) + " " + items));
    ASSERT_EQ(single.size(), 1u);
    EXPECT_EQ(single.at(n), bulk.at(n)) << n;
  }
  const auto sparse = fetches(h.run("c UID FETCH 3,150:152,299 (BODY.PEEK[1])"));
  ASSERT_EQ(sparse.size(), 5u);
  for (const auto& [n, r] : sparse) {
    EXPECT_EQ(r.rfind("* " + std::to_string(n) + " FETCH (UID " + std::to_string(n) + " ", 0), 0u) << r;
    EXPECT_EQ(literal_after(r, "BODY[1]"), literal_after(bulk.at(n), "BODY[1]")) << n;
  }
}

}  // namespace
}  // namespace postline::imap

namespace postline::imap {
namespace {
// RFC 3516 4.3: BINARY of a part whose Content-Transfer-Encoding the server
// cannot decode is NO [UNKNOWN-CTE]; the other messages are still answered,
// and BODY[] of the same part stays as it is.
TEST_F(FetchSections, BinaryOfAnUnknownEncodingIsUnknownCte) {
  h.add_message("Subject: uu\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                "Content-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 f\r\nend\r\n");
  h.mark_dirty();
  h.run("n NOOP");
  EXPECT_EQ(h.run("s FETCH 4 BINARY.PEEK[1]"), "s NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding\r\n");
  EXPECT_EQ(h.run("s FETCH 4 BINARY.SIZE[]"), "s NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding\r\n");
  const std::string r = h.run("s FETCH 1,4 (BINARY.SIZE[1])");
  EXPECT_EQ(r, "* 1 FETCH (BINARY.SIZE[1] 14)\r\ns NO [UNKNOWN-CTE] Unknown Content-Transfer-Encoding\r\n");
  EXPECT_NE(h.run("s FETCH 4 BODY.PEEK[1]").find("begin 644 f"), std::string::npos);
}
}  // namespace
}  // namespace postline::imap

namespace postline::imap {
namespace {
// RFC 8474 THREADID: the same for a message and its replies, NIL for a
// message that names no thread; SEARCH THREADID finds the thread.
TEST(FetchThreadId, RepliesShareTheRootsThreadId) {
  SessionHarness h;
  h.login();
  h.add_message("Message-ID: <root@x>\r\nSubject: a\r\n\r\nx\r\n");
  h.add_message("Message-ID: <r@x>\r\nReferences: <root@x>\r\nSubject: Re: a\r\n\r\ny\r\n");
  h.add_message("Subject: nothing to thread by\r\n\r\nz\r\n");
  h.select();
  const std::string r = h.run("a FETCH 1:3 THREADID");
  const auto first = r.find("* 1 FETCH (THREADID (T"), second = r.find("* 2 FETCH (THREADID (T");
  ASSERT_NE(first, std::string::npos) << r;
  ASSERT_NE(second, std::string::npos) << r;
  const std::string id = r.substr(first + 21, 25);
  EXPECT_EQ(r.substr(second + 21, 25), id);
  EXPECT_NE(r.find("* 3 FETCH (THREADID NIL)"), std::string::npos) << r;
  EXPECT_EQ(h.run("b SEARCH THREADID " + id), "* SEARCH 1 2\r\nb OK SEARCH completed\r\n");
  EXPECT_EQ(h.run("c SEARCH THREADID T0"), "* SEARCH\r\nc OK SEARCH completed\r\n");
}
}  // namespace
}  // namespace postline::imap
