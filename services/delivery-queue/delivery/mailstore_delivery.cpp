#include "services/delivery-queue/delivery/mailstore_delivery.h"

namespace postline::queue {

LocalResult MailstoreDelivery::deliver(int64_t user_id, std::string_view mailbox, std::string_view message,
                                       std::string_view delivery_key, const mailstore::Quota& quota) {
  return deliver_batch(user_id, mailbox, {mailstore::DeliveryItem{message, delivery_key}}, quota).front();
}

std::vector<LocalResult> MailstoreDelivery::deliver_batch(int64_t user_id, std::string_view mailbox,
                                                         const std::vector<mailstore::DeliveryItem>& items,
                                                         const mailstore::Quota& quota) {
  std::vector<LocalResult> out;
  for (const auto& r : store_.deliver(user_id, mailbox, items, quota))
    out.push_back({r.uid, r.duplicate, r.over_quota, r.exceeds_quota, r.over_message_quota});
  return out;
}

}  // namespace postline::queue
