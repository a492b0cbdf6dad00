// Group commit for Enqueue (issue 14). gRPC handler threads hand their
// message to submit() and block until it is committed; whoever finds a free
// slot takes everything waiting (up to max_messages / max_bytes) into one
// transaction (store/queue_store.h enqueue_batch), with the local deliveries
// of all of them in it. So N concurrent Enqueues cost one commit, one WAL
// flush and, for N messages to one mailbox, one hold of its row lock instead
// of N in a row - the row lock was held through every commit's fsync, which
// capped deliveries into one mailbox at one per flush.
//
// There is no waiting for a batch to fill: a batch is what arrived while the
// previous one was committing (at most `parallel` transactions at once), so a
// lone message goes at once. A batch that cannot commit together (a retried
// queue id already there, a failing statement) is done again one message at a
// time, so one bad message never fails the others. 250 still waits for the
// commit that holds the message.
#pragma once

#include "common/db/pq.h"
#include "services/delivery-queue/store/queue_store.h"

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <vector>

namespace postline::queue {

class EnqueueBatcher {
 public:
  using DeliveryFactory =
      std::function<std::unique_ptr<EnqueueTimeDelivery>(const std::vector<const NewMessage*>& messages)>;
  struct Options {
    size_t max_messages = 64;
    size_t max_bytes = 32 * 1024 * 1024;
    size_t parallel = 1;  // transactions in flight at once (queue.enqueue_parallel)
  };
  // Called after each committed transaction with its number of messages.
  using CommitObserver = std::function<void(size_t messages)>;

  EnqueueBatcher(db::pq::Pool& pool, DeliveryFactory deliver_now, Options options, CommitObserver observer = {});

  // Blocks until `msg` (queue id set) is committed; throws what enqueue() throws.
  EnqueueResult submit(const NewMessage& msg);

 private:
  struct Item {
    const NewMessage* msg = nullptr;
    bool done = false;
    EnqueueResult result;
    std::exception_ptr error;
  };
  void run(std::vector<Item*>& batch);
  std::vector<EnqueueResult> commit(const std::vector<const NewMessage*>& messages);

  db::pq::Pool& pool_;
  DeliveryFactory deliver_now_;
  Options options_;
  CommitObserver observer_;
  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<Item*> waiting_;
  size_t running_ = 0;
};

}  // namespace postline::queue
