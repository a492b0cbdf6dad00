#include "common/mailstore/delivery.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/store.h"
#include "common/mailstore/store_internal.h"

#include <stdexcept>

namespace postline::mailstore {

DeliveryResult deliver(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                       std::string_view message, std::string_view delivery_key, const Quota& quota) {
  return deliver_batch(conn, user_id, mailbox_name, {DeliveryItem{message, delivery_key}}, quota).front();
}

std::vector<DeliveryResult> deliver_batch(pqxx::connection& conn, int64_t user_id, std::string_view mailbox_name,
                                          const std::vector<DeliveryItem>& items, const Quota& quota) {
  const std::string name = normalize_mailbox_name(mailbox_name.empty() ? "INBOX" : mailbox_name);
  std::vector<DeliveryResult> results(items.size());
  if (items.empty()) return results;
  // Parse and hash before the transaction: the mailbox row lock below is held
  // until commit and serialises deliveries into one mailbox.
  std::vector<std::string> bodies;
  std::vector<internal::PreparedMessage> prepared;
  bodies.reserve(items.size());
  prepared.reserve(items.size());
  for (const auto& item : items) {
    bodies.push_back(canonicalize_line_endings(item.message));
    prepared.push_back(internal::prepare_message(bodies.back()));
  }

  pqxx::work tx(conn);
  ensure_account(tx, user_id);

  // Claim the delivery keys first: a concurrent delivery of the same key
  // blocks here until the other transaction ends, then sees the conflict.
  // That is what makes a retry after a crash (or a second queue worker)
  // deliver once.
  std::vector<size_t> fresh;
  for (size_t i = 0; i < items.size(); ++i) {
    const std::string key(items[i].delivery_key);
    auto claimed = tx.exec_params(
        "INSERT INTO mailstore_deliveries (user_id, delivery_key) VALUES ($1, $2) "
        "ON CONFLICT (user_id, delivery_key) DO NOTHING RETURNING user_id",
        user_id, key);
    if (!claimed.empty()) {
      fresh.push_back(i);
      continue;
    }
    auto prev = tx.exec_params(
        "SELECT mailbox_id, uid FROM mailstore_deliveries WHERE user_id = $1 AND delivery_key = $2", user_id, key);
    results[i].duplicate = true;
    if (!prev.empty()) {
      results[i].mailbox_id = prev[0][0].is_null() ? 0 : prev[0][0].as<int64_t>();
      results[i].uid = prev[0][1].is_null() ? 0 : prev[0][1].as<int64_t>();
    }
  }

  if (!fresh.empty() && (quota.bytes > 0 || quota.messages > 0)) {
    // The account row lock serialises quota-checked deliveries per user, so
    // two concurrent ones cannot both see room for one message. (IMAP APPEND
    // stays a soft limit; it does not take this lock.)
    tx.exec_params("SELECT user_id FROM mailstore_accounts WHERE user_id = $1 FOR UPDATE", user_id);
    Usage used = usage(tx, user_id);
    std::vector<size_t> fits;
    for (size_t i : fresh) {
      const auto size = static_cast<int64_t>(bodies[i].size());
      DeliveryResult& r = results[i];
      if (quota.bytes > 0 && (size > quota.bytes || used.bytes + size > quota.bytes)) {
        r.over_quota = true;
        r.exceeds_quota = size > quota.bytes;
      } else if (quota.messages > 0 && used.messages + 1 > quota.messages) {
        r.over_quota = r.over_message_quota = true;
      }
      if (r.over_quota) {
        // Not delivered: release the key this transaction claimed, so a retry may succeed.
        tx.exec_params("DELETE FROM mailstore_deliveries WHERE user_id = $1 AND delivery_key = $2", user_id,
                       std::string(items[i].delivery_key));
        continue;
      }
      used.bytes += size;
      used.messages += 1;
      fits.push_back(i);
    }
    fresh = std::move(fits);
  }
  if (fresh.empty()) {
    tx.commit();  // duplicates and refusals only: nothing else changed
    return results;
  }

  // Content-addressed blobs and search rows need no mailbox lock.
  for (size_t i : fresh) internal::store_blob(tx, prepared[i], bodies[i]);

  // The mailbox row lock serialises UID and MODSEQ assignment per mailbox.
  // A delivery to a mailbox the user deleted (e.g. Junk) recreates it.
  const auto count = static_cast<int64_t>(fresh.size());
  auto alloc = internal::allocate(tx, user_id, name, count);
  if (!alloc) {
    const char* special = nullptr;
    for (const auto& d : default_mailboxes())
      if (name == d.name) special = d.special_use;
    create_mailbox_if_missing(tx, user_id, name, special);
    alloc = internal::allocate(tx, user_id, name, count);
    if (!alloc) throw std::runtime_error("mailbox vanished during delivery");
  }
  int64_t uid = alloc->first_uid;
  for (size_t i : fresh) {
    internal::insert_prepared(tx, user_id, alloc->mailbox_id, uid, alloc->modseq, prepared[i], {}, std::nullopt);
    tx.exec_params(
        "UPDATE mailstore_deliveries SET mailbox_id = $3, uid = $4 WHERE user_id = $1 AND delivery_key = $2",
        user_id, std::string(items[i].delivery_key), alloc->mailbox_id, uid);
    results[i].mailbox_id = alloc->mailbox_id;
    results[i].uid = uid;
    ++uid;
  }
  notify_change(tx, user_id, alloc->mailbox_id, alloc->modseq);
  tx.commit();
  return results;
}

}  // namespace postline::mailstore
