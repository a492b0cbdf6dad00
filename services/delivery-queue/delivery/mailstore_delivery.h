// LocalDelivery through the shared mailstore (MailStore::deliver): into the
// mailbox the worker names (INBOX, or the message's target mailbox, e.g. Junk;
// the mailstore creates a missing one) under the user's limits; the mailstore
// keys the delivery by the queue recipient id.
#pragma once

#include "common/mailstore/mail_store.h"
#include "services/delivery-queue/delivery/interfaces.h"

#include <functional>
#include <string>

namespace postline::queue {

class MailstoreDelivery final : public LocalDelivery {
 public:
  explicit MailstoreDelivery(mailstore::MailStore& store) : store_(store) {}
  // Sharding: `router` places the user on the shard authd named (ShardedMailStore::assign;
  // false when unknown to this process). `several` shards: an unknown shard ("") defers.
  MailstoreDelivery(mailstore::MailStore& store, std::function<bool(int64_t, const std::string&)> router,
                    bool several, std::string default_shard = "")
      : store_(store), router_(std::move(router)), several_(several), default_shard_(std::move(default_shard)) {}
  bool route(int64_t user_id, const std::string& shard) override {
    if (shard.empty()) return !several_;
    return !router_ || router_(user_id, shard);
  }
  LocalResult deliver(int64_t user_id, std::string_view mailbox, std::string_view message,
                      std::string_view delivery_key, const mailstore::Quota& quota) override;
  std::vector<LocalResult> deliver_batch(int64_t user_id, std::string_view mailbox,
                                         const std::vector<mailstore::DeliveryItem>& items,
                                         const mailstore::Quota& quota) override;

 private:
  mailstore::MailStore& store_;
  std::function<bool(int64_t, const std::string&)> router_;
  bool several_ = false;
  std::string default_shard_;
};

}  // namespace postline::queue
