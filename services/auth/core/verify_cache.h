// Verified-credential cache: remembers that a password was verified against a
// stored argon2id hash, so the next login of the same user with the same
// password skips the argon2id computation (Dovecot's auth_cache does the same).
//
// What it holds per user: HMAC-SHA256 under a random per-process key of
// (user id, the stored hash string, the presented password) and when that was
// remembered. Never the password, never an unkeyed hash of it: the key lives
// only in this process's memory, so a memory dump of the entries alone does not
// allow an offline guess, and nothing here can be replayed by another process.
//
// Why it cannot widen access:
//  - The stored hash is part of the digest, and the caller reads the user row
//    on every login. A password change (here, on another replica, or by hand in
//    SQL) changes the hash, and the old entry simply stops matching.
//  - It answers only "this exact password was right for this exact hash".
//    Disabled/locked/throttle decisions are the caller's, made every time.
//  - Failures are never stored, so brute-force throttling sees every guess.
//
// Bounded: one entry per user, at most `capacity` users (least recently used
// evicted first), each entry valid for `ttl` after it was remembered (a hit
// does not extend it). capacity 0 or ttl 0 disables the cache.
//
// Thread-safe; the HMAC is computed outside the lock. Time is injected so tests
// drive expiry with a fake clock.
#pragma once

#include <array>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <list>
#include <mutex>
#include <string_view>
#include <unordered_map>

namespace postline::auth {

class VerifyCache {
 public:
  using Clock = std::chrono::steady_clock;
  using Now = std::function<Clock::time_point()>;

  VerifyCache(size_t capacity, std::chrono::seconds ttl, Now now = [] { return Clock::now(); });
  ~VerifyCache();
  VerifyCache(const VerifyCache&) = delete;
  VerifyCache& operator=(const VerifyCache&) = delete;

  bool enabled() const { return capacity_ > 0 && ttl_.count() > 0; }

  // True if `password` was remembered for this user and this stored hash, less
  // than ttl ago. Constant-time digest comparison.
  bool check(int64_t user_id, std::string_view stored_hash, std::string_view password);

  // Call only after a successful verification of `password` against
  // `stored_hash`. Replaces the user's previous entry.
  void remember(int64_t user_id, std::string_view stored_hash, std::string_view password);

  size_t size() const;

 private:
  using Digest = std::array<unsigned char, 32>;
  struct Entry {
    int64_t user_id;
    Digest digest;
    Clock::time_point expires;
  };

  Digest digest(int64_t user_id, std::string_view stored_hash, std::string_view password) const;

  const size_t capacity_;
  const std::chrono::seconds ttl_;
  const Now now_;
  std::array<unsigned char, 32> key_;

  mutable std::mutex mutex_;
  std::list<Entry> lru_;  // front: most recently used
  std::unordered_map<int64_t, std::list<Entry>::iterator> by_user_;
};

}  // namespace postline::auth
