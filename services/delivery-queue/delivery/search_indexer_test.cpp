#include "services/delivery-queue/delivery/search_indexer.h"

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <stdexcept>
#include <thread>
#include <vector>

namespace postline::queue {
namespace {

using namespace std::chrono_literals;

// Polls until `done` holds or the deadline passes (no sleeping as synchronisation).
template <typename Fn>
bool eventually(Fn done, std::chrono::milliseconds deadline = 5s) {
  const auto until = std::chrono::steady_clock::now() + deadline;
  while (std::chrono::steady_clock::now() < until) {
    if (done()) return true;
    std::this_thread::yield();
  }
  return done();
}

// A backlog of `pending` bodies that index_batch takes `max` at a time.
struct FakeBacklog {
  std::mutex m;
  size_t pending = 0;
  std::vector<size_t> batches;  // what each call was allowed and did
  int fail_next = 0;
  size_t take(size_t max) {
    std::lock_guard lock(m);
    if (fail_next > 0) {
      --fail_next;
      throw std::runtime_error("database went away");
    }
    const size_t n = std::min(max, pending);
    pending -= n;
    batches.push_back(n);
    return n;
  }
  size_t left() {
    std::lock_guard lock(m);
    return pending;
  }
};

TEST(SearchIndexer, AWakeUpDrainsTheBacklogInBatches) {
  FakeBacklog backlog;
  backlog.pending = 10;
  std::atomic<size_t> indexed{0};
  // A poll far longer than the test: only the wake-up can start a round.
  SearchIndexer indexer([&](size_t max) { return backlog.take(max); }, 4, 1h, 0ms, 0ms,
                        {[&](size_t n) { indexed += n; }, nullptr});
  indexer.start();
  indexer.wake();
  ASSERT_TRUE(eventually([&] { return backlog.left() == 0 && indexed == 10; }));
  indexer.stop();
  std::lock_guard lock(backlog.m);
  // 4 + 4 + 2: a short batch ends the round.
  EXPECT_EQ(backlog.batches, (std::vector<size_t>{4, 4, 2}));
}

TEST(SearchIndexer, AFailedBatchIsReportedAndTriedAgainOnTheNextPoll) {
  FakeBacklog backlog;
  backlog.pending = 3;
  backlog.fail_next = 1;
  std::atomic<int> failures{0};
  std::atomic<size_t> indexed{0};
  SearchIndexer indexer([&](size_t max) { return backlog.take(max); }, 64, 20ms, 0ms, 0ms,
                        {[&](size_t n) { indexed += n; }, [&](const char*) { ++failures; }});
  indexer.start();
  indexer.wake();
  ASSERT_TRUE(eventually([&] { return indexed == 3; }));
  EXPECT_EQ(failures.load(), 1);
  EXPECT_EQ(backlog.left(), 0u);
}

TEST(SearchIndexer, StopsPromptlyWhileWaitingOutTheDelay) {
  FakeBacklog backlog;
  backlog.pending = 1;
  SearchIndexer indexer([&](size_t max) { return backlog.take(max); }, 64, 1h, 1h, 1h);
  indexer.start();
  indexer.wake();
  const auto before = std::chrono::steady_clock::now();
  indexer.stop();  // must not wait out the hour
  EXPECT_LT(std::chrono::steady_clock::now() - before, 5s);
  EXPECT_EQ(backlog.left(), 1u);  // the delayed round never ran
}

// Wakes the indexer every few milliseconds, as a burst of deliveries does,
// until told to stop.
struct Burst {
  explicit Burst(SearchIndexer& indexer) : thread([this, &indexer] {
    while (!stop) {
      indexer.wake();
      ++wakes;
      std::this_thread::sleep_for(2ms);  // the load's pace, not synchronisation
    }
  }) {}
  ~Burst() { end(); }
  void end() {
    stop = true;
    if (thread.joinable()) thread.join();
  }
  std::atomic<bool> stop{false};
  std::atomic<int> wakes{0};
  std::thread thread;
};

TEST(SearchIndexer, WaitsForDeliveriesToPauseBeforeIndexing) {
  FakeBacklog backlog;
  backlog.pending = 5;
  // Quiet period 3 s: only a stall of the waking thread that long could start a round early.
  SearchIndexer indexer([&](size_t max) { return backlog.take(max); }, 64, 1h, 3s, 1h);
  indexer.start();
  {
    Burst burst(indexer);
    ASSERT_TRUE(eventually([&] { return burst.wakes >= 50; }));
    EXPECT_EQ(backlog.left(), 5u);  // still deferred while deliveries keep coming
  }
  // Deliveries paused: the round starts one quiet period later.
  ASSERT_TRUE(eventually([&] { return backlog.left() == 0; }, 30s));
}

TEST(SearchIndexer, MaxDelayBoundsTheWaitUnderSustainedLoad) {
  FakeBacklog backlog;
  backlog.pending = 5;
  SearchIndexer indexer([&](size_t max) { return backlog.take(max); }, 64, 1h, 1h, 200ms);
  indexer.start();
  Burst burst(indexer);
  // Deliveries never pause; the backlog is indexed anyway, max_delay after the first wake-up.
  ASSERT_TRUE(eventually([&] { return backlog.left() == 0; }, 30s));
}

}  // namespace
}  // namespace postline::queue
