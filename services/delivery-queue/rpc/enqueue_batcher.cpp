#include "services/delivery-queue/rpc/enqueue_batcher.h"

#include <spdlog/spdlog.h>

namespace postline::queue {

EnqueueBatcher::EnqueueBatcher(db::pq::Pool& pool, DeliveryFactory deliver_now, Options options,
                               CommitObserver observer)
    : pool_(pool), deliver_now_(std::move(deliver_now)), options_(options), observer_(std::move(observer)) {
  if (options_.max_messages == 0) options_.max_messages = 1;
  if (options_.parallel == 0) options_.parallel = 1;
}

EnqueueResult EnqueueBatcher::submit(const NewMessage& msg) {
  Item item;
  item.msg = &msg;
  std::unique_lock lock(mu_);
  waiting_.push_back(&item);
  while (!item.done) {
    if (running_ >= options_.parallel || waiting_.empty()) {
      cv_.wait(lock);
      continue;
    }
    // Lead a batch: everything waiting, oldest first, within the bounds.
    std::vector<Item*> batch;
    size_t bytes = 0;
    while (!waiting_.empty() && batch.size() < options_.max_messages) {
      const size_t size = waiting_.front()->msg->body.size();
      if (!batch.empty() && bytes + size > options_.max_bytes) break;
      bytes += size;
      batch.push_back(waiting_.front());
      waiting_.pop_front();
    }
    ++running_;
    lock.unlock();
    try {
      run(batch);
    } catch (...) {
      // run() answers every item itself; this only keeps the slot count
      // right if something unforeseen (allocation) escapes it.
      for (Item* it : batch)
        if (!it->error) it->error = std::current_exception();
    }
    lock.lock();
    --running_;
    for (Item* it : batch) it->done = true;
    cv_.notify_all();
  }
  if (item.error) std::rethrow_exception(item.error);
  return item.result;
}

std::vector<EnqueueResult> EnqueueBatcher::commit(const std::vector<const NewMessage*>& messages) {
  // Running it again on a fresh connection is harmless (idempotent): a batch
  // that did commit finds its queue ids taken and is answered one by one.
  auto results = pool_.with(
      [&](db::pq::Connection& c) {
        auto now = deliver_now_ ? deliver_now_(messages) : nullptr;
        return enqueue_batch(c, messages, now.get());
      },
      true);
  size_t stored = 0;
  for (const auto& r : results) stored += r.duplicate ? 0 : 1;
  if (observer_ && stored > 0) observer_(stored);  // a duplicate's answer commits nothing
  return results;
}

void EnqueueBatcher::run(std::vector<Item*>& batch) {
  std::vector<const NewMessage*> messages;
  for (Item* it : batch) messages.push_back(it->msg);
  if (batch.size() > 1) {
    try {
      auto results = commit(messages);
      for (size_t i = 0; i < batch.size(); ++i) batch[i]->result = results.at(i);
      return;
    } catch (const BatchSplit& e) {
      spdlog::info("{} messages could not share a transaction ({}): enqueued one by one", batch.size(), e.what());
    } catch (const std::exception& e) {
      spdlog::warn("a batch of {} messages failed ({}): enqueued one by one", batch.size(), e.what());
    }
  }
  for (Item* it : batch) {
    try {
      it->result = commit({it->msg}).front();
    } catch (...) {
      it->error = std::current_exception();
    }
  }
}

}  // namespace postline::queue
