#include "common/mailstore/delivery.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/store.h"
#include "common/mailstore/store_internal.h"

#include <stdexcept>

namespace postline::mailstore {

DeliveryResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                       std::string_view message, std::string_view delivery_key) {
  return deliver(conn, user_id, mailbox_name, message, delivery_key, 0);
}

DeliveryResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                       std::string_view message, std::string_view delivery_key, int64_t quota_bytes) {
  return deliver(conn, user_id, mailbox_name, message, delivery_key, Quota{quota_bytes, 0});
}

DeliveryResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                       std::string_view message, std::string_view delivery_key, const Quota& quota) {
  const std::string name = normalize_mailbox_name(mailbox_name.empty() ? "INBOX" : mailbox_name);
  const std::string body = canonicalize_line_endings(message);
  // Parse and hash before the transaction: the mailbox row lock below is held
  // until commit and serialises deliveries into one mailbox.
  const internal::PreparedMessage prepared = internal::prepare_message(body);

  pqxx::work tx(conn);
  ensure_account(tx, user_id);

  // Claim the delivery key first: a concurrent delivery of the same key blocks
  // here until the other transaction ends, then sees the conflict. That is what
  // makes a retry after a crash (or a second queue worker) deliver once.
  auto claimed = tx.exec_params(
      "INSERT INTO mailstore_deliveries (user_id, delivery_key) VALUES ($1, $2) "
      "ON CONFLICT (user_id, delivery_key) DO NOTHING RETURNING user_id",
      user_id, std::string(delivery_key));
  if (claimed.empty()) {
    auto prev = tx.exec_params(
        "SELECT mailbox_id, uid FROM mailstore_deliveries WHERE user_id = $1 AND delivery_key = $2", user_id,
        std::string(delivery_key));
    DeliveryResult dup;
    dup.duplicate = true;
    if (!prev.empty()) {
      dup.mailbox_id = prev[0][0].is_null() ? 0 : prev[0][0].as<int64_t>();
      dup.uid = prev[0][1].is_null() ? 0 : prev[0][1].as<int64_t>();
    }
    tx.commit();
    return dup;
  }

  if (quota.bytes > 0 || quota.messages > 0) {
    // The account row lock serialises quota-checked deliveries per user, so
    // two concurrent ones cannot both see room for one message. (IMAP APPEND
    // stays a soft limit; it does not take this lock.)
    tx.exec_params("SELECT user_id FROM mailstore_accounts WHERE user_id = $1 FOR UPDATE", user_id);
    const auto size = static_cast<int64_t>(body.size());
    const Usage used = usage(tx, user_id);
    DeliveryResult over;
    if (quota.bytes > 0 && (size > quota.bytes || used.bytes + size > quota.bytes)) {
      over.over_quota = true;
      over.exceeds_quota = size > quota.bytes;
    }
    if (quota.messages > 0 && used.messages + 1 > quota.messages) over.over_quota = over.over_message_quota = true;
    if (over.over_quota) {
      tx.abort();  // the delivery key stays unclaimed
      return over;
    }
  }

  internal::store_blob(tx, prepared, body);  // content-addressed: no lock needed

  // The mailbox row lock serialises UID and MODSEQ assignment per mailbox.
  // A delivery to a mailbox the user deleted (e.g. Junk) recreates it.
  auto alloc = internal::allocate(tx, user_id, name, 1);
  if (!alloc) {
    const char* special = nullptr;
    for (const auto& d : default_mailboxes())
      if (name == d.name) special = d.special_use;
    create_mailbox_if_missing(tx, user_id, name, special);
    alloc = internal::allocate(tx, user_id, name, 1);
    if (!alloc) throw std::runtime_error("mailbox vanished during delivery");
  }
  const int64_t mailbox_id = alloc->mailbox_id;
  const int64_t uid = alloc->first_uid;
  const int64_t modseq = alloc->modseq;
  internal::insert_prepared(tx, user_id, mailbox_id, uid, modseq, prepared, {}, std::nullopt);
  tx.exec_params("UPDATE mailstore_deliveries SET mailbox_id = $3, uid = $4 WHERE user_id = $1 AND delivery_key = $2",
                 user_id, std::string(delivery_key), mailbox_id, uid);
  notify_change(tx, user_id, mailbox_id, modseq);
  tx.commit();

  DeliveryResult result;
  result.mailbox_id = mailbox_id;
  result.uid = uid;
  return result;
}

}  // namespace postline::mailstore
