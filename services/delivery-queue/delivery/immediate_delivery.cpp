#include "services/delivery-queue/delivery/immediate_delivery.h"

#include "common/log/printable.h"
#include "common/mailstore/delivery_key.h"
#include "services/delivery-queue/delivery/local_mailbox.h"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

namespace postline::queue {

using db::pq::Connection;

ImmediateDelivery::ImmediateDelivery(db::pq::Pool& queue_pool, std::map<std::string, Shard> shards,
                                     const SieveRunner* sieve, QueueMetrics* metrics, std::function<void()> wake,
                                     size_t max_queued)
    : queue_pool_(queue_pool),
      shards_(std::move(shards)),
      sieve_(sieve),
      metrics_(metrics),
      wake_(std::move(wake)),
      max_queued_(max_queued) {}

ImmediateDelivery::~ImmediateDelivery() { stop(); }

bool ImmediateDelivery::accepts(const std::string& shard) const {
  if (sieve_ && sieve_->has_global_scripts()) return false;  // the workers run the administrator's scripts
  return shards_.count(shard) > 0;
}

bool ImmediateDelivery::offer(std::shared_ptr<const NewMessage> message, std::vector<int64_t> recipient_ids) {
  size_t n = 0;
  for (const auto& r : message->recipients)
    if (!r.handoff_shard.empty()) ++n;
  if (n == 0) return true;
  {
    std::lock_guard lock(mu_);
    if (queued_.size() >= max_queued_ || stopping_) {
      if (metrics_) metrics_->immediate("full", n);
      return false;
    }
    queued_.push_back({std::move(message), std::move(recipient_ids)});
  }
  cv_.notify_one();
  return true;
}

void ImmediateDelivery::start(size_t threads) {
  for (size_t i = 0; i < std::max<size_t>(1, threads); ++i) threads_.emplace_back([this] { loop(); });
}

void ImmediateDelivery::stop() {
  {
    std::lock_guard lock(mu_);
    stopping_ = true;
  }
  cv_.notify_all();
  for (auto& t : threads_)
    if (t.joinable()) t.join();
  threads_.clear();
}

size_t ImmediateDelivery::run_once() {
  std::vector<Job> batch;
  {
    std::lock_guard lock(mu_);
    while (!queued_.empty()) {
      batch.push_back(std::move(queued_.front()));
      queued_.pop_front();
    }
  }
  return batch.empty() ? 0 : deliver(std::move(batch));
}

void ImmediateDelivery::loop() {
  constexpr size_t kBatch = 64;
  while (true) {
    std::vector<Job> batch;
    {
      std::unique_lock lock(mu_);
      cv_.wait(lock, [&] { return stopping_ || !queued_.empty(); });
      // What is left at stop stays for the workers (due after the grace).
      if (stopping_) return;
      while (!queued_.empty() && batch.size() < kBatch) {
        batch.push_back(std::move(queued_.front()));
        queued_.pop_front();
      }
    }
    try {
      deliver(std::move(batch));
    } catch (const std::exception& e) {
      // Nothing is lost: the recipients are queued and due after the grace.
      spdlog::warn("immediate delivery into other shards failed (the workers deliver): {}",
                   log::printable(e.what(), 1024));
    }
  }
}

size_t ImmediateDelivery::deliver(std::vector<Job> batch) {
  const auto t0 = std::chrono::steady_clock::now();
  // One target per handed-over recipient, grouped by (shard, user, mailbox).
  struct Target {
    const NewMessage* message;
    size_t index;
    int64_t recipient_id;
    std::string key;
  };
  std::map<std::tuple<std::string, int64_t, std::string>, std::vector<Target>> groups;
  std::vector<std::string> bodies(batch.size());
  size_t offered = 0;
  for (size_t m = 0; m < batch.size(); ++m) {
    const NewMessage& msg = *batch[m].message;
    const auto& ids = batch[m].recipient_ids;
    for (size_t i = 0; i < msg.recipients.size(); ++i) {
      const auto& r = msg.recipients[i];
      if (r.handoff_shard.empty()) continue;
      ++offered;
      // Without its id (not expected) the workers see to it after the grace.
      if (ids.size() != msg.recipients.size() || shards_.count(r.handoff_shard) == 0) continue;
      std::string mailbox = msg.target_mailbox.empty() ? "INBOX" : msg.target_mailbox;
      if (sieve_) mailbox = sieve_->default_mailbox(msg.body, msg.target_mailbox);
      const int64_t rid = ids[i];
      if (bodies[m].empty()) bodies[m] = "Return-Path: <" + msg.mail_from + ">\r\n" + msg.body;  // RFC 5321 4.4
      groups[{r.handoff_shard, r.user_id, mailbox}].push_back(
          {&msg, i, rid, mailstore::worker_delivery_key(msg.queue_id, rid)});
    }
  }
  auto body_of = [&](const NewMessage* msg) -> const std::string& {
    for (size_t m = 0; m < batch.size(); ++m)
      if (batch[m].message.get() == msg) return bodies[m];
    return bodies.front();
  };

  std::vector<std::pair<int64_t, std::string>> delivered;
  std::vector<int64_t> due_now;
  std::vector<std::tuple<const Target*, std::string>> logged;
  std::vector<std::unique_ptr<mailstore::pg::PgMailStore::StagedDelivery>> to_announce;
  for (auto& [key, targets] : groups) {
    const auto& [shard_name, user, mailbox] = key;
    const Shard& shard = shards_.at(shard_name);
    const NewRecipient& first = targets.front().message->recipients[targets.front().index];
    std::vector<mailstore::DeliveryItem> items;
    for (const auto& t : targets) items.push_back({body_of(t.message), t.key, {}});
    try {
      auto staged = shard.store->stage_delivery(user, mailbox, items, {first.quota_bytes, first.quota_messages},
                                                /*unless_sieve=*/sieve_ != nullptr);
      auto results = shard.pool->with([&](Connection& c) {
        bool open = false;
        try {
          Connection::Pipeline p(c);
          p.add("BEGIN");
          open = true;
          staged->add_to(p);
          auto r = staged->read(p.run(), 1);
          c.run("COMMIT");
          return r;
        } catch (...) {
          if (open) {
            try {
              c.run("ROLLBACK");
            } catch (const std::exception&) {
            }
          }
          throw;
        }
      });
      staged->announce();
      for (size_t k = 0; k < targets.size(); ++k) {
        const auto& d = results.at(k);
        if (d.over_quota || d.sieve) {
          due_now.push_back(targets[k].recipient_id);  // a worker defers, bounces or runs the script
          continue;
        }
        delivered.emplace_back(targets[k].recipient_id, delivered_reply(mailbox, d.uid, d.duplicate));
        logged.emplace_back(&targets[k], delivered.back().second);
      }
    } catch (const std::exception& e) {
      spdlog::warn("immediate delivery of {} message(s) to user {} on shard {} failed (the workers deliver): {}",
                   targets.size(), user, log::printable(shard_name, 64), log::printable(e.what(), 1024));
      for (const auto& t : targets) due_now.push_back(t.recipient_id);
    }
  }
  const auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  const size_t marked =
      queue_pool_.with([&](Connection& c) { return record_handoff(c, delivered, due_now, ms); });
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  for (const auto& [t, reply] : logged) {
    const auto& r = t->message->recipients[t->index];
    spdlog::info("[q:{}] [u:{}] to=<{}> relay=local shard={} state=delivered attempts=1 reply=\"{}\" (right after Enqueue)",
                 t->message->queue_id, log::tag_value(r.address, 512), log::printable(r.address, 512),
                 log::printable(r.handoff_shard, 64), log::printable(reply, 400));
  }
  if (metrics_) {
    for (size_t i = 0; i < marked; ++i) metrics_->delivery(State::kDelivered, "local", seconds);
    metrics_->immediate("delivered", marked);
    metrics_->immediate("workers", offered - marked);
  }
  if (!due_now.empty() && wake_) wake_();
  return offered;
}

}  // namespace postline::queue
