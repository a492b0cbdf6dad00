// RFC 5228 base: control, actions and the implicit keep, tests, comparators, match types;
// the limits and the "on any error, keep" rule.
#include "common/sieve/internal.h"
#include "common/sieve/tests/helpers.h"

namespace postline::sieve {
namespace {

using testing::actions;
using testing::default_context;
using testing::kPlain;
using testing::run_on;

TEST(SieveBase, ImplicitKeepAndCancellation) {
  EXPECT_EQ(actions(""), "store INBOX\n");
  EXPECT_EQ(actions("keep;"), "store INBOX\n");
  EXPECT_EQ(actions("discard;"), "discard\n");
  EXPECT_EQ(actions("redirect \"x@example.org\";"), "redirect x@example.org\n");
  EXPECT_EQ(actions("require \"copy\"; redirect :copy \"x@example.org\";"), "redirect x@example.org\nstore INBOX\n");
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"A\";"), "store A\n");
  EXPECT_EQ(actions("require [\"fileinto\",\"copy\"]; fileinto :copy \"A\";"), "store A\nstore INBOX\n");
  // keep and fileinto "INBOX" are one delivery (RFC 5228 2.10.3).
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"INBOX\"; keep;"), "store INBOX\n");
  EXPECT_EQ(actions("redirect \"a@x.org\"; redirect \"a@X.ORG\"; redirect \"A@x.org\";"),
            "redirect a@x.org\nredirect A@x.org\n");
  RunResult r = run_on("discard;");
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kDiscard);
  r = run_on("");
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_TRUE(r.actions[0].implicit);
}

TEST(SieveBase, ControlFlow) {
  const char* s =
      "require \"fileinto\";\n"
      "if header :is \"subject\" \"nope\" { fileinto \"A\"; }\n"
      "elsif header :contains \"subject\" \"hello\" { fileinto \"B\"; }\n"
      "elsif true { fileinto \"C\"; }\n"
      "else { fileinto \"D\"; }\n"
      "if false { fileinto \"E\"; } else { fileinto \"F\"; }\n"
      "stop;\n"
      "fileinto \"G\";\n";
  EXPECT_EQ(actions(s), "store B\nstore F\n");
  EXPECT_EQ(actions("require \"fileinto\"; if true { fileinto \"A\"; stop; } fileinto \"B\";"), "store A\n");
  EXPECT_EQ(actions("if allof(true, not false, anyof(false, true)) { discard; }"), "discard\n");
  EXPECT_EQ(actions("if anyof(false, allof(true, false)) { discard; }"), "store INBOX\n");
}

TEST(SieveBase, HeaderTest) {
  EXPECT_EQ(actions("if header :is \"Subject\" \"hello THERE\" { discard; }"), "discard\n");
  EXPECT_EQ(actions("if header :comparator \"i;octet\" :is \"subject\" \"hello THERE\" { discard; }"), "store INBOX\n");
  EXPECT_EQ(actions("if header :contains [\"x-no\", \"to\"] [\"zzz\", \"bob@\"] { discard; }"), "discard\n");
  EXPECT_EQ(actions("if header :matches \"subject\" \"H*o ?here\" { discard; }"), "discard\n");
  EXPECT_EQ(actions("if header :matches \"x-missing\" \"*\" { discard; }"), "store INBOX\n");
  // RFC 2047 words are decoded before comparing.
  std::string msg = "Subject: =?UTF-8?Q?caf=C3=A9?=\r\n\r\nx";
  EXPECT_EQ(actions("if header :is \"subject\" \"café\" { discard; }", msg), "discard\n");
  // Folded headers are unfolded.
  EXPECT_EQ(actions("if header :is \"subject\" \"a b\" { discard; }", "Subject: a\r\n b\r\n\r\n"), "discard\n");
}

TEST(SieveBase, AddressTest) {
  EXPECT_EQ(actions("if address :is \"from\" \"alice@example.com\" { discard; }"), "discard\n");
  EXPECT_EQ(actions("if address :localpart :is \"cc\" \"carol+work\" { discard; }"), "discard\n");
  EXPECT_EQ(actions("if address :domain :is \"to\" \"EXAMPLE.net\" { discard; }"), "discard\n");
  EXPECT_EQ(actions("if address :all :contains \"from\" \"Alice\" { discard; }"), "discard\n");  // casemap
  EXPECT_EQ(actions("if address :is \"from\" \"Alice Example\" { discard; }"), "store INBOX\n");  // not the phrase
  std::string group = "To: list: a@x.org, b@y.org;, c@z.org\r\n\r\n";
  EXPECT_EQ(actions("if address :domain :is \"to\" \"y.org\" { discard; }", group), "discard\n");
  EXPECT_EQ(actions("if address :is \"to\" \"list\" { discard; }", group), "store INBOX\n");
}

TEST(SieveBase, EnvelopeTest) {
  auto ctx = default_context();
  ctx.envelope.to = "bob+lists@example.net";
  std::string req = "require [\"envelope\", \"subaddress\"]; ";
  EXPECT_EQ(actions(req + "if envelope :is \"from\" \"alice@example.com\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if envelope :domain :is \"to\" \"example.net\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if envelope :detail :is \"to\" \"lists\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if envelope :user :is \"to\" \"bob\" { discard; }", kPlain, ctx), "discard\n");
  ctx.envelope.from = "";
  EXPECT_EQ(actions(req + "if envelope :is \"from\" \"\" { discard; }", kPlain, ctx), "discard\n");
  ctx.envelope.auth = "bob";
  EXPECT_EQ(actions(req + "if envelope :is \"auth\" \"bob\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(testing::compile_error("require \"envelope\"; if envelope \"nope\" \"x\" {}"),
            "line 1: unknown envelope part \"nope\" (from, to or auth)");
  EXPECT_EQ(testing::compile_error("if envelope \"from\" \"x\" {}"), "line 1: test 'envelope' needs require \"envelope\"");
}

TEST(SieveBase, ExistsAndSize) {
  EXPECT_EQ(actions("if exists [\"from\", \"to\"] { discard; }"), "discard\n");
  EXPECT_EQ(actions("if exists [\"from\", \"x-no\"] { discard; }"), "store INBOX\n");
  std::string size = std::to_string(std::string(kPlain).size());
  EXPECT_EQ(actions("if size :over " + size + " { discard; }"), "store INBOX\n");
  EXPECT_EQ(actions("if size :under " + size + " { discard; }"), "store INBOX\n");
  EXPECT_EQ(actions("if size :over 100 { discard; }"), "discard\n");
  EXPECT_EQ(actions("if size :under 1K { discard; }"), "discard\n");
}

TEST(SieveMatch, Comparators) {
  using namespace detail;
  EXPECT_EQ(compare(Comparator::kOctet, "a", "A"), 1);
  EXPECT_EQ(compare(Comparator::kAsciiCasemap, "abc", "ABC"), 0);
  EXPECT_EQ(compare(Comparator::kAsciiNumeric, "007", "7"), 0);
  EXPECT_LT(compare(Comparator::kAsciiNumeric, "9", "10"), 0);
  EXPECT_EQ(compare(Comparator::kAsciiNumeric, "12abc", "12"), 0);  // leading digits only
  EXPECT_GT(compare(Comparator::kAsciiNumeric, "abc", "99999"), 0);  // no digits = infinity
  EXPECT_EQ(compare(Comparator::kAsciiNumeric, "abc", "x"), 0);
  EXPECT_LT(compare(Comparator::kAsciiNumeric, "99999999999999999999998", "99999999999999999999999"), 0);
  EXPECT_FALSE(contains(Comparator::kAsciiNumeric, "123", "2"));
  EXPECT_TRUE(contains(Comparator::kAsciiCasemap, "Hello", "LL"));
  EXPECT_TRUE(contains(Comparator::kOctet, "x", ""));
}

TEST(SieveMatch, GlobAndCaptures) {
  using namespace detail;
  std::vector<std::string> caps;
  EXPECT_TRUE(glob_match(Comparator::kOctet, "hello world", "h*o w?rld", &caps));
  EXPECT_EQ(caps, (std::vector<std::string>{"ell", "o"}));
  EXPECT_TRUE(glob_match(Comparator::kOctet, "a*b", "a\\*b", nullptr));
  EXPECT_FALSE(glob_match(Comparator::kOctet, "axb", "a\\*b", nullptr));
  EXPECT_TRUE(glob_match(Comparator::kOctet, "a?b", "a\\?b", nullptr));
  EXPECT_TRUE(glob_match(Comparator::kAsciiCasemap, "ABC", "a*", nullptr));
  EXPECT_FALSE(glob_match(Comparator::kOctet, "ABC", "a*", nullptr));
  // "?" is one octet: the comparators are defined on octets (as in Pigeonhole).
  EXPECT_FALSE(glob_match(Comparator::kOctet, "café", "caf?", nullptr));
  EXPECT_TRUE(glob_match(Comparator::kOctet, "café", "caf??", nullptr));
  EXPECT_TRUE(glob_match(Comparator::kOctet, "", "*", nullptr));
  EXPECT_FALSE(glob_match(Comparator::kOctet, "", "?", nullptr));
  // Leftmost, shortest per star (RFC 5229 3.2).
  EXPECT_TRUE(glob_match(Comparator::kOctet, "a.b.c", "*.*", &caps));
  EXPECT_EQ(caps, (std::vector<std::string>{"a", "b.c"}));
  // A pathological pattern gives up within its budget instead of running for ever.
  std::string value(200, 'a');
  std::string pat;
  for (int i = 0; i < 30; ++i) pat += "*a";
  pat += "b";
  EXPECT_FALSE(glob_match(Comparator::kOctet, value, pat, nullptr));
}

TEST(SieveMatch, LongValues) {
  using namespace detail;
  std::string body(2 * 1024 * 1024, 'x');
  body.replace(body.size() - 100, 6, "needle");
  std::vector<std::string> caps;
  EXPECT_TRUE(glob_match(Comparator::kAsciiCasemap, body, "*NEEDLE*", &caps));
  ASSERT_EQ(caps.size(), 2u);
  EXPECT_EQ(caps[0].size(), body.size() - 100);
  EXPECT_EQ(caps[1].size(), 94u);
  EXPECT_FALSE(glob_match(Comparator::kOctet, body, "*needles*", nullptr));
  EXPECT_TRUE(glob_match(Comparator::kOctet, body, "x*x?x*", nullptr));
}

TEST(SieveLimits, VariableExpansionIsBounded) {
  auto ctx = default_context();
  std::string s = "require \"variables\"; set \"a\" \"" + std::string(4000, 'a') + "\"; set \"b\" \"";
  for (int i = 0; i < 20000; ++i) s += "${a}";
  s += "\"; if string :is \"${b}\" \"\" { discard; }";
  RunResult r = run_on(s, kPlain, ctx);
  EXPECT_TRUE(r.ok);
  EXPECT_EQ(describe(r), "store INBOX\n");
}

TEST(SieveLimits, ActionsRedirectsSteps) {
  Limits lim;
  auto ctx = default_context();
  ctx.limits.max_redirects = 2;
  RunResult r = run_on("redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\";", kPlain, ctx);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(describe(r), "error line 1: more than 2 redirects\nstore INBOX\n");

  ctx = default_context();
  ctx.limits.max_actions = 3;
  r = run_on("require [\"fileinto\", \"copy\"]; fileinto :copy \"a\"; fileinto :copy \"b\"; fileinto :copy \"c\"; fileinto :copy \"d\";",
             kPlain, ctx);
  EXPECT_FALSE(r.ok);
  ASSERT_TRUE(r.error);
  EXPECT_EQ(r.error->message, "more than 3 actions");

  ctx = default_context();
  ctx.limits.max_steps = 50;
  std::string many;
  for (int i = 0; i < 100; ++i) many += "if false { keep; }\n";
  r = run_on(many, kPlain, ctx);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error->message, "script ran more than 50 steps");
  // On any error the result is exactly the implicit keep: executing it never loses mail.
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kKeep);
  EXPECT_TRUE(r.actions[0].implicit);
  EXPECT_EQ(r.actions[0].mailbox, "INBOX");
}

TEST(SieveLimits, RuntimeErrorsKeep) {
  EXPECT_EQ(actions("require [\"reject\", \"fileinto\"]; fileinto \"a\"; reject \"no\";"),
            "error line 1: reject cannot be combined with keep, fileinto, redirect or vacation\nstore INBOX\n");
  EXPECT_EQ(actions("require \"reject\"; reject \"a\"; reject \"b\";"), "error line 1: more than one reject\nstore INBOX\n");
  EXPECT_EQ(actions("require \"variables\"; set \"a\" \"no address\"; redirect \"${a}\";"),
            "error line 1: redirect: \"no address\" is not an address\nstore INBOX\n");
}

TEST(SieveRun, BeforeUserAfterSequence) {
  auto c = [](const std::string& text) { return testing::compile_ok(text); };
  auto before_flag = c("require \"imap4flags\"; addflag \"\\\\Seen\"; ");
  auto before_junk = c("require \"fileinto\"; if header :contains \"subject\" \"hello\" { fileinto \"Junk\"; }");
  auto before_var = c("require \"variables\"; set \"x\" \"before\";");
  auto user = c("require [\"fileinto\", \"variables\"]; fileinto \"user${x}\";");
  auto after_plain = c("require [\"fileinto\", \"copy\"]; fileinto :copy \"after\";");
  auto broken = c("redirect \"a@x.org\"; redirect \"b@x.org\"; redirect \"c@x.org\"; redirect \"d@x.org\"; redirect \"e@x.org\";");
  MemoryMessage m(kPlain);
  auto ctx = default_context();
  // Flags carry over, variables do not.
  EXPECT_EQ(describe(run({before_flag.get(), before_var.get(), user.get()}, m, ctx)), "store user flags \\seen\n");
  // fileinto without keep in a before script ends the sequence.
  EXPECT_EQ(describe(run({before_junk.get(), user.get()}, m, ctx)), "store Junk\n");
  // The user's fileinto cancels the implicit keep: the after script does not run.
  EXPECT_NE(testing::compile_error("require \"fileinto\"; fileinto :copy \"after\";"), "");  // needs "copy"
  EXPECT_EQ(describe(run({user.get(), after_plain.get()}, m, ctx)), "store user\n");
  // ... but it runs when the keep is still in force, and its :copy keeps it.
  auto user_nothing = c("if false { discard; }");
  EXPECT_EQ(describe(run({user_nothing.get(), after_plain.get()}, m, ctx)), "store after\nstore INBOX\n");
  // An error in any script is the run's: one implicit keep, and which script it was.
  RunResult r = run({before_flag.get(), broken.get()}, m, ctx);
  EXPECT_FALSE(r.ok);
  EXPECT_EQ(r.error_script, 1u);
  EXPECT_EQ(describe(r), "error line 1: more than 4 redirects\nstore INBOX\n");
  EXPECT_FALSE(run(std::vector<const Script*>{}, m, ctx).ok);
}

TEST(SieveRun, LoopHelpers) {
  MemoryMessage m("Delivered-To: <Bob@example.net>\r\nReceived: a\r\nReceived: b\r\n\r\n");
  EXPECT_TRUE(already_delivered_to(m, "Bob@EXAMPLE.net"));
  EXPECT_TRUE(already_delivered_to(m, "bob@example.net"));  // Delivered-To is written by us, lowercase-insensitive
  EXPECT_FALSE(already_delivered_to(m, "carol@example.net"));
  EXPECT_EQ(count_fields(m, "received"), 2u);
  EXPECT_EQ(count_fields(m, "x-none"), 0u);
}

TEST(SieveRun, RedirectsSuppressedOnALoopKeepTheMessage) {
  auto ctx = default_context();
  ctx.redirects_allowed = false;
  RunResult r = run_on("redirect \"elsewhere@example.org\";", kPlain, ctx);
  EXPECT_EQ(describe(r), "store INBOX\n");
  ASSERT_EQ(r.notes.size(), 1u);
  EXPECT_EQ(actions("require \"fileinto\"; redirect \"a@example.org\"; fileinto \"A\";", kPlain, ctx), "store A\n");
}

TEST(SieveRun, DefaultMailboxIsConfigurable) {
  auto ctx = default_context();
  ctx.default_mailbox = "Inbox";
  EXPECT_EQ(actions("", kPlain, ctx), "store Inbox\n");
}

}  // namespace
}  // namespace postline::sieve
