// Sieve at local delivery against a real PostgreSQL holding the queue's and
// the mailstore's tables: workers running users' scripts (fileinto with flags,
// discard, redirect queued once, vacation once per period and never to a list
// or the null sender, reject as a DSN, duplicate), broken scripts keeping the
// message in INBOX with a metric, a retry after a simulated crash repeating
// nothing, and the Enqueue-time delivery leaving users with a script to the
// workers while delivering everyone else at once (with the spam default).
// SievePgShards: the account on a second database (a shard other than the
// queue's): the run in that shard's transaction, its redirect and vacation
// reply queued once through the outbox (sql/021), also across a crash between
// the shard's commit and the claim's; an account being moved defers; and the
// hand-off right after Enqueue (immediate_delivery.h): delivered into the
// shard without a worker's claim, a user with a script left to the workers,
// and a crash between the shard's commit and the queue's mark delivering
// once.
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/db/pq.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/delivery_key.h"
#include "common/mailstore/pg/pg_sieve_scripts.h"
#include "common/mailstore/sql/migrations.h"
#include "services/delivery-queue/delivery/enqueue_delivery.h"
#include "services/delivery-queue/delivery/immediate_delivery.h"
#include "services/delivery-queue/delivery/mailstore_delivery.h"
#include "services/delivery-queue/delivery/sieve_delivery.h"
#include "services/delivery-queue/delivery/workers.h"
#include "services/delivery-queue/sql/migrations.h"
#include "services/delivery-queue/store/queue_store.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>
#include <prometheus/registry.h>
#include <pqxx/pqxx>

using namespace postline;
using namespace postline::queue;

namespace {

constexpr int64_t kBob = 7;

// Resolves nothing (the redirects and replies stay queued where the test can see them).
class NoResolver final : public RecipientResolver {
 public:
  Resolution resolve(const std::string&) override { return {}; }  // kTemporaryFailure
};

class SievePg : public ::testing::Test {
 protected:
  void SetUp() override {
    url = postline::testing::create_test_database("queue_sieve");
    check = std::make_unique<pqxx::connection>(url);
    db::migrate(*check, queue::sql::migrations());
    db::migrate(*check, mailstore::sql::migrations());
    mailstore::pg::PgOptions o;
    o.url = url;
    o.pool_size = 2;
    o.index_cache_messages = 0;
    store = std::make_unique<mailstore::pg::PgMailStore>(o);
    scripts = std::make_unique<mailstore::pg::PgSieveScriptStore>(url, 2);
    pq_pool = std::make_unique<db::pq::Pool>(url, 2);
    pool = std::make_unique<db::Pool>(url, 4);
    registry = std::make_shared<prometheus::Registry>();
    metrics = std::make_unique<QueueMetrics>(*registry);
    make_sieve(SieveSettings{});
  }

  void make_sieve(SieveSettings s) {
    sieve.reset();
    runner = std::make_unique<SieveRunner>(std::move(s));
    sieve = std::make_unique<SieveDelivery>(*pq_pool, *store, *runner, metrics.get(), [this] { ++wakes; });
    local = std::make_unique<MailstoreDelivery>(*store);
    WorkerConfig c;
    c.batch_size = 50;
    c.hostname = "mx.example.org";
    c.policy = RetryPolicy::parse({"1m"}, std::chrono::hours(24), "test");
    workers = std::make_unique<Workers>(*pool, c, local.get(), nullptr, &resolver, metrics.get());
    workers->use_sieve(sieve.get());
  }

  void script(const std::string& text, int64_t user = kBob) {
    scripts->put_script(user, "main", text);
    ASSERT_TRUE(scripts->set_active_script(user, "main"));
  }

  static NewMessage message(std::string body, std::string from = "alice@example.org", std::string target = "") {
    NewMessage m;
    m.mail_from = std::move(from);
    m.target_mailbox = std::move(target);
    NewRecipient r;
    r.address = "bob@example.org";
    r.local = true;
    r.user_id = kBob;
    m.recipients.push_back(r);
    m.body = std::move(body);
    return m;
  }
  static std::string mail(const std::string& subject, const std::string& extra = "") {
    return "From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: " + subject +
           "\r\nMessage-ID: <" + subject + "@example.org>\r\n" + extra + "\r\nHello Bob\r\n";
  }
  std::string enqueue_one(const NewMessage& m) {
    pqxx::connection c(url);
    return enqueue(c, m).queue_id;
  }
  void deliver_all() {
    while (workers->run_once() > 0) {
    }
  }

  int64_t count(const std::string& q) {
    pqxx::read_transaction tx(*check);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  std::string text(const std::string& q) {
    pqxx::read_transaction tx(*check);
    auto r = tx.exec(q);
    return r.empty() || r[0][0].is_null() ? std::string() : r[0][0].as<std::string>();
  }
  std::vector<std::string> mailboxes_with_mail() {
    std::vector<std::string> out;
    pqxx::read_transaction tx(*check);
    for (const auto& row : tx.exec("SELECT b.name FROM mailstore_messages m JOIN mailstore_mailboxes b "
                                   "ON b.user_id = m.user_id AND b.mailbox_id = m.mailbox_id ORDER BY m.uid, b.name"))
      out.push_back(row[0].as<std::string>());
    return out;
  }
  // Messages a Sieve run queued (not the test's own): by their recipients' resolution flag.
  int64_t queued_by_sieve(const std::string& extra = "") {
    return count("SELECT count(DISTINCT m.id) FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id "
                 "WHERE r.needs_resolve AND NOT m.is_dsn" + extra);
  }
  double counter(const std::string& family, const std::string& label, const std::string& value) {
    for (const auto& f : registry->Collect()) {
      if (f.name != family) continue;
      for (const auto& m : f.metric)
        for (const auto& l : m.label)
          if (l.name == label && l.value == value) return m.counter.value;
    }
    return 0;
  }

  std::string url;
  std::unique_ptr<pqxx::connection> check;
  std::unique_ptr<mailstore::pg::PgMailStore> store;
  std::unique_ptr<mailstore::pg::PgSieveScriptStore> scripts;
  std::unique_ptr<db::pq::Pool> pq_pool;
  std::unique_ptr<db::Pool> pool;
  std::shared_ptr<prometheus::Registry> registry;
  std::unique_ptr<QueueMetrics> metrics;
  std::unique_ptr<SieveRunner> runner;
  std::unique_ptr<SieveDelivery> sieve;
  std::unique_ptr<MailstoreDelivery> local;
  NoResolver resolver;
  std::unique_ptr<Workers> workers;
  int wakes = 0;
};

TEST_F(SievePg, FileintoStoresInTheNamedMailboxWithFlags) {
  script("require [\"fileinto\", \"imap4flags\", \"mailbox\"];\r\n"
         "if header :contains \"subject\" \"report\" { fileinto :create :flags \"\\\\Flagged $Report\" \"Work/Reports\"; }\r\n");
  enqueue_one(message(mail("weekly-report")));
  enqueue_one(message(mail("lunch")));
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), (std::vector<std::string>{"INBOX", "Work/Reports"}));
  EXPECT_EQ(count("SELECT sysflags FROM mailstore_messages m JOIN mailstore_mailboxes b ON b.mailbox_id = m.mailbox_id "
                  "WHERE b.name = 'Work/Reports'"),
            4);  // \Flagged
  EXPECT_EQ(text("SELECT array_to_string(keywords, ' ') FROM mailstore_messages WHERE keywords IS NOT NULL"),
            "$Report");
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 2);
  EXPECT_EQ(text("SELECT last_reply FROM queue_recipients ORDER BY id LIMIT 1"),
            "250 2.0.0 Sieve: delivered to Work/Reports");
  // The stored copy carries Return-Path like any local delivery.
  EXPECT_EQ(text("SELECT substr(convert_from(b.data, 'UTF8'), 1, 33) FROM mailstore_blobs b "
                 "JOIN mailstore_messages m ON m.blob_sha256 = b.sha256 LIMIT 1"),
            "Return-Path: <alice@example.org>\r");
  EXPECT_EQ(counter("postline_queued_sieve_runs_total", "result", "ok"), 2);
  EXPECT_EQ(counter("postline_queued_sieve_actions_total", "action", "fileinto"), 1);
}

TEST_F(SievePg, FileintoAMissingMailboxWithoutCreateGoesToInbox) {
  script("require \"fileinto\"; fileinto \"Nowhere\";");
  enqueue_one(message(mail("x")));
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), std::vector<std::string>{"INBOX"});
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_mailboxes WHERE name = 'Nowhere'"), 0);
  // Once it exists, it is used.
  ASSERT_EQ(store->create_mailbox(kBob, "Nowhere"), mailstore::StoreError::kNone);
  enqueue_one(message(mail("y")));
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), (std::vector<std::string>{"INBOX", "Nowhere"}));
}

TEST_F(SievePg, DiscardStoresNothing) {
  script("if address :is \"from\" \"alice@example.org\" { discard; }");
  enqueue_one(message(mail("spam")));
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  EXPECT_EQ(text("SELECT state || ' ' || last_reply FROM queue_recipients"), "delivered 250 2.0.0 Sieve: discarded");
}

TEST_F(SievePg, RedirectIsQueuedOnceAndNamesTheRecipient) {
  script("redirect \"carol@remote.test\";");
  const std::string qid = enqueue_one(message(mail("fwd")));
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  ASSERT_EQ(queued_by_sieve(), 1);
  EXPECT_EQ(text("SELECT m.mail_from || ' ' || r.address FROM queue_messages m JOIN queue_recipients r "
                 "ON r.message_id = m.id WHERE r.needs_resolve"),
            "alice@example.org carol@remote.test");
  EXPECT_EQ(text("SELECT substr(convert_from(m.body, 'UTF8'), 1, 31) FROM queue_messages m JOIN queue_recipients r "
                 "ON r.message_id = m.id WHERE r.needs_resolve"),
            "Delivered-To: bob@example.org\r\n");
  EXPECT_EQ(text("SELECT last_reply FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id "
                 "WHERE m.queue_id = '" + qid + "'"),
            "250 2.0.0 Sieve: redirected to <carol@remote.test>");
  EXPECT_GE(wakes, 1);  // the copy is due now
  deliver_all();        // the copy's recipient cannot be resolved (no authd here): it waits
  EXPECT_EQ(queued_by_sieve(), 1);
}

TEST_F(SievePg, VacationOncePerPeriodAndNeverToListsOrTheNullSender) {
  script("require \"vacation\"; vacation :days 7 :subject \"Away\" \"I am on holiday.\";");
  enqueue_one(message(mail("one")));
  enqueue_one(message(mail("two")));
  enqueue_one(message(mail("list", "List-Id: <team.example.org>\r\n")));
  enqueue_one(message(mail("bulk", "Precedence: bulk\r\n")));
  enqueue_one(message(mail("bounce"), ""));
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 5);  // vacation keeps every message
  ASSERT_EQ(queued_by_sieve(), 1);
  EXPECT_EQ(text("SELECT '<' || m.mail_from || '> ' || r.address FROM queue_messages m JOIN queue_recipients r "
                 "ON r.message_id = m.id WHERE r.needs_resolve"),
            "<> alice@example.org");
  const std::string reply = text("SELECT convert_from(m.body, 'UTF8') FROM queue_messages m JOIN queue_recipients r "
                                 "ON r.message_id = m.id WHERE r.needs_resolve");
  EXPECT_NE(reply.find("Auto-Submitted: auto-replied\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("Subject: Away\r\n"), std::string::npos) << reply;
  EXPECT_NE(reply.find("In-Reply-To: <one@example.org>\r\n"), std::string::npos) << reply;
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_vacation WHERE user_id = 7"), 1);
  // Another sender gets one too.
  enqueue_one(message(mail("dave"), "dave@example.net"));
  deliver_all();
  EXPECT_EQ(queued_by_sieve(), 2);
  // The period is over: alice gets another.
  {
    pqxx::work tx(*check);
    tx.exec("UPDATE mailstore_sieve_vacation SET replied_at = now() - interval '8 days'");
    tx.commit();
  }
  enqueue_one(message(mail("three")));
  deliver_all();
  EXPECT_EQ(queued_by_sieve(), 3);  // alice again
}

TEST_F(SievePg, RejectIsADsnToTheSenderNeverToTheNullSender) {
  script("require \"reject\"; reject \"I do not take mail from you.\";");
  enqueue_one(message(mail("r1")));
  enqueue_one(message(mail("r2"), ""));
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id "
                  "WHERE NOT m.is_dsn AND r.state = 'bounced'"),
            2);
  EXPECT_EQ(text("SELECT last_reply FROM queue_recipients ORDER BY id LIMIT 1"),
            "550 5.7.1 rejected by the recipient's Sieve script: I do not take mail from you.");
  // One DSN, to alice (the null sender gets none), about 5.7.1.
  ASSERT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 1);
  EXPECT_EQ(text("SELECT r.address FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id "
                 "WHERE m.is_dsn"),
            "alice@example.org");
  EXPECT_NE(text("SELECT convert_from(body, 'UTF8') FROM queue_messages WHERE is_dsn").find("5.7.1"),
            std::string::npos);
}

TEST_F(SievePg, DuplicateIdsAreRemembered) {
  script("require \"duplicate\"; if duplicate { discard; }");
  enqueue_one(message(mail("same")));
  enqueue_one(message(mail("same")));
  enqueue_one(message(mail("other")));
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_duplicates"), 2);
}

TEST_F(SievePg, BrokenScriptsKeepTheMessageInInboxWithAMetric) {
  // Stored without a check (ManageSieve would refuse it; an older version of
  // the interpreter might have taken it).
  script("require \"fileinto\"; fileinto \"x\" \"y\";");
  enqueue_one(message(mail("a")));
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), std::vector<std::string>{"INBOX"});
  EXPECT_EQ(counter("postline_queued_sieve_runs_total", "result", "compile_error"), 1);
  // A runtime error (more redirects than allowed): INBOX, nothing queued.
  script("redirect \"a@x.test\"; redirect \"b@x.test\"; redirect \"c@x.test\"; redirect \"d@x.test\"; "
         "redirect \"e@x.test\";");
  enqueue_one(message(mail("b")));
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), (std::vector<std::string>{"INBOX", "INBOX"}));
  EXPECT_EQ(queued_by_sieve(), 0);
  EXPECT_EQ(counter("postline_queued_sieve_runs_total", "result", "runtime_error"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 2);
}

// The process dies after the Sieve transaction committed and before the
// worker's claim did: the retry finds the run and repeats none of it.
TEST_F(SievePg, ARetryAfterACrashRepeatsNothing) {
  script("require [\"fileinto\", \"vacation\", \"copy\", \"mailbox\"];\r\n"
         "fileinto :create \"Archive\"; redirect :copy \"carol@remote.test\"; vacation \"away\";\r\n");
  enqueue_one(message(mail("crash")));
  {
    pqxx::connection c(url);
    Claim claim(c, 10);
    ASSERT_EQ(claim.recipients().size(), 1u);
    const auto& r = claim.recipients()[0];
    auto active = sieve->active_scripts({kBob}, "");
    ASSERT_EQ(active.size(), 1u);
    std::vector<NewMessage> later;
    const auto result = sieve->deliver(claim.message(r.message_id), r, active.begin()->second, {}, "", later);
    EXPECT_TRUE(later.empty()) << "one database: queued in the run's own transaction";
    EXPECT_EQ(result.outcome, Outcome::kDelivered) << result.reply;
    // The process dies here: the claim is rolled back, the recipient is due again.
  }
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued' AND NOT needs_resolve"), 1);
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), std::vector<std::string>{"Archive"});
  EXPECT_EQ(queued_by_sieve(), 2);  // the redirect and the vacation reply, once each
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_vacation"), 1);
  EXPECT_EQ(text("SELECT state || ' ' || last_reply FROM queue_recipients WHERE NOT needs_resolve"),
            "delivered 250 2.0.0 Sieve: delivered to Archive; redirected to <carol@remote.test>; vacation reply queued");
  EXPECT_EQ(counter("postline_queued_sieve_runs_total", "result", "replayed"), 1);
}

TEST_F(SievePg, OverQuotaDefersAndCommitsNothingOfTheRun) {
  script("redirect :copy \"carol@remote.test\";");
  enqueue_one(message(mail("full")));
  pqxx::connection c(url);
  {
    Claim claim(c, 10);
    const auto& r = claim.recipients()[0];
    auto active = sieve->active_scripts({kBob}, "");
    std::vector<NewMessage> later;
    const auto result = sieve->deliver(claim.message(r.message_id), r, active.begin()->second, {1, 0}, "", later);
    EXPECT_EQ(result.outcome, Outcome::kPermanent) << result.reply;  // larger than the whole quota
    EXPECT_EQ(result.reply.substr(0, 9), "552 5.2.2");
  }
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_runs"), 0);
  EXPECT_EQ(queued_by_sieve(), 0);
}

TEST_F(SievePg, EnqueueTimeDeliveryLeavesUsersWithAScriptToTheWorkers) {
  script("require [\"fileinto\", \"mailbox\"]; fileinto :create \"Scripted\";");
  db::pq::Connection conn(url);
  auto m = message(mail("now"));
  m.queue_id = "SIEVEENQ01";
  NewRecipient carl;
  carl.address = "carl@example.org";
  carl.local = true;
  carl.user_id = 8;  // no script
  m.recipients.push_back(carl);
  for (auto& r : m.recipients) r.quota_known = true;
  MailstoreEnqueueDelivery now(*store, m, metrics.get(), runner.get());
  const auto result = enqueue(conn, m, &now);
  EXPECT_EQ(result.delivered_now, 1u);  // carl
  EXPECT_TRUE(result.pending);          // bob waits for a worker
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages WHERE user_id = 8"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages WHERE user_id = 7"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_deliveries WHERE user_id = 7"), 0);
  deliver_all();
  EXPECT_EQ(text("SELECT b.name FROM mailstore_messages m JOIN mailstore_mailboxes b ON b.mailbox_id = m.mailbox_id "
                 "WHERE m.user_id = 7"),
            "Scripted");
}

TEST_F(SievePg, TheSpamDefaultFilesIntoJunkAheadOfTheUsersScript) {
  script("require [\"fileinto\", \"copy\", \"mailbox\"]; fileinto :copy :create \"Seen-By-Script\";");
  const std::string spam = "X-Spam-Status: Yes, score=9.0 required=5.0 tests=X\r\n" + mail("cheap");
  // A user with a script: a worker runs the default first, which stops.
  enqueue_one(message(spam, "alice@example.org", "Junk"));
  deliver_all();
  EXPECT_EQ(mailboxes_with_mail(), std::vector<std::string>{"Junk"});
  EXPECT_EQ(counter("postline_queued_sieve_runs_total", "result", "ok"), 1);
  // A user without one, during Enqueue: the default's decision without a run.
  db::pq::Connection conn(url);
  auto m = message(spam, "alice@example.org", "Junk");
  m.queue_id = "SIEVEENQ02";
  m.recipients[0].user_id = 9;
  m.recipients[0].quota_known = true;
  MailstoreEnqueueDelivery now(*store, m, metrics.get(), runner.get());
  EXPECT_EQ(enqueue(conn, m, &now).delivered_now, 1u);
  EXPECT_EQ(text("SELECT b.name FROM mailstore_messages m JOIN mailstore_mailboxes b ON b.mailbox_id = m.mailbox_id "
                 "WHERE m.user_id = 9"),
            "Junk");
}

TEST_F(SievePg, AdministratorsScriptsRunForEveryone) {
  SieveSettings s;
  s.before = {{"tag", "require \"imap4flags\"; addflag \"$Checked\";"}};
  s.after = {{"vacation-for-all", "require \"vacation\"; if header :contains \"subject\" \"ask\" { vacation \"auto\"; }"}};
  make_sieve(s);
  // No user script: the before script's flag; a simple result is delivered at Enqueue.
  db::pq::Connection conn(url);
  auto m = message(mail("plain"));
  m.queue_id = "SIEVEENQ03";
  m.recipients[0].quota_known = true;
  MailstoreEnqueueDelivery now(*store, m, metrics.get(), runner.get());
  EXPECT_EQ(enqueue(conn, m, &now).delivered_now, 1u);
  EXPECT_EQ(text("SELECT array_to_string(keywords, ' ') FROM mailstore_messages"), "$Checked");
  // A vacation from the after script needs a worker.
  auto q = message(mail("ask-me"));
  q.queue_id = "SIEVEENQ04";
  q.recipients[0].quota_known = true;
  MailstoreEnqueueDelivery later(*store, q, metrics.get(), runner.get());
  EXPECT_EQ(enqueue(conn, q, &later).delivered_now, 0u);
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 2);
  EXPECT_EQ(queued_by_sieve(), 1);
}

TEST_F(SievePg, PruneForgetsOldState) {
  script("require \"vacation\"; vacation \"away\";");
  enqueue_one(message(mail("p")));
  deliver_all();
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_runs"), 1);
  EXPECT_EQ(sieve->prune(std::chrono::hours(1)), 0);
  {
    pqxx::work tx(*check);
    tx.exec("UPDATE mailstore_sieve_runs SET ran_at = now() - interval '2 hours'");
    tx.exec("UPDATE mailstore_sieve_vacation SET replied_at = now() - interval '100 days'");
    tx.commit();
  }
  EXPECT_EQ(sieve->prune(std::chrono::hours(1)), 2);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_runs"), 0);
}

// Sharding: bob lives on shard "s2", a second database; the queue (and shard
// "main") is on the first.
class ShardResolver final : public RecipientResolver {
 public:
  Resolution resolve(const std::string&) override { return {}; }
  std::optional<LocalTarget> local_target(const std::string&, int64_t user_id, const std::string&) override {
    ++asked;
    if (user_id == kBob) return LocalTarget{{}, "s2", moving};
    return std::nullopt;
  }
  bool moving = false;
  int asked = 0;
};

class SievePgShards : public SievePg {
 protected:
  void SetUp() override {
    SievePg::SetUp();
    url2 = postline::testing::create_test_database("queue_sieve_s2");
    check2 = std::make_unique<pqxx::connection>(url2);
    db::migrate(*check2, mailstore::sql::migrations());
    mailstore::pg::PgOptions o;
    o.url = url2;
    o.pool_size = 2;
    o.index_cache_messages = 0;
    store2 = std::make_unique<mailstore::pg::PgMailStore>(o);
    scripts2 = std::make_unique<mailstore::pg::PgSieveScriptStore>(url2, 2);
    pq_pool2 = std::make_unique<db::pq::Pool>(url2, 2);
    sieve.reset();
    sieve = std::make_unique<SieveDelivery>(
        std::map<std::string, SieveShard>{{"main", SieveShard{pq_pool.get(), store.get(), true}},
                                          {"s2", SieveShard{pq_pool2.get(), store2.get(), false}}},
        "main", *runner, metrics.get(), [this] { ++wakes; });
    WorkerConfig c;
    c.batch_size = 50;
    c.hostname = "mx.example.org";
    c.policy = RetryPolicy::parse({"1m"}, std::chrono::hours(24), "test");
    workers = std::make_unique<Workers>(*pool, c, local.get(), nullptr, &shard_resolver, metrics.get());
    workers->use_sieve(sieve.get());
  }
  int64_t count2(const std::string& q) {
    pqxx::read_transaction tx(*check2);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  std::vector<std::string> mailboxes2() {
    std::vector<std::string> out;
    pqxx::read_transaction tx(*check2);
    for (const auto& row : tx.exec("SELECT b.name FROM mailstore_messages m JOIN mailstore_mailboxes b "
                                   "ON b.user_id = m.user_id AND b.mailbox_id = m.mailbox_id ORDER BY m.uid, b.name"))
      out.push_back(row[0].as<std::string>());
    return out;
  }
  std::string url2;
  std::unique_ptr<pqxx::connection> check2;
  std::unique_ptr<mailstore::pg::PgMailStore> store2;
  std::unique_ptr<mailstore::pg::PgSieveScriptStore> scripts2;
  std::unique_ptr<db::pq::Pool> pq_pool2;
  ShardResolver shard_resolver;
};

TEST_F(SievePgShards, ScriptsRunOnTheAccountsShardAndItsMessagesAreQueuedOnce) {
  scripts2->put_script(kBob, "main", "require [\"fileinto\", \"vacation\", \"copy\", \"mailbox\"];\r\n"
                                     "fileinto :create \"Archive\"; redirect :copy \"carol@remote.test\"; vacation \"away\";\r\n");
  ASSERT_TRUE(scripts2->set_active_script(kBob, "main"));
  enqueue_one(message(mail("far")));
  deliver_all();
  // The copy on bob's shard, nothing on the queue's database.
  EXPECT_EQ(mailboxes2(), std::vector<std::string>{"Archive"});
  EXPECT_TRUE(mailboxes_with_mail().empty());
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_sieve_runs"), 1);
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_sieve_vacation"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_sieve_runs"), 0);
  EXPECT_EQ(queued_by_sieve(), 2);  // the redirect and the vacation reply, in the queue
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_sieve_outbox"), 2);  // kept with the run for a retry
  EXPECT_EQ(text("SELECT state || ' ' || last_reply FROM queue_recipients WHERE NOT needs_resolve"),
            "delivered 250 2.0.0 Sieve: delivered to Archive; redirected to <carol@remote.test>; vacation reply queued");
  // A second message from the same sender: no second vacation reply.
  enqueue_one(message(mail("far-again")));
  deliver_all();
  EXPECT_EQ(queued_by_sieve(), 3);  // only the redirect
}

TEST_F(SievePgShards, ARetryAfterACrashQueuesTheRunsMessagesFromTheOutbox) {
  scripts2->put_script(kBob, "main", "require [\"fileinto\", \"vacation\", \"copy\", \"mailbox\"];\r\n"
                                     "fileinto :create \"Archive\"; redirect :copy \"carol@remote.test\"; vacation \"away\";\r\n");
  ASSERT_TRUE(scripts2->set_active_script(kBob, "main"));
  enqueue_one(message(mail("crash")));
  {
    pqxx::connection c(url);
    Claim claim(c, 10);
    ASSERT_EQ(claim.recipients().size(), 1u);
    const auto& r = claim.recipients()[0];
    auto active = sieve->active_scripts({kBob}, "s2");
    ASSERT_EQ(active.size(), 1u);
    std::vector<NewMessage> later;
    const auto result = sieve->deliver(claim.message(r.message_id), r, active.begin()->second, {}, "s2", later);
    EXPECT_EQ(result.outcome, Outcome::kDelivered) << result.reply;
    EXPECT_EQ(later.size(), 2u);
    // The process dies here: the shard committed the run, the claim (which
    // would have queued `later`) is rolled back.
  }
  EXPECT_EQ(queued_by_sieve(), 0);
  deliver_all();
  EXPECT_EQ(mailboxes2(), std::vector<std::string>{"Archive"});
  EXPECT_EQ(queued_by_sieve(), 2);  // from the outbox, once each
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_sieve_vacation"), 1);
  EXPECT_EQ(counter("postline_queued_sieve_runs_total", "result", "replayed"), 1);
  EXPECT_EQ(text("SELECT state FROM queue_recipients WHERE NOT needs_resolve"), "delivered");
  // Pruning the run takes its outbox along.
  {
    pqxx::work tx(*check2);
    tx.exec("UPDATE mailstore_sieve_runs SET ran_at = now() - interval '2 hours'");
    tx.commit();
  }
  EXPECT_GE(sieve->prune(std::chrono::hours(1)), 1);
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_sieve_outbox"), 0);
}

TEST_F(SievePgShards, AnAccountBeingMovedDefers) {
  scripts2->put_script(kBob, "main", "keep;");
  ASSERT_TRUE(scripts2->set_active_script(kBob, "main"));
  shard_resolver.moving = true;
  enqueue_one(message(mail("moving")));
  deliver_all();
  EXPECT_EQ(text("SELECT state || ' ' || last_reply FROM queue_recipients"),
            "deferred 452 4.2.0 mailbox being moved, try again shortly");
  EXPECT_TRUE(mailboxes2().empty());
}

class HandoffPg : public SievePgShards {
 protected:
  void SetUp() override {
    SievePgShards::SetUp();
    handoff = std::make_unique<ImmediateDelivery>(
        *pq_pool, std::map<std::string, ImmediateDelivery::Shard>{{"s2", {pq_pool2.get(), store2.get()}}},
        runner.get(), metrics.get(), [this] { ++wakes; });
  }
  // Enqueued with bob handed to shard s2 (as QueueService does it).
  NewMessage enqueue_handed(const std::string& subject) {
    auto m = message(mail(subject));
    m.queue_id = generate_queue_id();
    m.recipients[0].quota_known = true;
    m.recipients[0].handoff_shard = "s2";
    db::pq::Connection conn(url);
    ids = enqueue(conn, m).recipient_ids;
    EXPECT_EQ(ids.size(), 1u);
    return m;
  }
  bool offer(const NewMessage& m) { return handoff->offer(std::make_shared<const NewMessage>(m), ids); }
  std::vector<int64_t> ids;
  std::unique_ptr<ImmediateDelivery> handoff;
};

TEST_F(HandoffPg, DeliversIntoTheShardRightAfterTheCommitWithoutAClaim) {
  EXPECT_TRUE(handoff->accepts("s2"));
  EXPECT_FALSE(handoff->accepts("main"));
  auto m = enqueue_handed("now");
  // Queued, but not due for the workers during the grace.
  EXPECT_EQ(workers->run_once(), 0);
  ASSERT_TRUE(offer(m));
  EXPECT_EQ(handoff->run_once(), 1u);
  EXPECT_EQ(mailboxes2(), std::vector<std::string>{"INBOX"});
  EXPECT_TRUE(mailboxes_with_mail().empty());
  EXPECT_EQ(text("SELECT state || ' ' || attempts FROM queue_recipients"), "delivered 1");
  EXPECT_EQ(count("SELECT count(*) FROM queue_attempts WHERE outcome = 'delivered'"), 1);
  // Keyed as a worker would key it.
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_deliveries WHERE delivery_key LIKE 'w/" + m.queue_id + "/%'"), 1);
  EXPECT_EQ(counter("postline_queued_immediate_deliveries_total", "result", "delivered"), 1);
  EXPECT_EQ(shard_resolver.asked, 0) << "no ResolveRecipient: smtpd's limits were used";
  EXPECT_EQ(workers->run_once(), 0);
}

TEST_F(HandoffPg, TheWorkersWaitTheConfiguredGrace) {
  // queue.handoff_grace, as QueueService passes it on.
  auto m = message(mail("grace"));
  m.queue_id = generate_queue_id();
  m.recipients[0].quota_known = true;
  m.recipients[0].handoff_shard = "s2";
  m.recipients[0].handoff_grace = std::chrono::seconds(300);
  db::pq::Connection conn(url);
  ASSERT_EQ(enqueue(conn, m).recipient_ids.size(), 1u);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE next_attempt_at BETWEEN now() + interval '290 seconds' "
                  "AND now() + interval '301 seconds'"),
            1);
  EXPECT_EQ(workers->run_once(), 0);
}

TEST_F(HandoffPg, AUserWithAScriptIsLeftToTheWorkersWhoRunItOnTheShard) {
  scripts2->put_script(kBob, "main", "require [\"fileinto\", \"mailbox\"]; fileinto :create \"Scripted\";");
  ASSERT_TRUE(scripts2->set_active_script(kBob, "main"));
  auto m = enqueue_handed("scripted");
  ASSERT_TRUE(offer(m));
  handoff->run_once();
  EXPECT_TRUE(mailboxes2().empty());
  EXPECT_EQ(counter("postline_queued_immediate_deliveries_total", "result", "workers"), 1);
  EXPECT_GE(wakes, 1);
  deliver_all();  // due at once
  EXPECT_EQ(mailboxes2(), std::vector<std::string>{"Scripted"});
}

TEST_F(HandoffPg, ACrashBetweenTheShardsCommitAndTheMarkDeliversOnce) {
  auto m = enqueue_handed("crash");
  // The hand-off's delivery committed on the shard, then the process died
  // before marking the recipient: the same key a worker uses.
  const int64_t rid = std::stoll(text("SELECT id FROM queue_recipients"));
  const std::string body = "Return-Path: <" + m.mail_from + ">\r\n" + m.body;
  const std::string key = mailstore::worker_delivery_key(m.queue_id, rid);
  store2->deliver(kBob, "INBOX", std::vector<mailstore::DeliveryItem>{{body, key, {}}}, mailstore::Quota{});
  // After the grace a worker takes it: a duplicate, marked delivered.
  {
    pqxx::work tx(*check);
    tx.exec("UPDATE queue_recipients SET next_attempt_at = now()");
    tx.commit();
  }
  deliver_all();
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_messages"), 1);
  EXPECT_EQ(text("SELECT state FROM queue_recipients"), "delivered");
  // And a hand-off that comes late changes nothing.
  ASSERT_TRUE(offer(m));
  handoff->run_once();
  EXPECT_EQ(count2("SELECT count(*) FROM mailstore_messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_attempts"), 1);
}

}  // namespace
