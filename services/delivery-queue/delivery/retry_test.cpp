#include "services/delivery-queue/delivery/retry.h"

#include "common/config/config.h"

#include <gtest/gtest.h>

using namespace postline::queue;
using namespace std::chrono_literals;

namespace {
RetryPolicy policy() { return RetryPolicy::parse({"1m", "5m", "15m"}, std::chrono::seconds(86400), "test"); }
}  // namespace

TEST(Retry, ScheduleStepsThenRepeatsTheLast) {
  auto p = policy();
  EXPECT_EQ(p.delay_after(1), 60s);
  EXPECT_EQ(p.delay_after(2), 300s);
  EXPECT_EQ(p.delay_after(3), 900s);
  EXPECT_EQ(p.delay_after(50), 900s);
}

TEST(Retry, RejectsBadSchedules) {
  EXPECT_THROW(RetryPolicy::parse({}, 1h, "queue.retry_schedule"), postline::config::ConfigError);
  EXPECT_THROW(RetryPolicy::parse({"0s"}, 1h, "queue.retry_schedule"), postline::config::ConfigError);
  EXPECT_THROW(RetryPolicy::parse({"5x"}, 1h, "queue.retry_schedule"), postline::config::ConfigError);
}

TEST(Retry, TemporaryFailureDefersWithBoundedJitter) {
  auto p = policy();
  const auto now = Clock::now();
  auto low = decide(Outcome::kTemporary, 1, now, now, p, 0.0);
  auto high = decide(Outcome::kTemporary, 1, now, now, p, 0.999);
  EXPECT_EQ(low.state, State::kDeferred);
  EXPECT_EQ(high.state, State::kDeferred);
  EXPECT_GE(low.next_attempt_at - now, 53s);
  EXPECT_LE(high.next_attempt_at - now, 67s);
  EXPECT_LT(low.next_attempt_at, high.next_attempt_at);
}

TEST(Retry, PermanentFailureBouncesAndSuccessDelivers) {
  auto p = policy();
  const auto now = Clock::now();
  EXPECT_EQ(decide(Outcome::kPermanent, 1, now, now, p, 0.5).state, State::kBounced);
  EXPECT_EQ(decide(Outcome::kDelivered, 3, now, now, p, 0.5).state, State::kDelivered);
}

TEST(Retry, ExpiresAtMaxLifetimeAndPullsTheLastRetryForward) {
  auto p = RetryPolicy::parse({"1h"}, std::chrono::seconds(600), "test");
  const auto created = Clock::now();
  // 5 minutes old, next step would be an hour away: retry at the expiry time instead.
  auto d = decide(Outcome::kTemporary, 1, created, created + 300s, p, 0.5);
  EXPECT_EQ(d.state, State::kDeferred);
  EXPECT_EQ(d.next_attempt_at, created + 600s);
  // At or past the lifetime a temporary failure is final.
  EXPECT_EQ(decide(Outcome::kTemporary, 2, created, created + 600s, p, 0.5).state, State::kExpired);
  // ...but a success at that moment still counts.
  EXPECT_EQ(decide(Outcome::kDelivered, 2, created, created + 700s, p, 0.5).state, State::kDelivered);
}
