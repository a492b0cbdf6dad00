#include "common/mailstore/delivery.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/message_meta.h"

#include <stdexcept>

namespace postline::mailstore {

DeliveryResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                       std::string_view message, std::string_view delivery_key) {
  const std::string name = normalize_mailbox_name(mailbox_name.empty() ? "INBOX" : mailbox_name);
  const std::string body = canonicalize_line_endings(message);
  const MessageMeta meta = analyse(body);
  const std::string key = sha256(body);

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

  // The mailbox row lock serialises UID and MODSEQ assignment per mailbox.
  // A delivery to a mailbox the user deleted (e.g. Junk) recreates it.
  auto allocate = [&] {
    return tx.exec_params(
        "UPDATE mailstore_mailboxes SET uidnext = uidnext + 1, highestmodseq = highestmodseq + 1 "
        "WHERE user_id = $1 AND name = $2 RETURNING mailbox_id, uidnext - 1, highestmodseq",
        user_id, name);
  };
  auto row = allocate();
  if (row.empty()) {
    const char* special = nullptr;
    for (const auto& d : default_mailboxes())
      if (name == d.name) special = d.special_use;
    create_mailbox_if_missing(tx, user_id, name, special);
    row = allocate();
    if (row.empty()) throw std::runtime_error("mailbox vanished during delivery");
  }
  const int64_t mailbox_id = row[0][0].as<int64_t>();
  const int64_t uid = row[0][1].as<int64_t>();
  const int64_t modseq = row[0][2].as<int64_t>();

  default_blob_store().put(tx, key, body);
  tx.exec_params(
      "INSERT INTO mailstore_messages (user_id, mailbox_id, uid, blob_sha256, size, internaldate, modseq, "
      " meta_version, header_size, envelope, bodystructure, body, preview, search_text, email_id) "
      "VALUES ($1, $2, $3, $4, $5, now(), $6, $7, $8, $9, $10, $11, $12, $13, $14)",
      user_id, mailbox_id, uid, pqxx::binarystring(key.data(), key.size()), static_cast<int64_t>(meta.size),
      modseq, kMetaVersion, static_cast<int64_t>(meta.header_size),
      meta.envelope ? meta.envelope->c_str() : nullptr, meta.bodystructure ? meta.bodystructure->c_str() : nullptr,
      meta.body ? meta.body->c_str() : nullptr, meta.preview, meta.search_text,
      "M" + to_hex(key).substr(0, 24));
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
