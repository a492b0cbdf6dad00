#include "services/delivery-queue/delivery/mailstore_delivery.h"

#include "common/mailstore/delivery.h"

namespace postline::queue {

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox,
                                       std::string_view message, std::string_view delivery_key,
                                       const mailstore::Quota& quota) {
  auto r = mailstore::deliver(conn, user_id, mailbox, message, delivery_key, quota);
  return {r.uid, r.duplicate, r.over_quota, r.exceeds_quota, r.over_message_quota};
}

std::vector<LocalResult> MailstoreDelivery::deliver_batch(pqxx::connection& conn, int64_t user_id,
                                                         std::string_view mailbox,
                                                         const std::vector<mailstore::DeliveryItem>& items,
                                                         const mailstore::Quota& quota) {
  std::vector<LocalResult> out;
  for (const auto& r : mailstore::deliver_batch(conn, user_id, mailbox, items, quota))
    out.push_back({r.uid, r.duplicate, r.over_quota, r.exceeds_quota, r.over_message_quota});
  return out;
}

}  // namespace postline::queue
