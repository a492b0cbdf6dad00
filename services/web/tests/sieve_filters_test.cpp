// The filters page's data (portal/sieve_filters.h) and the page itself with a
// scripted backend: the script it writes compiles with common/sieve and does
// what the page says, the settings come back from the script, bad input is
// refused with a reason.
#include "common/sieve/memory.h"
#include "common/sieve/sieve.h"
#include "services/web/portal/portal.h"
#include "services/web/portal/sieve_filters.h"

#include <gtest/gtest.h>

using namespace postline::web::portal;
namespace sieve = postline::sieve;

namespace {

PortalFilters sample() {
  PortalFilters f;
  f.vacation.enabled = true;
  f.vacation.days = 3;
  f.vacation.subject = "Away \"until\" Monday \\ really";
  f.vacation.body = "I am away.\nBack on Monday.\r\n";
  FilterRule boss;
  boss.field = FilterRule::Field::kFrom;
  boss.value = "boss@example.org";
  boss.folder = "Work/Boss";
  FilterRule list;
  list.field = FilterRule::Field::kSubject;
  list.match = FilterRule::Match::kIs;
  list.value = "[list] digest";
  list.action = FilterRule::Action::kDiscard;
  f.rules = {boss, list};
  return f;
}

std::string actions_for(const std::string& script, const std::string& from, const std::string& subject) {
  auto compiled = sieve::compile(script);
  EXPECT_TRUE(compiled.errors.empty()) << (compiled.errors.empty() ? "" : compiled.errors[0].text()) << "\n" << script;
  if (!compiled.script) return "";
  const sieve::MemoryMessage msg("From: " + from + "\r\nTo: anna@example.org\r\nSubject: " + subject +
                                 "\r\nMessage-ID: <m1@example.org>\r\n\r\nhello\r\n");
  sieve::RunContext ctx;
  ctx.envelope.from = from;
  ctx.envelope.to = "anna@example.org";
  ctx.user = "anna@example.org";
  return sieve::describe(sieve::run(*compiled.script, msg, ctx));
}

}  // namespace

TEST(PortalFilters, TheScriptCompilesDoesWhatThePageSaysAndReadsBack) {
  const PortalFilters f = sample();
  const std::string script = filters_to_script(f);
  const std::string boss = actions_for(script, "boss@example.org", "plans");
  EXPECT_NE(boss.find("store Work/Boss create\n"), std::string::npos) << boss;
  EXPECT_EQ(boss.find("store INBOX"), std::string::npos) << boss;
  EXPECT_NE(boss.find("vacation seconds=259200 subject=Away \"until\" Monday \\ really"), std::string::npos) << boss;
  const std::string digest = actions_for(script, "list@example.net", "[list] digest");
  EXPECT_NE(digest.find("discard"), std::string::npos) << digest;
  EXPECT_EQ(digest.find("store"), std::string::npos) << digest;
  const std::string other = actions_for(script, "friend@example.net", "[list] digest, again");  // :is, not :contains
  EXPECT_NE(other.find("store INBOX"), std::string::npos) << other;
  // The settings come back exactly (line ends of the body as typed are not kept in the
  // reply, which is CRLF, but the settings line keeps them).
  auto back = filters_from_script(script);
  ASSERT_TRUE(back.has_value());
  EXPECT_EQ(filters_to_fields(*back), filters_to_fields(f));
  // A script the portal did not write gives nothing to show.
  EXPECT_FALSE(filters_from_script("require \"fileinto\";\r\nfileinto \"X\";\r\n").has_value());
  EXPECT_FALSE(filters_from_script("# a comment\r\nkeep;\r\n# postline-portal-filters: vacation=on\r\n").has_value());
  // Nothing set: a script that keeps everything.
  const std::string none = filters_to_script(PortalFilters{});
  EXPECT_EQ(actions_for(none, "a@example.org", "x"), "store INBOX\n");
}

TEST(PortalFilters, QuotingSurvivesQuotesBackslashesAndLineEnds) {
  EXPECT_EQ(sieve::quote_string("a\"b\\c"), "\"a\\\"b\\\\c\"");
  EXPECT_EQ(sieve::quote_string("one\ntwo\r\nthree\rfour"), "\"one\r\ntwo\r\nthreefour\"");
  EXPECT_EQ(sieve::quote_string(std::string("nul\0here", 8)), "\"nulhere\"");
  // A value that tries to close the string and add a command stays a value.
  PortalFilters f;
  FilterRule r;
  r.field = FilterRule::Field::kSubject;
  r.value = "x\"; discard; if true { \"";
  r.folder = "Safe";
  f.rules = {r};
  const std::string acts = actions_for(filters_to_script(f), "a@example.org", "hello");
  EXPECT_EQ(acts, "store INBOX\n");
}

TEST(PortalFilters, RefusesWhatTheScriptCouldNotHoldWithAReason) {
  std::string why;
  auto refused = [&](Fields f) {
    why.clear();
    return !filters_from_form(f, &why).has_value() && !why.empty();
  };
  EXPECT_TRUE(refused({{"vacation_days", "0"}}));
  EXPECT_TRUE(refused({{"vacation_days", "31"}}));
  EXPECT_TRUE(refused({{"vacation_days", "seven"}}));
  EXPECT_TRUE(refused({{"vacation", "on"}, {"vacation_body", "  \r\n"}}));
  EXPECT_TRUE(refused({{"vacation_subject", "two\r\nlines"}}));
  EXPECT_TRUE(refused({{"vacation_body", std::string(kMaxVacationBody + 1, 'x')}}));
  Fields rule{{"rule0_field", "from"}, {"rule0_match", "contains"}, {"rule0_value", "x"},
              {"rule0_action", "fileinto"}, {"rule0_folder", "Ok"}};
  EXPECT_TRUE(filters_from_form(rule, &why).has_value()) << why;
  for (const char* bad : {"", "a*", "b%", "/lead", "trail/", "new\nline"}) {
    Fields f = rule;
    f["rule0_folder"] = bad;
    EXPECT_TRUE(refused(f)) << bad;
    EXPECT_NE(why.find("Rule 1"), std::string::npos) << why;
  }
  Fields f = rule;
  f["rule0_field"] = "cc";
  EXPECT_TRUE(refused(f));
  f = rule;
  f["rule0_match"] = "regex";
  EXPECT_TRUE(refused(f));
  f = rule;
  f["rule0_action"] = "redirect";
  EXPECT_TRUE(refused(f));
  f = rule;
  f["rule0_value"] = std::string(kMaxFilterText + 1, 'v');
  EXPECT_TRUE(refused(f));
  // An empty text is an empty row, whatever else it says.
  f = rule;
  f["rule0_value"] = "";
  f["rule0_folder"] = "*";
  auto empty = filters_from_form(f, &why);
  ASSERT_TRUE(empty.has_value());
  EXPECT_TRUE(empty->rules.empty());
}
