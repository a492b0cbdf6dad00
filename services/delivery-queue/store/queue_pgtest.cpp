// The queue against a real PostgreSQL: enqueue atomicity, exactly-once claiming
// under concurrency and after a crash, retry/bounce/expiry with DSNs.
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "services/delivery-queue/delivery/workers.h"
#include "common/grpc/grpc.h"
#include "common/mailstore/delivery_key.h"
#include "services/delivery-queue/rpc/queue_service.h"
#include "services/delivery-queue/sql/migrations.h"
#include "services/delivery-queue/store/queue_store.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>

#include <atomic>
#include <condition_variable>
#include <mutex>
#include <set>
#include <thread>

using namespace postline;
using namespace postline::queue;
using namespace std::chrono_literals;

namespace {

// A mailbox with the mailstore's contract: one transaction, idempotent on the key.
class FakeMailbox final : public LocalDelivery {
 public:
  // Ignores the quota (QuotaMailbox below adds it); records the mailbox.
  LocalResult deliver(int64_t user_id, std::string_view mailbox, std::string_view message, std::string_view key,
                      const mailstore::Quota& = {}) override {
    return pool->with([&](pqxx::connection& conn) { return deliver(conn, user_id, mailbox, message, key); });
  }
  LocalResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox, std::string_view message,
                      std::string_view key) {
    pqxx::work tx(conn);
    auto r = tx.exec_params(
        "INSERT INTO fake_mailbox (delivery_key, user_id, body, mailbox) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (delivery_key) DO NOTHING RETURNING id",
        std::string(key), user_id, std::string(message), std::string(mailbox));
    tx.commit();
    if (r.empty()) return {0, true};
    return {r[0][0].as<int64_t>(), false};
  }
  // The worker-independent form tests use directly.
  LocalResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view message, std::string_view key) {
    return deliver(conn, user_id, "INBOX", message, key);
  }
  db::Pool* pool = nullptr;  // the test database (the fixture sets it)
};

class ScriptedRemote final : public RemoteDelivery {
 public:
  std::vector<RecipientResult> deliver(const MessageData&,
                                       const std::vector<const ClaimedRecipient*>& rcpts) override {
    std::lock_guard lock(mutex);
    ++calls;
    return std::vector<RecipientResult>(rcpts.size(), next);
  }
  std::mutex mutex;
  int calls = 0;
  RecipientResult next{Outcome::kTemporary, "451 4.7.1 try later", "mx.remote.test", true, false};
};

class FixedResolver final : public RecipientResolver {
 public:
  Resolution resolve(const std::string& address) override {
    Resolution r;
    r.kind = Resolution::kLocal;
    r.user_id = 42;
    r.address = address;
    return r;
  }
};

class QueuePg : public ::testing::Test {
 protected:
  void SetUp() override {
    url = postline::testing::create_test_database("queue");
    conn = std::make_unique<pqxx::connection>(url);
    db::migrate(*conn, sql::migrations());
    pqxx::work tx(*conn);
    tx.exec("CREATE TABLE fake_mailbox (id bigserial PRIMARY KEY, delivery_key text UNIQUE NOT NULL,"
            " user_id bigint NOT NULL, body text NOT NULL, mailbox text NOT NULL DEFAULT '')");
    tx.commit();
    pool = std::make_unique<db::Pool>(url, 16);
    mailbox.pool = pool.get();
  }

  WorkerConfig config() {
    WorkerConfig c;
    c.workers = 4;
    c.batch_size = 8;
    c.poll_interval = 1000ms;
    c.policy = RetryPolicy::parse({"1m", "5m"}, std::chrono::seconds(86400), "test");
    c.hostname = "mx.example.org";
    return c;
  }

  NewMessage message(std::vector<NewRecipient> rcpts, std::string from = "alice@example.org") {
    NewMessage m;
    m.mail_from = std::move(from);
    m.recipients = std::move(rcpts);
    m.body = "Subject: test\r\nFrom: alice@example.org\r\n\r\nhello\r\n";
    return m;
  }

  int64_t count(const std::string& q) {
    pqxx::read_transaction tx(*conn);
    return tx.exec(q)[0][0].as<int64_t>();
  }

  std::string url;
  std::unique_ptr<pqxx::connection> conn;
  std::unique_ptr<db::Pool> pool;
  FakeMailbox mailbox;
};

NewRecipient local_rcpt(const std::string& a, int64_t uid) { return {a, true, uid, "", "", false}; }
NewRecipient remote_rcpt(const std::string& a, std::string notify = "") { return {a, false, 0, notify, "", false}; }

}  // namespace

TEST_F(QueuePg, EnqueueCommitsMessageAndRecipientsTogether) {
  auto r = enqueue(*conn, message({local_rcpt("bob@example.org", 1), remote_rcpt("carol@remote.test")}));
  EXPECT_FALSE(r.duplicate);
  EXPECT_TRUE(valid_queue_id(r.queue_id));
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued'"), 2);

  // A recipient the database refuses (not UTF-8) aborts the whole message.
  auto bad = message({local_rcpt("dave@example.org", 2), remote_rcpt("x\xff\xfe@remote.test")});
  EXPECT_ANY_THROW(enqueue(*conn, bad));
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients"), 2);
}

TEST_F(QueuePg, LargeBodiesAreLz4Compressed) {
  // Migration 004: pglz would spend the Enqueue transaction's CPU on it. Where
  // PostgreSQL has no lz4 the migration keeps pglz, and so does this check.
  pqxx::read_transaction probe(*conn);
  const bool has_lz4 = probe.exec("SELECT 'lz4' = ANY(enumvals) FROM pg_settings "
                                  "WHERE name = 'default_toast_compression'")[0][0].as<bool>();
  probe.commit();
  NewMessage m = message({remote_rcpt("carol@remote.test")});
  for (int i = 0; i < 4000; ++i) m.body += "line " + std::to_string(i % 50) + " of a compressible body\r\n";
  auto r = enqueue(*conn, m);
  pqxx::read_transaction tx(*conn);
  auto row = tx.exec_params1("SELECT pg_column_compression(body), octet_length(body) FROM queue_messages "
                             "WHERE queue_id = $1", r.queue_id);
  EXPECT_EQ(row[0].as<std::string>(), has_lz4 ? "lz4" : "pglz");
  EXPECT_EQ(row[1].as<size_t>(), m.body.size());
  tx.commit();
  EXPECT_EQ(message_body(*conn, r.queue_id)->body, m.body);
}

TEST_F(QueuePg, RetriedEnqueueWithTheSameIdIsIdempotent) {
  auto m = message({local_rcpt("bob@example.org", 1)});
  m.queue_id = "SMTPD0001";
  EXPECT_FALSE(enqueue(*conn, m).duplicate);
  EXPECT_TRUE(enqueue(*conn, m).duplicate);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients"), 1);
  m.body += "different";
  EXPECT_THROW(enqueue(*conn, m), QueueIdConflict);
}

TEST_F(QueuePg, ConcurrentClaimsNeverOverlap) {
  for (int i = 0; i < 10; ++i) enqueue(*conn, message({local_rcpt("u" + std::to_string(i) + "@example.org", 1)}));
  pqxx::connection c1(url), c2(url);
  Claim a(c1, 6);
  Claim b(c2, 6);
  EXPECT_EQ(a.recipients().size(), 6u);
  EXPECT_EQ(b.recipients().size(), 4u);
  std::set<int64_t> ids;
  for (const auto& r : a.recipients()) ids.insert(r.id);
  for (const auto& r : b.recipients()) EXPECT_EQ(ids.count(r.id), 0u);
}

TEST_F(QueuePg, ClaimedRecipientsShowAsDelivering) {
  auto q = enqueue(*conn, message({local_rcpt("bob@example.org", 1), local_rcpt("carol@example.org", 2)}));
  pqxx::connection c1(url);
  {
    Claim claim(c1, 1);
    ASSERT_EQ(claim.recipients().size(), 1u);
    auto m = get_message(*conn, q.queue_id, false);
    ASSERT_TRUE(m);
    int delivering = 0;
    for (const auto& r : m->recipients) delivering += r.state == State::kDelivering;
    EXPECT_EQ(delivering, 1);
    EXPECT_EQ(list_messages(*conn, State::kDelivering, 10).size(), 1u);
    for (const auto& [st, n] : stats(*conn).depth)
      if (st == State::kDelivering) EXPECT_EQ(n, 1);
  }
  // Claim gone (rolled back): nothing in flight.
  EXPECT_TRUE(list_messages(*conn, State::kDelivering, 10).empty());
}

TEST_F(QueuePg, ABatchIsLocalOrOneRemoteDomain) {
  enqueue(*conn, message({remote_rcpt("a@slow.test")}));
  enqueue(*conn, message({local_rcpt("bob@example.org", 1), remote_rcpt("b@other.test")}));
  enqueue(*conn, message({remote_rcpt("c@slow.test")}));
  pqxx::connection c1(url), c2(url), c3(url);
  Claim first(c1, 10);
  ASSERT_EQ(first.recipients().size(), 2u);
  EXPECT_EQ(first.recipients()[0].domain, "slow.test");
  EXPECT_EQ(first.recipients()[1].domain, "slow.test");
  // slow.test is all in flight: the next claimer takes what else is due.
  Claim second(c2, 10);
  EXPECT_EQ(second.recipients().size(), 2u);
  Claim third(c3, 10);
  EXPECT_TRUE(third.recipients().empty());
}

TEST_F(QueuePg, ManyWorkersDeliverEachRecipientExactlyOnce) {
  for (int i = 0; i < 200; ++i)
    enqueue(*conn, message({local_rcpt("a" + std::to_string(i) + "@example.org", 1),
                            local_rcpt("b" + std::to_string(i) + "@example.org", 2)}));
  Workers w1(*pool, config(), &mailbox, nullptr, nullptr, nullptr);
  Workers w2(*pool, config(), &mailbox, nullptr, nullptr, nullptr);
  std::vector<std::thread> threads;
  std::atomic<int> handled{0};
  for (int t = 0; t < 4; ++t)
    threads.emplace_back([&, t] {
      auto& w = t % 2 ? w1 : w2;
      while (int n = w.run_once()) handled += n;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(handled.load(), 400);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox"), 400);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered' AND attempts = 1"), 400);
  EXPECT_EQ(count("SELECT count(*) FROM queue_attempts WHERE outcome = 'delivered'"), 400);
  // Final delivery adds Return-Path (RFC 5321 4.4).
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox WHERE body LIKE 'Return-Path: <alice@example.org>%'"), 400);
}

TEST_F(QueuePg, CrashBetweenMailboxCommitAndQueueCommitDeliversOnce) {
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  {
    pqxx::connection c1(url), c2(url);
    Claim claim(c1, 10);
    ASSERT_EQ(claim.recipients().size(), 1u);
    const auto& r = claim.recipients()[0];
    // The key the worker delivers under (common/mailstore/delivery_key.h).
    mailbox.deliver(c2, 1, "body", mailstore::worker_delivery_key(claim.message(r.message_id).queue_id, r.id));
    // The process dies here: the claim transaction is rolled back.
  }
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued'"), 1);
  Workers w(*pool, config(), &mailbox, nullptr, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 1);
  pqxx::read_transaction tx(*conn);
  EXPECT_NE(tx.exec("SELECT last_reply FROM queue_recipients")[0][0].as<std::string>().find("already delivered"),
            std::string::npos);
}

TEST_F(QueuePg, TemporaryFailureDefersAndKeepsTheAttempt) {
  enqueue(*conn, message({remote_rcpt("carol@remote.test")}));
  ScriptedRemote remote;
  Workers w(*pool, config(), &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(w.run_once(), 0);  // not due again for about a minute
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'deferred' AND attempts = 1"
                  " AND next_attempt_at > now() + interval '50 seconds'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_attempts WHERE mx_host = 'mx.remote.test'"
                  " AND reply = '451 4.7.1 try later' AND outcome = 'deferred'"),
            1);
  // retry makes it due now
  EXPECT_EQ(retry_now(*conn, ""), 1);
  remote.next = {Outcome::kDelivered, "250 2.0.0 ok", "mx.remote.test", true, false};
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered' AND attempts = 2"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 0);
}

TEST_F(QueuePg, PermanentFailureBouncesWithOneDsnAndNeverBouncesADsn) {
  enqueue(*conn, message({remote_rcpt("x@remote.test"), remote_rcpt("y@remote.test")}));
  ScriptedRemote remote;
  remote.next = {Outcome::kPermanent, "550 5.1.1 no such user", "mx.remote.test", true, false};
  FixedResolver resolver;
  Workers w(*pool, config(), &mailbox, &remote, &resolver, nullptr);
  EXPECT_EQ(w.run_once(), 2);
  EXPECT_EQ(remote.calls, 1);  // one transaction for both recipients of one domain
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'bounced'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn AND mail_from = ''"), 1);
  // The DSN is resolved (local user 42) and delivered into the mailbox.
  EXPECT_EQ(w.run_once(), 1);
  {
    pqxx::read_transaction tx(*conn);
    auto body = tx.exec("SELECT body FROM fake_mailbox WHERE user_id = 42")[0][0].as<std::string>();
    EXPECT_NE(body.find("Return-Path: <>"), std::string::npos);
    EXPECT_NE(body.find("multipart/report"), std::string::npos);
    EXPECT_NE(body.find("Final-Recipient: rfc822; x@remote.test"), std::string::npos);
    EXPECT_NE(body.find("Final-Recipient: rfc822; y@remote.test"), std::string::npos);
  }
  // A DSN that bounces is dropped, not answered.
  NewMessage dsn = message({remote_rcpt("gone@remote.test")}, "");
  dsn.is_dsn = true;
  enqueue(*conn, dsn);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 2);
}

// Blocks in deliver() until released, so a test can hold a session open.
class GateRemote final : public RemoteDelivery {
 public:
  std::vector<RecipientResult> deliver(const MessageData&, const std::vector<const ClaimedRecipient*>& r) override {
    std::unique_lock lock(mutex);
    ++inside;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    return std::vector<RecipientResult>(r.size(), RecipientResult{Outcome::kDelivered, "250 ok", "mx", true, false});
  }
  std::mutex mutex;
  std::condition_variable cv;
  int inside = 0;
  bool open = false;
};

TEST_F(QueuePg, PerDomainLimitPostponesWithoutCountingAnAttempt) {
  enqueue(*conn, message({remote_rcpt("a@busy.test")}));
  GateRemote remote;
  auto c = config();
  c.max_per_domain = 1;
  c.batch_size = 1;
  Workers w(*pool, c, &mailbox, &remote, nullptr, nullptr);
  std::thread first([&] { w.run_once(); });
  {
    std::unique_lock lock(remote.mutex);
    remote.cv.wait(lock, [&] { return remote.inside == 1; });
  }
  enqueue(*conn, message({remote_rcpt("b@busy.test")}));
  EXPECT_EQ(w.run_once(), 1);  // claimed, but the domain is busy: postponed
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'b@busy.test' AND attempts = 0"
                  " AND state = 'queued' AND next_attempt_at > now()"),
            1);
  {
    std::lock_guard lock(remote.mutex);
    remote.open = true;
  }
  remote.cv.notify_all();
  first.join();
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'a@busy.test' AND state = 'delivered'"), 1);
}

TEST_F(QueuePg, SuccessDsnOnlyWhenAsked) {
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  auto m = message({remote_rcpt("carol@remote.test", "SUCCESS")});
  m.body = "Subject: s\r\n\r\nx\r\n";
  enqueue(*conn, m);
  ScriptedRemote remote;
  remote.next = {Outcome::kDelivered, "250 2.0.0 ok", "mx.remote.test", true, false};
  Workers w(*pool, config(), &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once() + w.run_once(), 2);  // a local batch and a remote batch
  pqxx::read_transaction tx(*conn);
  auto rows = tx.exec("SELECT convert_from(body, 'UTF8') FROM queue_messages WHERE is_dsn");
  ASSERT_EQ(rows.size(), 1u);  // only for the recipient with NOTIFY=SUCCESS
  EXPECT_NE(rows[0][0].as<std::string>().find("Action: relayed"), std::string::npos);
}

TEST_F(QueuePg, GarbageInARemoteReplyCannotUndoADelivery) {
  enqueue(*conn, message({remote_rcpt("x@remote.test")}));
  ScriptedRemote remote;
  remote.next = {Outcome::kDelivered, std::string("250 ok \xff\xfe\0 bin\r\nary") + std::string(2000, 'x'),
                 "mx.remote.test", true, false};
  Workers w(*pool, config(), &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(w.run_once(), 0);
  EXPECT_EQ(remote.calls, 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered' AND last_reply LIKE '250 ok ??%'"), 1);
}

TEST_F(QueuePg, NotifyNeverSuppressesTheBounce) {
  enqueue(*conn, message({remote_rcpt("x@remote.test", "NEVER")}));
  ScriptedRemote remote;
  remote.next = {Outcome::kPermanent, "550 5.1.1 no", "mx.remote.test", true, false};
  Workers w(*pool, config(), &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 0);
}

TEST_F(QueuePg, OldMessageExpiresOnTemporaryFailure) {
  enqueue(*conn, message({remote_rcpt("x@remote.test")}));
  {
    pqxx::work tx(*conn);
    tx.exec("UPDATE queue_messages SET created_at = now() - interval '2 days'");
    tx.commit();
  }
  ScriptedRemote remote;
  auto c = config();
  c.policy = RetryPolicy::parse({"1m"}, std::chrono::seconds(86400), "test");
  Workers w(*pool, c, &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id"
                  " WHERE r.state = 'expired' AND NOT m.is_dsn"),
            1);
  pqxx::read_transaction tx(*conn);
  auto body = tx.exec("SELECT convert_from(body, 'UTF8') FROM queue_messages WHERE is_dsn")[0][0].as<std::string>();
  EXPECT_NE(body.find("Status: 4.4.7"), std::string::npos);
  EXPECT_NE(body.find("Diagnostic-Code: smtp; 451 4.7.1 try later"), std::string::npos);
}

TEST_F(QueuePg, DelayWarningIsSentOnce) {
  enqueue(*conn, message({remote_rcpt("x@remote.test")}));
  {
    pqxx::work tx(*conn);
    tx.exec("UPDATE queue_messages SET created_at = now() - interval '5 hours'");
    tx.commit();
  }
  ScriptedRemote remote;
  FixedResolver resolver;
  Workers w(*pool, config(), &mailbox, &remote, &resolver, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  retry_now(*conn, "");
  EXPECT_EQ(w.run_once(), 1);  // the recipient again (remote batch)
  EXPECT_EQ(w.run_once(), 1);  // the delay DSN (local batch)
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE delay_warned"), 1);
}

TEST_F(QueuePg, AdministrationRpcs) {
  auto q = enqueue(*conn, message({remote_rcpt("x@remote.test"), local_rcpt("bob@example.org", 1)}));
  QueueServiceImpl svc(*pool, {}, {"mx.example.org", "MAILER-DAEMON"}, nullptr, nullptr, nullptr);
  mail::v1::GetMessageRequest get;
  get.set_queue_id(q.queue_id);
  mail::v1::GetMessageResponse got;
  ASSERT_TRUE(svc.GetMessage(nullptr, &get, &got).ok());
  EXPECT_EQ(got.message().recipients_size(), 2);
  EXPECT_EQ(got.message().recipients(0).state(), mail::v1::RECIPIENT_STATE_QUEUED);

  mail::v1::ListMessagesRequest list;
  mail::v1::ListMessagesResponse listed;
  ASSERT_TRUE(svc.ListMessages(nullptr, &list, &listed).ok());
  EXPECT_EQ(listed.messages_size(), 1);

  get.set_queue_id("NOSUCHID");
  EXPECT_EQ(svc.GetMessage(nullptr, &get, &got).error_code(), grpc::StatusCode::NOT_FOUND);

  mail::v1::DeleteMessageRequest del;
  del.set_queue_id(q.queue_id);
  del.set_bounce(true);
  mail::v1::DeleteMessageResponse deleted;
  ASSERT_TRUE(svc.DeleteMessage(nullptr, &del, &deleted).ok());
  EXPECT_EQ(deleted.recipients(), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE NOT is_dsn"), 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 1);
  EXPECT_EQ(svc.DeleteMessage(nullptr, &del, &deleted).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(QueuePg, PurgeRemovesOnlyOldFinishedMessages) {
  enqueue(*conn, message({local_rcpt("done@example.org", 1)}));
  enqueue(*conn, message({local_rcpt("pending@example.org", 1)}));
  enqueue(*conn, message({local_rcpt("recent@example.org", 1)}));
  pqxx::work tx(*conn);
  tx.exec("UPDATE queue_messages SET created_at = now() - interval '10 days'");
  tx.exec("UPDATE queue_recipients SET state = 'delivered', finished_at = now() - interval '9 days'"
          " WHERE address = 'done@example.org'");
  tx.exec("UPDATE queue_recipients SET state = 'delivered', finished_at = now() WHERE address = 'recent@example.org'");
  tx.commit();
  EXPECT_EQ(purge_finished(*conn, std::chrono::seconds(7 * 86400), 100), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'done@example.org'"), 0);
}

TEST_F(QueuePg, StartedWorkersWakeOnRemoteWakeAndStopCleanly) {
  auto c = config();
  c.poll_interval = 60000ms;  // only NOTIFY can wake them in time
  Workers w(*pool, c, &mailbox, nullptr, nullptr, nullptr);
  w.start();
  // As another queued instance would: commit, then poke (Enqueue sends no NOTIFY).
  RemoteWake other_instance(pool->url());
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  other_instance.poke();
  const auto deadline = std::chrono::steady_clock::now() + 20s;
  while (count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'") == 0 &&
         std::chrono::steady_clock::now() < deadline) {
    // The first enqueue may land before LISTEN is set up; the listener's
    // rescan at connect covers that, so this only waits, never re-triggers.
    std::this_thread::sleep_for(20ms);  // poll with a deadline
  }
  w.stop();
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 1);
}

// The contract smtpd relies on, over a real gRPC connection: a queue id only
// after the commit; size limit, bad envelope and database trouble are errors
// with codes smtpd maps to 552, 501/554 and 451.
TEST_F(QueuePg, EnqueueOverGrpc) {
  db::Pool dead("postgresql://postgres@127.0.0.1:1/nothing", 1);
  QueueServiceImpl svc(*pool, ServiceLimits{100, 10}, {"mx.example.org", "MAILER-DAEMON"}, nullptr, nullptr, nullptr);
  QueueServiceImpl down(dead, ServiceLimits{100, 10}, {"mx.example.org", "MAILER-DAEMON"}, nullptr, nullptr, nullptr);
  int port = 0, port_down = 0;
  auto server = grpcutil::start_server("127.0.0.1", 0, {&svc}, &port);
  auto server_down = grpcutil::start_server("127.0.0.1", 0, {&down}, &port_down);
  auto send = [](int p, const std::vector<mail::v1::EnqueueChunk>& chunks, mail::v1::EnqueueResponse* resp) {
    auto stub = mail::v1::QueueService::NewStub(grpcutil::make_channel("127.0.0.1:" + std::to_string(p)));
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(20));
    auto writer = stub->Enqueue(&ctx, resp);
    for (const auto& c : chunks)
      if (!writer->Write(c)) break;
    writer->WritesDone();
    return writer->Finish();
  };
  mail::v1::EnqueueChunk first;
  first.mutable_envelope()->set_mail_from("alice@example.org");
  auto* r = first.mutable_envelope()->add_recipients();
  r->set_address("bob@example.org");
  r->set_local(true);
  r->set_user_id(7);
  first.set_data("Subject: a\r\n\r\n");
  mail::v1::EnqueueChunk second;
  second.set_data("body\r\n");

  mail::v1::EnqueueResponse resp;
  auto status = send(port, {first, second}, &resp);
  ASSERT_TRUE(status.ok()) << status.error_message();
  EXPECT_TRUE(valid_queue_id(resp.queue_id()));
  EXPECT_EQ(resp.size(), 20);
  {
    pqxx::read_transaction tx(*conn);
    auto row = tx.exec_params("SELECT convert_from(body, 'UTF8') FROM queue_messages WHERE queue_id = $1",
                              resp.queue_id());
    ASSERT_EQ(row.size(), 1u);
    EXPECT_EQ(row[0][0].as<std::string>(), "Subject: a\r\n\r\nbody\r\n");
  }

  mail::v1::EnqueueChunk big;
  big.set_data(std::string(200, 'x'));
  EXPECT_EQ(send(port, {first, big}, &resp).error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_EQ(send(port, {second}, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(send(port, {first, first}, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(send(port, {}, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), 1);

  auto st = send(port_down, {first, second}, &resp);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::UNAVAILABLE) << st.error_message();
  server->Shutdown();
  server_down->Shutdown();
}

namespace {

// The mailstore's quota contract over fake_mailbox: over_quota when the user's
// stored bytes plus this message exceed the quota, exceeds_quota when the
// message alone does (nothing stored, key not claimed).
class QuotaMailbox final : public LocalDelivery {
 public:
  LocalResult deliver(int64_t user_id, std::string_view mailbox, std::string_view message, std::string_view key,
                      const mailstore::Quota& quota) override {
    if (quota.bytes > 0 || quota.messages > 0) {
      const auto size = static_cast<int64_t>(message.size());
      int64_t used = 0, count = 0;
      {
        auto lease = inner.pool->acquire();
        pqxx::read_transaction tx(*lease);
        auto row = tx.exec_params("SELECT COALESCE(sum(length(body)), 0), count(*) FROM fake_mailbox WHERE user_id = $1",
                                  user_id)[0];
        used = row[0].as<int64_t>();
        count = row[1].as<int64_t>();
      }
      if (quota.bytes > 0 && size > quota.bytes) return {0, false, true, true};
      if (quota.bytes > 0 && used + size > quota.bytes) return {0, false, true, false};
      if (quota.messages > 0 && count + 1 > quota.messages) return {0, false, true, false, true};
    }
    return inner.deliver(user_id, mailbox, message, key, {});
  }
  FakeMailbox inner;
};

// Local user 42 for DSN senders; the quota authd would report now.
class QuotaResolver final : public RecipientResolver {
 public:
  Resolution resolve(const std::string& address) override {
    Resolution r;
    r.kind = Resolution::kLocal;
    r.user_id = 42;
    r.address = address;
    return r;
  }
  std::optional<mailstore::Quota> quota(const std::string&, int64_t user_id, const std::string&) override {
    std::lock_guard lock(mutex);
    ++asked;
    if (user_id == 42) return mailstore::Quota{};
    if (!known) return std::nullopt;
    return mailstore::Quota{quota_bytes, quota_messages};
  }
  std::mutex mutex;
  int asked = 0;
  bool known = true;
  int64_t quota_bytes = 0, quota_messages = 0;
};

}  // namespace

TEST_F(QueuePg, OverQuotaDefersWith422AndDeliversAfterTheQuotaIsRaised) {
  QuotaMailbox box;
  box.inner.pool = pool.get();
  QuotaResolver resolver;
  resolver.quota_bytes = 120;  // room for one test message (83 bytes with Return-Path), not two
  Workers w(*pool, config(), &box, nullptr, &resolver, nullptr);
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 1);
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'deferred' AND attempts = 1"
                  " AND last_reply LIKE '452 4.2.2 %'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn"), 0);  // a deferral is no bounce
  // `postline quota set` raised it; `postline queue retry` makes it due now.
  resolver.quota_bytes = 10000;
  EXPECT_EQ(retry_now(*conn, ""), 1);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox"), 2);
}

TEST_F(QueuePg, MessageLargerThanTheQuotaBouncesAtOnceWith522) {
  QuotaMailbox box;
  box.inner.pool = pool.get();
  QuotaResolver resolver;
  resolver.quota_bytes = 10;
  Workers w(*pool, config(), &box, nullptr, &resolver, nullptr);
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'bounced' AND attempts = 1"
                  " AND last_reply LIKE '552 5.2.2 %'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE is_dsn AND mail_from = ''"), 1);
  EXPECT_EQ(w.run_once(), 1);  // the DSN, to local user 42 (unlimited)
  pqxx::read_transaction tx(*conn);
  auto body = tx.exec("SELECT body FROM fake_mailbox WHERE user_id = 42")[0][0].as<std::string>();
  EXPECT_NE(body.find("Status: 5.2.2"), std::string::npos);
  EXPECT_NE(body.find("Final-Recipient: rfc822; bob@example.org"), std::string::npos);
}

TEST_F(QueuePg, FullMailboxExpiresWith522) {
  QuotaMailbox box;
  box.inner.pool = pool.get();
  QuotaResolver resolver;
  resolver.quota_bytes = 120;
  {
    pqxx::work tx(*conn);
    tx.exec("INSERT INTO fake_mailbox (delivery_key, user_id, body) VALUES ('fill', 1, repeat('x', 100))");
    tx.commit();
  }
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  {
    pqxx::work tx(*conn);
    tx.exec("UPDATE queue_messages SET created_at = now() - interval '2 days'");
    tx.commit();
  }
  auto c = config();
  c.policy = RetryPolicy::parse({"1m"}, std::chrono::seconds(86400), "test");
  Workers w(*pool, c, &box, nullptr, &resolver, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id"
                  " WHERE r.state = 'expired' AND NOT m.is_dsn"),
            1);
  pqxx::read_transaction tx(*conn);
  auto body = tx.exec("SELECT convert_from(body, 'UTF8') FROM queue_messages WHERE is_dsn")[0][0].as<std::string>();
  EXPECT_NE(body.find("Status: 5.2.2"), std::string::npos);
  EXPECT_NE(body.find("452 4.2.2 mailbox full"), std::string::npos);
}

TEST_F(QueuePg, UnknownQuotaDeliversFailOpen) {
  QuotaMailbox box;
  box.inner.pool = pool.get();
  QuotaResolver resolver;
  resolver.known = false;  // authd unreachable
  Workers w(*pool, config(), &box, nullptr, &resolver, nullptr);
  enqueue(*conn, message({local_rcpt("bob@example.org", 1)}));
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 1);
  EXPECT_GE(resolver.asked, 1);
}

TEST_F(QueuePg, TargetMailboxIsStoredAndUsedForLocalDelivery) {
  auto junk = message({local_rcpt("bob@example.org", 1)});
  junk.target_mailbox = "Junk";
  const auto q = enqueue(*conn, junk).queue_id;
  // A new row with no target: a forged header in the message decides nothing.
  auto plain = message({local_rcpt("carol@example.org", 2)});
  plain.body = "X-Postline-Mailbox: Junk\r\nSubject: s\r\n\r\nx\r\n";
  enqueue(*conn, plain);
  // A row from before migration 002 (NULL): smtpd's old header still counts.
  auto old = message({local_rcpt("dave@example.org", 3)});
  old.body = "Received: x\r\nX-Postline-Mailbox: Junk\r\nSubject: s\r\n\r\nx\r\n";
  const auto q_old = enqueue(*conn, old).queue_id;
  {
    pqxx::work tx(*conn);
    tx.exec_params("UPDATE queue_messages SET target_mailbox = NULL WHERE queue_id = $1", q_old);
    tx.commit();
  }
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE target_mailbox = 'Junk'"), 1);

  auto v = get_message(*conn, q, false);
  ASSERT_TRUE(v);
  EXPECT_EQ(v->target_mailbox, "Junk");

  Workers w(*pool, config(), &mailbox, nullptr, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 3);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox WHERE user_id = 1 AND mailbox = 'Junk'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox WHERE user_id = 2 AND mailbox = 'INBOX'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM fake_mailbox WHERE user_id = 3 AND mailbox = 'Junk'"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'bob@example.org'"
                  " AND last_reply LIKE '250 2.0.0 delivered to Junk uid %'"),
            1);
}

namespace {

// A remote whose sessions stay reusable: counts sessions and messages.
class ReusingRemote final : public RemoteDelivery {
 public:
  std::vector<RecipientResult> deliver(const MessageData&, const std::vector<const ClaimedRecipient*>& r) override {
    return std::vector<RecipientResult>(r.size(), RecipientResult{Outcome::kDelivered, "250 ok", "mx", true, false});
  }
  struct Session final : RemoteSession {
    explicit Session(ReusingRemote& o) : owner(o) {}
    ~Session() override { ++owner.closed; }
    std::vector<RecipientResult> deliver(const MessageData& m, const std::vector<const ClaimedRecipient*>& r) override {
      ++owner.messages;
      ++sent;
      return owner.deliver(m, r);
    }
    bool reusable() const override { return sent < owner.cap; }
    ReusingRemote& owner;
    int sent = 0;
  };
  std::unique_ptr<RemoteSession> open(const std::string&) override {
    ++opened;
    return std::make_unique<Session>(*this);
  }
  int cap = 100;
  int opened = 0, closed = 0, messages = 0;
};

}  // namespace

TEST_F(QueuePg, AnOpenSessionClaimsTheDomainsNextBatches) {
  for (int i = 0; i < 20; ++i) enqueue(*conn, message({remote_rcpt("r" + std::to_string(i) + "@reuse.test")}));
  enqueue(*conn, message({remote_rcpt("x@other.test")}));
  ReusingRemote remote;
  auto c = config();
  c.batch_size = 4;
  Workers w(*pool, c, &mailbox, &remote, nullptr, nullptr);
  // The first batch decides the domain; the open session then pulls in the
  // rest of reuse.test, 4 at a time, but never other.test's mail.
  EXPECT_EQ(w.run_once(), 20);
  EXPECT_EQ(remote.opened, 1);
  EXPECT_EQ(remote.closed, 1);  // closed (QUIT) once nothing more was due
  EXPECT_EQ(remote.messages, 20);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE domain = 'reuse.test' AND state = 'delivered'"), 20);
  EXPECT_EQ(w.run_once(), 1);  // other.test
  EXPECT_EQ(remote.opened, 2);

  // A session that stops offering reuse (its message cap) ends the round.
  for (int i = 0; i < 6; ++i) enqueue(*conn, message({remote_rcpt("s" + std::to_string(i) + "@reuse.test")}));
  remote.cap = 2;
  EXPECT_EQ(w.run_once(), 4);  // one batch of 4 (cap passed), no follow-up claim
  EXPECT_EQ(w.run_once(), 2);
  // No slot leaked to the pool's connections.
  EXPECT_EQ(count("SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objsubid = 1"
                  " AND (classid::bigint << 32 | objid::bigint) >> 56 = 81"),
            0);
}

TEST_F(QueuePg, DestinationLimitHoldsAcrossInstances) {
  enqueue(*conn, message({remote_rcpt("a@busy.test")}));
  GateRemote remote;
  auto c = config();
  c.max_per_domain = 1;
  c.batch_size = 1;
  // Two instances: separate pools (database sessions) and worker sets.
  db::Pool pool_b(url, 4);
  Workers a(*pool, c, &mailbox, &remote, nullptr, nullptr);
  Workers b(pool_b, c, &mailbox, &remote, nullptr, nullptr);
  std::thread first([&] { a.run_once(); });
  {
    std::unique_lock lock(remote.mutex);
    remote.cv.wait(lock, [&] { return remote.inside == 1; });
  }
  enqueue(*conn, message({remote_rcpt("b@busy.test")}));
  EXPECT_EQ(b.run_once(), 1);  // claimed, but instance a holds the only slot: postponed
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'b@busy.test' AND attempts = 0"
                  " AND state = 'queued' AND next_attempt_at > now()"),
            1);
  {
    std::lock_guard lock(remote.mutex);
    remote.open = true;
  }
  remote.cv.notify_all();
  first.join();
  retry_now(*conn, "");
  EXPECT_EQ(b.run_once(), 1);  // the slot is free again
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE domain = 'busy.test' AND state = 'delivered'"), 2);
  EXPECT_EQ(remote.inside, 2);
}

TEST_F(QueuePg, ADeadHoldersSlotFreesAtOnce) {
  // Another "instance" holds both slots of dead.test, then dies (kill -9:
  // its backend is terminated, no clean release).
  pqxx::connection holder(url), holder2(url);
  for (auto* h : {&holder, &holder2}) {
    pqxx::work tx(*h);
    ASSERT_TRUE(acquire_destination_slot(tx, "dead.test", 2));
    tx.commit();
  }
  {
    pqxx::work tx(*conn);
    EXPECT_FALSE(acquire_destination_slot(tx, "dead.test", 2));  // both held
    EXPECT_TRUE(acquire_destination_slot(tx, "alive.test", 2));  // other domains unaffected
    tx.exec("SELECT pg_advisory_unlock_all()");
    tx.commit();
  }
  enqueue(*conn, message({remote_rcpt("a@dead.test")}));
  ScriptedRemote remote;
  remote.next = {Outcome::kDelivered, "250 ok", "mx", true, false};
  auto c = config();
  c.max_per_domain = 2;
  Workers w(*pool, c, &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(remote.calls, 0);  // postponed
  {
    pqxx::work tx(*conn);
    tx.exec_params("SELECT pg_terminate_backend($1)", holder.backendpid());
    tx.commit();
  }
  // (holder2 lives on: one slot of two frees, and that is enough.)
  // PostgreSQL drops a terminated backend's locks as it exits: poll briefly.
  const auto deadline = std::chrono::steady_clock::now() + 5s;
  while (count("SELECT count(*) FROM pg_stat_activity WHERE pid = " + std::to_string(holder.backendpid())) > 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::yield();
  retry_now(*conn, "");
  EXPECT_EQ(w.run_once(), 1);
  EXPECT_EQ(remote.calls, 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'a@dead.test' AND state = 'delivered'"), 1);
}

// --- operator tools (issue 17): hold, release, requeue, filters -------------------

namespace {
std::vector<SelectedMessage> by_id(pqxx::transaction_base& tx, const std::string& queue_id) {
  Selection sel;
  sel.queue_ids.push_back(queue_id);
  return resolve_selection(tx, sel, 10, nullptr);
}
ActionCount act(pqxx::connection& conn, AdminAction action, const std::string& queue_id) {
  pqxx::work tx(conn);
  auto n = apply_action(tx, action, by_id(tx, queue_id));
  tx.commit();
  return n;
}
std::vector<std::string> ids_of(const std::vector<MessageView>& list) {
  std::vector<std::string> out;
  for (const auto& m : list) out.push_back(m.queue_id);
  return out;
}
}  // namespace

TEST_F(QueuePg, HeldRecipientsAreNeverClaimedUntilReleased) {
  auto q = enqueue(*conn, message({remote_rcpt("x@remote.test"), local_rcpt("bob@example.org", 1)}));
  auto other = enqueue(*conn, message({remote_rcpt("y@remote.test")}));
  auto held = act(*conn, AdminAction::kHold, q.queue_id);
  EXPECT_EQ(held.messages, 1);
  EXPECT_EQ(held.recipients, 2);
  EXPECT_EQ(act(*conn, AdminAction::kHold, q.queue_id).recipients, 0);  // already held
  {
    auto m = get_message(*conn, q.queue_id, false);
    ASSERT_TRUE(m);
    EXPECT_TRUE(m->held);
    for (const auto& r : m->recipients) EXPECT_TRUE(r.held);
    EXPECT_EQ(stats(*conn).held_messages, 1);
  }
  {
    // Neither claim form takes them; the other message is claimed.
    pqxx::connection c1(url);
    Claim all(c1, 10);
    ASSERT_EQ(all.recipients().size(), 1u);
    EXPECT_EQ(all.recipients()[0].address, "y@remote.test");
  }
  {
    pqxx::connection c1(url);
    Claim domain(c1, 10, "remote.test");
    ASSERT_EQ(domain.recipients().size(), 1u);
    EXPECT_EQ(domain.recipients()[0].address, "y@remote.test");
  }
  // Workers neither deliver nor expire held mail, however old, and do not
  // spin on it (nothing due).
  {
    pqxx::work tx(*conn);
    tx.exec_params("DELETE FROM queue_messages WHERE queue_id = $1", other.queue_id);
    tx.exec("UPDATE queue_messages SET created_at = now() - interval '3 days'");
    tx.commit();
  }
  EXPECT_FALSE(time_until_next_due(*conn).has_value());
  ScriptedRemote remote;
  auto c = config();
  c.policy = RetryPolicy::parse({"1m"}, std::chrono::seconds(86400), "test");
  Workers w(*pool, c, &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 0);
  EXPECT_EQ(remote.calls, 0);
  EXPECT_EQ(retry_now(*conn, q.queue_id), 0);  // retry does not release
  EXPECT_EQ(retry_now(*conn, ""), 0);
  EXPECT_EQ(w.run_once(), 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued'"), 2);
  // Released: due at once; the lifetime still counts from arrival (postsuper
  // -H), so the remote recipient's temporary failure expires it.
  auto released = act(*conn, AdminAction::kRelease, q.queue_id);
  EXPECT_EQ(released.recipients, 2);
  EXPECT_EQ(stats(*conn).held_messages, 0);
  int handled = 0;
  while (int n = w.run_once()) handled += n;
  EXPECT_GE(handled, 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'bob@example.org' AND state = 'delivered'"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE address = 'x@remote.test' AND state = 'expired'"), 1);
}

TEST_F(QueuePg, RequeueStartsTheBackoffAndTheLifetimeOver) {
  auto q = enqueue(*conn, message({remote_rcpt("x@remote.test")}));
  {
    // Three failed attempts, two days old, on hold, next try far away.
    pqxx::work tx(*conn);
    tx.exec("UPDATE queue_recipients SET state = 'deferred', attempts = 3, held_at = now(),"
            " next_attempt_at = now() + interval '1 day'");
    tx.exec("UPDATE queue_messages SET created_at = now() - interval '2 days'");
    tx.commit();
  }
  auto n = act(*conn, AdminAction::kRequeue, q.queue_id);
  EXPECT_EQ(n.messages, 1);
  EXPECT_EQ(n.recipients, 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE held_at IS NULL AND backoff_base = 3"
                  " AND next_attempt_at <= now()"),
            1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages WHERE requeued_at IS NOT NULL"), 1);
  ScriptedRemote remote;
  auto c = config();
  c.policy = RetryPolicy::parse({"1m", "1h"}, std::chrono::seconds(86400), "test");
  Workers w(*pool, c, &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  // Not expired (the lifetime restarted), and the first step again (1m, not 1h).
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'deferred' AND attempts = 4"
                  " AND next_attempt_at < now() + interval '2 minutes'"),
            1);
}

TEST_F(QueuePg, FiltersSelectMessagesInSql) {
  auto a = message({remote_rcpt("Carol@Remote.test"), local_rcpt("bob@example.org", 1)}, "Alice@Example.org");
  a.body = "Subject: a\r\nMessage-ID:\r\n <id-a@example.org>\r\n\r\nbody\r\n";
  auto qa = enqueue(*conn, a);
  auto b = message({remote_rcpt("dave@other.test")}, "");
  b.body = "message-id: <id-b@example.org>\r\nSubject: b\r\n\r\nMessage-ID: <not-a-header@x>\r\n";
  auto qb = enqueue(*conn, b);
  auto old = message({remote_rcpt("erin@remote.test")}, "zed@example.org");
  old.body = "Subject: no id\r\n\r\nMessage-ID: <in-the-body@x>\r\n";
  auto qold = enqueue(*conn, old);
  {
    pqxx::work tx(*conn);
    tx.exec_params("UPDATE queue_messages SET created_at = now() - interval '3 hours' WHERE queue_id = $1",
                   qold.queue_id);
    // carol@remote.test bounced: finished, not pending.
    tx.exec("UPDATE queue_recipients SET state = 'bounced' WHERE address = 'Carol@Remote.test'");
    tx.commit();
  }
  auto match = [&](MessageFilter f) { return ids_of(list_messages(*conn, f, 100)); };
  using V = std::vector<std::string>;
  MessageFilter f;
  EXPECT_EQ(match(f), (V{qold.queue_id, qa.queue_id, qb.queue_id}));  // oldest first
  f = {};
  f.sender = "alice@example.ORG";
  EXPECT_EQ(match(f), V{qa.queue_id});
  f.sender = "";  // the null sender
  EXPECT_EQ(match(f), V{qb.queue_id});
  f = {};
  f.recipient = "DAVE@other.test";
  EXPECT_EQ(match(f), V{qb.queue_id});
  f = {};
  f.domain = "remote.test";  // carol's is bounced: only erin's message is pending there
  EXPECT_EQ(match(f), V{qold.queue_id});
  f.state = State::kBounced;  // the same recipient must be at remote.test and bounced
  EXPECT_EQ(match(f), V{qa.queue_id});
  f = {};
  f.recipient = "bob@example.org";
  f.state = State::kBounced;  // bob is queued; carol (bounced) is another recipient
  EXPECT_TRUE(match(f).empty());
  f = {};
  f.message_id = "<id-a@example.org>";  // folded header, angle brackets optional
  EXPECT_EQ(match(f), V{qa.queue_id});
  f.message_id = "id-b@example.org";  // lower-case header name
  EXPECT_EQ(match(f), V{qb.queue_id});
  f.message_id = "in-the-body@x";  // only the header block counts
  EXPECT_TRUE(match(f).empty());
  f = {};
  f.older_than_seconds = 3600;
  EXPECT_EQ(match(f), V{qold.queue_id});
  f = {};
  f.newer_than_seconds = 3600;
  EXPECT_EQ(match(f), (V{qa.queue_id, qb.queue_id}));
  // A value that looks like SQL is only ever a parameter.
  f = {};
  f.sender = "x' OR '1'='1";
  EXPECT_TRUE(match(f).empty());
  // Held: only after hold.
  f = {};
  f.held_only = true;
  EXPECT_TRUE(match(f).empty());
  act(*conn, AdminAction::kHold, qb.queue_id);
  EXPECT_EQ(match(f), V{qb.queue_id});
  f.sender = "";
  EXPECT_EQ(match(f), V{qb.queue_id});
}

TEST(QueueHeaders, SubjectIsDecodedBoundedAndClean) {
  EXPECT_EQ(header_subject("Subject: plain\r\n\r\nbody"), "plain");
  EXPECT_EQ(header_subject("From: a\r\nsubject:\r\n  folded\r\n  twice\r\n\r\n"), "folded  twice");
  EXPECT_EQ(header_subject("Subject: =?UTF-8?B?R3LDvMOfZQ==?=\r\n\r\n"), "Gr\xc3\xbc\xc3\x9f" "e");
  EXPECT_EQ(header_subject("Subject: =?UTF-8?Q?a=0Ab?=\r\n\r\n"), "a b");  // a decoded LF is a space
  EXPECT_EQ(header_subject("Subject: <script>x</script>\r\n\r\n"), "<script>x</script>");  // escaping is the page's job
  EXPECT_EQ(header_subject("X: y\r\n\r\nSubject: in the body\r\n"), "");
  const std::string longer(300, 'x');
  EXPECT_EQ(header_subject("Subject: " + longer + "\r\n\r\n").size(), 200u);
  std::string umlauts;
  for (int i = 0; i < 150; ++i) umlauts += "\xc3\xa4";
  EXPECT_EQ(header_subject("Subject: " + umlauts + "\r\n\r\n").size(), 2 * 150u);
  EXPECT_EQ(header_subject("Subject: x" + umlauts + umlauts + "\r\n\r\n").size(), 1 + 2 * 199u);
}

// The web portal's "sent mail": by submitter, finished recipients included,
// newest first, with each recipient's attempts.
TEST_F(QueuePg, ListsBySubmitterInAnyStateNewestFirstWithHistory) {
  auto older = message({remote_rcpt("rita@remote.test")}, "anna@example.org");
  older.authenticated_user = "anna@example.org";
  older.body = "Subject: =?UTF-8?Q?caf=C3=A9?= <b>\r\n\r\nbody\r\n";
  auto q_older = enqueue(*conn, older);
  auto newer = message({remote_rcpt("sam@remote.test")}, "anna@example.org");
  newer.authenticated_user = "Anna@Example.org";
  auto q_newer = enqueue(*conn, newer);
  // Same envelope sender, submitted by nobody (arrived from outside): not hers.
  auto forged = message({remote_rcpt("x@remote.test")}, "anna@example.org");
  auto q_forged = enqueue(*conn, forged);
  auto other = message({remote_rcpt("y@remote.test")}, "bert@example.org");
  other.authenticated_user = "bert@example.org";
  enqueue(*conn, other);
  {
    pqxx::work tx(*conn);
    tx.exec_params("UPDATE queue_messages SET created_at = now() - interval '1 hour' WHERE queue_id = $1",
                   q_older.queue_id);
    tx.exec("UPDATE queue_recipients SET state = 'delivered' WHERE address = 'rita@remote.test'");
    tx.exec("INSERT INTO queue_attempts (recipient_id, started_at, duration_ms, mx_host, reply, outcome, remote_reply)"
            " SELECT id, now() - interval '50 minutes', 12, 'mx.remote.test', '451 4.7.1 later', 'deferred', true"
            " FROM queue_recipients WHERE address = 'rita@remote.test'");
    tx.exec("INSERT INTO queue_attempts (recipient_id, started_at, duration_ms, mx_host, reply, outcome, remote_reply)"
            " SELECT id, now() - interval '40 minutes', 12, 'mx.remote.test', '250 ok', 'delivered', true"
            " FROM queue_recipients WHERE address = 'rita@remote.test'");
    tx.commit();
  }
  EXPECT_EQ(get_message(*conn, q_older.queue_id, false)->header_subject, "caf\xc3\xa9 <b>");
  EXPECT_EQ(get_message(*conn, q_newer.queue_id, false)->header_subject, "test");  // message()'s body
  MessageFilter f;
  f.authenticated_user = "anna@example.ORG";
  // Pending only (the default): the delivered message is not listed.
  EXPECT_EQ(ids_of(list_messages(*conn, f, 100)), std::vector<std::string>{q_newer.queue_id});
  f.any_state = true;
  auto list = list_messages(*conn, f, 100, true, true);
  EXPECT_EQ(ids_of(list), (std::vector<std::string>{q_newer.queue_id, q_older.queue_id}));
  ASSERT_EQ(list[1].recipients.size(), 1u);
  ASSERT_EQ(list[1].recipients[0].history.size(), 2u);
  EXPECT_EQ(list[1].recipients[0].history[0].reply, "451 4.7.1 later");
  EXPECT_EQ(list[1].recipients[0].history[1].outcome, State::kDelivered);
  EXPECT_EQ(ids_of(list_messages(*conn, f, 100)), (std::vector<std::string>{q_older.queue_id, q_newer.queue_id}));
  EXPECT_TRUE(list_messages(*conn, f, 100)[0].recipients[0].history.empty()) << "history only when asked";
  for (const auto& m : list) EXPECT_NE(m.queue_id, q_forged.queue_id);
  f.authenticated_user = "x' OR '1'='1";
  EXPECT_TRUE(list_messages(*conn, f, 100).empty());
}

TEST_F(QueuePg, PagesAfterAndBeforeAMessageInEitherOrder) {
  // Seven messages of one submitter; two share a second (the id breaks the tie).
  std::vector<std::string> ids;
  for (int i = 0; i < 7; ++i) {
    auto m = message({remote_rcpt("r" + std::to_string(i) + "@remote.test")}, "pat@example.org");
    m.authenticated_user = "pat@example.org";
    ids.push_back(enqueue(*conn, m).queue_id);
  }
  {
    pqxx::work tx(*conn);
    for (int i = 0; i < 7; ++i)
      tx.exec_params("UPDATE queue_messages SET created_at = timestamptz '2030-01-01 00:00:00+00' + $2 * interval '1 minute'"
                     " WHERE queue_id = $1",
                     ids[i], i == 4 ? 3 : i);
    tx.commit();
  }
  auto other = message({remote_rcpt("x@remote.test")}, "bert@example.org");
  other.authenticated_user = "bert@example.org";
  enqueue(*conn, other);
  MessageFilter f;
  f.authenticated_user = "pat@example.org";
  auto page = [&](int limit, bool newest_first, Page p) {
    return ids_of(list_messages(*conn, f, limit, false, newest_first, p));
  };
  auto slice = [&](std::vector<int> idx) {
    std::vector<std::string> out;
    for (int i : idx) out.push_back(ids[i]);
    return out;
  };
  // Oldest first: 0 1 2 3 4 5 6 (3 and 4 share created_at; 3 has the smaller id).
  EXPECT_EQ(page(3, false, {}), slice({0, 1, 2}));
  EXPECT_EQ(page(3, false, {ids[2], ""}), slice({3, 4, 5}));
  EXPECT_EQ(page(3, false, {ids[3], ""}), slice({4, 5, 6})) << "the tie is broken by the id";
  EXPECT_EQ(page(3, false, {ids[6], ""}), slice({}));
  EXPECT_EQ(page(3, false, {"", ids[5]}), slice({2, 3, 4})) << "the nearest before, in listing order";
  EXPECT_EQ(page(3, false, {"", ids[2]}), slice({0, 1}));
  // Newest first: 6 5 4 3 2 1 0.
  EXPECT_EQ(page(3, true, {}), slice({6, 5, 4}));
  EXPECT_EQ(page(3, true, {ids[4], ""}), slice({3, 2, 1}));
  EXPECT_EQ(page(3, true, {"", ids[3]}), slice({6, 5, 4}));
  EXPECT_EQ(page(3, true, {"", ids[1]}), slice({4, 3, 2}));
  EXPECT_EQ(page(3, true, {"", ids[6]}), slice({}));
  // A cursor outside the filter still places the page; one that is gone is said so.
  EXPECT_THROW(list_messages(*conn, f, 3, false, false, {"NOSUCHMESSAGE1", ""}), PageCursorGone);
  EXPECT_THROW(list_messages(*conn, f, 3, false, true, {"", "NOSUCHMESSAGE1"}), PageCursorGone);

  // Over gRPC: the fields, their checks and NOT_FOUND.
  QueueServiceImpl svc(*pool, {}, {"mx.example.org", "MAILER-DAEMON"}, nullptr, nullptr, nullptr);
  mail::v1::ListMessagesRequest req;
  req.mutable_filter()->set_authenticated_user("pat@example.org");
  req.set_limit(2);
  req.set_page_after(ids[0]);
  mail::v1::ListMessagesResponse resp;
  ASSERT_TRUE(svc.ListMessages(nullptr, &req, &resp).ok());
  ASSERT_EQ(resp.messages_size(), 2);
  EXPECT_EQ(resp.messages(0).queue_id(), ids[1]);
  req.set_page_before(ids[3]);
  EXPECT_EQ(svc.ListMessages(nullptr, &req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.clear_page_after();
  req.set_page_before("x' OR '1'='1");
  EXPECT_EQ(svc.ListMessages(nullptr, &req, &resp).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  req.set_page_before("NOSUCHMESSAGE1");
  EXPECT_EQ(svc.ListMessages(nullptr, &req, &resp).error_code(), grpc::StatusCode::NOT_FOUND);
}

TEST_F(QueuePg, AdminRpcsHoldReleaseAndDeleteBySelection) {
  auto q1 = enqueue(*conn, message({remote_rcpt("x@broken.test")}));
  auto q2 = enqueue(*conn, message({remote_rcpt("y@broken.test")}));
  auto q3 = enqueue(*conn, message({remote_rcpt("z@fine.test")}));
  QueueServiceImpl svc(*pool, {}, {"mx.example.org", "MAILER-DAEMON"}, nullptr, nullptr, nullptr);
  namespace v1 = mail::v1;

  v1::QueueActionRequest hold;
  hold.mutable_selection()->mutable_filter()->set_domain("broken.test");
  v1::QueueActionResponse held;
  ASSERT_TRUE(svc.Hold(nullptr, &hold, &held).ok());
  EXPECT_EQ(held.messages(), 2);
  EXPECT_EQ(held.recipients(), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE held_at IS NOT NULL"), 2);

  // any_state is for listing: an action over it is refused, and so is mixing it with a state.
  v1::QueueActionRequest any;
  any.mutable_selection()->mutable_filter()->set_any_state(true);
  v1::QueueActionResponse any_changed;
  auto refused = svc.Hold(nullptr, &any, &any_changed);
  EXPECT_EQ(refused.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(refused.error_message(), "any_state is for listing only, not for queue actions");
  v1::ListMessagesRequest mixed;
  mixed.mutable_filter()->set_any_state(true);
  mixed.mutable_filter()->set_state(v1::RECIPIENT_STATE_BOUNCED);
  v1::ListMessagesResponse listed;
  EXPECT_EQ(svc.ListMessages(nullptr, &mixed, &listed).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  v1::ListMessagesRequest by_submitter;
  by_submitter.mutable_filter()->set_any_state(true);
  by_submitter.mutable_filter()->set_authenticated_user("nobody@example.org");
  ASSERT_TRUE(svc.ListMessages(nullptr, &by_submitter, &listed).ok());
  EXPECT_EQ(listed.messages_size(), 0);

  // An unknown explicit id: NOT_FOUND naming it, and nothing changes.
  v1::QueueActionRequest release;
  release.mutable_selection()->add_queue_ids(q1.queue_id);
  release.mutable_selection()->add_queue_ids("NOSUCHID1");
  v1::QueueActionResponse released;
  auto st = svc.Release(nullptr, &release, &released);
  EXPECT_EQ(st.error_code(), grpc::StatusCode::NOT_FOUND);
  EXPECT_NE(st.error_message().find("NOSUCHID1"), std::string::npos);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE held_at IS NOT NULL"), 2);
  // Neither ids nor filter nor all; or two of them: INVALID_ARGUMENT.
  v1::QueueActionRequest none;
  EXPECT_EQ(svc.Release(nullptr, &none, &released).error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  none.mutable_selection()->set_all(true);
  none.mutable_selection()->add_queue_ids(q1.queue_id);
  EXPECT_EQ(svc.Release(nullptr, &none, &released).error_code(), grpc::StatusCode::INVALID_ARGUMENT);

  release.mutable_selection()->clear_queue_ids();
  release.mutable_selection()->add_queue_ids(q1.queue_id);
  ASSERT_TRUE(svc.Release(nullptr, &release, &released).ok());
  EXPECT_EQ(released.messages(), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE held_at IS NOT NULL"), 1);

  // Retry leaves held mail alone.
  v1::RetryRequest retry;
  retry.mutable_selection()->set_all(true);
  v1::RetryResponse retried;
  ASSERT_TRUE(svc.Retry(nullptr, &retry, &retried).ok());
  EXPECT_EQ(retried.recipients(), 2);  // q1 and q3, not q2

  // Delete by filter: a dry run counts and deletes nothing; then for real.
  v1::DeleteMessageRequest del;
  del.mutable_selection()->mutable_filter()->set_domain("broken.test");
  del.set_dry_run(true);
  v1::DeleteMessageResponse deleted;
  ASSERT_TRUE(svc.DeleteMessage(nullptr, &del, &deleted).ok());
  EXPECT_EQ(deleted.messages(), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), 3);
  del.set_dry_run(false);
  ASSERT_TRUE(svc.DeleteMessage(nullptr, &del, &deleted).ok());
  EXPECT_EQ(deleted.messages(), 2);
  EXPECT_EQ(deleted.recipients(), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), 1);
  auto left = get_message(*conn, q3.queue_id, false);
  EXPECT_TRUE(left.has_value());
  (void)q2;
}

TEST_F(QueuePg, AttemptsRecordWhetherTheReplyWasTheRemotes) {
  auto q = enqueue(*conn, message({remote_rcpt("x@nowhere.test"), remote_rcpt("y@remote.test")}));
  ScriptedRemote remote;
  // What the SMTP driver returns for NXDOMAIN: no host, our own decision.
  remote.next = {Outcome::kPermanent, "550 5.1.2 domain nowhere.test does not exist", "", false, false};
  Workers w(*pool, config(), &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 1);
  remote.next = {Outcome::kTemporary, "451 4.7.1 greylisted", "mx.remote.test", true, false};
  EXPECT_EQ(w.run_once(), 1);
  auto m = get_message(*conn, q.queue_id, true);
  ASSERT_TRUE(m);
  ASSERT_EQ(m->recipients.size(), 2u);
  const auto& dns = m->recipients[0];
  EXPECT_EQ(dns.domain, "nowhere.test");
  ASSERT_EQ(dns.history.size(), 1u);
  EXPECT_EQ(dns.history[0].mx_host, "");
  EXPECT_FALSE(dns.history[0].remote_reply);
  ASSERT_EQ(m->recipients[1].history.size(), 1u);
  EXPECT_TRUE(m->recipients[1].history[0].remote_reply);
  EXPECT_EQ(m->recipients[1].history[0].mx_host, "mx.remote.test");
}

TEST(QueueStore, HeaderMessageIdTakesTheHeaderOnly) {
  EXPECT_EQ(header_message_id("Message-ID: <a@b>\r\n\r\n"), "a@b");
  EXPECT_EQ(header_message_id("Subject: x\nMESSAGE-ID:\n\t<folded@b>\n\nbody"), "folded@b");
  EXPECT_EQ(header_message_id("Subject: x\r\n\r\nMessage-ID: <body@b>\r\n"), "");
  EXPECT_EQ(header_message_id("Message-ID: <ctl\x01@b>\r\n\r\n"), "");
  EXPECT_EQ(header_message_id(""), "");
}

// Blocks in deliver() until opened, then defers.
class DeferGate final : public RemoteDelivery {
 public:
  std::vector<RecipientResult> deliver(const MessageData&, const std::vector<const ClaimedRecipient*>& r) override {
    std::unique_lock lock(mutex);
    ++inside;
    cv.notify_all();
    cv.wait(lock, [&] { return open; });
    return std::vector<RecipientResult>(
        r.size(), RecipientResult{Outcome::kTemporary, "451 4.3.0 later", "mx.gate.test", true, false});
  }
  std::mutex mutex;
  std::condition_variable cv;
  int inside = 0;
  bool open = false;
};

TEST_F(QueuePg, HoldWaitsForAnAttemptInFlightThenHolds) {
  auto q = enqueue(*conn, message({remote_rcpt("x@gate.test")}));
  DeferGate remote;
  Workers w(*pool, config(), &mailbox, &remote, nullptr, nullptr);
  std::thread worker([&] { w.run_once(); });
  {
    std::unique_lock lock(remote.mutex);
    remote.cv.wait(lock, [&] { return remote.inside == 1; });
  }
  ActionCount held;
  std::thread holder([&] {
    pqxx::connection c(url);
    held = act(c, AdminAction::kHold, q.queue_id);
  });
  // The hold waits on the recipient's row lock (the attempt in flight).
  const auto deadline = std::chrono::steady_clock::now() + 10s;
  while (count("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
               " AND wait_event_type = 'Lock'") == 0) {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "the hold never waited for the attempt";
    std::this_thread::sleep_for(10ms);
  }
  {
    std::lock_guard lock(remote.mutex);
    remote.open = true;
  }
  remote.cv.notify_all();
  worker.join();
  holder.join();
  // The attempt's outcome is kept, and the recipient is held after it.
  EXPECT_EQ(held.recipients, 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'deferred' AND attempts = 1"
                  " AND held_at IS NOT NULL"),
            1);
  {
    pqxx::work tx(*conn);
    tx.exec("UPDATE queue_recipients SET next_attempt_at = now() - interval '1 minute'");
    tx.commit();
  }
  pqxx::connection c1(url);
  Claim claim(c1, 10);
  EXPECT_TRUE(claim.recipients().empty());
}

namespace {
// Records the recipients of every SMTP transaction it is asked for.
class RecordingRemote final : public RemoteDelivery {
 public:
  std::vector<RecipientResult> deliver(const MessageData& m,
                                       const std::vector<const ClaimedRecipient*>& rcpts) override {
    std::lock_guard lock(mutex);
    std::vector<std::string> addresses;
    for (const auto* r : rcpts) addresses.push_back(r->address);
    std::sort(addresses.begin(), addresses.end());
    transactions.push_back({m.queue_id, addresses});
    return std::vector<RecipientResult>(rcpts.size(), next);
  }
  std::mutex mutex;
  std::vector<std::pair<std::string, std::vector<std::string>>> transactions;
  RecipientResult next{Outcome::kTemporary, "451 4.7.1 try later", "mx.remote.test", true, false};
};
}  // namespace

// Issue 22 item 4: one transaction per message and destination, first try and retry.
TEST_F(QueuePg, OneMessagesRecipientsAtOneDomainTravelTogetherDespiteTheBatchLimit) {
  auto four = message({remote_rcpt("a@remote.test"), remote_rcpt("b@remote.test"), remote_rcpt("c@remote.test"),
                       remote_rcpt("d@remote.test")});
  enqueue(*conn, four);
  RecordingRemote remote;
  auto cfg = config();
  cfg.batch_size = 2;  // smaller than the message: the claim alone would cut it in two
  Workers w(*pool, cfg, &mailbox, &remote, nullptr, nullptr);
  EXPECT_EQ(w.run_once(), 4);
  const std::vector<std::string> all4{"a@remote.test", "b@remote.test", "c@remote.test", "d@remote.test"};
  ASSERT_EQ(remote.transactions.size(), 1u);
  EXPECT_EQ(remote.transactions[0].second, all4);
  // Deferred together: one retry time for the four (one jitter draw).
  EXPECT_EQ(count("SELECT count(DISTINCT next_attempt_at) FROM queue_recipients WHERE state = 'deferred'"), 1);
  // A sibling whose time drifted (here: one made due alone) brings the others along.
  {
    pqxx::work tx(*conn);
    tx.exec("UPDATE queue_recipients SET next_attempt_at = now() WHERE address = 'c@remote.test'");
    tx.commit();
  }
  EXPECT_EQ(w.run_once(), 4);
  ASSERT_EQ(remote.transactions.size(), 2u);
  EXPECT_EQ(remote.transactions[1].second, all4);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE attempts = 2"), 4);
  // Another domain of a message is its own transaction.
  auto mixed = message({remote_rcpt("e@remote.test"), remote_rcpt("f@other.test")});
  enqueue(*conn, mixed);
  remote.next = {Outcome::kDelivered, "250 2.0.0 ok", "mx.remote.test", true, false};
  EXPECT_EQ(retry_now(*conn, ""), 4);  // the four again, now delivered
  while (w.run_once() > 0) {
  }
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 6);
  for (const auto& [qid, rcpts] : remote.transactions)
    for (const auto& r : rcpts) EXPECT_TRUE(r != "f@other.test" || rcpts.size() == 1) << qid;
  EXPECT_EQ(remote.transactions.size(), 5u);  // the four: 3 attempts, 3 transactions; e@ and f@: one each
}

// The claim itself takes a message's recipients at a domain whole: a second
// claimer right behind it (its transaction still open) gets none of them.
TEST_F(QueuePg, AConcurrentClaimCannotSplitAMessagesRecipientsAtADomain) {
  enqueue(*conn, message({remote_rcpt("a@remote.test"), remote_rcpt("b@remote.test"), remote_rcpt("c@remote.test"),
                          remote_rcpt("d@remote.test")}));
  pqxx::connection first_conn(url), second_conn(url), third_conn(url);
  Claim first(first_conn, 2);
  EXPECT_EQ(first.recipients().size(), 4u);
  Claim second(second_conn, 2);
  EXPECT_TRUE(second.recipients().empty());
  Claim by_domain(third_conn, 2, "remote.test");
  EXPECT_TRUE(by_domain.recipients().empty());
}
