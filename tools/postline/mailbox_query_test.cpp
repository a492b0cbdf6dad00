// The search language of `postline mailbox search|fetch|expunge`: words to
// the mailstore's typed criteria, and every kind of bad input refused with a
// message naming it.
#include "tools/postline/mailbox_query.h"

#include <gtest/gtest.h>

#include "tools/postline/cli_context.h"

namespace postline::cli {
namespace {

using mailstore::SearchCriterion;

SearchCriterion q(std::initializer_list<std::string> words) { return parse_query(std::vector<std::string>(words)); }

// The error text of parsing `words` ("" when it parsed).
std::string error_of(std::initializer_list<std::string> words) {
  try {
    parse_query(std::vector<std::string>(words));
  } catch (const CliError& e) {
    EXPECT_EQ(e.code(), 2) << e.what();
    return e.what();
  }
  return "";
}

TEST(MailboxQuery, TokenizerKeepsQuotedSpacesAndEmptyWords) {
  EXPECT_EQ(tokenize_query("  from alice   subject \"hello world\" "),
            (std::vector<std::string>{"from", "alice", "subject", "hello world"}));
  EXPECT_EQ(tokenize_query("header X-Spam ''"), (std::vector<std::string>{"header", "X-Spam", ""}));
  EXPECT_EQ(tokenize_query(R"(text "say \"hi\"" body it's')"),
            (std::vector<std::string>{"text", "say \"hi\"", "body", "its"}));
  EXPECT_EQ(tokenize_query(R"(text 'a\b')"), (std::vector<std::string>{"text", "a\\b"}));
  EXPECT_TRUE(tokenize_query("   ").empty());
  try {
    tokenize_query("subject \"unfinished");
    FAIL() << "no error";
  } catch (const CliError& e) {
    EXPECT_NE(std::string(e.what()).find("unterminated \" quote at position 9"), std::string::npos) << e.what();
  }
}

TEST(MailboxQuery, OneTermIsItselfAndSeveralAreAnded) {
  EXPECT_EQ(q({"all"}).kind, SearchCriterion::kAll);
  auto seen = q({"SEEN"});
  EXPECT_EQ(seen.kind, SearchCriterion::kSystemFlag);
  EXPECT_EQ(seen.number, mailstore::kSeen);
  auto unseen = q({"unseen"});
  ASSERT_EQ(unseen.kind, SearchCriterion::kNot);
  ASSERT_EQ(unseen.children.size(), 1u);
  EXPECT_EQ(unseen.children[0].kind, SearchCriterion::kSystemFlag);
  EXPECT_EQ(unseen.children[0].number, mailstore::kSeen);

  auto both = q({"from", "Alice@Example.test", "subject", "hello world", "deleted"});
  ASSERT_EQ(both.kind, SearchCriterion::kAnd);
  ASSERT_EQ(both.children.size(), 3u);
  EXPECT_EQ(both.children[0].kind, SearchCriterion::kHeader);
  EXPECT_EQ(both.children[0].field, "FROM");
  EXPECT_EQ(both.children[0].text, "Alice@Example.test");  // the store folds case, not the parser
  EXPECT_EQ(both.children[1].field, "SUBJECT");
  EXPECT_EQ(both.children[1].text, "hello world");
  EXPECT_EQ(both.children[2].number, mailstore::kDeleted);
}

TEST(MailboxQuery, TextHeaderKeywordKeys) {
  auto h = q({"header", "x-spam-flag", ""});
  EXPECT_EQ(h.kind, SearchCriterion::kHeader);
  EXPECT_EQ(h.field, "X-SPAM-FLAG");
  EXPECT_EQ(h.text, "");
  EXPECT_EQ(q({"body", "invoice"}).kind, SearchCriterion::kBody);
  auto t = q({"text", "invoice"});
  EXPECT_EQ(t.kind, SearchCriterion::kText);
  EXPECT_EQ(t.text, "invoice");
  auto k = q({"keyword", "$Label1"});
  EXPECT_EQ(k.kind, SearchCriterion::kKeyword);
  EXPECT_EQ(k.text, "$Label1");
  auto nk = q({"unkeyword", "$Label1"});
  ASSERT_EQ(nk.kind, SearchCriterion::kNot);
  EXPECT_EQ(nk.children[0].kind, SearchCriterion::kKeyword);
}

TEST(MailboxQuery, DatesAreUtcDaysInEitherSpelling) {
  auto b = q({"before", "1970-01-02"});
  EXPECT_EQ(b.kind, SearchCriterion::kBefore);
  EXPECT_EQ(b.number, 1);
  EXPECT_EQ(q({"since", "2026-01-31"}).number, 20484);
  EXPECT_EQ(q({"on", "31-Jan-2026"}).number, 20484);
  EXPECT_EQ(q({"on", "1-jan-1970"}).number, 0);
  EXPECT_EQ(q({"sentbefore", "2000-03-01"}).kind, SearchCriterion::kSentBefore);
  EXPECT_EQ(q({"senton", "2000-02-29"}).kind, SearchCriterion::kSentOn);  // a leap day
  EXPECT_EQ(q({"sentsince", "2000-02-29"}).kind, SearchCriterion::kSentSince);
  EXPECT_EQ(parse_query_date("2000-03-01") - parse_query_date("2000-02-28"), 2);
}

TEST(MailboxQuery, SizesAgesUidsModseq) {
  auto l = q({"larger", "10K"});
  EXPECT_EQ(l.kind, SearchCriterion::kLarger);
  EXPECT_EQ(l.number, 10240);
  EXPECT_EQ(q({"smaller", "5000"}).number, 5000);
  EXPECT_EQ(q({"smaller", "2MiB"}).number, 2 << 20);
  auto o = q({"older", "7d"});
  EXPECT_EQ(o.kind, SearchCriterion::kOlder);
  EXPECT_EQ(o.number, 7 * 86400);
  EXPECT_EQ(q({"younger", "90"}).number, 90);
  EXPECT_EQ(q({"younger", "30M"}).number, 1800);
  EXPECT_EQ(q({"older", "2w"}).number, 14 * 86400);
  auto u = q({"uid", "1:5,7,10:*"});
  EXPECT_EQ(u.kind, SearchCriterion::kUids);
  EXPECT_EQ(u.uid_ranges, (std::vector<std::pair<mailstore::Uid, mailstore::Uid>>{
                              {1, 5}, {7, 7}, {10, 4294967295u}}));
  EXPECT_EQ(parse_uid_set("9:3"), (std::vector<std::pair<mailstore::Uid, mailstore::Uid>>{{3, 9}}));
  auto m = q({"modseq", "42"});
  EXPECT_EQ(m.kind, SearchCriterion::kModseq);
  EXPECT_EQ(m.number, 42);
}

TEST(MailboxQuery, NotAndOrTakeWholeTerms) {
  auto n = q({"not", "from", "bob"});
  ASSERT_EQ(n.kind, SearchCriterion::kNot);
  ASSERT_EQ(n.children.size(), 1u);
  EXPECT_EQ(n.children[0].field, "FROM");
  EXPECT_EQ(n.children[0].text, "bob");
  auto o = q({"or", "from", "bob", "not", "seen", "larger", "1"});
  ASSERT_EQ(o.kind, SearchCriterion::kAnd);
  ASSERT_EQ(o.children.size(), 2u);
  const auto& either = o.children[0];
  ASSERT_EQ(either.kind, SearchCriterion::kOr);
  ASSERT_EQ(either.children.size(), 2u);
  EXPECT_EQ(either.children[0].kind, SearchCriterion::kHeader);
  EXPECT_EQ(either.children[1].kind, SearchCriterion::kNot);
  EXPECT_EQ(o.children[1].kind, SearchCriterion::kLarger);
}

TEST(MailboxQuery, BadInputIsNamed) {
  auto has = [](const std::string& error, const std::string& part) {
    EXPECT_NE(error.find(part), std::string::npos) << "'" << error << "' lacks '" << part << "'";
  };
  has(error_of({}), "empty (say 'all'");
  has(error_of({"frm", "alice"}), "unknown word 'frm'");
  has(error_of({"seen", "Frobnicate"}), "unknown word 'Frobnicate'");
  has(error_of({"from"}), "'from' needs a text");
  has(error_of({"header", "X-Foo"}), "'header' needs a text after the field name");
  has(error_of({"header", "X Foo", "a"}), "'X Foo' is not a header field name");
  has(error_of({"before", "yesterday"}), "'yesterday' is not a date");
  has(error_of({"before", "2026-02-30"}), "'2026-02-30' is not a date");
  has(error_of({"since", "31-Foo-2026"}), "'31-Foo-2026' is not a date");
  has(error_of({"since"}), "'since' needs a date");
  has(error_of({"larger", "big"}), "expected a size");
  has(error_of({"larger", "10X"}), "unknown size unit 'X'");
  has(error_of({"older", "7y"}), "unknown unit 'y'");
  has(error_of({"older", "0"}), "at least one second");
  has(error_of({"uid", "1:x"}), "'x' in '1:x' is not a UID");
  has(error_of({"uid", "0"}), "out of range");
  has(error_of({"uid", "1,,2"}), "empty element");
  has(error_of({"uid", "99999999999"}), "not a UID");
  has(error_of({"modseq", "-1"}), "'modseq' needs a number");
  has(error_of({"not"}), "'not' needs a term");
  has(error_of({"or", "seen"}), "'or' needs two terms");
  has(error_of({"keyword", "two words"}), "is not a keyword");
}

}  // namespace
}  // namespace postline::cli
