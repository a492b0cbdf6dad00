// LocalDelivery through the shared mailstore (common/mailstore/delivery.h):
// into the mailbox the worker names (INBOX, or the message's target mailbox,
// e.g. Junk; the mailstore creates a missing one) under the user's limits; the
// mailstore keys the delivery by the queue recipient id.
#pragma once

#include "services/delivery-queue/delivery/interfaces.h"

namespace postline::queue {

class MailstoreDelivery final : public LocalDelivery {
 public:
  LocalResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox, std::string_view message,
                      std::string_view delivery_key, const mailstore::Quota& quota) override;
  std::vector<LocalResult> deliver_batch(pqxx::connection& conn, int64_t user_id, std::string_view mailbox,
                                         const std::vector<mailstore::DeliveryItem>& items,
                                         const mailstore::Quota& quota) override;
};

}  // namespace postline::queue
