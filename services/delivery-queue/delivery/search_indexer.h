// Builds the mailstore's search index after delivery, off the path to a 250
// (common/mailstore/sql/014_search_backlog.sql). One background thread: woken
// after every committed Enqueue batch, and every `poll` for bodies that came
// another way (imapd's APPEND, COPY from another instance). A wake-up starts
// a round only once deliveries have paused for `delay` (each new wake-up
// starts the quiet period again), or at the latest `max_delay` after the
// first wake-up that is not indexed yet: a burst of mail is answered first and
// indexed in the pause after it, and under sustained load the backlog still
// waits no longer than `max_delay`. A round takes batches until the backlog is
// empty, and gives way again (within `max_delay`) when deliveries resume. The
// thread runs at a lower CPU priority (nice 10) than the delivery threads. A batch that fails is logged, counted
// and tried again on the next round: the messages stay searchable anyway
// (a SEARCH indexes its own mailbox's backlog first), only later.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstddef>
#include <functional>
#include <mutex>
#include <thread>

namespace postline::queue {

class SearchIndexer {
 public:
  // index_batch(max) indexes up to `max` bodies and returns how many it did
  // (PgMailStore::index_search_backlog); it may throw.
  using IndexBatch = std::function<size_t(size_t max)>;
  // Called after each batch with the bodies indexed, or with a failure.
  struct Observer {
    std::function<void(size_t)> indexed;
    std::function<void(const char* what)> failed;
  };
  SearchIndexer(IndexBatch index_batch, size_t batch, std::chrono::milliseconds poll,
                std::chrono::milliseconds delay, std::chrono::milliseconds max_delay, Observer observer = {});
  ~SearchIndexer();  // stops
  SearchIndexer(const SearchIndexer&) = delete;
  SearchIndexer& operator=(const SearchIndexer&) = delete;

  void start();
  void wake();  // cheap: a flag and a notify, safe from any thread
  void stop();  // finishes the batch in progress

 private:
  void run();
  IndexBatch index_batch_;
  size_t batch_;
  std::chrono::milliseconds poll_, delay_, max_delay_;
  Observer observer_;
  std::mutex mutex_;
  std::condition_variable cv_;
  bool woken_ = false, stopping_ = false;
  std::thread thread_;
};

}  // namespace postline::queue
