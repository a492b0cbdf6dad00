// Delivery inside the Enqueue transaction (store/queue_store.h enqueue() on
// libpq with MailstoreEnqueueDelivery) against a real PostgreSQL holding both
// the queue's and the mailstore's tables: one commit for queue and mailbox,
// exactly once on a retried Enqueue, the ordinary path for what it does not
// deliver, and no lost message when the delivery statements fail.
#include "common/db/migrations.h"
#include "common/db/pq.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/sql/migrations.h"
#include "services/delivery-queue/delivery/enqueue_delivery.h"
#include "services/delivery-queue/rpc/enqueue_batcher.h"
#include "services/delivery-queue/sql/migrations.h"
#include "services/delivery-queue/store/queue_store.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>
#include <pqxx/pqxx>

#include <atomic>
#include <thread>

using namespace postline;
using namespace postline::queue;

namespace {

constexpr int64_t kBob = 7;

class EnqueueDeliveryPg : public ::testing::Test {
 protected:
  void SetUp() override {
    url = postline::testing::create_test_database("enqueue_delivery");
    check = std::make_unique<pqxx::connection>(url);
    db::migrate(*check, queue::sql::migrations());
    db::migrate(*check, mailstore::sql::migrations());
    mailstore::pg::PgOptions o;
    o.url = url;
    o.pool_size = 2;
    o.index_cache_messages = 0;
    store = std::make_unique<mailstore::pg::PgMailStore>(o);
    conn = std::make_unique<db::pq::Connection>(url);
  }

  static NewRecipient bob(int64_t quota_messages = 0) {
    NewRecipient r{"bob@example.org", true, kBob, "", "", false};
    r.quota_known = true;
    r.quota_messages = quota_messages;
    return r;
  }

  NewMessage message(std::vector<NewRecipient> rcpts, std::string id = "ENQDLV0001") {
    NewMessage m;
    m.queue_id = std::move(id);
    m.mail_from = "alice@example.org";
    m.recipients = std::move(rcpts);
    m.body = "Subject: now\r\nFrom: alice@example.org\r\n\r\nhello\r\n";
    return m;
  }

  EnqueueResult enqueue_now(const NewMessage& m) {
    MailstoreEnqueueDelivery now(*store, m, nullptr);
    return enqueue(*conn, m, &now);
  }

  int64_t count(const std::string& q) {
    pqxx::read_transaction tx(*check);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  std::string text(const std::string& q) {
    pqxx::read_transaction tx(*check);
    return tx.exec(q)[0][0].as<std::string>();
  }

  std::string url;
  std::unique_ptr<pqxx::connection> check;
  std::unique_ptr<mailstore::pg::PgMailStore> store;
  std::unique_ptr<db::pq::Connection> conn;
};

// An EnqueueTimeDelivery whose statement fails, as a mailstore fault would.
class FailingDelivery final : public EnqueueTimeDelivery {
 public:
  bool tries(size_t, size_t) const override { return true; }
  size_t stage(db::pq::Connection::Pipeline& pipe) override {
    pipe.add(kBroken);
    return 1;
  }
  std::vector<std::vector<std::string>> read(const std::vector<db::pq::Result>&, size_t) override {
    ADD_FAILURE() << "read() after a failed round trip";
    return {};
  }
  void committed() override { ++commits; }
  int commits = 0;
  static inline const db::pq::Statement kBroken{"test_broken", "SELECT 1 / 0"};
};

}  // namespace

TEST_F(EnqueueDeliveryPg, ALocalRecipientIsDeliveredInTheEnqueueTransaction) {
  auto r = enqueue_now(message({bob()}));
  EXPECT_FALSE(r.duplicate);
  EXPECT_FALSE(r.pending);
  EXPECT_EQ(r.delivered_now, 1u);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages WHERE user_id = 7"), 1);
  EXPECT_EQ(text("SELECT state FROM queue_recipients"), "delivered");
  EXPECT_EQ(count("SELECT attempts FROM queue_recipients"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE finished_at IS NOT NULL"), 1);
  EXPECT_EQ(text("SELECT reply FROM queue_attempts"), "250 2.0.0 delivered to INBOX uid 1");
  // The body went into the mailbox (with Return-Path), not also into the queue.
  EXPECT_EQ(count("SELECT length(body) FROM queue_messages"), 0);
  EXPECT_EQ(count("SELECT size FROM queue_messages"), 48);
  const std::string stored = text(
      "SELECT convert_from(b.data, 'UTF8') FROM mailstore_blobs b JOIN mailstore_messages m"
      " ON m.blob_sha256 = b.sha256");
  EXPECT_EQ(stored.rfind("Return-Path: <alice@example.org>\r\nSubject: now\r\n", 0), 0u) << stored;
}

TEST_F(EnqueueDeliveryPg, ARetriedEnqueueIsAnsweredAgainAndDeliversOnce) {
  auto m = message({bob()});
  EXPECT_FALSE(enqueue_now(m).duplicate);
  auto again = enqueue_now(m);
  EXPECT_TRUE(again.duplicate);
  EXPECT_FALSE(again.pending);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients"), 1);
  m.body += "another message";
  EXPECT_THROW(enqueue_now(m), QueueIdConflict);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 1);
}

TEST_F(EnqueueDeliveryPg, WhatIsNotDeliveredNowIsQueuedWithTheBody) {
  NewRecipient no_quota{"carol@example.org", true, 8, "", "", false};  // limits unknown: a worker asks authd
  NewRecipient wants_success = bob();
  wants_success.address = "bob+dsn@example.org";
  wants_success.notify = "SUCCESS";
  NewRecipient remote{"dave@remote.test", false, 0, "", "", false};
  auto r = enqueue_now(message({bob(), no_quota, wants_success, remote}));
  EXPECT_TRUE(r.pending);
  EXPECT_EQ(r.delivered_now, 1u);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued'"), 3);
  EXPECT_EQ(text("SELECT address FROM queue_recipients WHERE state = 'delivered'"), "bob@example.org");
  EXPECT_EQ(count("SELECT count(*) FROM queue_attempts"), 1);
  EXPECT_EQ(count("SELECT length(body) FROM queue_messages"), 48);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 1);
  // Recipient order is kept (ids ascend with it).
  EXPECT_EQ(text("SELECT string_agg(address, ',' ORDER BY id) FROM queue_recipients"),
            "bob@example.org,carol@example.org,bob+dsn@example.org,dave@remote.test");
}

TEST_F(EnqueueDeliveryPg, AFullMailboxLeavesTheRecipientToTheWorkersAndStoresTheBody) {
  EXPECT_FALSE(enqueue_now(message({bob(1)}, "ENQDLV0002")).pending);
  auto r = enqueue_now(message({bob(1)}, "ENQDLV0003"));
  EXPECT_TRUE(r.pending);
  EXPECT_EQ(r.delivered_now, 0u);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued'"), 1);
  EXPECT_EQ(count("SELECT length(body) FROM queue_messages WHERE queue_id = 'ENQDLV0003'"), 48);
  // Nothing claimed the key: a worker's later delivery is not a "duplicate".
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_deliveries"), 1);
}

TEST_F(EnqueueDeliveryPg, FailingDeliveryStatementsStillQueueTheMessage) {
  FailingDelivery failing;
  auto m = message({bob()});
  auto r = enqueue(*conn, m, &failing);
  EXPECT_FALSE(r.duplicate);
  EXPECT_TRUE(r.pending);
  EXPECT_EQ(failing.commits, 0);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued'"), 1);
  EXPECT_EQ(count("SELECT length(body) FROM queue_messages"), 48);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 0);
  // The connection is usable afterwards.
  EXPECT_TRUE(enqueue(*conn, message({bob()}, "ENQDLV0009"), nullptr).pending);
}

TEST_F(EnqueueDeliveryPg, WithoutADeliveryEverythingIsQueued) {
  NewRecipient remote{"dave@remote.test", false, 0, "", "", false};
  auto r = enqueue(*conn, message({bob(), remote}), nullptr);
  EXPECT_TRUE(r.pending);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'queued' AND attempts = 0"), 2);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE local AND user_id = 7"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE NOT local AND user_id IS NULL"), 1);
  EXPECT_EQ(text("SELECT domain FROM queue_recipients WHERE NOT local"), "remote.test");
  EXPECT_EQ(count("SELECT count(*) FROM queue_attempts"), 0);
}

TEST_F(EnqueueDeliveryPg, ABatchCommitsTogetherWithOneUidRangePerMailbox) {
  std::vector<NewMessage> msgs;
  for (int i = 0; i < 5; ++i) msgs.push_back(message({bob()}, "ENQBATCH" + std::to_string(i)));
  NewRecipient carol{"carol@example.org", true, 8, "", "", false};
  carol.quota_known = true;
  msgs.push_back(message({carol, bob()}, "ENQBATCH9"));
  std::vector<const NewMessage*> ptrs;
  for (const auto& m : msgs) ptrs.push_back(&m);
  MailstoreEnqueueDelivery now(*store, ptrs, nullptr);
  auto results = enqueue_batch(*conn, ptrs, &now);
  ASSERT_EQ(results.size(), 6u);
  for (const auto& r : results) EXPECT_FALSE(r.pending);
  EXPECT_EQ(results[5].delivered_now, 2u);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages WHERE user_id = 7"), 6);
  EXPECT_EQ(count("SELECT max(uid) FROM mailstore_messages WHERE user_id = 7"), 6);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages WHERE user_id = 8"), 1);
  // One delivery call for bob's six messages: one MODSEQ for all of them.
  EXPECT_EQ(count("SELECT count(DISTINCT modseq) FROM mailstore_messages WHERE user_id = 7"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM queue_recipients WHERE state = 'delivered'"), 7);
}

TEST_F(EnqueueDeliveryPg, ABatchWithATakenQueueIdSplitsAndRollsBack) {
  auto first = message({bob()}, "ENQSPLIT1");
  EXPECT_FALSE(enqueue_now(first).pending);
  auto second = message({bob()}, "ENQSPLIT2");
  std::vector<const NewMessage*> ptrs{&second, &first};
  MailstoreEnqueueDelivery now(*store, ptrs, nullptr);
  EXPECT_THROW(enqueue_batch(*conn, ptrs, &now), BatchSplit);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), 1);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), 1);
}

TEST_F(EnqueueDeliveryPg, TheBatcherGroupsConcurrentEnqueuesAndAnswersEachOnce) {
  db::pq::Pool pool(url, 4);
  std::atomic<int> commits{0}, committed{0};
  EnqueueBatcher::Options options;
  options.max_messages = 16;
  EnqueueBatcher batcher(
      pool,
      [&](const std::vector<const NewMessage*>& m) -> std::unique_ptr<EnqueueTimeDelivery> {
        return std::make_unique<MailstoreEnqueueDelivery>(*store, m, nullptr);
      },
      options, [&](size_t n) { ++commits, committed += static_cast<int>(n); });
  constexpr int kThreads = 8, kEach = 25;
  std::vector<std::thread> threads;
  std::atomic<int> ok{0}, duplicates{0};
  for (int t = 0; t < kThreads; ++t)
    threads.emplace_back([&, t] {
      for (int i = 0; i < kEach; ++i) {
        auto m = message({bob()}, "ENQPAR" + std::to_string(t) + "X" + std::to_string(i));
        if (!batcher.submit(m).pending) ++ok;
        // Every fifth one is sent again, as smtpd does after a lost answer.
        if (i % 5 == 0 && batcher.submit(m).duplicate) ++duplicates;
      }
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(ok.load(), kThreads * kEach);
  EXPECT_EQ(duplicates.load(), kThreads * kEach / 5);
  EXPECT_EQ(count("SELECT count(*) FROM mailstore_messages"), kThreads * kEach);
  EXPECT_EQ(count("SELECT count(DISTINCT uid) FROM mailstore_messages"), kThreads * kEach);
  EXPECT_EQ(count("SELECT count(*) FROM queue_messages"), kThreads * kEach);
  EXPECT_EQ(committed.load(), kThreads * kEach);
  // Concurrent submissions shared transactions (8 threads, one transaction in flight).
  EXPECT_LT(commits.load(), committed.load()) << commits.load() << " commits";
}
