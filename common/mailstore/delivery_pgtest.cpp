#include "common/mailstore/delivery.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/sql/migrations.h"
#include "common/mailstore/store.h"
#include "tests/support/pg_test_db.h"

#include <gtest/gtest.h>

#include <thread>

using namespace postline::mailstore;

namespace {

class DeliveryTest : public ::testing::Test {
 protected:
  void SetUp() override {
    url_ = postline::testing::create_test_database("mailstore");
    conn_ = std::make_unique<pqxx::connection>(url_);
    postline::db::migrate(*conn_, sql::migrations());
  }
  int64_t scalar(const std::string& q) {
    pqxx::read_transaction tx(*conn_);
    return tx.exec(q)[0][0].as<int64_t>();
  }
  std::string url_;
  std::unique_ptr<pqxx::connection> conn_;
};

const std::string kMsg = "From: a@example.org\r\nSubject: Hi\r\n\r\nHello\r\n";

TEST_F(DeliveryTest, MigrationsCheckAfterApply) {
  EXPECT_NO_THROW(postline::db::check_schema(*conn_, sql::migrations()));
}

TEST_F(DeliveryTest, FirstDeliveryCreatesDefaultMailboxesWithSpecialUse) {
  auto r = deliver(*conn_, 7, "INBOX", kMsg, "q1");
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(r.uid, 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_mailboxes WHERE user_id = 7"), 6);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_mailboxes WHERE user_id = 7 AND name = 'Sent' AND "
                   "special_use = '\\Sent'"),
            1);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_subscriptions WHERE user_id = 7"), 6);
}

TEST_F(DeliveryTest, UidsAndModseqIncrease) {
  auto a = deliver(*conn_, 7, "INBOX", kMsg, "q1");
  auto b = deliver(*conn_, 7, "inbox", kMsg + "x", "q2");
  EXPECT_EQ(a.mailbox_id, b.mailbox_id);
  EXPECT_EQ(b.uid, a.uid + 1);
  EXPECT_EQ(scalar("SELECT uidnext FROM mailstore_mailboxes WHERE user_id = 7 AND name = 'INBOX'"), 3);
  EXPECT_EQ(scalar("SELECT max(modseq) FROM mailstore_messages WHERE user_id = 7"),
            scalar("SELECT highestmodseq FROM mailstore_mailboxes WHERE user_id = 7 AND name = 'INBOX'"));
}

TEST_F(DeliveryTest, SameKeyDeliversOnce) {
  auto a = deliver(*conn_, 7, "INBOX", kMsg, "q1");
  auto b = deliver(*conn_, 7, "INBOX", kMsg, "q1");
  EXPECT_TRUE(b.duplicate);
  EXPECT_EQ(b.uid, a.uid);
  EXPECT_EQ(b.mailbox_id, a.mailbox_id);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages"), 1);
  // The same key for another user is another delivery.
  EXPECT_FALSE(deliver(*conn_, 8, "INBOX", kMsg, "q1").duplicate);
}

TEST_F(DeliveryTest, ConcurrentSameKeyDeliversOnce) {
  std::vector<std::thread> threads;
  std::atomic<int> fresh{0};
  for (int i = 0; i < 4; ++i)
    threads.emplace_back([&] {
      pqxx::connection c(url_);
      if (!deliver(c, 9, "INBOX", kMsg, "same").duplicate) ++fresh;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(fresh.load(), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages WHERE user_id = 9"), 1);
}

TEST_F(DeliveryTest, BodyStoredOnceAndByteExact) {
  deliver(*conn_, 7, "INBOX", kMsg, "q1");
  deliver(*conn_, 8, "INBOX", kMsg, "q1");
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_blobs"), 1);
  // The search text too: one row per distinct body, joined by the blob key.
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_search"), 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages m JOIN mailstore_search s ON s.sha256 = m.blob_sha256 "
                   "WHERE s.search_text LIKE '%hello%'"),
            2);
  pqxx::read_transaction tx(*conn_);
  EXPECT_EQ(default_blob_store().get(tx, sha256(kMsg)).value(), kMsg);
  EXPECT_EQ(default_blob_store().get_range(tx, sha256(kMsg), 6, 11).value(), "a@example.o");
  auto row = tx.exec("SELECT size, header_size FROM mailstore_messages LIMIT 1")[0];
  EXPECT_EQ(row[0].as<int64_t>(), static_cast<int64_t>(kMsg.size()));
  EXPECT_EQ(row[1].as<int64_t>(), static_cast<int64_t>(kMsg.find("Hello")));
}

TEST_F(DeliveryTest, BareLfIsStoredAsCrlf) {
  deliver(*conn_, 7, "INBOX", "Subject: x\n\nbody\n", "q1");
  EXPECT_EQ(scalar("SELECT size FROM mailstore_messages"), 20);
}

TEST_F(DeliveryTest, JunkIsRecreatedIfDeleted) {
  deliver(*conn_, 7, "INBOX", kMsg, "q1");
  {
    pqxx::work tx(*conn_);
    tx.exec("DELETE FROM mailstore_mailboxes WHERE user_id = 7 AND name = 'Junk'");
    tx.commit();
  }
  auto r = deliver(*conn_, 7, "Junk", kMsg, "q2");
  EXPECT_EQ(r.uid, 1);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_mailboxes WHERE user_id = 7 AND name = 'Junk' AND "
                   "special_use = '\\Junk'"),
            1);
}

TEST_F(DeliveryTest, NotifiesOnCommit) {
  pqxx::connection listener(url_);
  struct Receiver : pqxx::notification_receiver {
    using pqxx::notification_receiver::notification_receiver;
    std::vector<std::string> payloads;
    void operator()(const std::string& payload, int) override { payloads.push_back(payload); }
  } receiver(listener, "postline_mailbox_changes");
  auto r = deliver(*conn_, 7, "INBOX", kMsg, "q1");
  // await_notification blocks until something arrives (bounded by its timeout).
  for (int i = 0; i < 50 && receiver.payloads.empty(); ++i) listener.await_notification(0, 100000);
  ASSERT_EQ(receiver.payloads.size(), 1u);
  EXPECT_EQ(receiver.payloads[0], "7:" + std::to_string(r.mailbox_id) + ":" +
                                      std::to_string(scalar("SELECT modseq FROM mailstore_messages")));
}

}  // namespace

namespace {

TEST_F(DeliveryTest, QuotaZeroIsUnlimited) {
  EXPECT_FALSE(deliver(*conn_, 20, "INBOX", kMsg, "z1", Quota{0}).over_quota);
}

TEST_F(DeliveryTest, OverQuotaInsertsNothingAndLeavesKeyUnclaimed) {
  const int64_t quota = static_cast<int64_t>(kMsg.size()) * 2;
  EXPECT_FALSE(deliver(*conn_, 21, "INBOX", kMsg, "o1", Quota{quota}).over_quota);
  EXPECT_FALSE(deliver(*conn_, 21, "INBOX", kMsg, "o2", Quota{quota}).over_quota);  // exactly full
  auto r = deliver(*conn_, 21, "INBOX", kMsg, "o3", Quota{quota});
  EXPECT_TRUE(r.over_quota);
  EXPECT_FALSE(r.exceeds_quota);
  EXPECT_FALSE(r.duplicate);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages WHERE user_id = 21"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_deliveries WHERE user_id = 21 AND delivery_key = 'o3'"), 0);
  // A raised quota (the retry) delivers under the same key.
  auto again = deliver(*conn_, 21, "INBOX", kMsg, "o3", Quota{quota * 2});
  EXPECT_FALSE(again.over_quota);
  EXPECT_GT(again.uid, 0);
  // A duplicate answers duplicate even though the user is over quota now.
  EXPECT_TRUE(deliver(*conn_, 21, "INBOX", kMsg, "o1", Quota{1 + static_cast<int64_t>(kMsg.size())}).duplicate);
}

TEST_F(DeliveryTest, MessageLargerThanQuotaExceeds) {
  auto r = deliver(*conn_, 22, "INBOX", kMsg, "big", Quota{static_cast<int64_t>(kMsg.size()) - 1});
  EXPECT_TRUE(r.over_quota);
  EXPECT_TRUE(r.exceeds_quota);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages WHERE user_id = 22"), 0);
}

TEST_F(DeliveryTest, ConcurrentDeliveriesCannotBothSlipUnderQuota) {
  // Room for exactly 3 messages; 8 concurrent deliveries with distinct keys.
  const int64_t quota = static_cast<int64_t>(kMsg.size()) * 3;
  deliver(*conn_, 23, "INBOX", kMsg, "warm", Quota{quota});  // creates the account row
  std::vector<std::thread> threads;
  std::atomic<int> stored{0}, refused{0};
  for (int i = 0; i < 8; ++i)
    threads.emplace_back([&, i] {
      pqxx::connection c(url_);
      auto r = deliver(c, 23, "INBOX", kMsg, "k" + std::to_string(i), Quota{quota});
      (r.over_quota ? refused : stored)++;
    });
  for (auto& t : threads) t.join();
  EXPECT_EQ(stored.load(), 2);
  EXPECT_EQ(refused.load(), 6);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages WHERE user_id = 23"), 3);
}

}  // namespace

namespace {

TEST_F(DeliveryTest, MessageQuotaDefersWithoutClaimingTheKey) {
  const Quota quota{0, 2};
  EXPECT_FALSE(deliver(*conn_, 30, "INBOX", kMsg, "m1", quota).over_quota);
  EXPECT_FALSE(deliver(*conn_, 30, "Junk", kMsg, "m2", quota).over_quota);  // counts every mailbox
  auto r = deliver(*conn_, 30, "INBOX", kMsg, "m3", quota);
  EXPECT_TRUE(r.over_quota);
  EXPECT_TRUE(r.over_message_quota);
  EXPECT_FALSE(r.exceeds_quota);  // expunging makes room: defer, do not bounce
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages WHERE user_id = 30"), 2);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_deliveries WHERE user_id = 30 AND delivery_key = 'm3'"), 0);
  // Bytes are still checked alongside; the byte-only overload still works.
  auto bytes = deliver(*conn_, 30, "INBOX", kMsg, "m4", Quota{static_cast<int64_t>(kMsg.size()) * 10, 3});
  EXPECT_FALSE(bytes.over_quota);
  auto both = deliver(*conn_, 30, "INBOX", kMsg, "m5", Quota{static_cast<int64_t>(kMsg.size()) - 1, 100});
  EXPECT_TRUE(both.exceeds_quota);
  EXPECT_FALSE(both.over_message_quota);
  EXPECT_FALSE(deliver(*conn_, 30, "INBOX", kMsg, "m6", Quota{0}).over_quota);
}

}  // namespace

namespace {

// usage() reads per-mailbox totals that triggers keep (migration 006); after
// every kind of write they must equal what summing the messages gives.
TEST_F(DeliveryTest, UsageTotalsFollowEveryWrite) {
  constexpr int64_t kUser = 11;
  auto check = [&](const char* after) {
    pqxx::read_transaction tx(*conn_);
    const Usage u = usage(tx, kUser);
    auto r = tx.exec_params("SELECT COALESCE(sum(size), 0)::bigint, count(*) FROM mailstore_messages WHERE user_id = $1",
                            kUser);
    EXPECT_EQ(u.bytes, r[0][0].as<int64_t>()) << after;
    EXPECT_EQ(u.messages, r[0][1].as<int64_t>()) << after;
    return u;
  };
  const std::string big = "Subject: big\r\n\r\n" + std::string(5000, 'x') + "\r\n";
  deliver(*conn_, kUser, "INBOX", kMsg, "k1");
  deliver(*conn_, kUser, "INBOX", big, "k2");
  deliver(*conn_, kUser, "INBOX", big, "k2");  // duplicate: nothing added
  EXPECT_EQ(check("deliver").messages, 2);
  append(*conn_, kUser, "Archive", kMsg, {"\\Deleted"}, std::nullopt);
  check("append");
  int64_t inbox = 0, archive = 0;
  {
    pqxx::read_transaction tx(*conn_);
    inbox = find_mailbox(tx, kUser, "INBOX")->mailbox_id;
    archive = find_mailbox(tx, kUser, "Archive")->mailbox_id;
  }
  copy_messages(*conn_, kUser, inbox, {1, 2}, "Sent", false);
  EXPECT_EQ(check("copy").messages, 5);
  copy_messages(*conn_, kUser, inbox, {2}, "Drafts", true);  // MOVE
  EXPECT_EQ(check("move").messages, 5);
  expunge(*conn_, kUser, archive, std::nullopt);
  EXPECT_EQ(check("expunge").messages, 4);
  EXPECT_EQ(rename_mailbox(*conn_, kUser, "INBOX", "Old"), StoreError::kNone);
  EXPECT_EQ(check("rename INBOX").messages, 4);
  EXPECT_EQ(delete_mailbox(*conn_, kUser, "Sent"), StoreError::kNone);
  const Usage end = check("delete mailbox");
  EXPECT_EQ(end.messages, 2);
  EXPECT_EQ(end.bytes, static_cast<int64_t>(kMsg.size() + big.size()));
}

}  // namespace

namespace {

// A burst for one mailbox in one transaction: consecutive UIDs, one MODSEQ,
// duplicates answered like deliver(), the quota applied item by item.
TEST_F(DeliveryTest, BatchDeliversInOrderSkipsDuplicatesAndAppliesTheQuota) {
  constexpr int64_t kUser = 12;
  ASSERT_FALSE(deliver(*conn_, kUser, "INBOX", kMsg, "b0").duplicate);
  const std::string m1 = "Subject: one\r\n\r\n1\r\n", m2 = "Subject: two\r\n\r\n2\r\n";
  auto r = deliver_batch(*conn_, kUser, "INBOX", {{m1, "b1"}, {kMsg, "b0"}, {m2, "b2"}}, {});
  ASSERT_EQ(r.size(), 3u);
  EXPECT_FALSE(r[0].duplicate);
  EXPECT_TRUE(r[1].duplicate);
  EXPECT_EQ(r[1].uid, 1);
  EXPECT_EQ(r[0].uid, 2);
  EXPECT_EQ(r[2].uid, 3);
  EXPECT_EQ(scalar("SELECT count(DISTINCT modseq) FROM mailstore_messages WHERE user_id = 12 AND uid IN (2, 3)"), 1);

  // MESSAGE limit 5 with 3 stored: two of three fit; the third's key stays free.
  const std::string m3 = "Subject: 3\r\n\r\n3\r\n", m4 = "Subject: 4\r\n\r\n4\r\n", m5 = "Subject: 5\r\n\r\n5\r\n";
  r = deliver_batch(*conn_, kUser, "INBOX", {{m3, "b3"}, {m4, "b4"}, {m5, "b5"}}, Quota{0, 5});
  EXPECT_EQ(r[0].uid, 4);
  EXPECT_EQ(r[1].uid, 5);
  EXPECT_TRUE(r[2].over_quota && r[2].over_message_quota);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_deliveries WHERE user_id = 12 AND delivery_key = 'b5'"), 0);
  // Raised: the refused one goes in on retry, the delivered ones are duplicates.
  r = deliver_batch(*conn_, kUser, "INBOX", {{m4, "b4"}, {m5, "b5"}}, Quota{0, 6});
  EXPECT_TRUE(r[0].duplicate);
  EXPECT_EQ(r[1].uid, 6);
  EXPECT_EQ(scalar("SELECT count(*) FROM mailstore_messages WHERE user_id = 12"), 6);
}

}  // namespace
