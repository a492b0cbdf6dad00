// VerifyCache with a fake clock: hits only for the same user, stored hash and
// password; expiry; the size bound; disabled by ttl or capacity 0.
#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "services/auth/core/verify_cache.h"

namespace postline::auth {
namespace {

using namespace std::chrono_literals;

class VerifyCacheTest : public ::testing::Test {
 protected:
  VerifyCache::Now clock() {
    return [this] { return now_; };
  }
  VerifyCache::Clock::time_point now_ = VerifyCache::Clock::time_point(1000h);
};

constexpr const char* kHash = "$argon2id$v=19$m=8,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2g";
constexpr const char* kOtherHash = "$argon2id$v=19$m=8,t=1,p=1$bmV3c2FsdA$bmV3aGFzaA";

TEST_F(VerifyCacheTest, HitOnlyForTheRememberedUserHashAndPassword) {
  VerifyCache cache(10, 1h, clock());
  EXPECT_FALSE(cache.check(1, kHash, "s3cret"));  // nothing remembered yet
  cache.remember(1, kHash, "s3cret");
  EXPECT_TRUE(cache.check(1, kHash, "s3cret"));
  EXPECT_FALSE(cache.check(1, kHash, "s3cret "));
  EXPECT_FALSE(cache.check(1, kHash, ""));
  EXPECT_FALSE(cache.check(2, kHash, "s3cret"));  // another user with the same hash text
  // A wrong guess does not evict the owner's entry.
  EXPECT_TRUE(cache.check(1, kHash, "s3cret"));
}

TEST_F(VerifyCacheTest, MissesOnceTheStoredHashChanges) {
  VerifyCache cache(10, 1h, clock());
  cache.remember(1, kHash, "s3cret");
  // The password was changed (maybe to the same text: a new salt, a new hash).
  EXPECT_FALSE(cache.check(1, kOtherHash, "s3cret"));
  EXPECT_FALSE(cache.check(1, kOtherHash, "new-password"));
  cache.remember(1, kOtherHash, "new-password");  // the next verified login
  EXPECT_TRUE(cache.check(1, kOtherHash, "new-password"));
  EXPECT_FALSE(cache.check(1, kHash, "s3cret"));  // one entry per user: the old one is gone
  EXPECT_EQ(cache.size(), 1u);
}

TEST_F(VerifyCacheTest, HashAndPasswordBoundaryIsPartOfTheDigest) {
  VerifyCache cache(10, 1h, clock());
  cache.remember(1, "$argon2id$abc", "def");
  EXPECT_FALSE(cache.check(1, "$argon2id$ab", "cdef"));
  EXPECT_FALSE(cache.check(1, "$argon2id$abcd", "ef"));
  EXPECT_TRUE(cache.check(1, "$argon2id$abc", "def"));
}

TEST_F(VerifyCacheTest, EntriesExpireAfterTheTtlAndHitsDoNotExtendIt) {
  VerifyCache cache(10, 10min, clock());
  cache.remember(1, kHash, "s3cret");
  now_ += 9min;
  EXPECT_TRUE(cache.check(1, kHash, "s3cret"));
  now_ += 1min;  // exactly ttl after remember
  EXPECT_FALSE(cache.check(1, kHash, "s3cret"));
  EXPECT_EQ(cache.size(), 0u);  // the expired entry was dropped
  cache.remember(1, kHash, "s3cret");
  EXPECT_TRUE(cache.check(1, kHash, "s3cret"));
}

TEST_F(VerifyCacheTest, SizeIsBoundedLeastRecentlyUsedGoesFirst) {
  VerifyCache cache(3, 1h, clock());
  for (int64_t id = 1; id <= 3; ++id) cache.remember(id, kHash, "pw" + std::to_string(id));
  EXPECT_TRUE(cache.check(1, kHash, "pw1"));  // 1 is now the most recent; 2 the least
  cache.remember(4, kHash, "pw4");
  EXPECT_EQ(cache.size(), 3u);
  EXPECT_FALSE(cache.check(2, kHash, "pw2"));
  EXPECT_TRUE(cache.check(1, kHash, "pw1"));
  EXPECT_TRUE(cache.check(3, kHash, "pw3"));
  EXPECT_TRUE(cache.check(4, kHash, "pw4"));
  for (int64_t id = 10; id < 100; ++id) cache.remember(id, kHash, "pw");
  EXPECT_EQ(cache.size(), 3u);
}

TEST_F(VerifyCacheTest, ZeroTtlOrCapacityDisablesIt) {
  VerifyCache off_ttl(10, 0s, clock());
  EXPECT_FALSE(off_ttl.enabled());
  off_ttl.remember(1, kHash, "s3cret");
  EXPECT_FALSE(off_ttl.check(1, kHash, "s3cret"));
  EXPECT_EQ(off_ttl.size(), 0u);
  VerifyCache off_size(0, 1h, clock());
  EXPECT_FALSE(off_size.enabled());
  off_size.remember(1, kHash, "s3cret");
  EXPECT_FALSE(off_size.check(1, kHash, "s3cret"));
}

TEST_F(VerifyCacheTest, ConcurrentUseStaysConsistent) {
  VerifyCache cache(64, 1h);  // real clock: only consistency matters here
  std::vector<std::thread> threads;
  std::atomic<int> wrong_hits{0};
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, &wrong_hits, t] {
      for (int i = 0; i < 2000; ++i) {
        const int64_t id = (i * 7 + t) % 100;
        const std::string pw = "pw" + std::to_string(id);
        cache.remember(id, kHash, pw);
        (void)cache.check(id, kHash, pw);
        if (cache.check(id, kHash, pw + "x")) ++wrong_hits;
      }
    });
  }
  for (auto& th : threads) th.join();
  EXPECT_EQ(wrong_hits.load(), 0);
  EXPECT_LE(cache.size(), 64u);
}

}  // namespace
}  // namespace postline::auth
