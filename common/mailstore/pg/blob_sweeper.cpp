#include "common/mailstore/pg/blob_sweeper.h"

#include "common/log/printable.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>
#include <spdlog/spdlog.h>
#include <sys/resource.h>

namespace postline::mailstore::pg {

struct BlobSweeper::Metrics {
  explicit Metrics(prometheus::Registry& r)
      : sweeps(prometheus::BuildCounter()
                   .Name("postline_mailstore_blob_sweeps_total")
                   .Help("Runs of the external blob store's sweeper, by result")
                   .Register(r)),
        items(prometheus::BuildCounter()
                  .Name("postline_mailstore_blob_sweep_items_total")
                  .Help("What the blob sweeper did: expired upload intents, marked and collected catalogue rows, "
                        "deleted objects")
                  .Register(r)) {}
  prometheus::Family<prometheus::Counter>& sweeps;
  prometheus::Family<prometheus::Counter>& items;
};

BlobSweeper::BlobSweeper(PgMailStore& store, std::chrono::seconds interval, std::chrono::seconds grace,
                         prometheus::Registry* registry, std::string shard)
    : store_(store), shard_(std::move(shard)), interval_(interval), grace_(grace) {
  if (registry) metrics_ = std::make_unique<Metrics>(*registry);
}

BlobSweeper::~BlobSweeper() { stop(); }

void BlobSweeper::start() {
  if (interval_.count() <= 0 || !store_.external_blobs() || thread_.joinable()) return;
  thread_ = std::thread([this] { run(); });
}

void BlobSweeper::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

void BlobSweeper::run() {
  setpriority(PRIO_PROCESS, 0, 10);  // this thread only (Linux)
  for (;;) {
    {
      std::unique_lock lock(mu_);
      if (cv_.wait_for(lock, interval_, [this] { return stopping_; })) return;
    }
    const char* result = "ok";
    try {
      const auto s = store_.sweep_blobs(grace_);
      if (!s.locked) {
        result = "busy";
      } else {
        if (metrics_) {
          metrics_->items.Add({{"shard", shard_}, {"kind", "expired_intent"}}).Increment(static_cast<double>(s.expired_intents));
          metrics_->items.Add({{"shard", shard_}, {"kind", "marked"}}).Increment(static_cast<double>(s.marked));
          metrics_->items.Add({{"shard", shard_}, {"kind", "collected"}}).Increment(static_cast<double>(s.collected));
          metrics_->items.Add({{"shard", shard_}, {"kind", "object_deleted"}}).Increment(static_cast<double>(s.objects_deleted));
        }
        if (s.expired_intents || s.collected || s.objects_deleted)
          spdlog::info("blob sweep of shard {}: {} expired upload intents, {} marked, {} collected, {} objects deleted",
                       shard_, s.expired_intents, s.marked, s.collected, s.objects_deleted);
      }
    } catch (const std::exception& e) {
      result = "failed";
      spdlog::warn("blob sweep of shard {} failed (tried again in {}s): {}", shard_, interval_.count(), log::printable(e.what(), 300));
    }
    if (metrics_) metrics_->sweeps.Add({{"shard", shard_}, {"result", result}}).Increment();
  }
}

}  // namespace postline::mailstore::pg
