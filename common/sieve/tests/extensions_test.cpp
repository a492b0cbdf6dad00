// One suite per extension: what each adds, checked through run() and describe().
#include "common/sieve/internal.h"
#include "common/sieve/tests/helpers.h"

namespace postline::sieve {
namespace {

using testing::actions;
using testing::compile_error;
using testing::default_context;
using testing::kPlain;
using testing::run_on;

TEST(SieveFileinto, FlagsCopyCreate) {
  EXPECT_EQ(actions("require [\"fileinto\", \"mailbox\", \"imap4flags\"]; fileinto :create :flags \"\\\\Seen $x\" \"A/B\";"),
            "store A/B flags $x \\seen create\n");
  RunResult r = run_on("require [\"fileinto\", \"mailbox\"]; fileinto :create \"Lists\";");
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_TRUE(r.actions[0].create);
  EXPECT_EQ(compile_error("require \"fileinto\"; fileinto :create \"a\";"),
            "line 1: unknown tag ':create' for the fileinto command (needs require \"mailbox\")");
}

TEST(SieveReject, RejectAndEreject) {
  RunResult r = run_on("require \"reject\"; reject \"Go away\";");
  ASSERT_EQ(r.actions.size(), 1u);
  EXPECT_EQ(r.actions[0].kind, Action::Kind::kReject);
  EXPECT_EQ(r.actions[0].reason, "Go away");
  EXPECT_EQ(actions("require \"ereject\"; ereject \"550 no\";"), "ereject 550 no\n");
  EXPECT_EQ(actions("require [\"reject\"]; discard; reject \"x\";"), "discard\nreject x\n");
  EXPECT_EQ(actions("require [\"reject\", \"vacation\"]; reject \"x\"; vacation :addresses \"bob@example.net\" \"away\";"),
            "error line 1: reject cannot be combined with keep, fileinto, redirect or vacation\nstore INBOX\n");
}

TEST(SieveVariables, SetExpandAndModifiers) {
  std::string req = "require [\"variables\", \"fileinto\"];\n";
  EXPECT_EQ(actions(req + "set \"f\" \"Box\"; fileinto \"${f}-${F}-${none}\";"), "store Box-Box-\n");
  EXPECT_EQ(actions(req + "set :upper \"a\" \"abc\"; set :lowerfirst \"b\" \"XYZ\"; fileinto \"${a}${b}\";"),
            "store ABCxYZ\n");
  EXPECT_EQ(actions(req + "set :length \"n\" \"héllo\"; fileinto \"${n}\";"), "store 5\n");
  EXPECT_EQ(actions(req + "set :quotewildcard \"q\" \"a*?\\\\\"; fileinto \"${q}\";"), "store a\\*\\?\\\\\n");
  // Not a variable reference: kept literally.
  EXPECT_EQ(actions(req + "fileinto \"${1a} ${} ${a-b}\";"), "store ${1a} ${} ${a-b}\n");
  // Match variables from the last successful :matches.
  EXPECT_EQ(actions(req + "if header :matches \"from\" \"* <*@*>\" { fileinto \"${1}|${2}|${3}|${0}\"; }"),
            "store Alice Example|alice|example.com|Alice Example <alice@example.com>\n");
  EXPECT_EQ(actions(req + "if header :matches \"subject\" \"H*\" {} if header :matches \"subject\" \"nomatch*\" {} "
                    "fileinto \"${1}\";"),
            "store ello there\n");
  // Without "variables", ${...} is plain text.
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"${x}\";"), "store ${x}\n");
  EXPECT_EQ(compile_error(req + "set \"1\" \"x\";"), "line 2: set: \"1\" is not a variable name");
}

TEST(SieveVariables, StringTestAndSizeLimit) {
  std::string req = "require [\"variables\", \"relational\", \"comparator-i;ascii-numeric\"];\n";
  EXPECT_EQ(actions(req + "set \"a\" \"x\"; if string :is \"${a}\" \"X\" { discard; }"), "discard\n");
  EXPECT_EQ(actions(req + "if string :count \"eq\" :comparator \"i;ascii-numeric\" [\"\", \"a\", \"b\"] \"2\" { discard; }"),
            "discard\n");
  auto ctx = default_context();
  ctx.limits.max_variable_size = 4;
  EXPECT_EQ(actions(req + "set \"a\" \"123456\"; if string :is \"${a}\" \"1234\" { discard; }", kPlain, ctx), "discard\n");
  ctx = default_context();
  ctx.limits.max_variables = 2;
  EXPECT_EQ(actions(req + "set \"a\" \"1\"; set \"b\" \"1\"; set \"c\" \"1\";", kPlain, ctx),
            "error line 1: more than 2 variables\nstore INBOX\n");
}

TEST(SieveEncodedCharacter, HexAndUnicode) {
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:41 42}${unicode:e9}\";"), "store ABé\n");
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\"]; fileinto \"${hex:zz}\";"), "store ${hex:zz}\n");
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\"]; fileinto \"x${hex:}${hex:123}\";"), "store x${hex:}${hex:123}\n");
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\"]; fileinto \"${HEX: 41 42 }${unicode:1F600}\";"),
            "store AB\xF0\x9F\x98\x80\n");
  EXPECT_EQ(compile_error("require [\"encoded-character\", \"fileinto\"];\nfileinto \"${unicode:D800}\";"),
            "line 2: ${unicode:D800} is not a Unicode scalar value");
  // Decoded before variables see the string: "${hex:24}{b}" is the reference ${b}.
  EXPECT_EQ(actions("require [\"encoded-character\", \"fileinto\", \"variables\"]; set \"b\" \"x\";"
                    "fileinto \"${hex:24}{b}\";"),
            "store x\n");
  // Without the capability nothing is decoded.
  EXPECT_EQ(actions("require \"fileinto\"; fileinto \"${hex:41}\";"), "store ${hex:41}\n");
}

// ---- vacation (RFC 5230, RFC 3834) ----

std::string reply(const std::string& message, RunContext ctx = default_context(),
                  const std::string& args = ":addresses \"bob@example.net\"") {
  return actions("require [\"vacation\", \"vacation-seconds\"]; vacation " + args + " \"I am away\";", message, ctx);
}

TEST(SieveVacation, RepliesWithResolvedParameters) {
  RunResult r = run_on("require \"vacation\"; vacation :days 3 :subject \"Away\" :from \"b@example.net\" "
                       ":handle \"h1\" \"Back Monday\";");
  ASSERT_EQ(r.actions.size(), 2u);
  const Action& a = r.actions[0];
  ASSERT_EQ(a.kind, Action::Kind::kVacation);
  EXPECT_EQ(a.vacation.to, "alice@example.com");
  EXPECT_EQ(a.vacation.from, "b@example.net");
  EXPECT_EQ(a.vacation.subject, "Away");
  EXPECT_EQ(a.vacation.reason, "Back Monday");
  EXPECT_EQ(a.vacation.seconds, 3u * 86400);
  EXPECT_EQ(a.vacation.handle, "h1");
  EXPECT_EQ(a.vacation.in_reply_to, "<1@example.com>");
  EXPECT_EQ(a.vacation.references, "<1@example.com>");
  EXPECT_FALSE(a.vacation.mime);
  EXPECT_EQ(r.actions[1].kind, Action::Kind::kKeep);  // vacation keeps the implicit keep
  // Defaults: 7 days, "Auto: " + subject, from = the recipient.
  r = run_on("require \"vacation\"; vacation :mime \"Content-Type: text/plain\r\n\r\nx\";");
  ASSERT_EQ(r.actions[0].kind, Action::Kind::kVacation);
  EXPECT_EQ(r.actions[0].vacation.seconds, 7u * 86400);
  EXPECT_EQ(r.actions[0].vacation.subject, "Auto: Hello there");
  EXPECT_EQ(r.actions[0].vacation.from, "bob@example.net");
  EXPECT_TRUE(r.actions[0].vacation.mime);
}

TEST(SieveVacation, NoHeaderInjection) {
  // A literal bad :from is a check error; through a variable it is caught at run time.
  RunResult r = run_on("require [\"vacation\", \"variables\"]; set \"f\" \"not an address\";"
                       "vacation :subject \"a\r\nBcc: x@evil.example\" :from \"${f}\" \"x\";");
  ASSERT_EQ(r.actions[0].kind, Action::Kind::kVacation);
  EXPECT_EQ(r.actions[0].vacation.subject, "a Bcc: x@evil.example");
  EXPECT_EQ(r.actions[0].vacation.from, "bob@example.net");
  ASSERT_EQ(r.notes.size(), 1u);
  r = run_on("require \"vacation\"; vacation :from \"Bob B <b@example.net>\" \"x\";");
  EXPECT_EQ(r.actions[0].vacation.from, "Bob B <b@example.net>");
}

TEST(SieveVacation, PeriodIsClamped) {
  EXPECT_EQ(reply(kPlain, default_context(), ":days 0"), "vacation seconds=86400 subject=Auto: Hello there\nstore INBOX\n");
  EXPECT_EQ(reply(kPlain, default_context(), ":days 1000"), "vacation seconds=7776000 subject=Auto: Hello there\nstore INBOX\n");
  EXPECT_EQ(reply(kPlain, default_context(), ":seconds 0"), "vacation seconds=0 subject=Auto: Hello there\nstore INBOX\n");
  EXPECT_EQ(compile_error("require \"vacation\"; vacation :seconds 5 \"x\";"),
            "line 1: unknown tag ':seconds' for the vacation command (needs require \"vacation-seconds\")");
  EXPECT_EQ(compile_error("require \"vacation-seconds\"; vacation :days 1 :seconds 5 \"x\";"),
            "line 1: ':seconds' conflicts with ':days' in vacation");
}

TEST(SieveVacation, NeverToListsBulkAutomatsOrNullSenders) {
  const std::string base = "From: a@example.com\r\nTo: bob@example.net\r\nSubject: s\r\n";
  EXPECT_EQ(reply(base + "\r\nx"), "vacation seconds=604800 subject=Auto: s\nstore INBOX\n");
  for (const char* h : {"List-Id: <l.example.com>", "List-Unsubscribe: <mailto:x@y>", "List-Post: <mailto:l@y>",
                        "Precedence: bulk", "Precedence: junk", "Precedence: list", "Auto-Submitted: auto-replied",
                        "Auto-Submitted: auto-generated", "X-Auto-Response-Suppress: OOF"}) {
    auto r = run_on("require \"vacation\"; vacation :addresses \"bob@example.net\" \"x\";", base + h + "\r\n\r\nx");
    EXPECT_EQ(describe(r), "store INBOX\n") << h;
    ASSERT_EQ(r.notes.size(), 1u) << h;
  }
  EXPECT_EQ(reply(base + "Auto-Submitted: no\r\n\r\nx"), "vacation seconds=604800 subject=Auto: s\nstore INBOX\n");
  for (const char* sender : {"", "MAILER-DAEMON@example.com", "owner-list@example.com", "list-request@example.com",
                             "bob@example.net"}) {
    auto ctx = default_context();
    ctx.envelope.from = sender;
    EXPECT_EQ(reply(base + "\r\nx", ctx), "store INBOX\n") << sender;
  }
}

TEST(SieveVacation, RulesSeeTheMessageAsItArrived) {
  const std::string list = "From: a@example.com\r\nTo: bob@example.net\r\nList-Id: <l.example.com>\r\nSubject: s\r\n\r\nx";
  EXPECT_EQ(actions("require [\"vacation\", \"editheader\"]; deleteheader \"list-id\"; vacation \"x\";", list),
            "store INBOX\n");
  EXPECT_EQ(actions("require \"vacation\"; vacation \"x\";",
                    "From: a@example.com\r\nTo: bob@example.net\r\nAuto-Submitted: no; x=1\r\nSubject: s\r\n\r\nx"),
            "vacation seconds=604800 subject=Auto: s\nstore INBOX\n");
}

TEST(SieveVacation, OnlyWhenAddressedToTheUser) {
  auto ctx = default_context();
  std::string bcc = "From: a@example.com\r\nTo: friends@example.com\r\nSubject: s\r\n\r\nx";
  EXPECT_EQ(reply(bcc, ctx, ""), "store INBOX\n");
  EXPECT_EQ(reply(bcc, ctx, ":addresses \"friends@example.com\""), "vacation seconds=604800 subject=Auto: s\nstore INBOX\n");
  ctx.user_addresses = {"FRIENDS@example.com"};
  EXPECT_EQ(reply(bcc, ctx, ""), "vacation seconds=604800 subject=Auto: s\nstore INBOX\n");
  std::string cc = "From: a@example.com\r\nTo: x@example.com\r\nCc: Bob <bob@example.net>\r\nSubject: s\r\n\r\nx";
  EXPECT_EQ(reply(cc, default_context(), ""), "vacation seconds=604800 subject=Auto: s\nstore INBOX\n");
}

TEST(SieveVacation, OncePerSenderPerPeriod) {
  MemoryVacationHistory history;
  history.now = 1000000;
  auto ctx = default_context();
  ctx.vacation_history = &history;
  auto r = run_on("require \"vacation\"; vacation :days 2 \"away\";", kPlain, ctx);
  ASSERT_EQ(r.actions[0].kind, Action::Kind::kVacation);
  history.record(r.actions[0].vacation.key);  // the caller records after queueing the reply
  EXPECT_EQ(actions("require \"vacation\"; vacation :days 2 \"away\";", kPlain, ctx), "store INBOX\n");
  // Another handle (here: other text) is another conversation.
  EXPECT_EQ(actions("require \"vacation\"; vacation :days 2 \"other\";", kPlain, ctx),
            "vacation seconds=172800 subject=Auto: Hello there\nstore INBOX\n");
  // Another sender gets a reply.
  ctx.envelope.from = "zed@example.com";
  EXPECT_EQ(actions("require \"vacation\"; vacation :days 2 \"away\";", kPlain, ctx),
            "vacation seconds=172800 subject=Auto: Hello there\nstore INBOX\n");
  // After the period, the first sender gets one again.
  ctx.envelope.from = "alice@example.com";
  history.now += 2 * 86400;
  EXPECT_EQ(actions("require \"vacation\"; vacation :days 2 \"away\";", kPlain, ctx),
            "vacation seconds=172800 subject=Auto: Hello there\nstore INBOX\n");
}

TEST(SieveVacation, OnlyOnce) {
  EXPECT_EQ(actions("require \"vacation\"; vacation \"a\"; vacation \"b\";"),
            "error line 1: vacation used more than once (RFC 5230)\nstore INBOX\n");
}

// ---- imap4flags (RFC 5232) ----

TEST(SieveImap4flags, InternalVariableAndTags) {
  std::string req = "require [\"imap4flags\", \"fileinto\", \"variables\"];\n";
  EXPECT_EQ(actions(req + "setflag \"\\\\Seen\"; addflag [\"$a\", \"$b $A\"]; removeflag \"$b\"; fileinto \"X\";"),
            "store X flags $a \\seen\n");
  EXPECT_EQ(actions(req + "addflag \"\\\\Flagged\";"), "store INBOX flags \\flagged\n");  // implicit keep
  EXPECT_EQ(actions(req + "addflag \"\\\\Flagged\"; keep :flags \"\\\\Seen\";"), "store INBOX flags \\seen\n");
  EXPECT_EQ(actions(req + "addflag \"v\" \"$x\"; addflag \"v\" \"$y\"; if hasflag :is \"v\" \"$Y\" { fileinto \"${v}\"; }"),
            "store $x $y\n");
  EXPECT_EQ(actions(req + "addflag \"$q\"; if hasflag :contains \"q\" { discard; }"), "discard\n");
  EXPECT_EQ(actions(req + "if hasflag \"$nothing\" { discard; }"), "store INBOX\n");
  auto ctx = default_context();
  ctx.limits.max_variable_size = 11;  // "$aaaa $bbbb"
  EXPECT_EQ(actions(req + "addflag [\"$aaaa\", \"$bbbb\", \"$cccc\"];", kPlain, ctx), "store INBOX flags $aaaa $bbbb\n");
}

// ---- subaddress (RFC 5233) ----

TEST(SieveSubaddress, UserAndDetail) {
  std::string req = "require [\"subaddress\"];\n";
  EXPECT_EQ(actions(req + "if address :user \"cc\" \"carol\" { discard; }"), "discard\n");
  EXPECT_EQ(actions(req + "if address :detail \"cc\" \"work\" { discard; }"), "discard\n");
  // No separator: :detail matches nothing, not even "" (RFC 5233).
  EXPECT_EQ(actions(req + "if address :detail :matches \"from\" \"*\" { discard; }"), "store INBOX\n");
  EXPECT_EQ(actions(req + "if address :detail \"to\" \"\" { discard; }", "To: a+@x.org\r\n\r\n"), "discard\n");
}

// ---- relational (RFC 5231) ----

TEST(SieveRelational, CountAndValue) {
  std::string req = "require [\"relational\", \"comparator-i;ascii-numeric\"];\n";
  std::string msg = "X-N: 5\r\nX-N: 12\r\nTo: a@x.org, b@y.org\r\n\r\n";
  EXPECT_EQ(actions(req + "if header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-n\" \"2\" { discard; }", msg), "discard\n");
  EXPECT_EQ(actions(req + "if address :count \"eq\" :comparator \"i;ascii-numeric\" \"to\" \"2\" { discard; }", msg), "discard\n");
  EXPECT_EQ(actions(req + "if header :value \"gt\" :comparator \"i;ascii-numeric\" \"x-n\" \"10\" { discard; }", msg), "discard\n");
  EXPECT_EQ(actions(req + "if header :value \"gt\" :comparator \"i;ascii-numeric\" \"x-n\" \"12\" { discard; }", msg), "store INBOX\n");
  EXPECT_EQ(actions(req + "if header :value \"lt\" \"x-n\" \"2\" { discard; }", msg), "discard\n");  // "12" < "2" as text
  EXPECT_EQ(actions(req + "if header :count \"eq\" :comparator \"i;ascii-numeric\" \"x-none\" \"0\" { discard; }", msg),
            "discard\n");
}

// ---- body (RFC 5173) ----

const char* kMultipart =
    "From: a@example.com\r\nContent-Type: multipart/alternative; boundary=B\r\n\r\n"
    "--B\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n"
    "caf=E9 plain\r\n--B\r\nContent-Type: text/html\r\n\r\n<b>html part</b>\r\n"
    "--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nYmluYXJ5\r\n--B--\r\n";

TEST(SieveBody, TransformsAndContentTypes) {
  std::string req = "require \"body\";\n";
  EXPECT_EQ(actions(req + "if body :contains \"café\" { discard; }", kMultipart), "discard\n");
  EXPECT_EQ(actions(req + "if body :text :contains \"html part\" { discard; }", kMultipart), "discard\n");
  // :text (the default) reduces HTML to its text; :content gives the markup.
  EXPECT_EQ(actions(req + "if body :contains \"<b>\" { discard; }", kMultipart), "store INBOX\n");
  EXPECT_EQ(actions(req + "if body :content \"text/html\" :contains \"<b>\" { discard; }", kMultipart), "discard\n");
  EXPECT_EQ(actions(req + "if body :content \"text/plain\" :contains \"html part\" { discard; }", kMultipart), "store INBOX\n");
  EXPECT_EQ(actions(req + "if body :content \"application\" :contains \"binary\" { discard; }", kMultipart), "discard\n");
  EXPECT_EQ(actions(req + "if body :content \"\" :contains \"binary\" { discard; }", kMultipart), "discard\n");
  EXPECT_EQ(actions(req + "if body :raw :contains \"caf=E9\" { discard; }", kMultipart), "discard\n");
  EXPECT_EQ(actions(req + "if body :raw :contains \"café\" { discard; }", kMultipart), "store INBOX\n");
  EXPECT_EQ(actions(req + "if body :contains \"meeting\" { discard; }"), "discard\n");
  std::string pre = "Content-Type: multipart/mixed; boundary=Q\r\n\r\nthe prologue\r\n--Q\r\n\r\ninner\r\n--Q--\r\nthe epilogue\r\n";
  EXPECT_EQ(actions(req + "if body :content \"multipart\" :contains \"prologue\" { discard; }", pre), "discard\n");
  EXPECT_EQ(actions(req + "if body :content \"multipart\" :contains \"epilogue\" { discard; }", pre), "discard\n");
  EXPECT_EQ(actions(req + "if body :content \"multipart\" :contains \"inner\" { discard; }", pre), "store INBOX\n");
  EXPECT_EQ(actions(req + "if body :text :contains \"prologue\" { discard; }", pre), "store INBOX\n");
}

// ---- mailbox (RFC 5490) ----

TEST(SieveMailbox, MailboxExists) {
  MemoryMailboxes boxes;
  boxes.names = {"INBOX", "Lists"};
  auto ctx = default_context();
  ctx.mailboxes = &boxes;
  std::string req = "require [\"mailbox\"];\n";
  EXPECT_EQ(actions(req + "if mailboxexists [\"INBOX\", \"Lists\"] { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if mailboxexists [\"INBOX\", \"Nope\"] { discard; }", kPlain, ctx), "store INBOX\n");
}

// ---- include (RFC 6609) ----

TEST(SieveInclude, PersonalGlobalOnceOptionalReturn) {
  MemoryScripts scripts;
  scripts.personal["p"] = "require [\"fileinto\", \"include\", \"variables\"]; global \"g\"; fileinto \"p-${g}\"; return; fileinto \"never\";";
  scripts.global["spam"] = "require \"fileinto\"; if header :contains \"subject\" \"hello\" { fileinto \"Junk\"; stop; }";
  scripts.personal["loop"] = "require \"include\"; include \"loop\";";
  scripts.personal["bad"] = "frob;";
  auto ctx = default_context();
  ctx.loader = &scripts;
  std::string req = "require [\"include\", \"variables\", \"fileinto\"];\n";
  EXPECT_EQ(actions(req + "global \"g\"; set \"g\" \"x\"; include \"p\"; include :once \"p\"; include :once \"p\";", kPlain, ctx),
            "store p-x\n");
  EXPECT_EQ(actions(req + "include :global \"spam\"; fileinto \"after\";", kPlain, ctx), "store Junk\n");
  EXPECT_EQ(actions(req + "include :optional \"missing\"; keep;", kPlain, ctx), "store INBOX\n");
  EXPECT_EQ(actions(req + "include \"missing\";", kPlain, ctx),
            "error line 2: include: script \"missing\" does not exist\nstore INBOX\n");
  EXPECT_EQ(actions(req + "include \"loop\";", kPlain, ctx),
            "error line 2: in included script \"loop\", line 1: include: \"loop\" includes itself\nstore INBOX\n");
  EXPECT_EQ(actions(req + "include \"bad\";", kPlain, ctx),
            "error line 2: include: script \"bad\": line 1: unknown command 'frob'\nstore INBOX\n");
  // A runtime error inside an included script names it.
  scripts.personal["rej"] = "require [\"reject\"];\n\nreject \"no\";";
  EXPECT_EQ(actions(req + "keep;\ninclude \"rej\";", kPlain, ctx),
            "error line 3: in included script \"rej\", line 3: reject cannot be combined with keep, fileinto, "
            "redirect or vacation\nstore INBOX\n");
  // Variables are local unless declared global in both scripts.
  scripts.personal["local"] = "require [\"variables\"]; set \"v\" \"inner\";";
  EXPECT_EQ(actions(req + "set \"v\" \"outer\"; include \"local\"; fileinto \"${v}\";", kPlain, ctx), "store outer\n");
}

TEST(SieveInclude, DepthLimit) {
  MemoryScripts scripts;
  for (int i = 0; i < 12; ++i)
    scripts.personal["s" + std::to_string(i)] = "require \"include\"; include \"s" + std::to_string(i + 1) + "\";";
  scripts.personal["s12"] = "keep;";
  auto ctx = default_context();
  ctx.loader = &scripts;
  RunResult deep = run_on("require \"include\"; include \"s0\";", kPlain, ctx);
  ASSERT_TRUE(deep.error);
  EXPECT_EQ(deep.error->pos.line, 1);
  EXPECT_EQ(deep.error->message.rfind("in included script \"s0\", line 1: in included script \"s1\"", 0), 0u);
  EXPECT_NE(deep.error->message.find("in included script \"s7\", line 1: include nested deeper than 8"), std::string::npos);
  ctx.limits.max_include_depth = 20;
  EXPECT_EQ(actions("require \"include\"; include \"s0\";", kPlain, ctx), "store INBOX\n");
}

// ---- date, index (RFC 5260) ----

TEST(SieveDate, PartsAndZones) {
  using namespace detail;
  auto dt = parse_rfc5322_date("Thu, 3 Dec 2026 17:48:46 +0100");
  ASSERT_TRUE(dt);
  EXPECT_EQ(*date_part(*dt, "iso8601"), "2026-12-03T17:48:46+01:00");
  EXPECT_EQ(*date_part(*dt, "std11"), "Thu, 03 Dec 2026 17:48:46 +0100");
  EXPECT_EQ(*date_part(*dt, "julian"), "61377");
  EXPECT_EQ(*date_part(*dt, "weekday"), "4");
  dt->zone_minutes = -330;
  EXPECT_EQ(*date_part(*dt, "time"), "11:18:46");
  EXPECT_EQ(*date_part(*dt, "zone"), "-0530");
  EXPECT_FALSE(parse_rfc5322_date("yesterday"));
  auto leap = parse_rfc5322_date("Thu, 31 Dec 2026 23:59:60 +0000");
  ASSERT_TRUE(leap);
  EXPECT_EQ(*date_part(*leap, "iso8601"), "2026-12-31T23:59:59Z");
  EXPECT_FALSE(parse_rfc5322_date("3 Foo 2026 10:00 +0000"));
  auto obs = parse_rfc5322_date("3 Dec 26 10:00 EST");
  ASSERT_TRUE(obs);
  EXPECT_EQ(*date_part(*obs, "iso8601"), "2026-12-03T10:00:00-05:00");
  EXPECT_FALSE(date_part(*obs, "fortnight"));
  obs->zone_minutes = 0;
  EXPECT_EQ(*date_part(*obs, "iso8601"), "2026-12-03T15:00:00Z");

  std::string req = "require [\"date\", \"relational\"];\n";
  EXPECT_EQ(actions(req + "if date :originalzone :is \"date\" \"hour\" \"17\" { discard; }"), "discard\n");
  EXPECT_EQ(actions(req + "if date :zone \"+0000\" :is \"date\" \"hour\" \"16\" { discard; }"), "discard\n");
  EXPECT_EQ(actions(req + "if date :zone \"bogus\" :is \"date\" \"hour\" \"16\" { discard; }"), "store INBOX\n");
  EXPECT_EQ(actions(req + "if date :is \"x-none\" \"year\" \"2026\" { discard; }"), "store INBOX\n");
  auto ctx = default_context();  // now = 2026-12-03 17:46:40 UTC
  EXPECT_EQ(actions(req + "if currentdate :is \"date\" \"2026-12-03\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if currentdate :zone \"+0800\" :is \"date\" \"2026-12-04\" { discard; }", kPlain, ctx), "discard\n");
  ctx.zone_minutes = 420;
  EXPECT_EQ(actions(req + "if currentdate :is \"hour\" \"00\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if currentdate :value \"ge\" \"date\" \"2026-01-01\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(compile_error(req + "if currentdate :is \"fortnight\" \"1\" {}"), "line 2: unknown date part \"fortnight\"");
}

TEST(SieveIndex, HeaderAddressDate) {
  std::string msg = "X-A: one\r\nX-A: two\r\nX-A: three\r\nTo: a@x.org\r\nTo: b@y.org\r\n"
                    "Received: by a; Thu, 3 Dec 2026 10:00:00 +0000\r\nReceived: by b; Wed, 2 Dec 2026 10:00:00 +0000\r\n\r\n";
  std::string req = "require [\"index\", \"date\"];\n";
  EXPECT_EQ(actions(req + "if header :index 2 :is \"x-a\" \"two\" { discard; }", msg), "discard\n");
  EXPECT_EQ(actions(req + "if header :index 1 :last :is \"x-a\" \"three\" { discard; }", msg), "discard\n");
  EXPECT_EQ(actions(req + "if header :index 4 :is \"x-a\" \"three\" { discard; }", msg), "store INBOX\n");
  EXPECT_EQ(actions(req + "if address :index 2 :domain :is \"to\" \"y.org\" { discard; }", msg), "discard\n");
  EXPECT_EQ(actions(req + "if date :index 1 :last :zone \"+0000\" :is \"received\" \"day\" \"02\" { discard; }", msg), "discard\n");
  EXPECT_EQ(compile_error(req + "if header :last :is \"x\" \"y\" {}"), "line 2: ':last' needs ':index'");
  EXPECT_EQ(compile_error(req + "if header :index 0 :is \"x\" \"y\" {}"), "line 2: ':index' counts from 1");
}

// ---- duplicate (RFC 7352) ----

TEST(SieveDuplicate, TrackedThroughTheCaller) {
  MemoryDuplicates dups;
  dups.now = 5000;
  auto ctx = default_context();
  ctx.duplicates = &dups;
  std::string s = "require [\"duplicate\", \"fileinto\"]; if duplicate :seconds 60 { fileinto \"Dup\"; }";
  RunResult first = run_on(s, kPlain, ctx);
  EXPECT_EQ(describe(first), "store INBOX\ntrack duplicate\n");
  ASSERT_EQ(first.duplicate_marks.size(), 1u);
  EXPECT_EQ(first.duplicate_marks[0].seconds, 60u);
  // Nothing is recorded by run(); the caller records after delivery commits.
  EXPECT_EQ(actions(s, kPlain, ctx), "store INBOX\ntrack duplicate\n");
  dups.record(first.duplicate_marks[0]);
  EXPECT_EQ(actions(s, kPlain, ctx), "store Dup\ntrack duplicate\n");
  dups.now += 61;
  EXPECT_EQ(actions(s, kPlain, ctx), "store INBOX\ntrack duplicate\n");
  // No Message-ID: false and nothing to track.
  EXPECT_EQ(actions(s, "Subject: x\r\n\r\n", ctx), "store INBOX\n");
  // :uniqueid and :handle make separate keys.
  RunResult u = run_on("require \"duplicate\"; if duplicate :uniqueid \"abc\" :handle \"h\" {}", kPlain, ctx);
  ASSERT_EQ(u.duplicate_marks.size(), 1u);
  EXPECT_NE(u.duplicate_marks[0].key, first.duplicate_marks[0].key);
  EXPECT_EQ(compile_error("require \"duplicate\"; if duplicate :header \"a\" :uniqueid \"b\" {}"),
            "line 1: ':uniqueid' conflicts with ':header' in duplicate");
}

// ---- editheader (RFC 5293) ----

TEST(SieveEditheader, AddDeleteAndTestsSeeTheChange) {
  std::string req = "require [\"editheader\", \"index\"];\n";
  RunResult r = run_on(req + "addheader \"X-Sieve\" \"yes\"; addheader :last \"X-End\" \"1\";"
                             "if header :is \"x-sieve\" \"yes\" { deleteheader \"cc\"; }");
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.header_edits.size(), 3u);
  EXPECT_EQ(r.header_edits[0].kind, HeaderEdit::Kind::kAdd);
  EXPECT_FALSE(r.header_edits[0].last);
  EXPECT_TRUE(r.header_edits[1].last);
  EXPECT_EQ(r.header_edits[2].kind, HeaderEdit::Kind::kDelete);
  EXPECT_EQ(r.header_edits[2].occurrences, (std::vector<std::size_t>{1}));
  ASSERT_FALSE(r.edited_header.empty());
  EXPECT_EQ(r.edited_header.front().name, "X-Sieve");
  EXPECT_EQ(r.edited_header.back().name, "X-End");
  for (const auto& f : r.edited_header) EXPECT_NE(f.name, "Cc");

  // Each action says how many edits came before it (RFC 5293).
  r = run_on("require [\"editheader\", \"fileinto\", \"copy\"]; fileinto :copy \"A\"; addheader \"X-1\" \"1\";"
             "redirect :copy \"x@example.org\"; addheader \"X-2\" \"2\";");
  ASSERT_EQ(r.actions.size(), 3u);
  EXPECT_EQ(r.actions[0].edits_before, 0u);
  EXPECT_EQ(r.actions[1].edits_before, 1u);
  EXPECT_EQ(r.actions[2].edits_before, 2u);  // the implicit keep gets all of them

  std::string msg = "X-A: one\r\nX-A: two\r\nX-A: three\r\nReceived: x\r\n\r\n";
  r = run_on(req + "deleteheader :index 1 :last \"x-a\"; deleteheader :matches \"x-a\" \"o*\";", msg);
  ASSERT_EQ(r.header_edits.size(), 2u);
  EXPECT_EQ(r.header_edits[0].occurrences, (std::vector<std::size_t>{3}));
  EXPECT_EQ(r.header_edits[1].occurrences, (std::vector<std::size_t>{1}));
  ASSERT_EQ(r.edited_header.size(), 2u);
  EXPECT_EQ(r.edited_header[0].value, " two");
  // Received is protected (as in Pigeonhole).
  r = run_on(req + "deleteheader \"received\"; addheader \"Received\" \"forged\";", msg);
  EXPECT_TRUE(r.header_edits.empty());
  EXPECT_EQ(r.notes.size(), 2u);
  EXPECT_EQ(compile_error(req + "addheader \"bad name\" \"v\";"), "line 2: addheader: \"bad name\" is not a header field name");
  r = run_on(req + "addheader \"X-A\" \"one\r\nBcc: evil@example.org\";");
  ASSERT_EQ(r.edited_header.size(), 7u);
  EXPECT_EQ(r.edited_header[0].value, " one Bcc: evil@example.org");
  EXPECT_EQ(r.header_edits[0].value, "one Bcc: evil@example.org");
  auto ctx = default_context();
  ctx.limits.max_header_edits = 2;
  EXPECT_EQ(actions(req + "addheader \"a\" \"1\"; addheader \"a\" \"1\"; addheader \"a\" \"1\";", kPlain, ctx),
            "error line 2: more than 2 header edits\nstore INBOX\n");
}

TEST(SieveEditheader, ApplyToBytesAgreesWithTheWorkingHeader) {
  std::string raw = std::string("X-A: one\r\nX-A: two\r\nSubject: hi\r\n folded\r\nReceived: by x\r\n\r\nbody line\r\n");
  std::string script =
      "require [\"editheader\", \"index\"];\n"
      "addheader \"X-Top\" \"café au lait\";\n"
      "deleteheader :index 1 \"x-a\";\n"
      "addheader :last \"X-Long\" \"" + std::string(30, 'w') + " " + std::string(30, 'x') + " " + std::string(30, 'y') + "\";\n"
      "deleteheader :contains \"subject\" \"folded\";\n";
  RunResult r = run_on(script, raw);
  ASSERT_TRUE(r.ok);
  ASSERT_EQ(r.header_edits.size(), 4u);
  std::string edited = apply_header_edits(raw, r.header_edits);
  // Parsing the bytes gives the header run() worked on, field for field.
  MemoryMessage m(edited);
  ASSERT_EQ(m.header_fields().size(), r.edited_header.size()) << edited;
  for (std::size_t i = 0; i < r.edited_header.size(); ++i) {
    EXPECT_EQ(m.header_fields()[i].name, r.edited_header[i].name);
    EXPECT_EQ(mime::decode_header_value(mime::unfold(m.header_fields()[i].value)),
              mime::decode_header_value(mime::unfold(r.edited_header[i].value)));
  }
  EXPECT_NE(edited.find("X-Top: =?UTF-8?B?"), std::string::npos);  // RFC 2047 for non-ASCII
  for (std::size_t at = 0, next; at < edited.size(); at = next + 2) {  // folded: no line over 78
    next = edited.find("\r\n", at);
    if (next == std::string::npos) break;
    EXPECT_LE(next - at, 78u) << edited.substr(at, next - at);
  }
  EXPECT_EQ(edited.substr(edited.size() - 13), "\r\nbody line\r\n");
  // An action's copy gets only the edits before it.
  EXPECT_EQ(apply_header_edits(raw, r.header_edits, 0), raw);
  RunResult bare = run_on("require \"editheader\"; addheader \"X-New\" \"v\";", "\r\nonly body\r\n");
  EXPECT_EQ(apply_header_edits("\r\nonly body\r\n", bare.header_edits), "X-New: v\r\n\r\nonly body\r\n");
  // More fields than the parser keeps for the tests: the stored copy loses none.
  std::string many;
  for (int i = 0; i < 1500; ++i) many += "X-N: " + std::to_string(i) + "\r\n";
  many += "Subject: s\r\n\r\nbody\r\n";
  RunResult big = run_on("require \"editheader\"; addheader \"X-Top\" \"t\"; addheader :last \"X-End\" \"e\";", many);
  std::string big_edited = apply_header_edits(many, big.header_edits);
  EXPECT_EQ(big_edited, "X-Top: t\r\n" + many.substr(0, many.size() - 8) + "X-End: e\r\n\r\nbody\r\n");
  std::string one = apply_header_edits(raw, r.header_edits, 1);
  EXPECT_EQ(one.rfind("X-Top:", 0), 0u);
  EXPECT_NE(one.find("X-A: one"), std::string::npos);
}

// ---- spamtest (RFC 3685, RFC 5235) ----

TEST(SieveSpamtest, ScoreFromTheContext) {
  EXPECT_EQ(spamtest_value(0, 15), 1);
  EXPECT_EQ(spamtest_value(7.5, 15), 5);
  EXPECT_EQ(spamtest_value(15, 15), 10);
  EXPECT_EQ(spamtest_value(40, 15), 10);
  EXPECT_EQ(spamtest_value(-3, 15), 1);
  EXPECT_EQ(spamtest_percent(7.5, 15), 50);
  EXPECT_EQ(spamtest_percent(1, 0), 0);
  std::string req = "require [\"spamtest\", \"spamtestplus\", \"relational\", \"comparator-i;ascii-numeric\"];\n";
  auto ctx = default_context();
  EXPECT_EQ(actions(req + "if spamtest :is \"0\" { discard; }", kPlain, ctx), "discard\n");  // not tested
  ctx.spam_score = 8;
  ctx.spam_percent = 77;
  EXPECT_EQ(actions(req + "if spamtest :value \"ge\" :comparator \"i;ascii-numeric\" \"6\" { discard; }", kPlain, ctx), "discard\n");
  EXPECT_EQ(actions(req + "if spamtest :percent :value \"gt\" :comparator \"i;ascii-numeric\" \"80\" { discard; }", kPlain, ctx),
            "store INBOX\n");
  // The per-user default, as a before script.
  auto junk = testing::compile_ok(spam_to_junk_script(8, "Spam \"x\""));
  auto user = testing::compile_ok("require \"fileinto\"; fileinto \"User\";");
  ASSERT_TRUE(junk && user);
  MemoryMessage m(kPlain);
  ctx.spam_score = 9;
  EXPECT_EQ(describe(run({junk.get(), user.get()}, m, ctx)), "store Spam \"x\"\n");
  ctx.spam_score = 7;
  EXPECT_EQ(describe(run({junk.get(), user.get()}, m, ctx)), "store User\n");
  ctx.spam_score = std::nullopt;
  EXPECT_EQ(describe(run({junk.get(), user.get()}, m, ctx)), "store User\n");
  EXPECT_EQ(compile_error("require \"spamtest\"; if spamtest :percent \"5\" {}"),
            "line 1: unknown tag ':percent' for the spamtest test (needs require \"spamtestplus\")");
}

}  // namespace
}  // namespace postline::sieve
