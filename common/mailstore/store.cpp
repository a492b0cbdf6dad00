#include "common/mailstore/store.h"

#include "common/mailstore/accounts.h"
#include "common/mailstore/blob_store.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/store_internal.h"

#include <algorithm>
#include <set>

namespace postline::mailstore {

namespace internal {

std::string join_flags(const std::vector<std::string>& flags) {
  std::set<std::string> unique;
  for (const auto& f : flags) unique.insert(canonical_flag(f));
  std::string out;
  for (const auto& f : unique) {
    if (!out.empty()) out += ' ';
    out += f;
  }
  return out;
}

std::vector<std::string> split_flags(const std::string& text) {
  std::vector<std::string> out;
  size_t start = 0;
  while (start < text.size()) {
    size_t sp = text.find(' ', start);
    if (sp == std::string::npos) sp = text.size();
    if (sp > start) out.push_back(text.substr(start, sp - start));
    start = sp + 1;
  }
  return out;
}

std::string int_array(const std::vector<int64_t>& v) {
  std::string out = "{";
  for (size_t i = 0; i < v.size(); ++i) {
    if (i) out += ',';
    out += std::to_string(v[i]);
  }
  out += '}';
  return out;
}

namespace {
std::optional<Allocation> from_row(const pqxx::result& r) {
  if (r.empty()) return std::nullopt;
  Allocation a;
  a.mailbox_id = r[0][0].as<int64_t>();
  a.uidvalidity = r[0][1].as<int64_t>();
  a.first_uid = r[0][2].as<int64_t>();
  a.modseq = r[0][3].as<int64_t>();
  return a;
}
}  // namespace

std::optional<Allocation> allocate(pqxx::transaction_base& tx, int64_t user_id, const std::string& name,
                                   int64_t count) {
  return from_row(tx.exec_params(
      "UPDATE mailstore_mailboxes SET uidnext = uidnext + $3, highestmodseq = highestmodseq + 1 "
      "WHERE user_id = $1 AND name = $2 RETURNING mailbox_id, uidvalidity, uidnext - $3, highestmodseq",
      user_id, name, count));
}

std::optional<Allocation> allocate_by_id(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                         int64_t count) {
  return from_row(tx.exec_params(
      "UPDATE mailstore_mailboxes SET uidnext = uidnext + $3, highestmodseq = highestmodseq + 1 "
      "WHERE user_id = $1 AND mailbox_id = $2 RETURNING mailbox_id, uidvalidity, uidnext - $3, highestmodseq",
      user_id, mailbox_id, count));
}

PreparedMessage prepare_message(const std::string& body) {
  PreparedMessage p;
  p.meta = analyse(body);
  p.key = sha256(body);
  return p;
}

void store_blob(pqxx::transaction_base& tx, const PreparedMessage& prepared, const std::string& body) {
  default_blob_store().put(tx, prepared.key, body);
  // One search row per distinct body (migration 005).
  tx.exec_params(
      "INSERT INTO mailstore_search (sha256, search_text) VALUES ($1, $2) ON CONFLICT (sha256) DO NOTHING",
      pqxx::binarystring(prepared.key.data(), prepared.key.size()), prepared.meta.search_text);
}

void insert_prepared(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id, int64_t uid, int64_t modseq,
                     const PreparedMessage& prepared, const std::vector<std::string>& flags,
                     std::optional<int64_t> internaldate) {
  const MessageMeta& meta = prepared.meta;
  const std::string& key = prepared.key;
  tx.exec_params(
      "INSERT INTO mailstore_messages (user_id, mailbox_id, uid, blob_sha256, size, internaldate, modseq, flags, "
      " meta_version, header_size, preview, email_id, structure, sent_date) "
      "VALUES ($1, $2, $3, $4, $5, COALESCE(to_timestamp($11::bigint), now()), $6, string_to_array($12, ' '), "
      " $7, $8, $9, $10, $13, DATE '1970-01-01' + $14::integer)",
      user_id, mailbox_id, uid, pqxx::binarystring(key.data(), key.size()), static_cast<int64_t>(meta.size),
      modseq, kMetaVersion, static_cast<int64_t>(meta.header_size),
      meta.preview.empty() ? nullptr : meta.preview.c_str(), "M" + to_hex(key).substr(0, 24),
      internaldate ? std::to_string(*internaldate).c_str() : nullptr, join_flags(flags),
      pqxx::binarystring(meta.structure.data(), meta.structure.size()),
      meta.sent_day ? std::to_string(*meta.sent_day).c_str() : nullptr);
}

void insert_message(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id, int64_t uid, int64_t modseq,
                    const std::string& body, const std::vector<std::string>& flags,
                    std::optional<int64_t> internaldate) {
  const PreparedMessage prepared = prepare_message(body);
  store_blob(tx, prepared, body);
  insert_prepared(tx, user_id, mailbox_id, uid, modseq, prepared, flags, internaldate);
}

}  // namespace internal

using namespace internal;

std::string canonical_flag(std::string_view flag) {
  static const char* kSystem[] = {"\\Seen", "\\Answered", "\\Flagged", "\\Deleted", "\\Draft", "\\Recent"};
  for (const char* s : kSystem) {
    std::string_view sv(s);
    if (sv.size() != flag.size()) continue;
    bool eq = true;
    for (size_t i = 0; i < sv.size() && eq; ++i)
      eq = std::tolower(static_cast<unsigned char>(sv[i])) == std::tolower(static_cast<unsigned char>(flag[i]));
    if (eq) return s;
  }
  return std::string(flag);
}

namespace {

MailboxInfo mailbox_from_row(const pqxx::row& r) {
  MailboxInfo m;
  m.mailbox_id = r[0].as<int64_t>();
  m.name = r[1].as<std::string>();
  if (!r[2].is_null()) m.special_use = r[2].as<std::string>();
  m.uidvalidity = r[3].as<int64_t>();
  m.uidnext = r[4].as<int64_t>();
  m.highestmodseq = r[5].as<int64_t>();
  return m;
}

constexpr const char* kMailboxColumns = "mailbox_id, name, special_use, uidvalidity, uidnext, highestmodseq";

bool valid_name(const std::string& name) {
  if (name.empty() || name.size() > 1000 || name.front() == '/' || name.back() == '/') return false;
  if (name.find("//") != std::string::npos) return false;
  for (unsigned char c : name)
    if (c < 0x20 || c == 0x7f || c == '*' || c == '%') return false;
  return true;
}

}  // namespace

std::vector<MailboxInfo> list_mailboxes(pqxx::transaction_base& tx, int64_t user_id) {
  std::vector<MailboxInfo> out;
  for (const auto& r : tx.exec_params(std::string("SELECT ") + kMailboxColumns +
                                          " FROM mailstore_mailboxes WHERE user_id = $1 ORDER BY name",
                                      user_id))
    out.push_back(mailbox_from_row(r));
  return out;
}

std::vector<std::string> list_subscriptions(pqxx::transaction_base& tx, int64_t user_id) {
  std::vector<std::string> out;
  for (const auto& r :
       tx.exec_params("SELECT name FROM mailstore_subscriptions WHERE user_id = $1 ORDER BY name", user_id))
    out.push_back(r[0].as<std::string>());
  return out;
}

std::optional<MailboxInfo> find_mailbox(pqxx::transaction_base& tx, int64_t user_id, const std::string& name) {
  auto r = tx.exec_params(std::string("SELECT ") + kMailboxColumns +
                              " FROM mailstore_mailboxes WHERE user_id = $1 AND name = $2",
                          user_id, normalize_mailbox_name(name));
  if (r.empty()) return std::nullopt;
  return mailbox_from_row(r[0]);
}

std::optional<MailboxStatus> mailbox_status(pqxx::transaction_base& tx, int64_t user_id, const std::string& name) {
  auto info = find_mailbox(tx, user_id, name);
  if (!info) return std::nullopt;
  MailboxStatus st;
  st.info = *info;
  auto r = tx.exec_params(
      "SELECT count(*), count(*) FILTER (WHERE NOT ('\\Seen' = ANY(flags))), "
      " count(*) FILTER (WHERE '\\Deleted' = ANY(flags)), COALESCE(sum(size), 0) "
      "FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2",
      user_id, info->mailbox_id);
  st.messages = r[0][0].as<int64_t>();
  st.unseen = r[0][1].as<int64_t>();
  st.deleted = r[0][2].as<int64_t>();
  st.size = r[0][3].as<int64_t>();
  return st;
}

std::vector<MessageState> message_states(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                         int64_t since_modseq) {
  std::vector<MessageState> out;
  auto rows = tx.exec_params(
      "SELECT uid, array_to_string(flags, ' '), modseq FROM mailstore_messages "
      "WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3 ORDER BY uid",
      user_id, mailbox_id, since_modseq);
  out.reserve(rows.size());
  for (const auto& r : rows)
    out.push_back({r[0].as<int64_t>(), split_flags(r[1].as<std::string>()), r[2].as<int64_t>()});
  return out;
}

std::vector<int64_t> expunged_since(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                    int64_t since_modseq) {
  // One statement, so the horizon and the rows come from one snapshot even in
  // a READ COMMITTED transaction (a prune committing in between cannot make
  // rows disappear without the horizon moving with them).
  std::vector<int64_t> out;
  for (const auto& r : tx.exec_params(
           "WITH mb AS (SELECT expunged_pruned_modseq AS horizon, uidnext FROM mailstore_mailboxes "
           "            WHERE user_id = $1 AND mailbox_id = $2) "
           "SELECT e.uid FROM mailstore_expunged e, mb "
           " WHERE e.user_id = $1 AND e.mailbox_id = $2 AND e.modseq > $3 AND $3 >= mb.horizon "
           "UNION ALL "
           "SELECT g.uid FROM mb, generate_series(1::bigint, mb.uidnext - 1) AS g(uid) "
           " WHERE $3 < mb.horizon AND NOT EXISTS (SELECT 1 FROM mailstore_messages m "
           "   WHERE m.user_id = $1 AND m.mailbox_id = $2 AND m.uid = g.uid) "
           "ORDER BY 1",
           user_id, mailbox_id, since_modseq))
    out.push_back(r[0].as<int64_t>());
  return out;
}

int64_t pruned_horizon(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id) {
  auto r = tx.exec_params(
      "SELECT expunged_pruned_modseq FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2", user_id,
      mailbox_id);
  return r.empty() ? 0 : r[0][0].as<int64_t>();
}

PruneResult prune_expunged(pqxx::connection& conn, std::chrono::seconds max_age, int64_t batch) {
  // Any constant shared by every imapd; "pstl" + 1.
  constexpr int64_t kPruneLockKey = 0x7073746c0001;
  PruneResult res;
  pqxx::work tx(conn);
  if (!tx.exec_params("SELECT pg_try_advisory_xact_lock($1)", kPruneLockKey)[0][0].as<bool>()) {
    res.locked = false;
    return res;
  }
  const std::string age = std::to_string(max_age.count()) + " seconds";
  // One mailbox per transaction: its row is locked first (FOR UPDATE), in the
  // same order writers (EXPUNGE, MOVE) lock it before touching expunged rows,
  // and never two mailbox rows at once, so pruning cannot deadlock with them.
  auto pick = tx.exec_params(
      "SELECT user_id, mailbox_id FROM mailstore_expunged WHERE expunged_at < now() - $1::interval LIMIT 1", age);
  if (pick.empty()) return res;
  const int64_t user_id = pick[0][0].as<int64_t>(), mailbox_id = pick[0][1].as<int64_t>();
  tx.exec_params("SELECT 1 FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2 FOR UPDATE", user_id,
                 mailbox_id);
  auto done = tx.exec_params(
      "WITH gone AS (DELETE FROM mailstore_expunged WHERE (user_id, mailbox_id, uid) IN ("
      "   SELECT user_id, mailbox_id, uid FROM mailstore_expunged "
      "    WHERE user_id = $1 AND mailbox_id = $2 AND expunged_at < now() - $3::interval LIMIT $4) "
      "  RETURNING modseq), "
      " horizon AS (UPDATE mailstore_mailboxes SET expunged_pruned_modseq = "
      "   GREATEST(expunged_pruned_modseq, (SELECT max(modseq) FROM gone)) "
      "   WHERE user_id = $1 AND mailbox_id = $2 AND EXISTS (SELECT 1 FROM gone) RETURNING 1) "
      "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM horizon)",
      user_id, mailbox_id, age, batch);
  tx.commit();
  res.deleted = done[0][0].as<int64_t>();
  // More may remain in this mailbox or in others; the caller stops at a call
  // that finds nothing old enough.
  res.more = true;
  return res;
}

std::vector<MessageRecord> fetch_records(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                         const std::vector<int64_t>& uids) {
  std::vector<MessageRecord> out;
  auto rows = tx.exec_params(
      "SELECT uid, array_to_string(flags, ' '), modseq, extract(epoch FROM internaldate)::bigint, "
      " extract(epoch FROM savedate)::bigint, size, header_size, blob_sha256, preview, email_id, meta_version, "
      " structure "
      "FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[]) ORDER BY uid",
      user_id, mailbox_id, int_array(uids));
  out.reserve(rows.size());
  auto opt = [](const pqxx::field& f) -> std::optional<std::string> {
    if (f.is_null()) return std::nullopt;
    return f.as<std::string>();
  };
  for (const auto& r : rows) {
    MessageRecord m;
    m.uid = r[0].as<int64_t>();
    m.flags = split_flags(r[1].as<std::string>());
    m.modseq = r[2].as<int64_t>();
    m.internaldate = r[3].as<int64_t>();
    m.savedate = r[4].as<int64_t>();
    m.size = r[5].as<int64_t>();
    m.header_size = r[6].as<int64_t>();
    m.blob_key = pqxx::binarystring(r[7]).str();
    m.preview = opt(r[8]);
    m.email_id = r[9].as<std::string>();
    m.meta_version = r[10].as<int>();
    if (!r[11].is_null()) m.structure = pqxx::binarystring(r[11]).str();
    out.push_back(std::move(m));
  }
  return out;
}

std::optional<std::string> read_body(pqxx::transaction_base& tx, const std::string& blob_key) {
  return default_blob_store().get(tx, blob_key);
}

std::optional<std::string> read_body_range(pqxx::transaction_base& tx, const std::string& blob_key,
                                           uint64_t offset, uint64_t length) {
  return default_blob_store().get_range(tx, blob_key, offset, length);
}

FlagUpdate store_flags(pqxx::connection& conn, int64_t user_id, int64_t mailbox_id,
                       const std::vector<int64_t>& uids, FlagMode mode, const std::vector<std::string>& flags,
                       std::optional<int64_t> unchanged_since) {
  FlagUpdate result;
  if (uids.empty()) return result;
  pqxx::work tx(conn);
  // Lock the mailbox first: MODSEQs must be assigned in commit order per mailbox.
  auto mb = tx.exec_params(
      "SELECT highestmodseq FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2 FOR UPDATE", user_id,
      mailbox_id);
  if (mb.empty()) return result;
  const int64_t modseq = mb[0][0].as<int64_t>() + 1;
  const std::string list = join_flags(flags);
  std::string expr;
  switch (mode) {
    case FlagMode::kReplace: expr = "string_to_array($4, ' ')"; break;
    case FlagMode::kAdd:
      expr = "ARRAY(SELECT DISTINCT f FROM unnest(flags || string_to_array($4, ' ')) f ORDER BY f)";
      break;
    case FlagMode::kRemove:
      expr = "ARRAY(SELECT f FROM unnest(flags) f WHERE f <> ALL(string_to_array($4, ' ')) ORDER BY f)";
      break;
  }
  if (unchanged_since) {
    for (const auto& r : tx.exec_params(
             "SELECT uid FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2 "
             "AND uid = ANY($3::bigint[]) AND modseq > $4 ORDER BY uid",
             user_id, mailbox_id, int_array(uids), *unchanged_since))
      result.modified.push_back(r[0].as<int64_t>());
  }
  auto rows = tx.exec_params(
      "WITH target AS (SELECT uid, " + expr + " AS nf FROM mailstore_messages "
      "  WHERE user_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[]) AND modseq <= $6) "
      "UPDATE mailstore_messages m SET flags = t.nf, modseq = $5 FROM target t "
      "WHERE m.user_id = $1 AND m.mailbox_id = $2 AND m.uid = t.uid "
      "  AND m.flags IS DISTINCT FROM t.nf "
      "RETURNING m.uid, array_to_string(m.flags, ' ')",
      user_id, mailbox_id, int_array(uids), list, modseq, unchanged_since.value_or(INT64_MAX));
  for (const auto& r : rows) result.changed.push_back({r[0].as<int64_t>(), split_flags(r[1].as<std::string>()), modseq});
  std::sort(result.changed.begin(), result.changed.end(),
            [](const MessageState& a, const MessageState& b) { return a.uid < b.uid; });
  if (!result.changed.empty()) {
    tx.exec_params("UPDATE mailstore_mailboxes SET highestmodseq = $3 WHERE user_id = $1 AND mailbox_id = $2",
                   user_id, mailbox_id, modseq);
    notify_change(tx, user_id, mailbox_id, modseq);
  }
  tx.commit();
  return result;
}

namespace {

std::vector<int64_t> expunge_in(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                const std::optional<std::vector<int64_t>>& uids, bool only_deleted) {
  auto mb = tx.exec_params(
      "SELECT highestmodseq FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2 FOR UPDATE", user_id,
      mailbox_id);
  if (mb.empty()) return {};
  const int64_t modseq = mb[0][0].as<int64_t>() + 1;
  std::string sql =
      "DELETE FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2 "
      "AND ($3::bigint[] IS NULL OR uid = ANY($3::bigint[])) AND (NOT $4 OR '\\Deleted' = ANY(flags)) RETURNING uid";
  auto rows = tx.exec_params(sql, user_id, mailbox_id, uids ? int_array(*uids).c_str() : nullptr, only_deleted);
  std::vector<int64_t> out;
  for (const auto& r : rows) out.push_back(r[0].as<int64_t>());
  std::sort(out.begin(), out.end());
  if (!out.empty()) {
    tx.exec_params(
        "INSERT INTO mailstore_expunged (user_id, mailbox_id, uid, modseq) "
        "SELECT $1, $2, u, $4 FROM unnest($3::bigint[]) u ON CONFLICT DO NOTHING",
        user_id, mailbox_id, int_array(out), modseq);
    tx.exec_params("UPDATE mailstore_mailboxes SET highestmodseq = $3 WHERE user_id = $1 AND mailbox_id = $2",
                   user_id, mailbox_id, modseq);
    notify_change(tx, user_id, mailbox_id, modseq);
  }
  return out;
}

CopyResult copy_in(pqxx::transaction_base& tx, int64_t user_id, int64_t source_mailbox_id,
                   const std::vector<int64_t>& uids, int64_t dest_mailbox_id) {
  CopyResult res;
  for (const auto& r : tx.exec_params(
           "SELECT uid FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[]) "
           "ORDER BY uid",
           user_id, source_mailbox_id, int_array(uids)))
    res.source_uids.push_back(r[0].as<int64_t>());
  auto alloc = allocate_by_id(tx, user_id, dest_mailbox_id, static_cast<int64_t>(res.source_uids.size()));
  if (!alloc) {
    res.error = StoreError::kNoSuchMailbox;
    return res;
  }
  res.uidvalidity = alloc->uidvalidity;
  if (res.source_uids.empty()) return res;
  tx.exec_params(
      "INSERT INTO mailstore_messages (user_id, mailbox_id, uid, blob_sha256, size, internaldate, savedate, modseq, "
      " flags, meta_version, header_size, preview, email_id, structure, sent_date) "
      "SELECT user_id, $4, $5 + row_number() OVER (ORDER BY uid) - 1, blob_sha256, size, internaldate, now(), $6, "
      " flags, meta_version, header_size, preview, email_id, structure, sent_date FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2 AND uid = ANY($3::bigint[])",
      user_id, source_mailbox_id, int_array(res.source_uids), dest_mailbox_id, alloc->first_uid, alloc->modseq);
  for (size_t i = 0; i < res.source_uids.size(); ++i) res.dest_uids.push_back(alloc->first_uid + static_cast<int64_t>(i));
  notify_change(tx, user_id, dest_mailbox_id, alloc->modseq);
  return res;
}

}  // namespace

std::vector<int64_t> expunge(pqxx::connection& conn, int64_t user_id, int64_t mailbox_id,
                             const std::optional<std::vector<int64_t>>& uids) {
  pqxx::work tx(conn);
  auto out = expunge_in(tx, user_id, mailbox_id, uids, true);
  tx.commit();
  return out;
}

Usage usage(pqxx::transaction_base& tx, int64_t user_id) {
  // Totals kept per mailbox by triggers (migration 006): a few rows, not every message.
  auto r = tx.exec_params(
      "SELECT COALESCE(sum(total_bytes), 0)::bigint, COALESCE(sum(total_messages), 0)::bigint "
      "FROM mailstore_mailboxes WHERE user_id = $1",
      user_id);
  return {r[0][0].as<int64_t>(), r[0][1].as<int64_t>()};
}

AppendResult append(pqxx::connection& conn, int64_t user_id, const std::string& mailbox_name,
                    std::string_view message, const std::vector<std::string>& flags,
                    std::optional<int64_t> internaldate, const Quota& quota) {
  AppendResult res;
  const std::string body = canonicalize_line_endings(message);
  const internal::PreparedMessage prepared = internal::prepare_message(body);  // before any lock
  pqxx::work tx(conn);
  // A soft limit: two concurrent APPENDs may both pass; the next one fails.
  if (quota.bytes > 0 || quota.messages > 0) {
    const Usage used = usage(tx, user_id);
    if ((quota.bytes > 0 && used.bytes + static_cast<int64_t>(body.size()) > quota.bytes) ||
        (quota.messages > 0 && used.messages + 1 > quota.messages)) {
      res.error = StoreError::kOverQuota;
      return res;
    }
  }
  internal::store_blob(tx, prepared, body);  // before the mailbox row lock (rolled back on error)
  auto alloc = allocate(tx, user_id, normalize_mailbox_name(mailbox_name), 1);
  if (!alloc) {
    res.error = StoreError::kNoSuchMailbox;
    return res;
  }
  std::vector<std::string> stored;
  for (const auto& f : flags)
    if (canonical_flag(f) != "\\Recent") stored.push_back(f);
  internal::insert_prepared(tx, user_id, alloc->mailbox_id, alloc->first_uid, alloc->modseq, prepared, stored,
                            internaldate);
  notify_change(tx, user_id, alloc->mailbox_id, alloc->modseq);
  tx.commit();
  res.mailbox_id = alloc->mailbox_id;
  res.uidvalidity = alloc->uidvalidity;
  res.uid = alloc->first_uid;
  return res;
}

CopyResult copy_messages(pqxx::connection& conn, int64_t user_id, int64_t source_mailbox_id,
                         const std::vector<int64_t>& uids, const std::string& dest_name, bool move,
                         const Quota& quota) {
  pqxx::work tx(conn);
  if ((quota.bytes > 0 || quota.messages > 0) && !move) {  // MOVE changes neither total
    auto added = tx.exec_params(
        "SELECT COALESCE(sum(size), 0), count(*) FROM mailstore_messages WHERE user_id = $1 AND mailbox_id = $2 "
        "AND uid = ANY($3::bigint[])",
        user_id, source_mailbox_id, int_array(uids));
    const int64_t added_bytes = added[0][0].as<int64_t>(), added_messages = added[0][1].as<int64_t>();
    const Usage used = usage(tx, user_id);
    if ((quota.bytes > 0 && used.bytes + added_bytes > quota.bytes) ||
        (quota.messages > 0 && added_messages > 0 && used.messages + added_messages > quota.messages)) {
      CopyResult r;
      r.error = StoreError::kOverQuota;
      return r;
    }
  }
  auto dest = find_mailbox(tx, user_id, dest_name);
  if (!dest) {
    CopyResult r;
    r.error = StoreError::kNoSuchMailbox;
    return r;
  }
  auto res = copy_in(tx, user_id, source_mailbox_id, uids, dest->mailbox_id);
  if (res.error == StoreError::kNone && move && !res.source_uids.empty())
    expunge_in(tx, user_id, source_mailbox_id, res.source_uids, false);
  tx.commit();
  return res;
}

StoreError create_mailbox(pqxx::connection& conn, int64_t user_id, const std::string& raw_name) {
  std::string name = normalize_mailbox_name(raw_name);
  while (!name.empty() && name.back() == '/') name.pop_back();  // "foo/" creates "foo" (RFC 9051 6.3.4)
  if (!valid_name(name)) return StoreError::kInvalidName;
  pqxx::work tx(conn);
  ensure_account(tx, user_id);
  if (find_mailbox(tx, user_id, name)) return StoreError::kAlreadyExists;
  // Create missing superiors too, so the hierarchy never has holes.
  for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1))
    create_mailbox_if_missing(tx, user_id, name.substr(0, slash));
  int64_t id = create_mailbox_if_missing(tx, user_id, name);
  notify_event(tx, ChangeEvent{user_id, id, 1, ChangeKind::kCreated, name});
  tx.commit();
  return StoreError::kNone;
}

StoreError delete_mailbox(pqxx::connection& conn, int64_t user_id, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  if (name == "INBOX") return StoreError::kInboxProtected;
  pqxx::work tx(conn);
  auto mb = find_mailbox(tx, user_id, name);
  if (!mb) return StoreError::kNoSuchMailbox;
  auto children = tx.exec_params(
      "SELECT 1 FROM mailstore_mailboxes WHERE user_id = $1 AND left(name, length($2) + 1) = $2 || '/' LIMIT 1",
      user_id, name);
  if (!children.empty()) return StoreError::kHasChildren;
  tx.exec_params("DELETE FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2", user_id, mb->mailbox_id);
  notify_event(tx, ChangeEvent{user_id, mb->mailbox_id, mb->highestmodseq + 1, ChangeKind::kDeleted, name});
  tx.commit();
  return StoreError::kNone;
}

StoreError rename_mailbox(pqxx::connection& conn, int64_t user_id, const std::string& raw_from,
                          const std::string& raw_to) {
  const std::string from = normalize_mailbox_name(raw_from);
  std::string to = normalize_mailbox_name(raw_to);
  while (!to.empty() && to.back() == '/') to.pop_back();
  if (!valid_name(to)) return StoreError::kInvalidName;
  pqxx::work tx(conn);
  auto src = find_mailbox(tx, user_id, from);
  if (!src) return StoreError::kNoSuchMailbox;
  if (find_mailbox(tx, user_id, to)) return StoreError::kAlreadyExists;
  if (to.size() > from.size() && to.compare(0, from.size() + 1, from + "/") == 0) return StoreError::kInvalidName;
  for (size_t slash = to.find('/'); slash != std::string::npos; slash = to.find('/', slash + 1))
    create_mailbox_if_missing(tx, user_id, to.substr(0, slash));
  if (from == "INBOX") {
    // RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and
    // leaves INBOX empty; INBOX's children are not renamed.
    int64_t dest = create_mailbox_if_missing(tx, user_id, to);
    notify_event(tx, ChangeEvent{user_id, dest, 1, ChangeKind::kCreated, to});
    std::vector<int64_t> all;
    for (const auto& m : message_states(tx, user_id, src->mailbox_id)) all.push_back(m.uid);
    copy_in(tx, user_id, src->mailbox_id, all, dest);
    expunge_in(tx, user_id, src->mailbox_id, all, false);
  } else {
    // The mailbox and its inferiors keep their ids and UIDVALIDITY; only names change.
    auto renamed = tx.exec_params(
        "UPDATE mailstore_mailboxes SET name = $3 || substr(name, length($2) + 1) "
        "WHERE user_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/') "
        "RETURNING mailbox_id, name, highestmodseq",
        user_id, from, to);
    tx.exec_params(
        "UPDATE mailstore_subscriptions SET name = $3 || substr(name, length($2) + 1) "
        "WHERE user_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/') "
        "AND NOT EXISTS (SELECT 1 FROM mailstore_subscriptions s WHERE s.user_id = $1 "
        "  AND s.name = $3 || substr(mailstore_subscriptions.name, length($2) + 1))",
        user_id, from, to);
    // One event per renamed mailbox (inferiors too) so NOTIFY clients can
    // show every new name.
    for (const auto& r : renamed) {
      std::string new_name = r[1].as<std::string>();
      notify_event(tx, ChangeEvent{user_id, r[0].as<int64_t>(), r[2].as<int64_t>(), ChangeKind::kRenamed, new_name,
                                   from + new_name.substr(to.size())});
    }
  }
  tx.commit();
  return StoreError::kNone;
}

void set_subscribed(pqxx::connection& conn, int64_t user_id, const std::string& raw_name, bool subscribed) {
  const std::string name = normalize_mailbox_name(raw_name);
  pqxx::work tx(conn);
  if (subscribed)
    tx.exec_params("INSERT INTO mailstore_subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                   user_id, name);
  else
    tx.exec_params("DELETE FROM mailstore_subscriptions WHERE user_id = $1 AND name = $2", user_id, name);
  auto mb = find_mailbox(tx, user_id, name);
  notify_event(tx, ChangeEvent{user_id, mb ? mb->mailbox_id : 0, mb ? mb->highestmodseq : 0,
                               subscribed ? ChangeKind::kSubscribed : ChangeKind::kUnsubscribed, name});
  tx.commit();
}

}  // namespace postline::mailstore
