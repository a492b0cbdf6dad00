#include "services/delivery-queue/delivery/enqueue_delivery.h"

#include "services/delivery-queue/delivery/local_mailbox.h"
#include "services/delivery-queue/dsn/dsn.h"
#include "common/log/printable.h"
#include "common/mailstore/delivery_key.h"

#include <spdlog/spdlog.h>

#include <map>
#include <tuple>

namespace postline::queue {

namespace {
std::string mailbox_of(const NewMessage& m) { return m.target_mailbox.empty() ? "INBOX" : m.target_mailbox; }
}  // namespace

struct MailstoreEnqueueDelivery::Group {
  int64_t user_id = 0;
  std::string mailbox;
  mailstore::Quota quota;
  std::vector<std::pair<size_t, size_t>> targets;  // (message, recipient)
  std::vector<std::string> keys;                   // one per target
  std::unique_ptr<mailstore::pg::PgMailStore::StagedDelivery> staged;
  size_t first = 0;  // its statements in the pipeline
};

bool MailstoreEnqueueDelivery::eligible(const NewRecipient& r) {
  return r.local && r.user_id > 0 && r.quota_known && !r.needs_resolve && !notify_wants(r.notify, DsnAction::kDelivered);
}

MailstoreEnqueueDelivery::MailstoreEnqueueDelivery(mailstore::pg::PgMailStore& store,
                                                   std::vector<const NewMessage*> messages, QueueMetrics* metrics,
                                                   const SieveRunner* sieve)
    : store_(store), messages_(std::move(messages)), metrics_(metrics), sieve_(sieve) {
  tries_.resize(messages_.size());
  replies_.resize(messages_.size());
  bodies_.resize(messages_.size());
  targets_.resize(messages_.size());
  for (size_t m = 0; m < messages_.size(); ++m) {
    const NewMessage& msg = *messages_[m];
    tries_[m].assign(msg.recipients.size(), false);
    replies_[m].assign(msg.recipients.size(), "");
    targets_[m].resize(msg.recipients.size());
    // Without Sieve: the target mailbox. With it and no administrator's
    // scripts: the per-user default's decision (no script runs; whether the
    // user has a script of their own is asked by the delivery statement).
    // With administrator's scripts: their run in process, when it comes to
    // one copy of the message and nothing else; otherwise a worker runs them.
    std::string fallback = mailbox_of(msg);
    if (sieve_ && !sieve_->has_global_scripts()) fallback = sieve_->default_mailbox(msg.body, msg.target_mailbox);
    for (size_t i = 0; i < msg.recipients.size(); ++i) {
      tries_[m][i] = !msg.is_dsn && !msg.queue_id.empty() && eligible(msg.recipients[i]);
      if (!tries_[m][i]) continue;
      targets_[m][i].mailbox = fallback;
      if (sieve_ && sieve_->has_global_scripts()) {
        SieveInput in;
        in.message = msg.body;
        in.mail_from = msg.mail_from;
        in.recipient = msg.recipients[i].address;
        in.orcpt = msg.recipients[i].orcpt;
        in.authenticated_user = msg.authenticated_user;
        in.user_id = msg.recipients[i].user_id;
        in.target_mailbox = msg.target_mailbox;
        in.smtputf8 = msg.smtputf8;
        in.body_type = msg.body_type;
        in.queue_id = msg.queue_id;
        auto simple = sieve_->simple_store(in);
        if (!simple) {
          tries_[m][i] = false;  // a worker runs the scripts (they do more than store one copy)
          continue;
        }
        targets_[m][i].mailbox = simple->mailbox;
        targets_[m][i].flags = simple->flags;
      }
    }
  }
}

MailstoreEnqueueDelivery::~MailstoreEnqueueDelivery() = default;

bool MailstoreEnqueueDelivery::tries(size_t message, size_t recipient) const {
  return message < tries_.size() && recipient < tries_[message].size() && tries_[message][recipient];
}

size_t MailstoreEnqueueDelivery::stage(db::pq::Connection::Pipeline& pipe) {
  started_ = std::chrono::steady_clock::now();
  groups_.clear();
  std::map<std::pair<int64_t, std::string>, std::unique_ptr<Group>> by_box;  // sorted: the lock order
  for (size_t m = 0; m < messages_.size(); ++m) {
    const NewMessage& msg = *messages_[m];
    for (size_t i = 0; i < msg.recipients.size(); ++i) {
      if (!tries_[m][i]) continue;
      const auto& r = msg.recipients[i];
      const std::string& box = targets_[m][i].mailbox;
      auto& g = by_box[{r.user_id, box}];
      if (!g) {
        g = std::make_unique<Group>();
        g->user_id = r.user_id;
        g->mailbox = box;
        g->quota = {r.quota_bytes, r.quota_messages};
      }
      g->targets.emplace_back(m, i);
      g->keys.push_back(mailstore::enqueue_delivery_key(msg.queue_id, i));
      // RFC 5321 4.4: the final delivery adds Return-Path with the envelope
      // sender. One copy, parsed and hashed once, serves every recipient of
      // the message (and is the bytes the statement sends: no copy more).
      if (!bodies_[m]) {
        std::string body;
        body.reserve(msg.mail_from.size() + 18 + msg.body.size());
        body.append("Return-Path: <").append(msg.mail_from).append(">\r\n").append(msg.body);
        bodies_[m] = std::make_shared<const mailstore::PreparedMessage>(mailstore::prepare_owned_message(std::move(body)));
      }
    }
  }
  size_t added = 0;
  for (auto& [key, g] : by_box) {
    std::vector<mailstore::DeliveryItem> items;
    for (size_t k = 0; k < g->targets.size(); ++k) {
      const auto [m, i] = g->targets[k];
      items.push_back({bodies_[m]->body, g->keys[k], targets_[m][i].flags, bodies_[m]});
    }
    // With Sieve, a user who has an active script gets nothing delivered here
    // (the statement itself checks, so users without one cost nothing more):
    // the recipient stays queued and a worker runs the script.
    g->staged = store_.stage_delivery(g->user_id, g->mailbox, items, g->quota, /*unless_sieve=*/sieve_ != nullptr);
    g->first = added;
    added += g->staged->add_to(pipe);
    groups_.push_back(std::move(g));
  }
  return added;
}

std::vector<std::vector<std::string>> MailstoreEnqueueDelivery::read(const std::vector<db::pq::Result>& results,
                                                                     size_t first) {
  std::vector<std::vector<std::string>> out(messages_.size());
  for (size_t m = 0; m < messages_.size(); ++m) out[m].assign(messages_[m]->recipients.size(), "");
  for (auto& g : groups_) {
    const auto delivered = g->staged->read(results, first + g->first);
    for (size_t k = 0; k < g->targets.size() && k < delivered.size(); ++k) {
      const auto& d = delivered[k];
      if (d.over_quota) continue;  // stays queued: a worker defers or bounces it with authd's limits
      if (d.sieve) continue;       // stays queued: a worker runs the user's Sieve script
      const auto [m, i] = g->targets[k];
      out[m][i] = delivered_reply(g->mailbox, d.uid, d.duplicate);
    }
  }
  replies_ = out;
  return out;
}

void MailstoreEnqueueDelivery::committed() {
  for (auto& g : groups_)
    if (g->staged) g->staged->announce();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  for (size_t m = 0; m < replies_.size(); ++m)
    for (size_t i = 0; i < replies_[m].size(); ++i) {
      if (replies_[m][i].empty()) continue;
      const auto& r = messages_[m]->recipients[i];
      spdlog::info("[q:{}] [u:{}] to=<{}> relay=local user_id={} state=delivered attempts=1 reply=\"{}\"",
                   messages_[m]->queue_id, log::tag_value(r.address, 512), log::printable(r.address, 512), r.user_id,
                   replies_[m][i]);
      if (metrics_) metrics_->delivery(State::kDelivered, "local", seconds);
    }
}

}  // namespace postline::queue
