#include "services/delivery-queue/delivery/mailstore_delivery.h"

#include "common/mailstore/delivery.h"

namespace postline::queue {

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view message,
                                       std::string_view delivery_key) {
  auto r = mailstore::deliver(conn, user_id, "INBOX", message, delivery_key);
  return {r.uid, r.duplicate};
}

}  // namespace postline::queue
