#include "common/mailstore/delivery.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/sql/migrations.h"
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
