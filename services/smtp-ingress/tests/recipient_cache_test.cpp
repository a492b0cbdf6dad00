// RecipientCache: what it keeps, for how long, and its bound.
#include "services/smtp-ingress/server/recipient_cache.h"

#include <gtest/gtest.h>

using namespace postline::smtp;
using namespace std::chrono_literals;

namespace {
Resolution local(int64_t user) {
  Resolution r;
  r.kind = RecipientKind::kLocal;
  r.targets.push_back({RecipientKind::kLocal, user, "u@example.test", true, 1000, 10});
  return r;
}
}  // namespace

TEST(RecipientCache, KeepsPositiveAnswersUntilTheyExpire) {
  RecipientCache cache(5000ms);
  const auto t0 = RecipientCache::Clock::now();
  cache.store("u@example.test", local(7), t0);
  Resolution unknown;
  unknown.kind = RecipientKind::kUnknown;
  cache.store("nobody@example.test", unknown, t0);
  auto hit = cache.find("u@example.test", t0 + 4999ms);
  ASSERT_TRUE(hit);
  EXPECT_EQ(hit->kind, RecipientKind::kLocal);
  ASSERT_EQ(hit->targets.size(), 1u);
  EXPECT_EQ(hit->targets[0].user_id, 7);
  EXPECT_EQ(hit->targets[0].quota_bytes, 1000);
  EXPECT_FALSE(cache.find("nobody@example.test", t0 + 1s)) << "an unknown address may be created any moment";
  EXPECT_EQ(cache.size(), 1u);
  EXPECT_FALSE(cache.find("u@example.test", t0 + 5000ms));  // expired, and dropped
  EXPECT_EQ(cache.size(), 0u);
  EXPECT_FALSE(cache.find("U@example.test", t0)) << "keys are the address as written";
}

TEST(RecipientCache, NeverKeepsFailuresOrRefusals) {
  RecipientCache cache(5000ms);
  Resolution down;
  down.available = false;
  cache.store("a@example.test", down);
  Resolution refused = local(1);
  refused.refusal.code = 451;
  cache.store("b@example.test", refused);
  EXPECT_FALSE(cache.find("a@example.test"));
  EXPECT_FALSE(cache.find("b@example.test"));
  EXPECT_EQ(cache.size(), 0u);
}

TEST(RecipientCache, ZeroTtlIsOffAndTheSizeIsBounded) {
  RecipientCache off(0ms);
  off.store("a@example.test", local(1));
  EXPECT_FALSE(off.enabled());
  EXPECT_FALSE(off.find("a@example.test"));

  RecipientCache small(5000ms, 3);
  const auto t0 = RecipientCache::Clock::now();
  for (int i = 0; i < 3; ++i) small.store("u" + std::to_string(i) + "@x.test", local(i), t0);
  EXPECT_EQ(small.size(), 3u);
  small.store("late@x.test", local(9), t0 + 6s);  // the others expired: they make room
  EXPECT_EQ(small.size(), 1u);
  for (int i = 0; i < 3; ++i) small.store("v" + std::to_string(i) + "@x.test", local(i), t0 + 6s);
  EXPECT_LE(small.size(), 3u);
  EXPECT_TRUE(small.find("v2@x.test", t0 + 6s));
}
