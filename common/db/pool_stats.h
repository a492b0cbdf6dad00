// What a connection pool reports for /metrics (common/metrics PoolCollector):
// how many connections it holds, how many are lent out, and how often and how
// long callers waited for one. Both pools (pool.h for libpqxx, pq.h for libpq)
// count the same way through PoolCounters, so the figures mean one thing.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <cstdint>

namespace postline::db {

struct PoolStats {
  size_t max = 0;            // the most connections the pool opens (its size)
  size_t open = 0;           // connections open now: idle plus lent out
  size_t in_use = 0;         // lent out now (a Lease holds them)
  uint64_t waits = 0;        // acquires that found none free and had to wait
  uint64_t timeouts = 0;     // acquires that gave up waiting (db::Unavailable)
  double wait_seconds = 0;   // time all acquires spent waiting for a free connection
  // Connections closed because they were found broken (the server restarted
  // or failed over) or on a read-only server (SQLSTATE 25006, a standby):
  // a burst of these is what a failover looks like from a service.
  uint64_t dropped = 0;
  uint64_t connect_failures = 0;  // new connections that could not be made (no primary reachable)
};

// The waiting part of a pool's acquire(), counted. Every member is used with
// the pool's mutex held.
class PoolCounters {
 public:
  // Waits on `cv` until ready() or the timeout; false on timeout.
  template <typename Lock, typename Ready>
  bool wait(Lock& lock, std::condition_variable& cv, std::chrono::milliseconds timeout, Ready ready) {
    if (ready()) return true;
    ++waits_;
    const auto start = std::chrono::steady_clock::now();
    const bool ok = cv.wait_for(lock, timeout, ready);
    wait_seconds_ += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (!ok) ++timeouts_;
    return ok;
  }
  PoolStats snapshot(size_t max, size_t idle, size_t out) const {
    PoolStats s;
    s.max = max;
    s.open = idle + out;
    s.in_use = out;
    s.waits = waits_;
    s.timeouts = timeouts_;
    s.wait_seconds = wait_seconds_;
    s.dropped = dropped_;
    s.connect_failures = connect_failures_;
    return s;
  }
  void dropped() { ++dropped_; }
  void connect_failed() { ++connect_failures_; }

 private:
  uint64_t waits_ = 0, timeouts_ = 0, dropped_ = 0, connect_failures_ = 0;
  double wait_seconds_ = 0;
};

}  // namespace postline::db
