// How many message bytes all SMTP sessions of the process may hold in memory at
// once. Each session buffers its message (up to smtp.max_message_size) until
// queued has committed it; without a shared ceiling, many slow clients each
// sending a big message could together exhaust smtpd's memory. A session whose
// next bytes do not fit stops storing, and the message is answered
// 452 4.3.1 (RFC 3463: mail system full, try later) instead of being lost.
// Thread-safe: one budget serves every session of the server.
#pragma once

#include <atomic>
#include <cstdint>

namespace postline::smtp {

class DataBudget {
 public:
  explicit DataBudget(uint64_t limit) : limit_(limit) {}
  // Takes n more bytes if they fit under the limit.
  bool reserve(uint64_t n) {
    uint64_t used = used_.load(std::memory_order_relaxed);
    do {
      if (n > limit_ || used > limit_ - n) return false;
    } while (!used_.compare_exchange_weak(used, used + n, std::memory_order_relaxed));
    return true;
  }
  void release(uint64_t n) { used_.fetch_sub(n, std::memory_order_relaxed); }
  uint64_t used() const { return used_.load(std::memory_order_relaxed); }
  uint64_t limit() const { return limit_; }

 private:
  std::atomic<uint64_t> used_{0};
  const uint64_t limit_;
};

// One session's share: grows with its buffered message, returned whole when
// the message is handed over or dropped (and on destruction).
class DataLease {
 public:
  explicit DataLease(DataBudget* budget = nullptr) : budget_(budget) {}
  DataLease(const DataLease&) = delete;
  DataLease& operator=(const DataLease&) = delete;
  ~DataLease() { reset(); }
  // Makes the lease cover `total` bytes; false (lease unchanged) if the budget
  // cannot give the difference. Always true without a budget.
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
  DataBudget* budget_;
  uint64_t held_ = 0;
};

}  // namespace postline::smtp
