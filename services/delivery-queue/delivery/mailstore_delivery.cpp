#include "services/delivery-queue/delivery/mailstore_delivery.h"

#include "common/mailstore/delivery.h"

namespace postline::queue {

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view message,
                                       std::string_view delivery_key) {
  return deliver(conn, user_id, "INBOX", message, delivery_key, 0);
}

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view message,
                                       std::string_view delivery_key, int64_t quota_bytes) {
  return deliver(conn, user_id, "INBOX", message, delivery_key, quota_bytes);
}

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox,
                                       std::string_view message, std::string_view delivery_key,
                                       int64_t quota_bytes) {
  auto r = mailstore::deliver(conn, user_id, mailbox, message, delivery_key, quota_bytes);
  return {r.uid, r.duplicate, r.over_quota, r.exceeds_quota};
}

}  // namespace postline::queue
