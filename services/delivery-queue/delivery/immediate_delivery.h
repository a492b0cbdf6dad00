// Enqueue-time delivery into shards other than db.url's (docs/DESIGN.md
// "Sharding", docs/queue.md "Delivery during Enqueue"). The Enqueue
// transaction can deliver only into the mailstore in its own database; a local
// recipient on another shard is instead handed here right after that commit
// (so the 250 still means "durable in the queue"), and delivered at once by
// this in-process thread instead of waiting for a worker's poll and claim:
//
//   1. the recipient ids come from the Enqueue (EnqueueResult::recipient_ids);
//   2. per (shard, user, mailbox) one delivery transaction on the user's
//      shard, each message keyed w/<queue id>/<recipient id> - the key a
//      worker would use, so the two can never both deliver it;
//   3. one transaction on db.url marking them delivered (a recipient a worker
//      took meanwhile is left alone), and making the rest due at once for
//      the workers: over quota, a user with an active Sieve script (the
//      delivery statement checks, as at Enqueue), any failure.
//
// Such recipients are stored queued but due only queue.handoff_grace after the
// commit (queue_store.h NewRecipient::handoff_shard): if the process dies
// between the queue's commit and step 3, a worker delivers them after the
// grace and finds a delivery that step 2 committed under the same key
// (duplicate: marked delivered only). Exactly once, as for the workers.
//
// Bounded: a full hand-off queue (offer() false) leaves the recipients to the
// workers after the grace; postline_queued_immediate_deliveries_total{result}.
#pragma once

#include "common/db/pq.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "services/delivery-queue/delivery/metrics.h"
#include "services/delivery-queue/delivery/sieve_runner.h"
#include "services/delivery-queue/store/queue_store.h"

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace postline::queue {

class ImmediateDelivery {
 public:
  struct Shard {
    db::pq::Pool* pool = nullptr;
    mailstore::pg::PgMailStore* store = nullptr;
  };
  // The shards recipients may be handed to (by name); `queue_pool` on db.url;
  // `sieve` (null: no Sieve) picks the default mailbox (spam to Junk) and
  // makes users with an active script go to the workers; with the
  // administrator's before/after scripts nothing is handed over (accepts()
  // says no: the workers run them). `wake`: the workers, after recipients
  // were made due for them.
  ImmediateDelivery(db::pq::Pool& queue_pool, std::map<std::string, Shard> shards, const SieveRunner* sieve,
                    QueueMetrics* metrics, std::function<void()> wake, size_t max_queued = 10000);
  ~ImmediateDelivery();

  // Whether a local recipient on `shard` may be handed over.
  bool accepts(const std::string& shard) const;
  // After the commit of `message` (queue id set): its recipients with a
  // handoff_shard; `recipient_ids` as the commit returned them, one per
  // recipient. False when the hand-off queue is full (the workers take them
  // after the grace).
  bool offer(std::shared_ptr<const NewMessage> message, std::vector<int64_t> recipient_ids);

  void start(size_t threads = 1);
  void stop();
  // One round over what is queued now, on the calling thread (tests).
  size_t run_once();

 private:
  void loop();
  struct Job {
    std::shared_ptr<const NewMessage> message;
    std::vector<int64_t> recipient_ids;
  };
  size_t deliver(std::vector<Job> batch);

  db::pq::Pool& queue_pool_;
  std::map<std::string, Shard> shards_;
  const SieveRunner* sieve_;
  QueueMetrics* metrics_;
  std::function<void()> wake_;
  size_t max_queued_;

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Job> queued_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace postline::queue
