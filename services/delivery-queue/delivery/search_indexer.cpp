#include "services/delivery-queue/delivery/search_indexer.h"

#include <sys/resource.h>
#include <unistd.h>

#include <exception>

namespace postline::queue {

SearchIndexer::SearchIndexer(IndexBatch index_batch, size_t batch, std::chrono::milliseconds poll,
                             std::chrono::milliseconds delay, Observer observer)
    : index_batch_(std::move(index_batch)), batch_(batch == 0 ? 1 : batch), poll_(poll), delay_(delay),
      observer_(std::move(observer)) {}

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
  // Below the threads that answer smtpd: indexing can wait, a 250 cannot.
  setpriority(PRIO_PROCESS, static_cast<id_t>(::gettid()), 10);
  std::unique_lock lock(mutex_);
  while (!stopping_) {
    const bool woken = cv_.wait_for(lock, poll_, [&] { return woken_ || stopping_; });
    if (woken && delay_.count() > 0) cv_.wait_for(lock, delay_, [&] { return stopping_; });
    if (stopping_) break;
    woken_ = false;
    lock.unlock();
    // Drain: a full batch means there may be more. A wake-up that arrives
    // meanwhile is kept for the next round (its bodies may have committed
    // after this round's last claim).
    for (;;) {
      size_t done = 0;
      try {
        done = index_batch_(batch_);
      } catch (const std::exception& e) {
        if (observer_.failed) observer_.failed(e.what());
        break;
      }
      if (done > 0 && observer_.indexed) observer_.indexed(done);
      if (done < batch_) break;
      std::lock_guard check(mutex_);
      if (stopping_) break;
    }
    lock.lock();
  }
}

}  // namespace postline::queue
