// The dispatcher (commands/dispatch.h): the command head, the table and the
// states, the mapping of exceptions to NO/BAD, BAD counting, the effects, and
// the sync of the selected mailbox after every command.
#include "services/imap-access/commands/testing/session_harness.h"

#include "common/db/unavailable.h"

#include <gtest/gtest.h>

namespace postline::imap {
namespace {

using namespace testing;  // postline::imap::testing: the harness

// Every store call fails the way the real store does when PostgreSQL is gone
// (or with an unexpected exception).
class BrokenStore final : public mailstore::MailStore {
 public:
  explicit BrokenStore(bool outage) : outage_(outage) {}
  [[noreturn]] void fail() const {
    if (outage_) throw db::Unavailable("connection refused");
    throw std::runtime_error("disk on fire");
  }
  void ensure_account(mailstore::UserId) override { fail(); }
  mailstore::MailboxList list(mailstore::UserId) override { fail(); }
  std::optional<mailstore::MailboxInfo> find_mailbox(mailstore::UserId, const std::string&) override { fail(); }
  std::vector<mailstore::MailboxStatus> status(mailstore::UserId, const std::vector<std::string>&) override { fail(); }
  mailstore::StoreError create_mailbox(mailstore::UserId, const std::string&) override { fail(); }
  mailstore::StoreError delete_mailbox(mailstore::UserId, const std::string&) override { fail(); }
  mailstore::StoreError rename_mailbox(mailstore::UserId, const std::string&, const std::string&) override { fail(); }
  mailstore::StoreError subscribe(mailstore::UserId, const std::string&) override { fail(); }
  void unsubscribe(mailstore::UserId, const std::string&) override { fail(); }
  mailstore::Usage usage(mailstore::UserId) override { fail(); }
  mailstore::Opened open(mailstore::UserId, const std::string&, std::optional<mailstore::Modseq>) override { fail(); }
  mailstore::Changes changes_since(mailstore::UserId, mailstore::MailboxId, mailstore::Modseq) override { fail(); }
  std::optional<mailstore::Uid> claim_recent(mailstore::UserId, mailstore::MailboxId, mailstore::Uid) override {
    fail();
  }
  mailstore::Uid first_recent_uid(mailstore::UserId, mailstore::MailboxId) override { fail(); }
  std::vector<mailstore::Uid> expunged_since(mailstore::UserId, mailstore::MailboxId, mailstore::Modseq) override {
    fail();
  }
  std::vector<std::pair<mailstore::Uid, std::string>> delivery_keys(mailstore::UserId, mailstore::MailboxId,
                                                                    const std::vector<mailstore::Uid>&) override {
    fail();
  }
  std::vector<mailstore::MessageData> read_messages(mailstore::UserId, mailstore::MailboxId,
                                                    const std::vector<mailstore::Uid>&, unsigned) override {
    fail();
  }
  mailstore::BodySet read_bodies(mailstore::UserId, const std::vector<std::string>&) override { fail(); }
  mailstore::BodySet read_ranges(mailstore::UserId, const std::vector<mailstore::BodyRange>&) override { fail(); }
  std::vector<mailstore::SearchHit> search(mailstore::UserId, mailstore::MailboxId,
                                           const mailstore::SearchCriterion&) override {
    fail();
  }
  std::vector<mailstore::Uid> sort(mailstore::UserId, mailstore::MailboxId, const mailstore::SearchCriterion&,
                                   const std::vector<mailstore::SortCriterion>&) override {
    fail();
  }
  std::vector<mailstore::ThreadNode> thread(mailstore::UserId, mailstore::MailboxId,
                                            const mailstore::SearchCriterion&, mailstore::ThreadAlgorithm) override {
    fail();
  }
  mailstore::FlagUpdate store_flags(mailstore::UserId, mailstore::MailboxId, const std::vector<mailstore::Uid>&,
                                    mailstore::FlagMode, const mailstore::Flags&,
                                    std::optional<mailstore::Modseq>) override {
    fail();
  }
  std::vector<mailstore::Uid> expunge(mailstore::UserId, mailstore::MailboxId,
                                      const std::optional<std::vector<mailstore::Uid>>&) override {
    fail();
  }
  mailstore::AppendResult append(mailstore::UserId, const std::string&, const std::vector<mailstore::AppendItem>&,
                                 const mailstore::Quota&) override {
    fail();
  }
  mailstore::ReplaceResult replace(mailstore::UserId, mailstore::MailboxId, mailstore::Uid, const std::string&,
                                   const mailstore::AppendItem&, const mailstore::Quota&) override {
    fail();
  }
  mailstore::CopyResult copy(mailstore::UserId, mailstore::MailboxId, const std::vector<mailstore::Uid>&,
                             const std::string&, bool, const mailstore::Quota&) override {
    fail();
  }
  std::vector<mailstore::DeliveryResult> deliver(mailstore::UserId, std::string_view,
                                                 const std::vector<mailstore::DeliveryItem>&,
                                                 const mailstore::Quota&) override {
    fail();
  }
  mailstore::PruneResult prune_expunged(std::chrono::seconds, int64_t) override { fail(); }
  mailstore::MetadataResult get_metadata(mailstore::UserId, const std::string&, const std::vector<std::string>&,
                                         mailstore::MetadataDepth, std::optional<size_t>) override {
    fail();
  }
  mailstore::MetadataError set_metadata(mailstore::UserId, const std::string&,
                                        const std::vector<mailstore::MetadataUpdate>&) override {
    fail();
  }
  std::optional<std::string> urlauth_key(mailstore::UserId, const std::string&, bool) override { fail(); }
  bool reset_urlauth_keys(mailstore::UserId, const std::string&) override { fail(); }
  void start_change_feed(mailstore::ChangeCallback) override { fail(); }
  void stop_change_feed() override {}
  std::vector<std::pair<mailstore::WatchedMailbox, mailstore::Modseq>> highest_modseqs(
      const std::vector<mailstore::WatchedMailbox>&) override {
    fail();
  }
  bool ping() override { return false; }

 private:
  bool outage_;
};

const std::string kMessage = "From: a@example.test\r\nSubject: hello\r\n\r\nbody\r\n";

TEST(Dispatch, LineWithoutTagIsUntaggedBad) {
  SessionHarness h;
  EXPECT_EQ(h.run("(x NOOP"), "* BAD missing or invalid tag\r\n");
  EXPECT_TRUE(h.last().syntax_error);
  EXPECT_EQ(h.last().command, "");
  EXPECT_EQ(h.run("+ NOOP"), "* BAD missing or invalid tag\r\n");  // '+' is not allowed in a tag
}

TEST(Dispatch, TagWithoutCommandIsTaggedBad) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1"), "a1 BAD Invalid command: missing argument\r\n");
  EXPECT_EQ(h.run("a2 UID"), "a2 BAD Invalid command: missing argument\r\n");
  EXPECT_EQ(h.run("a3 (NOOP"), "a3 BAD Invalid command: expected an atom\r\n");
}

TEST(Dispatch, UnknownCommand) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 XYZZY"), "a1 BAD Unknown command\r\n");
  EXPECT_EQ(h.last().command, "unknown");
  EXPECT_EQ(h.run("a2 UID NOOP"), "a2 BAD Unknown command\r\n");  // only some commands have a UID form
}

TEST(Dispatch, NamesAreCaseInsensitive) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 noop"), "a1 OK NOOP completed\r\n");
  EXPECT_EQ(h.last().command, "NOOP");
  h.login();
  h.select();
  EXPECT_EQ(h.run("a2 uid Fetch 1:* FLAGS"), "a2 OK UID FETCH completed\r\n");
  EXPECT_EQ(h.last().command, "UID FETCH");
}

TEST(Dispatch, CommandsOutsideTheirStatesAreBad) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 SELECT INBOX"), "a1 BAD Log in first\r\n");
  EXPECT_EQ(h.run("a2 FETCH 1 FLAGS"), "a2 BAD Log in first\r\n");
  h.login();
  EXPECT_EQ(h.run("a3 FETCH 1 FLAGS"), "a3 BAD Select a mailbox first\r\n");
  EXPECT_EQ(h.run("a4 CLOSE"), "a4 BAD Select a mailbox first\r\n");
  EXPECT_EQ(h.run("a5 LOGIN x y"), "a5 BAD Select a mailbox first\r\n");  // the message names the state
  h.select();
  EXPECT_EQ(h.run("a6 LOGIN x y"), "a6 BAD Command not valid in this state\r\n");
  EXPECT_EQ(h.run("a7 AUTHENTICATE PLAIN"), "a7 BAD Command not valid in this state\r\n");
  EXPECT_EQ(h.session().state, State::kSelected);
}

TEST(Dispatch, ArgumentSyntaxErrorsAreBad) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 NOOP now"), "a1 BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_TRUE(h.last().syntax_error);
  EXPECT_EQ(h.last().command, "NOOP");
  EXPECT_EQ(h.last().status, Status::kBad);
  EXPECT_EQ(h.run("a2 LOGIN onlyone"), "a2 BAD Invalid arguments: missing argument\r\n");
  EXPECT_TRUE(h.auth().attempts.empty());
}

TEST(Dispatch, TooManyBadCommandsCloseTheSession) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.max_bad_commands = 2;
  SessionHarness h(settings);
  h.run("a1 XYZZY");
  EXPECT_FALSE(h.last().close);
  h.run("a2 NOOP x");
  EXPECT_FALSE(h.last().close);
  // Over the allowance: the tagged BAD and the BYE, then the connection closes.
  EXPECT_EQ(h.run("a3 XYZZY"), "a3 BAD Unknown command\r\n* BYE Too many invalid commands\r\n");
  EXPECT_TRUE(h.last().close);
  // A handler's BAD puts the BYE first (as the connection always did).
  EXPECT_EQ(h.run("a4 NOOP x"),
            "* BYE Too many invalid commands\r\na4 BAD Invalid arguments: unexpected characters after the command\r\n");
  EXPECT_TRUE(h.last().close);
  EXPECT_EQ(h.session().bad_commands, 4);
}

TEST(Dispatch, BadCountedOutsideCommands) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.max_bad_commands = 1;
  SessionHarness h(settings);
  Dispatcher d(h.session(), h.services(), {});
  EXPECT_FALSE(d.count_bad());
  EXPECT_EQ(d.count_bad(), "* BYE Too many invalid commands\r\n");
}

TEST(Dispatch, NoAndOkAnswersAreNotCounted) {
  Settings settings = SessionHarness::plaintext_settings();
  settings.max_bad_commands = 0;
  SessionHarness h(settings);
  h.login();
  h.run("a1 SELECT Nowhere");
  EXPECT_EQ(h.last().status, Status::kNo);
  EXPECT_FALSE(h.last().close);
  EXPECT_EQ(h.session().bad_commands, 0);
}

TEST(Dispatch, StoreOutageIsNoUnavailable) {
  SessionHarness h;
  h.login();
  BrokenStore down(true);
  h.services().store = &down;
  EXPECT_EQ(h.run("a1 STATUS INBOX (MESSAGES)"),
            "a1 NO [UNAVAILABLE] Server temporarily unavailable, try again later\r\n");
  EXPECT_EQ(h.last().status, Status::kNo);
}

TEST(Dispatch, UnexpectedFailureIsNoServerbugWithoutDetail) {
  SessionHarness h;
  h.login();
  BrokenStore broken(false);
  h.services().store = &broken;
  const std::string r = h.run("a1 CREATE x");
  EXPECT_EQ(r, "a1 NO [SERVERBUG] Internal server error\r\n");
  EXPECT_EQ(r.find("fire"), std::string::npos);  // the detail goes to the log only
}

TEST(Dispatch, FailedLoginAsksForTheDelay) {
  SessionHarness h;
  h.auth().add("u@example.test", "right");
  EXPECT_EQ(h.run("a1 LOGIN u@example.test wrong"), "a1 NO [AUTHENTICATIONFAILED] Authentication failed\r\n");
  EXPECT_TRUE(h.last().login_failed);
  EXPECT_EQ(h.last().code, "AUTHENTICATIONFAILED");
  h.run("a2 LOGIN u@example.test right");
  EXPECT_FALSE(h.last().login_failed);
}

TEST(Dispatch, Effects) {
  SessionHarness h;
  EXPECT_EQ(h.run("a1 LOGOUT"), "* BYE Postline IMAP signing off\r\na1 OK LOGOUT completed\r\n");
  EXPECT_EQ(h.last().effect, Effect::kClose);
  SessionHarness idle;
  idle.login();
  EXPECT_EQ(idle.run("a1 IDLE"), "");  // the IDLE loop answers after DONE
  EXPECT_EQ(idle.last().effect, Effect::kIdle);
  EXPECT_EQ(idle.last().tag, "a1");
  EXPECT_EQ(idle.last().reply, "");
}

// A change made by another session reaches this one after its next command,
// before the tagged line; EXPUNGE waits while a command by sequence number runs.
TEST(Dispatch, ChangesOfOtherSessionsFollowTheNextCommand) {
  SessionHarness h;
  h.login();
  h.add_message(kMessage);
  h.select();
  auto other = h.another_session();
  other->login();
  other->select();
  other->run("o1 STORE 1 +FLAGS (\\Deleted)");
  other->run("o2 EXPUNGE");
  other->run("o3 APPEND INBOX {" + std::to_string(kMessage.size()) + "}\r\n" + kMessage);
  EXPECT_EQ(h.run("a1 CAPABILITY").find("EXISTS"), std::string::npos);  // not told yet
  h.mark_dirty();
  // FETCH by sequence number: no EXPUNGE now, the new message is announced.
  EXPECT_EQ(h.run("a2 FETCH 1 UID"),
            "* 1 FETCH (UID 1)\r\n"
            "* 2 EXISTS\r\n"
            "a2 OK FETCH completed\r\n");
  // The next command that allows it reports the expunge.
  EXPECT_EQ(h.run("a3 NOOP"), "* 1 EXPUNGE\r\na3 OK NOOP completed\r\n");
  EXPECT_EQ(h.session().selected->exists(), 1u);
  EXPECT_EQ(h.session().selected->uid_at(1), 2u);
}

TEST(Dispatch, ChangesAlsoFollowABadCommand) {
  SessionHarness h;
  h.login();
  h.select();
  h.add_message(kMessage);
  h.mark_dirty();
  EXPECT_EQ(h.run("a1 FETCH x"), "* 1 EXISTS\r\na1 BAD Invalid arguments: expected a sequence set\r\n");
}

TEST(Dispatch, SelectedMailboxDeletedElsewhereEndsTheSession) {
  SessionHarness h;
  h.login();
  h.run("a1 CREATE Box");
  h.select("Box");
  ASSERT_EQ(h.store().delete_mailbox(h.user_id(), "Box"), mailstore::StoreError::kNone);
  h.mark_dirty();
  EXPECT_EQ(h.run("a2 NOOP"), "* BYE Selected mailbox was deleted, have to disconnect\r\na2 OK NOOP completed\r\n");
  EXPECT_EQ(h.last().effect, Effect::kClose);
  EXPECT_EQ(h.session().state, State::kLogout);
}

}  // namespace
}  // namespace postline::imap
