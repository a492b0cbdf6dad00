// Runs PgMailStore::sweep_blobs every `interval` on a thread of its own
// (postline-queued, with an external blob store: one per shard, each sweeping
// the objects of its own shard's namespace, sql/020), at a lower CPU priority.
// Metrics (`shard`: the shard's name):
//   postline_mailstore_blob_sweeps_total{shard,result}     ok|failed|busy (another process sweeps)
//   postline_mailstore_blob_sweep_items_total{shard,kind}  expired_intent|marked|collected|object_deleted
// A failed sweep is logged and tried again at the next interval.
#pragma once

#include "common/mailstore/pg/pg_mail_store.h"

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <string>
#include <thread>

namespace prometheus {
class Registry;
}

namespace postline::mailstore::pg {

class BlobSweeper {
 public:
  BlobSweeper(PgMailStore& store, std::chrono::seconds interval, std::chrono::seconds grace,
              prometheus::Registry* registry, std::string shard = "main");
  ~BlobSweeper();
  void start();
  void stop();

 private:
  struct Metrics;
  void run();
  PgMailStore& store_;
  std::string shard_;
  std::chrono::seconds interval_, grace_;
  std::unique_ptr<Metrics> metrics_;
  std::mutex mu_;
  std::condition_variable cv_;
  bool stopping_ = false;
  std::thread thread_;
};

}  // namespace postline::mailstore::pg
