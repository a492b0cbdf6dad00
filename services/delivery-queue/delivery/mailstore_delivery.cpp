#include "services/delivery-queue/delivery/mailstore_delivery.h"

#include "common/mailstore/delivery.h"

namespace postline::queue {

namespace {
// Issue 9 (added by the smtpd/antispam owner; minimal on purpose): smtpd's spam
// verdict asks for the Junk mailbox with a header it writes at the top of the
// message and strips from everything clients send, on every listener, so only
// smtpd can set it. (Envelope.target_mailbox carries the same in Enqueue, but
// the queue does not persist envelope extras, and the message is what reaches
// this call.) Only the header section is read, and only "Junk" is honoured.
std::string_view target_mailbox(std::string_view message) {
  constexpr std::string_view kField = "X-Postline-Mailbox: Junk\r\n";
  size_t pos = 0;
  while (pos < message.size() && message.substr(pos, 2) != "\r\n") {
    if (message.substr(pos, kField.size()) == kField) return "Junk";
    size_t eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return "INBOX";
}
}  // namespace

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view message,
                                       std::string_view delivery_key) {
  auto r = mailstore::deliver(conn, user_id, target_mailbox(message), message, delivery_key);
  return {r.uid, r.duplicate};
}

LocalResult MailstoreDelivery::deliver(pqxx::connection& conn, int64_t user_id, std::string_view message,
                                       std::string_view delivery_key, int64_t quota_bytes) {
  auto r = mailstore::deliver(conn, user_id, target_mailbox(message), message, delivery_key, quota_bytes);
  return {r.uid, r.duplicate, r.over_quota, r.exceeds_quota};
}

}  // namespace postline::queue
