// Sieve at local delivery without a database: the spam verdict, the per-user
// default and its shortcut, the plans runs turn into (stores, redirects,
// vacation replies, rejects), the questions rounds, the script cache.
#include "services/delivery-queue/delivery/sieve_runner.h"

#include <gtest/gtest.h>

namespace postline::queue {
namespace {

namespace sst = mailstore::pg::sieve_state;

const std::string kMessage =
    "From: Alice <alice@example.org>\r\nTo: bob@example.test\r\nSubject: Hello\r\n"
    "Message-ID: <m1@example.org>\r\n\r\nHi Bob\r\n";

std::string with_spam(double score, const char* verdict = "No") {
  return "X-Spam-Status: " + std::string(verdict) + ", score=" + std::to_string(score) +
         " required=5.0 tests=SPF_FAIL(3.5)\r\n" + kMessage;
}

SieveInput input(const std::string& message, std::string target = "") {
  SieveInput in;
  in.message = message;
  in.mail_from = "alice@example.org";
  in.recipient = "bob@example.test";
  in.user_id = 7;
  in.target_mailbox = std::move(target);
  in.queue_id = "Q1";
  in.now = 1'800'000'000;
  return in;
}

CompiledScript compiled(const std::string& text) {
  CompiledScript c;
  c.name = "mine";
  auto r = sieve::compile(text);
  c.script = std::move(r.script);
  c.errors = std::move(r.errors);
  return c;
}

// A run to the end: the questions answered from `world` round after round.
struct World {
  std::set<std::string> mailboxes;
  std::map<std::string, int64_t> vacation_age;
  std::set<std::string> seen;
  std::map<std::string, std::string> scripts;
};
SievePlan run_all(const SieveRunner& runner, const SieveInput& in, const CompiledScript* user, const World& w = {},
                  int* rounds = nullptr) {
  sst::Answers known;
  sst::Questions answered;
  for (int round = 0; round < 5; ++round) {
    sst::Questions asked;
    SievePlan p = runner.run(in, user, known, answered, asked);
    if (asked.empty()) {
      if (rounds) *rounds = round;
      return p;
    }
    for (const auto& m : asked.mailboxes)
      if (w.mailboxes.count(m)) known.mailboxes.insert(m);
    for (const auto& k : asked.vacation_keys)
      if (auto it = w.vacation_age.find(k); it != w.vacation_age.end()) known.vacation_age[k] = it->second;
    for (const auto& k : asked.duplicate_keys)
      if (w.seen.count(k)) known.duplicates_seen.insert(k);
    for (const auto& s : asked.scripts)
      if (auto it = w.scripts.find(s); it != w.scripts.end()) known.scripts[s] = it->second;
    answered.mailboxes.insert(asked.mailboxes.begin(), asked.mailboxes.end());
    answered.vacation_keys.insert(asked.vacation_keys.begin(), asked.vacation_keys.end());
    answered.duplicate_keys.insert(asked.duplicate_keys.begin(), asked.duplicate_keys.end());
    answered.scripts.insert(asked.scripts.begin(), asked.scripts.end());
  }
  ADD_FAILURE() << "still asking after 5 rounds";
  return {};
}

std::vector<std::string> boxes(const SievePlan& p) {
  std::vector<std::string> out;
  for (const auto& s : p.stores) out.push_back(s.mailbox);
  return out;
}

TEST(SieveSpamVerdict, ReadsSmtpdsScoreOnTheRejectScale) {
  SieveSettings s;  // threshold 4, scale 15
  auto v = spam_verdict(with_spam(7.5, "Yes"), false, s);
  ASSERT_TRUE(v.score);
  EXPECT_EQ(*v.score, 5);  // 1 + 9 * 7.5 / 15
  EXPECT_EQ(*v.percent, 50);
  EXPECT_EQ(*spam_verdict(with_spam(-2), false, s).score, 1);
  EXPECT_EQ(*spam_verdict(with_spam(40), false, s).score, 10);
  // No field: not tested, unless smtpd said Junk (DMARC quarantine, Rspamd's
  // "add header"), which counts as the threshold.
  EXPECT_FALSE(spam_verdict(kMessage, false, s).score);
  EXPECT_EQ(spam_verdict(kMessage, true, s).score, 4);
  EXPECT_EQ(spam_verdict(with_spam(1.0), true, s).score, 4);
  EXPECT_EQ(spam_verdict(with_spam(14.0), true, s).score, 9);
  // Only the header section counts.
  EXPECT_FALSE(spam_verdict(kMessage + "X-Spam-Status: Yes, score=99\r\n", false, s).score);
}

// default_mailbox() answers what the spam-to-junk default would do without
// running it: the same mailbox as the script for every score, verdict and threshold.
TEST(SieveDefault, TheShortcutMatchesTheScript) {
  for (int threshold = 0; threshold <= 10; ++threshold) {
    SieveSettings s;
    s.spam_threshold = threshold;
    const SieveRunner runner(s);
    for (double score = -1; score <= 16; score += 0.5)
      for (const char* target : {"", "Junk"}) {
        const std::string msg = with_spam(score, *target ? "Yes" : "No");
        const SievePlan p = run_all(runner, input(msg, target), nullptr);
        ASSERT_EQ(p.stores.size(), 1u);
        EXPECT_EQ(runner.default_mailbox(msg, target), p.stores[0].mailbox)
            << "threshold " << threshold << " score " << score << " target '" << target << "'";
      }
    EXPECT_EQ(runner.default_mailbox(kMessage, ""), "INBOX");
  }
  SieveSettings s;
  const SieveRunner runner(s);
  EXPECT_EQ(runner.default_mailbox(with_spam(5.0), ""), "Junk");  // spam.junk_score's default, on 15
  EXPECT_EQ(runner.default_mailbox(with_spam(4.9), ""), "INBOX");
  EXPECT_EQ(runner.default_mailbox(kMessage, "Junk"), "Junk");
  s.spam_threshold = 0;  // no default: smtpd's verdict alone, as before Sieve
  const SieveRunner off(s);
  EXPECT_EQ(off.default_mailbox(with_spam(12.0), ""), "INBOX");
  EXPECT_EQ(off.default_mailbox(kMessage, "Junk"), "Junk");
}

TEST(SieveRun, TheDefaultRunsAheadOfTheUsersScript) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled("require \"fileinto\"; fileinto \"Lists\";");
  World w;
  w.mailboxes = {"Lists"};
  EXPECT_EQ(boxes(run_all(runner, input(with_spam(9.0, "Yes"), "Junk"), &mine, w)), std::vector<std::string>{"Junk"});
  EXPECT_EQ(boxes(run_all(runner, input(with_spam(1.0)), &mine, w)), std::vector<std::string>{"Lists"});
}

TEST(SieveRun, FileintoWithFlagsAndMissingMailboxes) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled(
      "require [\"fileinto\", \"imap4flags\", \"mailbox\", \"copy\"];\r\n"
      "fileinto :flags [\"\\\\Seen\", \"$Work\", \"bad(flag\"] \"Work\";\r\n"
      "fileinto :copy :create \"New/Box\";\r\n"
      "fileinto :copy \"Gone\";\r\n");
  World w;
  w.mailboxes = {"Work"};
  int rounds = 0;
  const SievePlan p = run_all(runner, input(kMessage), &mine, w, &rounds);
  ASSERT_EQ(p.result, SievePlan::Result::kOk) << p.error;
  EXPECT_EQ(rounds, 1);  // one round of questions: Work and Gone
  EXPECT_EQ(boxes(p), (std::vector<std::string>{"Work", "New/Box", "INBOX"}));
  EXPECT_EQ(p.stores[0].flags.system, mailstore::kSeen);
  EXPECT_EQ(p.stores[0].flags.keywords, std::vector<std::string>{"$Work"});
  EXPECT_EQ(p.stores[0].message, kMessage);
  bool noted_flag = false, noted_box = false;
  for (const auto& n : p.notes) {
    noted_flag = noted_flag || n.find("bad(flag") != std::string::npos;
    noted_box = noted_box || n.find("Gone") != std::string::npos;
  }
  EXPECT_TRUE(noted_flag);
  EXPECT_TRUE(noted_box);
  EXPECT_EQ(p.result, SievePlan::Result::kOk);
}

TEST(SieveRun, InvalidMailboxNamesGoToInbox) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled("require [\"fileinto\", \"mailbox\"]; fileinto :create \"a//b*\";");
  const SievePlan p = run_all(runner, input(kMessage), &mine);
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});
}

TEST(SieveRun, RedirectKeepsTheSenderAndNamesTheRecipient) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled("redirect \"carol@example.net\";");
  const SievePlan p = run_all(runner, input(kMessage), &mine);
  EXPECT_TRUE(p.stores.empty());
  ASSERT_EQ(p.outgoing.size(), 1u);
  const NewMessage& m = p.outgoing[0];
  EXPECT_EQ(m.mail_from, "alice@example.org");
  ASSERT_EQ(m.recipients.size(), 1u);
  EXPECT_EQ(m.recipients[0].address, "carol@example.net");
  EXPECT_TRUE(m.recipients[0].needs_resolve);
  EXPECT_EQ(m.body, "Delivered-To: bob@example.test\r\n" + kMessage);
  EXPECT_TRUE(valid_queue_id(m.queue_id));
  EXPECT_EQ(p.redirected_to, std::vector<std::string>{"carol@example.net"});
}

TEST(SieveRun, RedirectLoopsAreKept) {
  SieveSettings s;
  s.max_hops = 3;
  const SieveRunner runner(s);
  const auto mine = compiled("redirect \"carol@example.net\";");
  // It went through this recipient already.
  const std::string looped = "Delivered-To: bob@example.test\r\n" + kMessage;
  SievePlan p = run_all(runner, input(looped), &mine);
  EXPECT_TRUE(p.outgoing.empty());
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});
  // Too many hops.
  const std::string hops = "Received: a\r\nReceived: b\r\nReceived: c\r\n" + kMessage;
  p = run_all(runner, input(hops), &mine);
  EXPECT_TRUE(p.outgoing.empty());
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});
  // Two hops are fine.
  EXPECT_EQ(run_all(runner, input("Received: a\r\nReceived: b\r\n" + kMessage), &mine).outgoing.size(), 1u);
}

TEST(SieveRun, VacationOncePerPeriodWithANullSender) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled(
      "require \"vacation\";\r\nvacation :days 7 :subject \"Away \xc3\xa9t\xc3\xa9\" \"I am away.\nBack soon.\";\r\n");
  SievePlan p = run_all(runner, input(kMessage), &mine);
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});  // vacation keeps the implicit keep
  ASSERT_EQ(p.outgoing.size(), 1u);
  ASSERT_EQ(p.vacation_keys.size(), 1u);
  const NewMessage& reply = p.outgoing[0];
  EXPECT_EQ(reply.mail_from, "");
  ASSERT_EQ(reply.recipients.size(), 1u);
  EXPECT_EQ(reply.recipients[0].address, "alice@example.org");
  EXPECT_NE(reply.body.find("Auto-Submitted: auto-replied\r\n"), std::string::npos);
  EXPECT_NE(reply.body.find("In-Reply-To: <m1@example.org>\r\n"), std::string::npos);
  EXPECT_NE(reply.body.find("To: <alice@example.org>\r\n"), std::string::npos);
  EXPECT_NE(reply.body.find("Subject: =?UTF-8?B?"), std::string::npos);
  EXPECT_NE(reply.body.find("\r\n\r\nI am away.\r\nBack soon.\r\n"), std::string::npos);
  // Replied an hour ago: nothing this time.
  World w;
  w.vacation_age[p.vacation_keys[0]] = 3600;
  p = run_all(runner, input(kMessage), &mine, w);
  EXPECT_TRUE(p.outgoing.empty());
  EXPECT_TRUE(p.vacation_keys.empty());
  // Eight days ago: the period is over.
  w.vacation_age.begin()->second = 8 * 86400;
  EXPECT_EQ(run_all(runner, input(kMessage), &mine, w).outgoing.size(), 1u);
  // Never to a list, bulk mail or the null sender.
  EXPECT_TRUE(run_all(runner, input("List-Id: <x.example.org>\r\n" + kMessage), &mine).outgoing.empty());
  EXPECT_TRUE(run_all(runner, input("Precedence: bulk\r\n" + kMessage), &mine).outgoing.empty());
  auto null_sender = input(kMessage);
  null_sender.mail_from = "";
  EXPECT_TRUE(run_all(runner, null_sender, &mine).outgoing.empty());
}

TEST(SieveRun, RejectAndDiscard) {
  const SieveRunner runner(SieveSettings{});
  const auto rej = compiled("require \"reject\"; reject text:\r\nNot\r\nhere.\r\n.\r\n;");
  SievePlan p = run_all(runner, input(kMessage), &rej);
  ASSERT_TRUE(p.reject);
  EXPECT_EQ(*p.reject, "Not here.");
  EXPECT_TRUE(p.stores.empty());
  const auto dis = compiled("discard;");
  p = run_all(runner, input(kMessage), &dis);
  EXPECT_TRUE(p.stores.empty());
  EXPECT_TRUE(p.outgoing.empty());
  EXPECT_FALSE(p.reject);
}

TEST(SieveRun, DuplicateMarksOnlyForASuccessfulRun) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled("require \"duplicate\"; if duplicate { discard; }");
  SievePlan p = run_all(runner, input(kMessage), &mine);
  ASSERT_EQ(p.duplicates.size(), 1u);
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});
  World w;
  w.seen.insert(p.duplicates[0].key);
  p = run_all(runner, input(kMessage), &mine, w);
  EXPECT_TRUE(p.stores.empty());  // discarded: seen before
}

TEST(SieveRun, IncludeReadsTheUsersOtherScripts) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled("require [\"include\"]; include :personal \"lists\";");
  World w;
  w.scripts["lists"] = "require \"fileinto\"; fileinto \"Archive\";";
  const SievePlan p = run_all(runner, input(kMessage), &mine, w);
  EXPECT_EQ(p.result, SievePlan::Result::kOk) << p.error;
  EXPECT_EQ(boxes(p), std::vector<std::string>{"Archive"});
}

TEST(SieveRun, BrokenScriptsKeepTheMessage) {
  const SieveRunner runner(SieveSettings{});
  // Does not compile: left out, the default still runs.
  const auto broken = compiled("frobnicate;");
  ASSERT_FALSE(broken.script);
  SievePlan p = run_all(runner, input(kMessage), &broken);
  EXPECT_EQ(p.result, SievePlan::Result::kCompileError);
  EXPECT_NE(p.error.find("frobnicate"), std::string::npos);
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});
  EXPECT_EQ(boxes(run_all(runner, input(with_spam(12.0, "Yes"), "Junk"), &broken)), std::vector<std::string>{"Junk"});
  // A runtime error (more redirects than allowed): INBOX, nothing else.
  const auto many = compiled(
      "redirect \"a@x.test\"; redirect \"b@x.test\"; redirect \"c@x.test\"; redirect \"d@x.test\"; "
      "redirect \"e@x.test\";");
  p = run_all(runner, input(kMessage), &many);
  EXPECT_EQ(p.result, SievePlan::Result::kRuntimeError);
  EXPECT_TRUE(p.outgoing.empty());
  EXPECT_EQ(boxes(p), std::vector<std::string>{"INBOX"});
}

TEST(SieveRun, HeaderEditsReachTheStoredCopy) {
  const SieveRunner runner(SieveSettings{});
  const auto mine = compiled("require \"editheader\"; addheader \"X-Sorted\" \"yes\";");
  const SievePlan p = run_all(runner, input(kMessage), &mine);
  ASSERT_EQ(p.stores.size(), 1u);
  EXPECT_EQ(p.stores[0].message.rfind("X-Sorted: yes\r\n", 0), 0u);
}

TEST(SieveRunner, AdministratorsScriptsAndSimpleStores) {
  SieveSettings s;
  s.before = {{"archive", "require [\"fileinto\", \"imap4flags\"]; addflag \"$Seen-By-Admin\";"}};
  s.after = {{"last", "require \"fileinto\"; if header :contains \"subject\" \"report\" { fileinto \"Reports\"; }"}};
  const SieveRunner runner(s);
  EXPECT_TRUE(runner.has_global_scripts());
  auto simple = runner.simple_store(input(kMessage));
  ASSERT_TRUE(simple);
  EXPECT_EQ(simple->mailbox, "INBOX");
  EXPECT_EQ(simple->flags.keywords, std::vector<std::string>{"$Seen-By-Admin"});
  // Reports needs a lookup (no :create): not simple, a worker runs it.
  const std::string report = "Subject: weekly report\r\n\r\nx\r\n";
  EXPECT_FALSE(runner.simple_store(input(report)));
  // A before script that does not compile stops queued at start.
  SieveSettings bad;
  bad.before = {{"oops", "fileinto \"x\";"}};
  EXPECT_THROW(SieveRunner{bad}, std::exception);
}

TEST(SieveRunner, CompilesAScriptOncePerVersion) {
  SieveRunner runner(SieveSettings{});
  int loads = 0;
  auto text = [&]() -> std::optional<std::string> {
    ++loads;
    return std::string("keep;");
  };
  auto a = runner.user_script(7, "s", "sha-1", text);
  auto b = runner.user_script(7, "s", "sha-1", text);
  EXPECT_EQ(a, b);
  EXPECT_EQ(loads, 1);
  ASSERT_TRUE(a && a->script);
  runner.user_script(7, "s", "sha-2", text);  // a new version
  runner.user_script(8, "s", "sha-1", text);  // another user
  EXPECT_EQ(loads, 3);
  EXPECT_EQ(runner.cached_scripts(), 3u);
  EXPECT_FALSE(runner.user_script(9, "gone", "sha-3", [] { return std::optional<std::string>(); }));
}

TEST(SieveFlags, OnlyImapFlags) {
  std::vector<std::string> dropped;
  auto f = sieve_flags({"\\seen", "\\Recent", "\\Bogus", "$Label1", "has space", "Junk"}, &dropped);
  EXPECT_EQ(f.system, mailstore::kSeen);
  EXPECT_EQ(f.keywords, (std::vector<std::string>{"$Label1", "Junk"}));
  EXPECT_EQ(dropped, (std::vector<std::string>{"\\Recent", "\\Bogus", "has space"}));
}

}  // namespace
}  // namespace postline::queue
