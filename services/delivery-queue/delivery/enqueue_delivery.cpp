#include "services/delivery-queue/delivery/enqueue_delivery.h"

#include "services/delivery-queue/dsn/dsn.h"

#include <spdlog/spdlog.h>

#include <map>

namespace postline::queue {

struct MailstoreEnqueueDelivery::Group {
  int64_t user_id = 0;
  mailstore::Quota quota;
  std::vector<size_t> indexes;      // into msg.recipients
  std::vector<std::string> keys;    // one per index
  std::unique_ptr<mailstore::pg::PgMailStore::StagedDelivery> staged;
  size_t first = 0, count = 0;      // its statements in the pipeline
};

bool MailstoreEnqueueDelivery::eligible(const NewRecipient& r) {
  return r.local && r.user_id > 0 && r.quota_known && !r.needs_resolve && !notify_wants(r.notify, DsnAction::kDelivered);
}

MailstoreEnqueueDelivery::MailstoreEnqueueDelivery(mailstore::pg::PgMailStore& store, const NewMessage& msg,
                                                   QueueMetrics* metrics)
    : store_(store),
      msg_(msg),
      metrics_(metrics),
      mailbox_(msg.target_mailbox.empty() ? "INBOX" : msg.target_mailbox),
      tries_(msg.recipients.size(), false),
      replies_(msg.recipients.size()) {
  for (size_t i = 0; i < msg.recipients.size(); ++i) tries_[i] = !msg.is_dsn && eligible(msg.recipients[i]);
}

MailstoreEnqueueDelivery::~MailstoreEnqueueDelivery() = default;

bool MailstoreEnqueueDelivery::tries(size_t index) const { return index < tries_.size() && tries_[index]; }

size_t MailstoreEnqueueDelivery::stage(db::pq::Connection::Pipeline& pipe) {
  started_ = std::chrono::steady_clock::now();
  groups_.clear();
  std::map<int64_t, Group*> by_user;
  for (size_t i = 0; i < msg_.recipients.size(); ++i) {
    if (!tries_[i]) continue;
    const auto& r = msg_.recipients[i];
    auto& g = by_user[r.user_id];
    if (!g) {
      groups_.push_back(std::make_unique<Group>());
      g = groups_.back().get();
      g->user_id = r.user_id;
      g->quota = {r.quota_bytes, r.quota_messages};
    }
    g->indexes.push_back(i);
    g->keys.push_back("e/" + msg_.queue_id + "/" + std::to_string(i));
  }
  if (groups_.empty()) return 0;
  // RFC 5321 4.4: the final delivery adds Return-Path with the envelope
  // sender. One copy serves every recipient of the message.
  body_ = "Return-Path: <" + msg_.mail_from + ">\r\n" + msg_.body;
  size_t added = 0;
  for (auto& g : groups_) {
    std::vector<mailstore::DeliveryItem> items;
    for (const auto& key : g->keys) items.push_back({body_, key});
    g->staged = store_.stage_delivery(g->user_id, mailbox_, items, g->quota);
    g->first = added;
    g->count = g->staged->add_to(pipe);
    added += g->count;
  }
  return added;
}

std::vector<std::string> MailstoreEnqueueDelivery::read(const std::vector<db::pq::Result>& results, size_t first) {
  std::vector<std::string> out(msg_.recipients.size());
  for (auto& g : groups_) {
    const auto delivered = g->staged->read(results, first + g->first);
    for (size_t k = 0; k < g->indexes.size() && k < delivered.size(); ++k) {
      const auto& d = delivered[k];
      if (d.over_quota) continue;  // stays queued: a worker defers or bounces it with authd's limits
      out[g->indexes[k]] = d.duplicate ? "250 2.0.0 already delivered (uid " + std::to_string(d.uid) + ")"
                                       : "250 2.0.0 delivered to " + mailbox_ + " uid " + std::to_string(d.uid);
    }
  }
  replies_ = out;
  return out;
}

void MailstoreEnqueueDelivery::committed(const std::string& queue_id) {
  for (auto& g : groups_)
    if (g->staged) g->staged->announce();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  for (size_t i = 0; i < replies_.size(); ++i) {
    if (replies_[i].empty()) continue;
    spdlog::info("[q:{}] to=<{}> relay=local state=delivered attempts=1 reply=\"{}\"", queue_id,
                 msg_.recipients[i].address, replies_[i]);
    if (metrics_) metrics_->delivery(State::kDelivered, "local", seconds);
  }
}

}  // namespace postline::queue
