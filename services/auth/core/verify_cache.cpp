#include "services/auth/core/verify_cache.h"

#include <sodium.h>

#include <stdexcept>

namespace postline::auth {
namespace {

void put_u64(crypto_auth_hmacsha256_state& st, uint64_t v) {
  unsigned char b[8];
  for (int i = 0; i < 8; ++i) b[i] = static_cast<unsigned char>(v >> (8 * i));
  crypto_auth_hmacsha256_update(&st, b, sizeof b);
}

}  // namespace

VerifyCache::VerifyCache(size_t capacity, std::chrono::seconds ttl, Now now)
    : capacity_(capacity), ttl_(ttl < std::chrono::seconds(0) ? std::chrono::seconds(0) : ttl), now_(std::move(now)) {
  if (sodium_init() < 0) throw std::runtime_error("libsodium failed to initialise");
  // Per process and never written anywhere: entries are worthless outside it.
  randombytes_buf(key_.data(), key_.size());
}

VerifyCache::~VerifyCache() { sodium_memzero(key_.data(), key_.size()); }

VerifyCache::Digest VerifyCache::digest(int64_t user_id, std::string_view stored_hash,
                                        std::string_view password) const {
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, key_.data(), key_.size());
  put_u64(st, static_cast<uint64_t>(user_id));
  // Length-prefixed, so no (hash, password) pair can collide with another split
  // of the same bytes.
  put_u64(st, stored_hash.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(stored_hash.data()), stored_hash.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(password.data()), password.size());
  Digest out;
  crypto_auth_hmacsha256_final(&st, out.data());
  sodium_memzero(&st, sizeof st);
  return out;
}

bool VerifyCache::check(int64_t user_id, std::string_view stored_hash, std::string_view password) {
  if (!enabled()) return false;
  const Digest d = digest(user_id, stored_hash, password);
  const auto now = now_();
  std::lock_guard lock(mutex_);
  auto it = by_user_.find(user_id);
  if (it == by_user_.end()) return false;
  if (it->second->expires <= now) {
    lru_.erase(it->second);
    by_user_.erase(it);
    return false;
  }
  // A mismatch (wrong password, or the stored hash changed) leaves the entry:
  // wrong guesses must not evict the owner's entry, and a changed hash never
  // matches it again anyway.
  if (sodium_memcmp(it->second->digest.data(), d.data(), d.size()) != 0) return false;
  lru_.splice(lru_.begin(), lru_, it->second);
  return true;
}

void VerifyCache::remember(int64_t user_id, std::string_view stored_hash, std::string_view password) {
  if (!enabled()) return;
  const Digest d = digest(user_id, stored_hash, password);
  const auto expires = now_() + ttl_;
  std::lock_guard lock(mutex_);
  if (auto it = by_user_.find(user_id); it != by_user_.end()) {
    it->second->digest = d;
    it->second->expires = expires;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  while (lru_.size() >= capacity_) {
    by_user_.erase(lru_.back().user_id);
    lru_.pop_back();
  }
  lru_.push_front({user_id, d, expires});
  by_user_.emplace(user_id, lru_.begin());
}

size_t VerifyCache::size() const {
  std::lock_guard lock(mutex_);
  return lru_.size();
}

}  // namespace postline::auth
