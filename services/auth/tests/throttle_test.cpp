// The throttling decisions with a fake clock: time is just a value here.
#include <gtest/gtest.h>

#include "services/auth/core/throttle.h"

namespace postline::auth {
namespace {

using namespace std::chrono_literals;

struct FakeClock {
  Clock::time_point now = Clock::time_point(std::chrono::hours(24 * 365 * 50));
  void advance(Clock::duration d) { now += d; }
};

ThrottlePolicy policy() {
  ThrottlePolicy p;
  p.window = 15min;
  p.ip_delay_after = 3;
  p.ip_block_after = 6;
  p.ip_block_duration = 10min;
  p.account_delay_after = 4;
  p.base_delay = 100ms;
  p.max_delay = 1000ms;
  p.account_max_delay = 300ms;
  return p;
}

TEST(Throttle, NoDelayBelowThreshold) {
  Throttle t(policy());
  FakeClock clock;
  ThrottleState s;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(t.check(ThrottleScope::kIp, s, clock.now).delay, 0ms);
    s = t.record_failure(ThrottleScope::kIp, s, clock.now);
  }
  EXPECT_EQ(s.failures, 3);
}

TEST(Throttle, IpDelaysGrowThenBlock) {
  Throttle t(policy());
  FakeClock clock;
  ThrottleState s;
  std::vector<std::chrono::milliseconds> delays;
  for (int i = 0; i < 5; ++i) {
    s = t.record_failure(ThrottleScope::kIp, s, clock.now);
    auto v = t.check(ThrottleScope::kIp, s, clock.now);
    EXPECT_FALSE(v.blocked);
    delays.push_back(v.delay);
    clock.advance(1s);
  }
  EXPECT_EQ(delays, (std::vector<std::chrono::milliseconds>{0ms, 0ms, 100ms, 200ms, 400ms}));
  s = t.record_failure(ThrottleScope::kIp, s, clock.now);  // the 6th: blocked
  auto v = t.check(ThrottleScope::kIp, s, clock.now);
  EXPECT_TRUE(v.blocked);
  EXPECT_EQ(v.blocked_until, clock.now + 10min);
  clock.advance(9min);
  EXPECT_TRUE(t.check(ThrottleScope::kIp, s, clock.now).blocked);
  clock.advance(2min);
  EXPECT_FALSE(t.check(ThrottleScope::kIp, s, clock.now).blocked);
}

TEST(Throttle, DelayIsCapped) {
  Throttle t(policy());
  FakeClock clock;
  ThrottleState s;
  auto p = policy();
  p.ip_block_after = 0;  // never block
  Throttle noblock(p);
  for (int i = 0; i < 40; ++i) s = noblock.record_failure(ThrottleScope::kIp, s, clock.now);
  EXPECT_EQ(noblock.check(ThrottleScope::kIp, s, clock.now).delay, 1000ms);
  EXPECT_FALSE(noblock.check(ThrottleScope::kIp, s, clock.now).blocked);
}

TEST(Throttle, AccountsAreSlowedButNeverBlocked) {
  Throttle t(policy());
  FakeClock clock;
  ThrottleState s;
  for (int i = 0; i < 100; ++i) s = t.record_failure(ThrottleScope::kAccount, s, clock.now);
  auto v = t.check(ThrottleScope::kAccount, s, clock.now);
  EXPECT_FALSE(v.blocked);
  EXPECT_EQ(v.delay, 300ms);
}

TEST(Throttle, OldFailuresAreForgotten) {
  Throttle t(policy());
  FakeClock clock;
  ThrottleState s;
  for (int i = 0; i < 5; ++i) s = t.record_failure(ThrottleScope::kIp, s, clock.now);
  EXPECT_GT(t.check(ThrottleScope::kIp, s, clock.now).delay, 0ms);
  clock.advance(16min);
  EXPECT_EQ(t.check(ThrottleScope::kIp, s, clock.now).delay, 0ms);
  EXPECT_TRUE(t.expired(s, clock.now));
  s = t.record_failure(ThrottleScope::kIp, s, clock.now);
  EXPECT_EQ(s.failures, 1);  // a fresh window
}

TEST(Throttle, BlockedRowDoesNotExpireEarly) {
  auto p = policy();
  p.ip_block_duration = 30min;  // longer than the window
  Throttle t(p);
  FakeClock clock;
  ThrottleState s;
  for (int i = 0; i < 6; ++i) s = t.record_failure(ThrottleScope::kIp, s, clock.now);
  clock.advance(20min);
  EXPECT_FALSE(t.expired(s, clock.now));
  EXPECT_TRUE(t.check(ThrottleScope::kIp, s, clock.now).blocked);
  clock.advance(11min);
  EXPECT_TRUE(t.expired(s, clock.now));
}

TEST(Throttle, CombineTakesTheStricter) {
  ThrottleVerdict ip{false, {}, 100ms}, account{false, {}, 300ms};
  EXPECT_EQ(Throttle::combine(ip, account).delay, 300ms);
  ip.blocked = true;
  EXPECT_TRUE(Throttle::combine(ip, account).blocked);
}

}  // namespace
}  // namespace postline::auth
