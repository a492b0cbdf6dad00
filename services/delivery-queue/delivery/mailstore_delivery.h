// LocalDelivery through the shared mailstore (MailStore::deliver): into the
// mailbox the worker names (INBOX, or the message's target mailbox, e.g. Junk;
// the mailstore creates a missing one) under the user's limits; the mailstore
// keys the delivery by the queue recipient id.
#pragma once

#include "common/mailstore/mail_store.h"
#include "services/delivery-queue/delivery/interfaces.h"

namespace postline::queue {

class MailstoreDelivery final : public LocalDelivery {
 public:
  explicit MailstoreDelivery(mailstore::MailStore& store) : store_(store) {}
  LocalResult deliver(int64_t user_id, std::string_view mailbox, std::string_view message,
                      std::string_view delivery_key, const mailstore::Quota& quota) override;
  std::vector<LocalResult> deliver_batch(int64_t user_id, std::string_view mailbox,
                                         const std::vector<mailstore::DeliveryItem>& items,
                                         const mailstore::Quota& quota) override;

 private:
  mailstore::MailStore& store_;
};

}  // namespace postline::queue
