// How many bytes that clients made us buffer (SMTP messages until queued has
// committed them, IMAP literals until the command is done) all connections of
// a process may hold at once. Each connection has its own size limit; without
// a shared ceiling, many slow clients each sending a big one could together
// exhaust the server's memory. A connection whose next bytes do not fit is
// refused with a temporary error (SMTP 452 4.3.1, IMAP NO [UNAVAILABLE]) and
// nothing is lost. Header-only and I/O-free, so protocol cores can use it.
// Thread-safe: one budget serves every connection of the server.
#pragma once

#include <atomic>
#include <cstdint>

namespace postline::net {

class ByteBudget {
 public:
  explicit ByteBudget(uint64_t limit) : limit_(limit) {}
  // Takes n more bytes if they fit under the limit.
  bool reserve(uint64_t n) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || used > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  void release(uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  // Whether n more bytes would fit now (no reservation: a promise to a client
  // that the bytes may come, taken for real as they arrive).
  bool fits(uint64_t n) const {
    const uint64_t used = used_.load(std::memory_order_relaxed);
    return n <= limit_ && used <= limit_ - n;
  }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  std::atomic<uint64_t> used_{0};
  const uint64_t limit_;
};

// One connection's share: grows with what it buffers, returned whole when that
// is handed over or dropped (and on destruction).
class ByteLease {
 public:
  explicit ByteLease(ByteBudget* budget = nullptr) : budget_(budget) {}
  ByteLease(const ByteLease&) = delete;
  ByteLease& operator=(const ByteLease&) = delete;
  ~ByteLease() { reset(); }
  // Makes the lease cover `total` bytes; false (lease unchanged) if the budget
  // cannot give the difference. Always true without a budget.
  bool fits(uint64_t total) const { return !budget_ || total <= held_ || budget_->fits(total - held_); }
  bool cover(uint64_t total) {
    if (!budget_ || total <= held_) return true;
    if (!budget_->reserve(total - held_)) return false;
    held_ = total;
    return true;
  }
  void reset() {
    if (budget_ && held_) budget_->release(held_);
    held_ = 0;
  }
  uint64_t held() const { return held_; }

 private:
  ByteBudget* budget_;
  uint64_t held_ = 0;
};

}  // namespace postline::net
