// ThrottleStore with a fake clock: two stores on one database stand in for two
// authd replicas, and both must see every failure.
#include <gtest/gtest.h>

#include "common/db/migrations.h"
#include "services/auth/sql/migrations.h"
#include "services/auth/store/throttle_store.h"
#include "tests/support/pg_test_db.h"

namespace postline::auth {
namespace {

using namespace std::chrono_literals;

class ThrottleStoreTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const auto url = postline::testing::create_test_database("auth_throttle");
    pqxx::connection c(url);
    db::migrate(c, sql::migrations());
    pool_ = std::make_unique<db::Pool>(url, 2);
    ThrottlePolicy p;
    p.ip_delay_after = 2;
    p.ip_block_after = 4;
    p.account_delay_after = 3;
    p.base_delay = 100ms;
    p.max_delay = 1s;
    p.account_max_delay = 500ms;
    p.window = 10min;
    p.ip_block_duration = 5min;
    auto now = [this] { return now_; };
    a_ = std::make_unique<ThrottleStore>(*pool_, Throttle(p), now);
    b_ = std::make_unique<ThrottleStore>(*pool_, Throttle(p), now);
  }

  Clock::time_point now_ = Clock::time_point(std::chrono::seconds(1'800'000'000));
  std::unique_ptr<db::Pool> pool_;
  std::unique_ptr<ThrottleStore> a_, b_;
};

TEST_F(ThrottleStoreTest, ReplicasShareCountsThenBlock) {
  a_->record_failure("192.0.2.1", "anna@example.com");
  b_->record_failure("192.0.2.1", "anna@example.com");
  EXPECT_EQ(a_->check("192.0.2.1", "").delay, 100ms);
  b_->record_failure("192.0.2.1", "anna@example.com");
  EXPECT_EQ(b_->check("192.0.2.1", "").delay, 200ms);
  a_->record_failure("192.0.2.1", "anna@example.com");  // 4th: blocked
  EXPECT_TRUE(b_->check("192.0.2.1", "anna@example.com").blocked);
  // Another IP is not blocked, only slowed by the account's own count.
  auto other = a_->check("198.51.100.7", "anna@example.com");
  EXPECT_FALSE(other.blocked);
  EXPECT_EQ(other.delay, 200ms);
  now_ += 6min;
  EXPECT_FALSE(a_->check("192.0.2.1", "").blocked);
}

TEST_F(ThrottleStoreTest, SuccessClearsTheAccountButNotTheIp) {
  for (int i = 0; i < 3; ++i) a_->record_failure("192.0.2.1", "anna@example.com");
  EXPECT_GT(a_->check("", "anna@example.com").delay, 0ms);
  a_->record_success("anna@example.com");
  EXPECT_EQ(a_->check("", "anna@example.com").delay, 0ms);
  EXPECT_GT(a_->check("192.0.2.1", "").delay, 0ms);
}

TEST_F(ThrottleStoreTest, UnblockListAndCleanup) {
  for (int i = 0; i < 4; ++i) a_->record_failure("192.0.2.1", "anna@example.com");
  auto rows = a_->list();
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_EQ(a_->unblock("192.0.2.1"), 1);
  EXPECT_FALSE(a_->check("192.0.2.1", "").blocked);
  EXPECT_EQ(a_->unblock("192.0.2.1"), 0);
  now_ += 11min;
  EXPECT_TRUE(a_->list().empty());
  EXPECT_EQ(a_->cleanup(), 1);  // the account row
}

}  // namespace
}  // namespace postline::auth
