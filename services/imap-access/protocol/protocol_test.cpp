#include "services/imap-access/protocol/encoder.h"
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/mailbox_name.h"
#include "services/imap-access/protocol/search_keys.h"
#include "services/imap-access/protocol/selected.h"
#include "services/imap-access/protocol/reader.h"
#include "services/imap-access/protocol/receiver.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <gtest/gtest.h>

using namespace postline::imap;

namespace {
namespace mailstore = postline::mailstore;

// Feeds `input` split at `cut` and collects events (a continuation request is
// recorded as "+").
std::vector<std::string> run(Receiver& r, std::string_view input, size_t cut) {
  std::vector<std::string> out;
  auto drain = [&] {
    for (;;) {
      auto e = r.next();
      if (e.kind == Receiver::Kind::kNeedMore) return;
      if (e.kind == Receiver::Kind::kCommand) out.push_back(e.text);
      else if (e.kind == Receiver::Kind::kContinue) out.push_back("+");
      else if (e.kind == Receiver::Kind::kLineTooLong) out.push_back("TOOLONG:" + e.text);
      else if (e.kind == Receiver::Kind::kLiteralTooBig) out.push_back("TOOBIG:" + e.text);
      else out.push_back("FATAL:" + e.text);
    }
  };
  r.feed(input.substr(0, cut));
  drain();
  r.feed(input.substr(cut));
  drain();
  return out;
}

TEST(Receiver, SimpleLines) {
  Receiver r;
  auto ev = run(r, "a1 NOOP\r\na2 CAPABILITY\r\n", 0);
  EXPECT_EQ(ev, (std::vector<std::string>{"a1 NOOP", "a2 CAPABILITY"}));
}

TEST(Receiver, TakeBufferedHandsOverWhatFollowsTheCommand) {
  // COMPRESS (RFC 4978): bytes after the command's CRLF are the compressed
  // stream's start; they leave the receiver unparsed and it starts afresh.
  Receiver r;
  r.feed(std::string("a1 COMPRESS DEFLATE\r\n\x2a\xca\x00\r\na2", 28));
  auto ev = r.next();
  ASSERT_EQ(ev.kind, Receiver::Kind::kCommand);
  EXPECT_EQ(ev.text, "a1 COMPRESS DEFLATE");
  EXPECT_EQ(r.take_buffered(), std::string("\x2a\xca\x00\r\na2", 7));
  EXPECT_EQ(r.buffered(), 0u);
  EXPECT_EQ(r.next().kind, Receiver::Kind::kNeedMore);
  EXPECT_EQ(r.take_buffered(), "");
  EXPECT_EQ(run(r, "a3 NOOP\r\n", 0), (std::vector<std::string>{"a3 NOOP"}));
}

TEST(Receiver, LiteralsSplitAtEveryByte) {
  const std::string input = "a1 LOGIN {5}\r\nal\r\ne {3+}\r\n\"x\"\r\na2 NOOP\r\n";
  for (size_t cut = 0; cut <= input.size(); ++cut) {
    Receiver r;
    auto ev = run(r, input, cut);
    ASSERT_EQ(ev.size(), 3u) << cut;
    EXPECT_EQ(ev[0], "+");
    EXPECT_EQ(ev[1], "a1 LOGIN {5}\r\nal\r\ne {3+}\r\n\"x\"");
    EXPECT_EQ(ev[2], "a2 NOOP");
  }
}

// imap.max_inflight_literals: literal bytes all connections buffer at once,
// charged as they arrive (announcing a literal and sending nothing holds none).
TEST(Receiver, SharedLiteralBudgetRefusesForNowAndIsReturnedWhenTheCommandIsDone) {
  postline::net::ByteBudget budget(1000);
  ReceiverLimits limits;
  limits.budget = &budget;
  Receiver holder(limits), other(limits);
  holder.feed("h APPEND INBOX {900}\r\n");
  EXPECT_EQ(holder.next().kind, Receiver::Kind::kContinue);
  EXPECT_LT(budget.used(), 100u);  // announced, not yet sent
  holder.feed(std::string(880, 'x'));
  EXPECT_EQ(holder.next().kind, Receiver::Kind::kNeedMore);
  EXPECT_GE(budget.used(), 880u);

  other.feed("o APPEND INBOX {200}\r\n");  // synchronising: refused before any byte is sent
  auto e = other.next();
  EXPECT_EQ(e.kind, Receiver::Kind::kBusy);
  EXPECT_EQ(e.text, "o");
  // LITERAL+: the bytes come anyway; they are read and dropped, then the command is refused.
  other.feed("o2 APPEND INBOX {200+}\r\n" + std::string(200, 'y') + "\r\no3 NOOP\r\n");
  e = other.next();
  EXPECT_EQ(e.kind, Receiver::Kind::kBusy);
  EXPECT_EQ(e.text, "o2");
  e = other.next();
  EXPECT_EQ(e.kind, Receiver::Kind::kCommand);  // the connection stays in step
  EXPECT_EQ(e.text, "o3 NOOP");

  holder.feed(std::string(20, 'x') + "\r\n");
  EXPECT_EQ(holder.next().kind, Receiver::Kind::kCommand);
  EXPECT_GE(budget.used(), 900u);  // still held while the command is handled
  holder.command_done();
  EXPECT_EQ(budget.used(), 0u);

  // Filling up while a literal arrives: the rest is dropped, the command refused.
  Receiver a(limits), b(limits);
  a.feed("a APPEND INBOX {600}\r\n");
  b.feed("b APPEND INBOX {600}\r\n");
  EXPECT_EQ(a.next().kind, Receiver::Kind::kContinue);
  EXPECT_EQ(b.next().kind, Receiver::Kind::kContinue);  // both fitted when announced
  a.feed(std::string(600, 'a') + "\r\n");
  b.feed(std::string(600, 'b') + "\r\n");
  EXPECT_EQ(a.next().kind, Receiver::Kind::kCommand);
  e = b.next();
  EXPECT_EQ(e.kind, Receiver::Kind::kBusy);
  EXPECT_EQ(e.text, "b");
  a.reset();  // STARTTLS/teardown also returns the share
  EXPECT_EQ(budget.used(), 0u);
}

TEST(Receiver, ByteByByte) {
  const std::string input = "t APPEND INBOX {4}\r\nab\r\n\r\nt2 NOOP\r\n";
  Receiver r;
  std::vector<std::string> out;
  for (char c : input) {
    r.feed(std::string_view(&c, 1));
    for (auto e = r.next(); e.kind != Receiver::Kind::kNeedMore; e = r.next())
      out.push_back(e.kind == Receiver::Kind::kContinue ? "+" : e.text);
  }
  EXPECT_EQ(out, (std::vector<std::string>{"+", "t APPEND INBOX {4}\r\nab\r\n", "t2 NOOP"}));
}

TEST(Receiver, BareLfAccepted) {
  Receiver r;
  EXPECT_EQ(run(r, "a NOOP\n", 3), std::vector<std::string>{"a NOOP"});
}

TEST(Receiver, OverlongLineIsDiscardedWithTag) {
  Receiver r({.max_line = 20, .max_literal = 100});
  std::string input = "abc NOOP " + std::string(50, 'x') + "\r\nd NOOP\r\n";
  for (size_t cut : {size_t{0}, size_t{5}, size_t{30}, input.size()}) {
    Receiver rr({.max_line = 20, .max_literal = 100});
    auto ev = run(rr, input, cut);
    ASSERT_EQ(ev.size(), 2u) << cut;
    EXPECT_EQ(ev[0], "TOOLONG:abc");
    EXPECT_EQ(ev[1], "d NOOP");
  }
}

TEST(Receiver, LiteralLimits) {
  Receiver r({.max_line = 100, .max_literal = 10});
  EXPECT_EQ(run(r, "a APPEND x {11}\r\nb NOOP\r\n", 0), (std::vector<std::string>{"TOOBIG:a", "b NOOP"}));
  Receiver r2({.max_line = 100, .max_literal = 10});
  EXPECT_EQ(run(r2, "a APPEND x {11+}\r\n", 0), (std::vector<std::string>{"FATAL:a"}));
  Receiver r3({.max_line = 100, .max_literal = 10});
  EXPECT_EQ(run(r3, "a X {99999999999999999999999}\r\n", 0), (std::vector<std::string>{"TOOBIG:a"}));
}

// Before login (imap.max_unauthenticated_command) a whole command, line and
// literals together, is bounded: many small literals add up as one big one.
TEST(Receiver, CommandLimitCountsEveryLiteralOfOneCommand) {
  Receiver r({.max_line = 1000, .max_literal = 1000, .max_command = 40});
  EXPECT_EQ(run(r, "a LOGIN {5}\r\nalice {5}\r\nsecre\r\n", 0), (std::vector<std::string>{"+", "+", "a LOGIN {5}\r\nalice {5}\r\nsecre"}));
  Receiver r2({.max_line = 1000, .max_literal = 1000, .max_command = 40});
  EXPECT_EQ(run(r2, "a LOGIN {20}\r\n01234567890123456789 {20}\r\nb NOOP\r\n", 0),
            (std::vector<std::string>{"+", "TOOBIG:a", "b NOOP"}));
  Receiver r3({.max_line = 1000, .max_literal = 1000, .max_command = 40});
  EXPECT_EQ(run(r3, "a LOGIN {20+}\r\n01234567890123456789 {20+}\r\n", 0), (std::vector<std::string>{"FATAL:a"}));
  // After login the limits change for the next command.
  Receiver r4({.max_line = 1000, .max_literal = 1000, .max_command = 10});
  EXPECT_EQ(run(r4, "a X {20}\r\n", 0), (std::vector<std::string>{"TOOBIG:a"}));
  r4.set_limits({.max_line = 1000, .max_literal = 1000, .max_command = 0});
  EXPECT_EQ(run(r4, "b X {20}\r\n", 0), (std::vector<std::string>{"+"}));
}

TEST(Receiver, ResetDropsBufferedBytes) {
  Receiver r;
  r.feed("a STARTTLS\r\nb NOOP\r\n");
  EXPECT_EQ(r.next().text, "a STARTTLS");
  r.reset();
  EXPECT_EQ(r.next().kind, Receiver::Kind::kNeedMore);
}

TEST(Reader, Strings) {
  Reader r("tag LOGIN \"a\\\"b\\\\\" {3}\r\nxyz atom NIL");
  EXPECT_EQ(r.tag(), "tag");
  r.sp();
  EXPECT_EQ(to_upper(r.atom()), "LOGIN");
  r.sp();
  EXPECT_EQ(r.astring(), "a\"b\\");
  r.sp();
  EXPECT_EQ(r.astring(), "xyz");
  r.sp();
  EXPECT_EQ(r.astring(), "atom");
  r.sp();
  EXPECT_EQ(r.nstring(), std::nullopt);
  r.end();
}

TEST(Reader, Errors) {
  EXPECT_THROW(Reader("\"abc").quoted(), SyntaxError);
  EXPECT_THROW(Reader("\"a\\x\"").quoted(), SyntaxError);
  EXPECT_THROW(Reader("{5}\r\nab").literal(), SyntaxError);
  EXPECT_THROW(Reader("99999999999").number(), SyntaxError);
  EXPECT_THROW(Reader("").sp(), SyntaxError);
  EXPECT_THROW(Reader("+tag").tag(), SyntaxError);
}

TEST(Reader, FlagList) {
  Reader r("(\\Seen $Junk \\Deleted)");
  EXPECT_EQ(r.flag_list(), (std::vector<std::string>{"\\Seen", "$Junk", "\\Deleted"}));
  Reader e("()");
  EXPECT_TRUE(e.flag_list().empty());
}

TEST(Encoder, Strings) {
  EXPECT_EQ(astring("INBOX"), "INBOX");
  EXPECT_EQ(astring("a b"), "\"a b\"");
  EXPECT_EQ(astring(""), "\"\"");
  EXPECT_EQ(astring("NIL"), "\"NIL\"");
  EXPECT_EQ(quoted_or_literal("say \"hi\" \\"), "\"say \\\"hi\\\" \\\\\"");
  EXPECT_EQ(quoted_or_literal("a\r\nb"), "{4}\r\na\r\nb");
  EXPECT_EQ(literal(""), "{0}\r\n");
  {
    std::string out = "* 1 FETCH (BODY[] ";
    append_literal(out, "a\r\nb");
    EXPECT_EQ(out, "* 1 FETCH (BODY[] {4}\r\na\r\nb");
    out = "x ";
    append_literal(out, std::string_view("a\0b", 3), true);
    EXPECT_EQ(out, std::string("x ~{3}\r\na\0b", 11));
    std::string big(100000, 'z');
    out.clear();
    append_literal(out, big);
    EXPECT_EQ(out, "{100000}\r\n" + big);
  }
  EXPECT_EQ(quoted_or_literal("caf\xC3\xA9"), "{5}\r\ncaf\xC3\xA9");
  EXPECT_EQ(nstring(std::nullopt), "NIL");
  EXPECT_EQ(flag_list({"\\Seen", "x"}), "(\\Seen x)");
  EXPECT_EQ(tagged("a1", Status::kNo, "AUTHENTICATIONFAILED", "nope"), "a1 NO [AUTHENTICATIONFAILED] nope\r\n");
}

TEST(Encoder, DateTime) {
  EXPECT_EQ(imap_datetime(0), "01-Jan-1970 00:00:00 +0000");
  EXPECT_EQ(parse_imap_datetime("01-Jan-1970 01:00:00 +0100"), 0);
  EXPECT_EQ(parse_imap_datetime(" 1-Jan-1970 00:00:10 -0000"), 10);
  EXPECT_EQ(parse_imap_datetime("32-Jan-1970 00:00:00 +0000"), std::nullopt);
  EXPECT_EQ(parse_imap_datetime("01-Foo-1970 00:00:00 +0000"), std::nullopt);
}

TEST(SequenceSet, ParseAndResolve) {
  auto s = SequenceSet::parse("1:3,5,7:*");
  ASSERT_TRUE(s);
  EXPECT_TRUE(s->contains(2, 10));
  EXPECT_FALSE(s->contains(4, 10));
  EXPECT_TRUE(s->contains(10, 10));
  auto r = SequenceSet::parse("*:4")->resolve(2);
  EXPECT_EQ(r[0], std::make_pair(2u, 4u));
  EXPECT_FALSE(SequenceSet::parse("0"));
  EXPECT_FALSE(SequenceSet::parse("1:"));
  EXPECT_FALSE(SequenceSet::parse("1,,2"));
  EXPECT_FALSE(SequenceSet::parse("4294967296"));
  EXPECT_EQ(SequenceSet::format({1, 2, 3, 5, 7, 8}), "1:3,5,7:8");
}

TEST(Fetch, Attributes) {
  Reader r("(UID BODY.PEEK[HEADER.FIELDS (Subject \"X-A\")]<0.10> BODY[] RFC822.SIZE BINARY[1.2] BODY)");
  auto req = parse_fetch(r);
  ASSERT_EQ(req.items.size(), 6u);
  EXPECT_EQ(req.items[1].kind, FetchItem::kSection);
  EXPECT_TRUE(req.items[1].peek);
  EXPECT_EQ(req.items[1].section, "HEADER.FIELDS (Subject \"X-A\")");
  EXPECT_EQ(req.items[1].name, "BODY[HEADER.FIELDS (Subject \"X-A\")]");
  EXPECT_EQ(req.items[1].origin, 0u);
  EXPECT_EQ(req.items[1].length, 10u);
  EXPECT_EQ(req.items[2].section, "");
  EXPECT_FALSE(req.items[2].peek);
  EXPECT_EQ(req.items[4].kind, FetchItem::kBinary);
  EXPECT_EQ(req.items[5].kind, FetchItem::kBody);
}

TEST(Fetch, MacrosAndModifiers) {
  Reader r("FAST (CHANGEDSINCE 12)");
  auto req = parse_fetch(r);
  EXPECT_EQ(req.items.size(), 3u);
  EXPECT_EQ(req.changed_since, 12);
  Reader bad("(BODY[1)");
  EXPECT_THROW(parse_fetch(bad), SyntaxError);
  Reader unknown("(FOO)");
  EXPECT_THROW(parse_fetch(unknown), SyntaxError);
}

TEST(MailboxName, ModifiedUtf7RoundTrip) {
  EXPECT_EQ(mutf7_encode("Entw\xC3\xBCrfe"), "Entw&APw-rfe");
  EXPECT_EQ(mutf7_decode("Entw&APw-rfe"), "Entw\xC3\xBCrfe");
  EXPECT_EQ(mutf7_encode("A&B"), "A&-B");
  EXPECT_EQ(mutf7_decode("A&-B"), "A&B");
  EXPECT_EQ(mutf7_decode("&ZeVnLIqe-"), "\xE6\x97\xA5\xE6\x9C\xAC\xE8\xAA\x9E");
  EXPECT_EQ(mutf7_decode("&Jjo!"), std::nullopt);
  EXPECT_EQ(mutf7_decode("\xC3\xBC"), std::nullopt);
}

TEST(MailboxName, ListMatch) {
  EXPECT_TRUE(list_match("*", "a/b/c"));
  EXPECT_TRUE(list_match("%", "INBOX"));
  EXPECT_FALSE(list_match("%", "a/b"));
  EXPECT_TRUE(list_match("a/%", "a/b"));
  EXPECT_FALSE(list_match("a/%", "a/b/c"));
  EXPECT_TRUE(list_match("a*c", "a/b/c"));
  EXPECT_FALSE(list_match("Sent", "Sentx"));
  // '*' and '%' together (found by imap_items_fuzz): '*' takes "a/", '%' takes "b".
  EXPECT_TRUE(list_match("*%", "a/b"));
  EXPECT_TRUE(list_match("*/%", "a/b/c"));
  EXPECT_TRUE(list_match("%/*%", "a/b/c"));
  EXPECT_FALSE(list_match("%%", "a/b"));
  EXPECT_FALSE(list_match("*%x", "a/b"));
}

TEST(Search, Keys) {
  Reader r(" RETURN (MIN COUNT) CHARSET UTF-8 OR SUBJECT \"hi there\" NOT SEEN (1:3 UID 5:*) SINCE 1-Feb-1994");
  auto req = parse_search(r);
  EXPECT_TRUE(req.esearch);
  EXPECT_TRUE(req.ret_min && req.ret_count && !req.ret_all);
  EXPECT_EQ(req.charset, "UTF-8");
  ASSERT_EQ(req.key.children.size(), 3u);
  EXPECT_EQ(req.key.children[0].kind, SearchKey::kOr);
  EXPECT_EQ(req.key.children[0].children[0].text, "hi there");
  EXPECT_EQ(req.key.children[1].kind, SearchKey::kAnd);
  EXPECT_EQ(req.key.children[2].number, parse_search_date("1-Feb-1994"));
  Reader bad(" FROBNICATE");
  EXPECT_THROW(parse_search(bad), SyntaxError);
  std::string deep = " ";
  for (int i = 0; i < 100; ++i) deep += "NOT ";
  deep += "ALL";
  Reader d(deep);
  EXPECT_THROW(parse_search(d), SyntaxError);
}

mailstore::MailboxIndex index_of(std::initializer_list<uint32_t> uids) {
  mailstore::MailboxIndex index;
  index.info.highestmodseq = 1;
  for (uint32_t u : uids) index.entries.push_back({u, 0, 1, 0});
  return index;
}

TEST(Selected, UpdatesAndExpungeDeferral) {
  SelectedMailbox sel;
  sel.load(index_of({1, 2, 3}));
  SelectedMailbox::Options no_expunge;
  no_expunge.allow_expunge = false;
  std::string out = sel.apply({{2, {mailstore::kSeen, {}}, 2}, {4, {}, 3}}, {1}, 3, 5, no_expunge);
  EXPECT_EQ(out, "* 2 FETCH (UID 2 FLAGS (\\Seen))\r\n* 4 EXISTS\r\n");
  EXPECT_EQ(sel.exists(), 4u);
  EXPECT_TRUE(sel.is_pending_expunge(1));
  EXPECT_EQ(sel.flush_expunges({}), "* 1 EXPUNGE\r\n");
  EXPECT_EQ(sel.exists(), 3u);
  EXPECT_EQ(sel.msn_of(4), 3u);
  EXPECT_EQ(sel.highestmodseq, 3);
}

TEST(Selected, ExpungesOfManyMessagesCarryTheNumbersTheClientSees) {
  SelectedMailbox sel;
  sel.load(index_of({10, 20, 30, 40, 50}));
  // Removing 20 and 40: "2 EXPUNGE" first, then 40 has become number 3.
  EXPECT_EQ(sel.apply({}, {20, 40}, 2, 51, {}), "* 2 EXPUNGE\r\n* 3 EXPUNGE\r\n");
  EXPECT_EQ(sel.exists(), 3u);
  EXPECT_EQ(sel.uid_at(3), 50u);
  SelectedMailbox::Options qresync;
  qresync.qresync = true;
  EXPECT_EQ(sel.apply({}, {10, 50}, 3, 51, qresync), "* VANISHED 10,50\r\n");
  EXPECT_EQ(sel.exists(), 1u);
}

TEST(Selected, ANewKeywordIsAnnouncedInFlagsBeforeTheFetchThatShowsIt) {
  SelectedMailbox sel;
  sel.load(index_of({1, 2}));
  EXPECT_NE(sel.flags_responses().find("* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)"), std::string::npos);
  std::string out = sel.apply({{2, {0, {"$Work"}}, 2}}, {}, 2, 3, {});
  const auto flags = out.find("* FLAGS (");
  const auto perm = out.find("* OK [PERMANENTFLAGS (");
  const auto fetch = out.find("* 2 FETCH (UID 2 FLAGS ($Work))");
  ASSERT_NE(flags, std::string::npos) << out;
  ASSERT_NE(perm, std::string::npos) << out;
  ASSERT_NE(fetch, std::string::npos) << out;
  EXPECT_LT(flags, fetch);
  EXPECT_NE(out.find("$Work"), flags);
  // Known now: the same keyword on another message is not announced again.
  EXPECT_EQ(sel.apply({{1, {0, {"$Work"}}, 3}}, {}, 3, 3, {}), "* 1 FETCH (UID 1 FLAGS ($Work))\r\n");
}

TEST(Selected, SharesTheSnapshotUntilItMustChange) {
  auto snapshot = std::make_shared<mailstore::MailboxIndex>(index_of({1, 2, 3}));
  SelectedMailbox a, b;
  a.load(snapshot);
  b.load(snapshot);
  EXPECT_TRUE(a.shares_snapshot());
  EXPECT_EQ(a.apply({}, {}, 1, 4, {}), "");  // nothing changed: still shared
  EXPECT_TRUE(a.shares_snapshot());
  a.set_flags(2, {mailstore::kSeen, {"$Work"}}, 2);
  EXPECT_FALSE(a.shares_snapshot());
  EXPECT_EQ(a.flag_list_at(2), "(\\Seen $Work)");
  // The other session and the snapshot are untouched.
  EXPECT_TRUE(b.shares_snapshot());
  EXPECT_EQ(b.flag_list_at(2), "()");
  EXPECT_EQ(snapshot->entries[1].system, 0);
  EXPECT_EQ(b.apply({}, {3}, 2, 4, {}), "* 3 EXPUNGE\r\n");
  EXPECT_EQ(b.exists(), 2u);
  EXPECT_EQ(snapshot->entries.size(), 3u);
}

TEST(Selected, OurOwnWriteMovesHighestModseqOnlyWithoutAGap) {
  SelectedMailbox sel;
  sel.load(index_of({1, 2}));  // HIGHESTMODSEQ 1
  sel.set_flags(1, {mailstore::kSeen, {}}, 2);
  EXPECT_EQ(sel.highestmodseq, 2);  // nothing can lie between 1 and our 2
  sel.set_flags(2, {mailstore::kSeen, {}}, 5);
  EXPECT_EQ(sel.highestmodseq, 2);  // 3 and 4 were someone else's: the resync must ask for them
  EXPECT_EQ(sel.modseq_at(2), 5);
}

TEST(Selected, OurOwnStoreIsNotReportedAgainByTheResync) {
  SelectedMailbox sel;
  sel.load(index_of({1}));
  sel.set_flags(1, {mailstore::kFlagged, {}}, 7);  // what STORE answered already
  SelectedMailbox::Options condstore;
  condstore.modseq_in_fetch = true;
  EXPECT_EQ(sel.apply({{1, {mailstore::kFlagged, {}}, 7}}, {}, 7, 2, condstore), "");
  // A later change by someone else is.
  EXPECT_EQ(sel.apply({{1, {mailstore::kFlagged, {}}, 8}}, {}, 8, 2, condstore),
            "* 1 FETCH (UID 1 FLAGS (\\Flagged) MODSEQ (8))\r\n");
}

}  // namespace
