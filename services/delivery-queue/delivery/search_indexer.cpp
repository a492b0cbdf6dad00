#include "services/delivery-queue/delivery/search_indexer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <algorithm>
#include <exception>
#include <optional>

namespace postline::queue {

SearchIndexer::SearchIndexer(IndexBatch index_batch, size_t batch, std::chrono::milliseconds poll,
                             std::chrono::milliseconds delay, std::chrono::milliseconds max_delay, Observer observer)
    : index_batch_(std::move(index_batch)), batch_(batch == 0 ? 1 : batch), poll_(poll), delay_(delay),
      max_delay_(max_delay), observer_(std::move(observer)) {}

SearchIndexer::~SearchIndexer() { stop(); }

void SearchIndexer::start() {
  std::lock_guard lock(mutex_);
  if (thread_.joinable()) return;
  stopping_ = false;
  thread_ = std::thread([this] { run(); });
}

void SearchIndexer::wake() {
  {
    std::lock_guard lock(mutex_);
    woken_ = true;
  }
  cv_.notify_one();
}

void SearchIndexer::stop() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
}

void SearchIndexer::run() {
  using Clock = std::chrono::steady_clock;
  // Below the threads that answer smtpd: indexing can wait, a 250 cannot.
  setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock(mutex_);
  // The first wake-up since the backlog was last seen empty: max_delay counts from it.
  std::optional<Clock::time_point> pending_since;
  auto may_wait = [&] { return delay_.count() > 0 && pending_since && Clock::now() < *pending_since + max_delay_; };
  while (!stopping_) {
    const bool woken = cv_.wait_for(lock, poll_, [&] { return woken_ || stopping_; });
    if (stopping_) break;
    if (woken) {
      if (!pending_since) pending_since = Clock::now();
      // The quiet period: every wake-up within it starts it again.
      while (may_wait()) {
        woken_ = false;
        const auto until = std::min(Clock::now() + delay_, *pending_since + max_delay_);
        if (!cv_.wait_until(lock, until, [&] { return woken_ || stopping_; })) break;
        if (stopping_) break;
      }
      if (stopping_) break;
    }
    woken_ = false;
    lock.unlock();
    // Drain: a full batch means there may be more. A wake-up that arrives
    // meanwhile is kept for the next round (its bodies may have committed
    // after this round's last claim); while the backlog may still wait, it
    // also ends this round, so new deliveries get the CPU first.
    bool drained = false;
    for (;;) {
      size_t done = 0;
      try {
        done = index_batch_(batch_);
      } catch (const std::exception& e) {
        if (observer_.failed) observer_.failed(e.what());
        break;
      }
      if (done > 0 && observer_.indexed) observer_.indexed(done);
      if (done < batch_) {
        drained = true;
        break;
      }
      std::lock_guard check(mutex_);
      if (stopping_ || (woken_ && may_wait())) break;
    }
    lock.lock();
    if (drained && !woken_) pending_since.reset();
  }
}

}  // namespace postline::queue
