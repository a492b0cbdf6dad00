#include "common/mailstore/pg/pg_mail_store.h"

#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/mailstore/sql/migrations.h"
#include "common/mailstore/accounts.h"
#include "common/mailstore/message_meta.h"
#include "common/mailstore/pg/change_feed.h"
#include "common/mailstore/pg/index_cache.h"
#include "common/mailstore/pg/search_sql.h"
#include "common/mailstore/threading.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <climits>
#include <map>
#include <set>
#include <unordered_map>

namespace postline::mailstore::pg {

namespace {

using db::pq::Connection;
using db::pq::Params;
using db::pq::Result;
using db::pq::Statement;

// ---- the SQL (the mailstore owns these tables; nothing else writes them) ----

#define MS_MAILBOX_COLUMNS "mailbox_id, name, special_use, uidvalidity, uidnext, highestmodseq"

const Statement kEnsureAccount{"ms_ensure_account", "SELECT mailstore_ensure_account($1, $2, $3)"};
const Statement kMailboxes{"ms_mailboxes", "SELECT " MS_MAILBOX_COLUMNS
                                           " FROM mailstore_mailboxes WHERE user_id = $1 ORDER BY name COLLATE \"C\""};
const Statement kSubscriptions{
    "ms_subscriptions", "SELECT name FROM mailstore_subscriptions WHERE user_id = $1 ORDER BY name COLLATE \"C\""};
const Statement kMailboxByName{
    "ms_mailbox_by_name", "SELECT " MS_MAILBOX_COLUMNS " FROM mailstore_mailboxes WHERE user_id = $1 AND name = $2"};
const Statement kMailboxById{
    "ms_mailbox_by_id", "SELECT " MS_MAILBOX_COLUMNS " FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2"};
// Unseen and deleted counts use partial indexes (migration 008).
const Statement kStatus{
    "ms_status",
    "SELECT b.mailbox_id, b.name, b.special_use, b.uidvalidity, b.uidnext, b.highestmodseq, b.total_messages, "
    " b.total_bytes, "
    " (SELECT count(*) FROM mailstore_messages m WHERE m.user_id = b.user_id AND m.mailbox_id = b.mailbox_id "
    "   AND (m.sysflags & 1) = 0), "
    " (SELECT count(*) FROM mailstore_messages m WHERE m.user_id = b.user_id AND m.mailbox_id = b.mailbox_id "
    "   AND (m.sysflags & 8) <> 0), "
    // \Recent: a primary-key range scan over the (few) unclaimed UIDs.
    " (SELECT count(*) FROM mailstore_messages m WHERE m.user_id = b.user_id AND m.mailbox_id = b.mailbox_id "
    "   AND m.uid >= COALESCE((SELECT r.first_recent_uid FROM mailstore_recent r "
    "                          WHERE r.user_id = b.user_id AND r.mailbox_id = b.mailbox_id), 1)) "
    "FROM mailstore_mailboxes b WHERE b.user_id = $1 AND b.name = ANY($2) ORDER BY b.name COLLATE \"C\""};
const Statement kClaimRecent{"ms_claim_recent", "SELECT mailstore_claim_recent($1, $2, $3)"};
const Statement kFirstRecent{"ms_first_recent",
                             "SELECT COALESCE((SELECT first_recent_uid FROM mailstore_recent "
                             "                 WHERE user_id = $1 AND mailbox_id = $2), 1)"};
const Statement kUsage{"ms_usage", "SELECT bytes, messages FROM mailstore_usage($1)"};
// recalculate_usage: the user's mailbox rows locked in id order (the order
// COPY/MOVE lock two in, so no deadlock), then, in a statement whose snapshot
// is taken after every writer that held them has committed, the totals set to
// what the messages add up to where they differ.
const Statement kLockUserMailboxes{"ms_lock_user_mailboxes",
                                   "SELECT mailbox_id FROM mailstore_mailboxes WHERE user_id = $1 "
                                   "ORDER BY mailbox_id FOR UPDATE"};
const Statement kRecountTotals{
    "ms_recount_totals",
    "WITH actual AS ("
    "  SELECT b.mailbox_id, COALESCE(s.bytes, 0)::bigint AS bytes, COALESCE(s.n, 0)::bigint AS n"
    "    FROM mailstore_mailboxes b"
    "    LEFT JOIN (SELECT mailbox_id, sum(size) AS bytes, count(*) AS n FROM mailstore_messages"
    "                WHERE user_id = $1 GROUP BY mailbox_id) s ON s.mailbox_id = b.mailbox_id"
    "   WHERE b.user_id = $1) "
    "UPDATE mailstore_mailboxes b SET total_bytes = a.bytes, total_messages = a.n FROM actual a "
    " WHERE b.user_id = $1 AND b.mailbox_id = a.mailbox_id"
    "   AND (b.total_bytes <> a.bytes OR b.total_messages <> a.n) "
    "RETURNING b.mailbox_id"};
// The index columns are in mailstore_messages_index: index-only scans.
const Statement kIndexAll{"ms_index_all",
                          "SELECT uid, modseq, sysflags, keywords FROM mailstore_messages "
                          "WHERE user_id = $1 AND mailbox_id = $2 ORDER BY uid"};
const Statement kChangedSince{"ms_changed_since",
                              "SELECT uid, modseq, sysflags, keywords FROM mailstore_messages "
                              "WHERE user_id = $1 AND mailbox_id = $2 AND modseq > $3 ORDER BY uid"};
// One statement, so the pruning horizon and the rows come from one snapshot.
const Statement kExpungedSince{
    "ms_expunged_since",
    "WITH mb AS (SELECT expunged_pruned_modseq AS horizon, uidnext FROM mailstore_mailboxes "
    "            WHERE user_id = $1 AND mailbox_id = $2) "
    "SELECT e.uid FROM mailstore_expunged e, mb "
    " WHERE e.user_id = $1 AND e.mailbox_id = $2 AND e.modseq > $3 AND $3 >= mb.horizon "
    "UNION ALL "
    // The series is empty unless history was pruned below $3: a filter after
    // it would still generate and probe every UID of the mailbox.
    "SELECT g.uid FROM mb, generate_series(1::bigint, CASE WHEN $3 < mb.horizon THEN mb.uidnext - 1 ELSE 0 END) "
    "  AS g(uid) "
    " WHERE NOT EXISTS (SELECT 1 FROM mailstore_messages m "
    "   WHERE m.user_id = $1 AND m.mailbox_id = $2 AND m.uid = g.uid) "
    "ORDER BY 1"};
// Only the primary key's user_id prefix narrows this (an index on (mailbox_id,
// uid) would cost every delivery its HOT update, 010_delivery_keys.sql).
const Statement kDeliveryKeys{"ms_delivery_keys",
                              "SELECT uid, delivery_key FROM mailstore_deliveries "
                              "WHERE user_id = $1 AND mailbox_id = $2 AND uid = ANY($3) ORDER BY uid"};
const Statement kBodies{"ms_bodies", "SELECT sha256, data FROM mailstore_blobs WHERE sha256 = ANY($1)"};
const Statement kRanges{
    "ms_ranges",
    "SELECT r.ord, substring(b.data FROM (r.off + 1)::integer FOR r.len::integer) "
    "FROM unnest($1::bytea[], $2::int8[], $3::int8[]) WITH ORDINALITY AS r(key, off, len, ord) "
    "JOIN mailstore_blobs b ON b.sha256 = r.key"};
// External blobs (sql/016_external_blobs.sql). Byte ranges with what a
// caller needs to read an external body's range itself (NULL data: external).
const Statement kRangesExternal{
    "ms_ranges_external",
    "SELECT r.ord, CASE WHEN b.data IS NOT NULL THEN substring(b.data FROM (r.off + 1)::integer FOR r.len::integer) "
    " END, b.data IS NULL, b.size "
    "FROM unnest($1::bytea[], $2::int8[], $3::int8[]) WITH ORDINALITY AS r(key, off, len, ord) "
    "JOIN mailstore_blobs b ON b.sha256 = r.key"};
// A writer's intents: taken under a shared advisory lock per body (the
// sweeper deletes an object only under the exclusive one), in a statement
// after the locks, so its EXISTS sees every sweep that finished before.
const Statement kLockBlobsShared{
    "ms_lock_blobs_shared",
    "SELECT count(pg_advisory_xact_lock_shared(k)) FROM (SELECT DISTINCT unnest($1::int8[]) AS k ORDER BY 1) s"};
const Statement kAddIntents{"ms_add_intents",
                            "WITH i AS (INSERT INTO mailstore_blob_intents (sha256) SELECT unnest($1::bytea[]) "
                            "  RETURNING intent_id, sha256) "
                            "SELECT i.intent_id, i.sha256, EXISTS (SELECT 1 FROM mailstore_blobs b WHERE b.sha256 = i.sha256) "
                            "FROM i"};
const Statement kFinishIntents{"ms_finish_intents", "SELECT mailstore_finish_blob_intents($1::int8[], $2::bytea[])"};
const Statement kAbandonIntents{"ms_abandon_intents",
                                "UPDATE mailstore_blob_intents SET created_at = '-infinity' WHERE intent_id = ANY($1)"};
// The sweeper.
const Statement kSweepTryLock{"ms_sweep_try_lock", "SELECT pg_try_advisory_lock($1)"};
const Statement kSweepUnlock{"ms_sweep_unlock", "SELECT pg_advisory_unlock($1)"};
const Statement kLockBlob{"ms_lock_blob", "SELECT pg_advisory_xact_lock($1)"};
const Statement kExpiredIntents{"ms_expired_intents",
                                "SELECT intent_id, sha256 FROM mailstore_blob_intents "
                                "WHERE created_at < now() - make_interval(secs => $1::bigint) ORDER BY created_at LIMIT $2"};
const Statement kDropIntent{"ms_drop_intent", "DELETE FROM mailstore_blob_intents WHERE intent_id = $1 RETURNING 1"};
const Statement kBlobNamed{"ms_blob_named",
                           "SELECT EXISTS (SELECT 1 FROM mailstore_blobs WHERE sha256 = $1) "
                           "    OR EXISTS (SELECT 1 FROM mailstore_blob_intents WHERE sha256 = $1)"};
const Statement kExternalPage{"ms_external_page",
                              "SELECT sha256 FROM mailstore_blobs WHERE data IS NULL AND sha256 > $1 "
                              "ORDER BY sha256 LIMIT $2"};
// Marks unreferenced rows and unmarks referenced ones among a page; returns
// whether each changed row is marked now.
const Statement kMarkPage{
    "ms_mark_page",
    "UPDATE mailstore_blobs b SET gc_marked_at = CASE WHEN b.gc_marked_at IS NULL THEN now() END "
    "WHERE b.sha256 = ANY($1) AND b.data IS NULL "
    "  AND (b.gc_marked_at IS NOT NULL) = EXISTS (SELECT 1 FROM mailstore_messages m WHERE m.blob_sha256 = b.sha256) "
    "RETURNING b.gc_marked_at IS NOT NULL"};
const Statement kMarkedCandidates{"ms_marked_candidates",
                                  "SELECT sha256 FROM mailstore_blobs WHERE gc_marked_at IS NOT NULL "
                                  "AND gc_marked_at < now() - make_interval(secs => $1::bigint) AND data IS NULL "
                                  "ORDER BY gc_marked_at LIMIT $2"};
const Statement kCheckCollectable{
    "ms_check_collectable",
    "SELECT 1 FROM mailstore_blobs b WHERE b.sha256 = $1 AND b.data IS NULL AND b.gc_marked_at IS NOT NULL "
    "  AND b.gc_marked_at < now() - make_interval(secs => $2::bigint) "
    "  AND NOT EXISTS (SELECT 1 FROM mailstore_messages m WHERE m.blob_sha256 = b.sha256) "
    "  AND NOT EXISTS (SELECT 1 FROM mailstore_blob_intents i WHERE i.sha256 = b.sha256) "
    "FOR UPDATE"};
// A collected row's dependants, the row, and an intent (already expired) that
// makes its object the next step's business - also after a crash here.
const Statement kCollectBlob{
    "ms_collect_blob",
    "WITH bl AS (DELETE FROM mailstore_search_backlog WHERE sha256 = $1), "
    " se AS (DELETE FROM mailstore_search WHERE sha256 = $1), "
    " so AS (DELETE FROM mailstore_sort_keys WHERE sha256 = $1) "
    "SELECT 1"};
const Statement kDeleteBlobRow{"ms_delete_blob_row", "DELETE FROM mailstore_blobs WHERE sha256 = $1"};
const Statement kDeletionIntent{"ms_deletion_intent",
                                "INSERT INTO mailstore_blob_intents (sha256, created_at) VALUES ($1, '-infinity') "
                                "RETURNING intent_id"};
const Statement kHighestModseqs{
    "ms_highest_modseqs",
    "SELECT b.user_id, b.mailbox_id, b.highestmodseq FROM mailstore_mailboxes b "
    "JOIN unnest($1::int8[], $2::int8[]) AS w(u, m) ON b.user_id = w.u AND b.mailbox_id = w.m"};
const Statement kPing{"ms_ping", "SELECT 1"};
const Statement kBlobNamespace{"ms_blob_namespace", "SELECT namespace FROM mailstore_blob_namespace"};

const Statement kStoreFlags{"ms_store_flags",
                            "SELECT uid, sysflags, keywords, modseq, modified "
                            "FROM mailstore_store_flags($1, $2, $3, $4, $5, $6, $7, $8)"};
const Statement kExpunge{"ms_expunge", "SELECT uid, modseq FROM mailstore_expunge($1, $2, $3, $4, $5)"};
// REPLACE's two mailboxes (the source by id, the destination by name), locked
// in id order before either is written.
const Statement kLockTwoMailboxes{"ms_lock_two_mailboxes",
                                  "SELECT mailbox_id FROM mailstore_mailboxes WHERE user_id = $1 "
                                  "AND (mailbox_id = $2 OR name = $3) ORDER BY mailbox_id FOR UPDATE"};
// A new body goes on the search backlog in the same statement; a body that
// was already stored is indexed or listed already.
const Statement kPutBlob{"ms_put_blob",
                         "WITH b AS (INSERT INTO mailstore_blobs (sha256, size, data) VALUES ($1, $2, $3) "
                         "ON CONFLICT (sha256) DO NOTHING RETURNING sha256) "
                         "INSERT INTO mailstore_search_backlog (sha256) SELECT sha256 FROM b"};
// The search backlog (sql/014_search_backlog.sql). The indexer skips what
// another holds; a SEARCH waits for its mailbox's rows instead (an indexer
// never waits, so the two cannot deadlock; two SEARCHes lock in key order).
const Statement kClaimBacklog{"ms_claim_backlog",
                              "SELECT b.sha256, bl.size FROM mailstore_search_backlog b "
                              "JOIN mailstore_blobs bl ON bl.sha256 = b.sha256 "
                              "ORDER BY b.queued_at LIMIT $1 FOR UPDATE OF b SKIP LOCKED"};
const Statement kClaimMailboxBacklog{"ms_claim_mailbox_backlog",
                                     "SELECT b.sha256, bl.size FROM mailstore_search_backlog b "
                                     "JOIN mailstore_messages m ON m.blob_sha256 = b.sha256 "
                                     "JOIN mailstore_blobs bl ON bl.sha256 = b.sha256 "
                                     "WHERE m.user_id = $1 AND m.mailbox_id = $2 "
                                     "ORDER BY b.sha256 FOR UPDATE OF b"};
const Statement kPutSearchBatch{"ms_put_search_batch",
                                "INSERT INTO mailstore_search (sha256, search_text, search_words) "
                                "SELECT * FROM unnest($1::bytea[], $2::text[], $3::text[]) "
                                "ON CONFLICT (sha256) DO NOTHING"};
const Statement kBacklogDone{"ms_backlog_done", "DELETE FROM mailstore_search_backlog WHERE sha256 = ANY($1)"};
const Statement kBacklogSize{"ms_backlog_size", "SELECT count(*) FROM mailstore_search_backlog"};
const Statement kPutSortKeys{
    "ms_put_sort_keys",
    "INSERT INTO mailstore_sort_keys (sha256, base_subject, reply_or_forward, from_mailbox, to_mailbox, cc_mailbox, "
    " display_from, display_to, sent_at, message_id, thread_refs) "
    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9::bigint, $10, $11::text[]) ON CONFLICT (sha256) DO NOTHING"};
const Statement kAppend{"ms_append",
                        "SELECT mailbox_id, uidvalidity, uid, modseq FROM mailstore_append("
                        "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16)"};
const Statement kDeliver{"ms_deliver",
                         "SELECT item, status, mailbox_id, uid, modseq FROM mailstore_deliver("
                         "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)"};
const Statement kCopy{"ms_copy",
                      "SELECT src_uid, dest_uid, uidvalidity, dest_id, dest_modseq, src_modseq "
                      "FROM mailstore_copy($1, $2, $3, $4, $5, $6, $7)"};
const Statement kCreateIfMissing{"ms_create_if_missing",
                                 "INSERT INTO mailstore_mailboxes (user_id, name, special_use) VALUES ($1, $2, $3) "
                                 "ON CONFLICT (user_id, name) DO NOTHING RETURNING mailbox_id"};
const Statement kHasChildren{"ms_has_children",
                             "SELECT 1 FROM mailstore_mailboxes WHERE user_id = $1 "
                             "AND left(name, length($2) + 1) = $2 || '/' LIMIT 1"};
const Statement kDeleteMailbox{"ms_delete_mailbox",
                               "DELETE FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2"};
const Statement kRenameMailboxes{"ms_rename_mailboxes",
                                 "UPDATE mailstore_mailboxes SET name = $3 || substr(name, length($2) + 1) "
                                 "WHERE user_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/') "
                                 "RETURNING mailbox_id, name, highestmodseq"};
// An inferior whose new name is taken (a delivery creates "a/b" without "a").
const Statement kRenameCollision{"ms_rename_collision",
                                 "SELECT 1 FROM mailstore_mailboxes s JOIN mailstore_mailboxes t "
                                 "ON t.user_id = s.user_id AND t.name = $3 || substr(s.name, length($2) + 1) "
                                 "WHERE s.user_id = $1 AND left(s.name, length($2) + 1) = $2 || '/' LIMIT 1"};
const Statement kRenameSubscriptions{
    "ms_rename_subscriptions",
    "UPDATE mailstore_subscriptions SET name = $3 || substr(name, length($2) + 1) "
    "WHERE user_id = $1 AND (name = $2 OR left(name, length($2) + 1) = $2 || '/') "
    "AND NOT EXISTS (SELECT 1 FROM mailstore_subscriptions s WHERE s.user_id = $1 "
    "  AND s.name = $3 || substr(mailstore_subscriptions.name, length($2) + 1))"};
const Statement kSubscribe{"ms_subscribe",
                           "INSERT INTO mailstore_subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING"};
const Statement kUnsubscribe{"ms_unsubscribe", "DELETE FROM mailstore_subscriptions WHERE user_id = $1 AND name = $2"};
const Statement kPruneLock{"ms_prune_lock", "SELECT pg_try_advisory_xact_lock($1)"};
const Statement kPrunePick{"ms_prune_pick",
                           "SELECT user_id, mailbox_id FROM mailstore_expunged "
                           "WHERE expunged_at < now() - make_interval(secs => $1::bigint) LIMIT 1"};
const Statement kLockMailbox{"ms_lock_mailbox",
                             "SELECT 1 FROM mailstore_mailboxes WHERE user_id = $1 AND mailbox_id = $2 FOR UPDATE"};
const Statement kPruneBatch{
    "ms_prune_batch",
    "WITH gone AS (DELETE FROM mailstore_expunged WHERE (user_id, mailbox_id, uid) IN ("
    "   SELECT user_id, mailbox_id, uid FROM mailstore_expunged "
    "    WHERE user_id = $1 AND mailbox_id = $2 AND expunged_at < now() - make_interval(secs => $3::bigint) LIMIT $4) "
    "  RETURNING modseq), "
    " horizon AS (UPDATE mailstore_mailboxes SET expunged_pruned_modseq = "
    "   GREATEST(expunged_pruned_modseq, (SELECT max(modseq) FROM gone)) "
    "   WHERE user_id = $1 AND mailbox_id = $2 AND EXISTS (SELECT 1 FROM gone) RETURNING 1) "
    "SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM horizon)"};

// METADATA (RFC 5464, 013_metadata.sql). $4: 0, 1 or 2 (DEPTH 0, 1,
// infinity); a value longer than $5 comes back as NULL with its length, so
// the caller can report LONGENTRIES without receiving it. At most
// kMaxMetadataEntries rows per mailbox: a scan of the (user, mailbox) prefix.
const Statement kGetMetadata{
    "ms_get_metadata",
    "SELECT m.entry, octet_length(m.value), CASE WHEN octet_length(m.value) <= $5 THEN m.value END "
    "FROM mailstore_metadata m WHERE m.user_id = $1 AND m.mailbox_id = $2 AND EXISTS ("
    "  SELECT 1 FROM unnest($3::text[]) AS q(e) WHERE m.entry = q.e OR ($4 > 0 "
    "    AND left(m.entry, length(q.e) + 1) = q.e || '/' "
    "    AND ($4 = 2 OR strpos(substr(m.entry, length(q.e) + 2), '/') = 0))) "
    "ORDER BY m.entry COLLATE \"C\""};
// URLAUTH access keys (015_urlauth_keys.sql). kUrlauthKey: the mailbox's key,
// inserting $3 first when $4 and it has none; the outer SELECT sees the table
// as it was before the insert, so the key is the old one or the inserted one
// (both NULL only when a concurrent insert won: read it again). Column 2 says
// whether the mailbox exists.
const Statement kUrlauthKey{
    "ms_urlauth_key",
    "WITH mb AS (SELECT b.mailbox_id FROM mailstore_mailboxes b WHERE b.user_id = $1 AND b.name = $2), "
    " ins AS (INSERT INTO mailstore_urlauth_keys (user_id, mailbox_id, access_key) "
    "   SELECT $1, mb.mailbox_id, $3 FROM mb WHERE $4 ON CONFLICT DO NOTHING RETURNING access_key) "
    "SELECT coalesce((SELECT k.access_key FROM mailstore_urlauth_keys k, mb "
    "                  WHERE k.user_id = $1 AND k.mailbox_id = mb.mailbox_id), (SELECT access_key FROM ins)), "
    "       EXISTS (SELECT 1 FROM mb)"};
// Column 0: whether the mailbox exists ('' = all of the user's: always).
const Statement kResetUrlauthKeys{
    "ms_reset_urlauth_keys",
    "WITH mb AS (SELECT b.mailbox_id FROM mailstore_mailboxes b WHERE b.user_id = $1 AND b.name = $2), "
    " del AS (DELETE FROM mailstore_urlauth_keys k WHERE k.user_id = $1 "
    "   AND ($2 = '' OR k.mailbox_id IN (SELECT mailbox_id FROM mb)) RETURNING 1) "
    "SELECT $2 = '' OR EXISTS (SELECT 1 FROM mb), (SELECT count(*) FROM del)"};
const Statement kSetMetadata{"ms_set_metadata", "SELECT mailstore_set_metadata($1, $2, $3, $4, $5, $6)"};

constexpr size_t kMaxEnsured = 1'000'000;
constexpr const char* kReadSnapshot = "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY";

// ---- row decoding ----

MailboxInfo mailbox_from(const Result& r, int row) {
  MailboxInfo m;
  m.mailbox_id = r.i64(row, 0);
  m.name = r.text(row, 1);
  if (!r.null(row, 2)) m.special_use = r.text(row, 2);
  m.uidvalidity = r.i64(row, 3);
  m.uidnext = r.i64(row, 4);
  m.highestmodseq = r.i64(row, 5);
  return m;
}

// (uid, modseq, sysflags, keywords) rows.
std::vector<MessageChange> changes_from(const Result& r) {
  std::vector<MessageChange> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({static_cast<Uid>(r.i64(i, 0)),
                   Flags{static_cast<uint8_t>(r.i64(i, 2)), r.text_array(i, 3)},
                   r.i64(i, 1)});
  return out;
}

std::vector<Uid> uids_from(const Result& r) {
  std::vector<Uid> out;
  out.reserve(r.rows());
  for (int i = 0; i < r.rows(); ++i) out.push_back(static_cast<Uid>(r.i64(i, 0)));
  return out;
}

Params& keywords_param(Params& p, const std::vector<std::string>& k) { return k.empty() ? p.null() : p.text_array(k); }

// The columns read_messages selects for a field set, in a fixed order.
struct RecordShape {
  std::string range_sql, list_sql;
  int flags = -1, internaldate = -1, savedate = -1, size = -1, blob = -1, structure = -1, header = -1,
      preview = -1, email_id = -1;
};

RecordShape record_shape(unsigned fields) {
  RecordShape s;
  std::string cols = "m.uid, m.modseq";
  int next = 2;
  auto add = [&](unsigned bit, const char* col, int& index, int width = 1) {
    if (!(fields & bit)) return;
    cols += ", ";
    cols += col;
    index = next;
    next += width;
  };
  add(kFieldFlags, "m.sysflags, m.keywords", s.flags, 2);
  add(kFieldInternalDate, "m.internaldate", s.internaldate);
  add(kFieldSaveDate, "m.savedate", s.savedate);
  add(kFieldSize, "m.size, m.header_size", s.size, 2);
  add(kFieldBlob, "m.blob_sha256", s.blob);
  add(kFieldStructure, "m.structure", s.structure);
  add(kFieldHeader, "m.header", s.header);
  add(kFieldPreview, "m.preview", s.preview);
  add(kFieldEmailId, "m.email_id", s.email_id);
  // Two shapes: a UID range (what FETCH 1:* and most sets are: an index range
  // scan, the few rows in it that were not asked for are dropped by the
  // caller), and a list joined row by row for sparse sets. `uid = ANY($3)`
  // would be a linear search per row: quadratic for a big FETCH.
  s.range_sql = "SELECT " + cols +
                " FROM mailstore_messages m WHERE m.user_id = $1 AND m.mailbox_id = $2 AND m.uid BETWEEN $3 AND $4 "
                "ORDER BY m.uid";
  s.list_sql = "SELECT " + cols +
               " FROM unnest($3::int8[]) AS u(uid) JOIN mailstore_messages m "
               "ON m.user_id = $1 AND m.mailbox_id = $2 AND m.uid = u.uid ORDER BY m.uid";
  return s;
}

std::optional<StoreError> store_error(const db::pq::Error& e) {
  if (e.sqlstate() == "PL001") return StoreError::kNoSuchMailbox;
  if (e.sqlstate() == "PL002") return StoreError::kOverQuota;
  return std::nullopt;
}

std::vector<std::string> default_names() {
  std::vector<std::string> out;
  for (const auto& d : default_mailboxes()) out.emplace_back(d.name);
  return out;
}
std::vector<std::string> default_specials() {
  std::vector<std::string> out;
  for (const auto& d : default_mailboxes()) out.emplace_back(d.special_use ? d.special_use : "");
  return out;
}

// The message columns of a batch, one array each, in the order
// mailstore_append / mailstore_deliver take them (008_engine.sql: no NULL
// elements; "none" is an empty value or kNoNumber).
constexpr int64_t kNoNumber = INT64_MIN;
void message_arrays(Params& p, const std::vector<PreparedMessage>& batch) {
  std::vector<std::string> shas, previews, email_ids, structures, headers;
  std::vector<int64_t> sizes, header_sizes, sent_days;
  for (const auto& m : batch) {
    shas.push_back(m.key);
    sizes.push_back(static_cast<int64_t>(m.meta.size));
    header_sizes.push_back(static_cast<int64_t>(m.meta.header_size));
    previews.push_back(m.meta.preview);
    email_ids.push_back(m.email_id);
    structures.push_back(m.meta.structure);
    sent_days.push_back(m.meta.sent_day.value_or(kNoNumber));
    headers.push_back(m.header.value_or(""));
  }
  p.bytea_array(shas).i64_array(sizes).i64_array(header_sizes).text_array(previews).text_array(email_ids);
  p.bytea_array(structures).i64_array(sent_days).bytea_array(headers);
}

Params sort_key_params(const std::string& sha, const SortKeys& k) {
  Params p;
  p.bytea(sha).text(k.subject).boolean(k.reply_or_forward).text(k.from).text(k.to).text(k.cc);
  p.text(k.display_from).text(k.display_to).opt_i64(k.sent).text(k.message_id).text_array(k.references);
  return p;
}

// Statements add_blob() adds per message: the body (and its place on the
// search backlog), its sort keys.
constexpr size_t kBlobStatements = 2;
void add_blob(Connection::Pipeline& pipe, const PreparedMessage& m, bool external = false) {
  Params p;
  p.bytea(m.key).i64(static_cast<int64_t>(m.body.size()));
  if (external) p.null();  // the catalogue row: the bytes are in the blob store
  else p.bytea(m.body);
  pipe.add(kPutBlob, std::move(p));
  pipe.add(kPutSortKeys, sort_key_params(m.key, m.meta.sort));
}

// With an external blob store, the statement after the bodies' rows that
// finishes the writer's intents (mailstore_finish_blob_intents: PL003 when
// the sweeper expired one). Returns the statements added (0 or 1).
size_t add_finish_intents(Connection::Pipeline& pipe, const std::vector<int64_t>& intents,
                          const std::vector<PreparedMessage>& prepared, bool external) {
  if (!external) return 0;
  std::vector<std::string> keys;
  for (const auto& m : prepared) keys.push_back(m.key);
  pipe.add(kFinishIntents, Params().i64_array(intents).bytea_array(keys));
  return 1;
}

// The advisory lock key of a body: its hash's first eight bytes (a collision
// only makes two bodies share a lock).

// kBodies for `keys`, with the bodies whose data is NULL (external) read
// from the blob store: (key, bytes) views into what the result owns.
struct FetchedBodies {
  Result rows;
  std::vector<std::optional<std::string>> external;
  std::vector<std::pair<std::string_view, std::optional<std::string_view>>> items;
};
std::shared_ptr<FetchedBodies> fetch_bodies(Connection& c, BlobStore* blobs, const std::vector<std::string>& keys) {
  auto out = std::make_shared<FetchedBodies>();
  out->rows = c.exec(kBodies, Params().bytea_array(keys));
  const Result& r = out->rows;
  std::vector<std::string> missing;
  std::vector<int> missing_rows;
  for (int i = 0; i < r.rows(); ++i) {
    if (r.null(i, 1) && blobs) {
      missing.emplace_back(r.bytes(i, 0));
      missing_rows.push_back(i);
    }
  }
  if (!missing.empty()) out->external = blobs->get_many(missing);
  size_t next = 0;
  for (int i = 0; i < r.rows(); ++i) {
    if (next < missing_rows.size() && missing_rows[next] == i) {
      const auto& b = out->external[next++];
      if (!b) spdlog::error("mailstore: body {} is in the catalogue but not in the blob store", hex_of(r.bytes(i, 0)));
      out->items.emplace_back(r.bytes(i, 0), b ? std::optional<std::string_view>(*b) : std::nullopt);
    } else if (!r.null(i, 1)) {
      out->items.emplace_back(r.bytes(i, 0), r.bytes(i, 1));
    }
  }
  return out;
}

// Builds the search rows of the claimed bodies (key, size) inside the open
// transaction and takes them off the backlog. Bodies are read a few MiB at a
// time, so a batch of large messages does not sit in memory at once.
void index_claimed(Connection& c, const Result& claimed, BlobStore* blobs) {
  constexpr int64_t kChunkBytes = 8 << 20;
  std::vector<std::string> done;
  for (int row = 0; row < claimed.rows();) {
    std::vector<std::string> chunk;
    int64_t bytes = 0;
    for (; row < claimed.rows() && (chunk.empty() || bytes + claimed.i64(row, 1) <= kChunkBytes); ++row) {
      chunk.push_back(claimed.text(row, 0));
      bytes += claimed.i64(row, 1);
    }
    std::sort(chunk.begin(), chunk.end());
    chunk.erase(std::unique(chunk.begin(), chunk.end()), chunk.end());
    const auto bodies = fetch_bodies(c, blobs, chunk);
    std::vector<std::string> keys, texts, words;
    for (const auto& [key, bytes] : bodies->items) {
      if (!bytes) continue;
      SearchIndex index = search_index_of(*bytes);
      keys.emplace_back(key);
      texts.push_back(std::move(index.text));
      words.push_back(std::move(index.words));
    }
    if (!keys.empty()) c.exec(kPutSearchBatch, Params().bytea_array(keys).text_array(texts).text_array(words));
    done.insert(done.end(), chunk.begin(), chunk.end());
  }
  if (!done.empty()) c.exec(kBacklogDone, Params().bytea_array(done));
}

// Before a text key runs over a mailbox: its bodies still on the backlog get
// their search rows now, so SEARCH finds every message it can see. Nothing to
// do (one index probe per backlog row) is the common case.
void index_mailbox_backlog(Connection& c, UserId user, MailboxId mailbox, BlobStore* blobs) {
  db::pq::Transaction tx(c);
  c.run("SET LOCAL synchronous_commit = off");
  const Result claimed = c.exec(kClaimMailboxBacklog, Params().i64(user).i64(mailbox));
  if (claimed.rows() == 0) return;  // rolls back: nothing was written
  index_claimed(c, claimed, blobs);
  tx.commit();
}

// Sort keys for bodies stored before migration 012, computed from the blobs
// (once: later SORTs find the rows). A few bodies per round trip bounds the
// memory a mailbox of large old messages takes.
void backfill_sort_keys(Connection& c, std::vector<std::string> blobs, BlobStore* store) {
  std::sort(blobs.begin(), blobs.end());
  blobs.erase(std::unique(blobs.begin(), blobs.end()), blobs.end());
  constexpr size_t kChunk = 16;
  for (size_t i = 0; i < blobs.size(); i += kChunk) {
    std::vector<std::string> chunk(blobs.begin() + static_cast<std::ptrdiff_t>(i),
                                   blobs.begin() + static_cast<std::ptrdiff_t>(std::min(blobs.size(), i + kChunk)));
    const auto bodies = fetch_bodies(c, store, chunk);
    if (bodies->items.empty()) continue;
    Connection::Pipeline pipe(c);
    for (const auto& [key, bytes] : bodies->items)
      if (bytes) pipe.add(kPutSortKeys, sort_key_params(std::string(key), sort_keys_of(*bytes)));
    pipe.run();
  }
}

// Runs a SORT/THREAD key query (column 1: the row has no keys yet, column 2:
// its body key). Bodies without keys get them computed once, then the query
// runs a second and last time; the rows of that run are the answer.
Result query_with_sort_keys(Connection& c, const CompiledSearch& q, BlobStore* blobs) {
  Result r = c.exec_dynamic(q.sql, q.params);
  std::vector<std::string> missing;
  for (int i = 0; i < r.rows(); ++i)
    if (r.boolean(i, 1)) missing.push_back(r.text(i, 2));
  if (missing.empty()) return r;
  backfill_sort_keys(c, std::move(missing), blobs);
  return c.exec_dynamic(q.sql, q.params);
}

}  // namespace

// ---- construction ----

void check_schema(const std::string& url) {
  pqxx::connection conn(url);
  try {
    db::check_schema(conn, sql::migrations());
  } catch (const db::SchemaError& e) {
    throw SchemaMismatch(e.what());
  }
}

int64_t blob_lock_key(std::string_view sha) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8 && i < sha.size(); ++i) v = (v << 8) | static_cast<unsigned char>(sha[i]);
  return static_cast<int64_t>(v);
}

PgMailStore::PgMailStore(PgOptions options)
    : options_(std::move(options)),
      pool_(options_.url, options_.pool_size),
      cache_(std::make_unique<IndexCache>(options_.index_cache_messages)),
      sender_(std::make_unique<NotificationSender>(options_.url)) {}

PgMailStore::~PgMailStore() { stop_change_feed(); }

BlobStore* PgMailStore::blobs() { return blob_store().get(); }

std::shared_ptr<BlobStore> PgMailStore::blob_store() {
  if (!options_.blobs) return nullptr;
  std::lock_guard lock(blobs_mu_);
  if (!blobs_) {
    // This database's object namespace (sql/020_blob_namespaces.sql): read
    // once, on a connection of its own (callers may hold one of the pool's).
    Connection c(options_.url);
    const Result r = c.exec(kBlobNamespace);
    blobs_ = options_.blobs->in_namespace(r.rows() ? r.text(0, 0) : std::string());
  }
  return blobs_;
}

size_t PgMailStore::cached_messages() const { return cache_->messages(); }

PgMailStore::CacheStats PgMailStore::cache_stats() const {
  return {cache_->messages(), cache_->mailboxes(), hits_.load(), deltas_.load(), misses_.load()};
}

void PgMailStore::notify(std::vector<ChangeEvent> events) { sender_->post(std::move(events)); }

bool PgMailStore::ping() {
  try {
    return pool_.with([](Connection& c) { return c.exec(kPing).rows() == 1; }, true);
  } catch (const std::exception&) {
    return false;
  }
}

// ---- accounts and mailboxes ----

void PgMailStore::ensure_account(UserId user) {
  static const std::vector<std::string> names = default_names(), specials = default_specials();
  {
    std::lock_guard lock(ensured_mu_);
    if (ensured_.count(user)) return;
  }
  pool_.with([&](Connection& c) { c.exec(kEnsureAccount, Params().i64(user).text_array(names).text_array(specials)); },
             true);
  // Account rows are never deleted, so "exists" stays true; the set is only
  // bounded (cleared when full), never wrong.
  std::lock_guard lock(ensured_mu_);
  if (ensured_.size() >= kMaxEnsured) ensured_.clear();
  ensured_.insert(user);
}

MailboxList PgMailStore::list(UserId user) {
  return pool_.with(
      [&](Connection& c) {
        auto r = Connection::Pipeline(c)
                     .add(kReadSnapshot)
                     .add(kMailboxes, Params().i64(user))
                     .add(kSubscriptions, Params().i64(user))
                     .add("COMMIT")
                     .run();
        MailboxList out;
        for (int i = 0; i < r[1].rows(); ++i) out.mailboxes.push_back(mailbox_from(r[1], i));
        for (int i = 0; i < r[2].rows(); ++i) out.subscriptions.push_back(r[2].text(i, 0));
        return out;
      },
      true);
}

std::optional<MailboxInfo> PgMailStore::find_mailbox(UserId user, const std::string& name) {
  return pool_.with(
      [&](Connection& c) -> std::optional<MailboxInfo> {
        auto r = c.exec(kMailboxByName, Params().i64(user).text(normalize_mailbox_name(name)));
        if (r.rows() == 0) return std::nullopt;
        return mailbox_from(r, 0);
      },
      true);
}

std::vector<MailboxStatus> PgMailStore::status(UserId user, const std::vector<std::string>& names) {
  std::vector<std::string> normal;
  for (const auto& n : names) normal.push_back(normalize_mailbox_name(n));
  return pool_.with(
      [&](Connection& c) {
        auto r = c.exec(kStatus, Params().i64(user).text_array(normal));
        std::vector<MailboxStatus> out;
        for (int i = 0; i < r.rows(); ++i) {
          MailboxStatus st;
          st.info = mailbox_from(r, i);
          st.messages = r.i64(i, 6);
          st.size = r.i64(i, 7);
          st.unseen = r.i64(i, 8);
          st.deleted = r.i64(i, 9);
          st.recent = r.i64(i, 10);
          out.push_back(std::move(st));
        }
        return out;
      },
      true);
}

Usage PgMailStore::usage(UserId user) {
  return pool_.with(
      [&](Connection& c) {
        auto r = c.exec(kUsage, Params().i64(user));
        return Usage{r.i64(0, 0), r.i64(0, 1)};
      },
      true);
}

PgMailStore::UsageRecount PgMailStore::recalculate_usage(UserId user) {
  return pool_.with([&](Connection& c) {
    db::pq::Transaction tx(c);
    c.exec(kLockUserMailboxes, Params().i64(user));
    UsageRecount out;
    auto before = c.exec(kUsage, Params().i64(user));
    out.before = Usage{before.i64(0, 0), before.i64(0, 1)};
    out.mailboxes_fixed = c.exec(kRecountTotals, Params().i64(user)).rows();
    auto after = c.exec(kUsage, Params().i64(user));
    out.after = Usage{after.i64(0, 0), after.i64(0, 1)};
    tx.commit();
    return out;
  });
}

namespace {
int64_t create_if_missing(Connection& c, UserId user, const std::string& name, const char* special = nullptr) {
  Params p;
  p.i64(user).text(name);
  if (special) p.text(special);
  else p.null();
  auto r = c.exec(kCreateIfMissing, p);
  if (r.rows()) return r.i64(0, 0);
  return c.exec(kMailboxByName, Params().i64(user).text(name)).i64(0, 0);
}
}  // namespace

StoreError PgMailStore::create_mailbox(UserId user, const std::string& raw_name) {
  std::string name = normalize_mailbox_name(raw_name);
  while (!name.empty() && name.back() == '/') name.pop_back();  // "foo/" creates "foo" (RFC 9051 6.3.4)
  if (!valid_mailbox_name(name)) return StoreError::kInvalidName;
  ensure_account(user);
  std::vector<ChangeEvent> events;
  StoreError err = pool_.with([&](Connection& c) {
    db::pq::Transaction tx(c);
    if (c.exec(kMailboxByName, Params().i64(user).text(name)).rows()) return StoreError::kAlreadyExists;
    // Missing superiors are created too, so the hierarchy never has holes.
    for (size_t slash = name.find('/'); slash != std::string::npos; slash = name.find('/', slash + 1)) {
      auto parent = Params().i64(user).text(name.substr(0, slash)).null();
      auto r = c.exec(kCreateIfMissing, parent);
      if (r.rows()) events.emplace_back(user, r.i64(0, 0), 1, ChangeKind::kCreated, name.substr(0, slash));
    }
    const int64_t id = create_if_missing(c, user, name);
    events.emplace_back(user, id, 1, ChangeKind::kCreated, name);
    tx.commit();
    return StoreError::kNone;
  });
  if (err == StoreError::kNone) notify(std::move(events));
  return err;
}

StoreError PgMailStore::delete_mailbox(UserId user, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  if (name == "INBOX") return StoreError::kInboxProtected;
  std::vector<ChangeEvent> events;
  StoreError err = pool_.with([&](Connection& c) {
    db::pq::Transaction tx(c);
    auto mb = c.exec(kMailboxByName, Params().i64(user).text(name));
    if (!mb.rows()) return StoreError::kNoSuchMailbox;
    const MailboxInfo info = mailbox_from(mb, 0);
    if (c.exec(kHasChildren, Params().i64(user).text(name)).rows()) return StoreError::kHasChildren;
    c.exec(kDeleteMailbox, Params().i64(user).i64(info.mailbox_id));
    events.emplace_back(user, info.mailbox_id, info.highestmodseq + 1, ChangeKind::kDeleted, name);
    tx.commit();
    return StoreError::kNone;
  });
  if (err == StoreError::kNone) {
    cache_->forget(user, name);
    notify(std::move(events));
  }
  return err;
}

StoreError PgMailStore::rename_mailbox(UserId user, const std::string& raw_from, const std::string& raw_to) {
  const std::string from = normalize_mailbox_name(raw_from);
  std::string to = normalize_mailbox_name(raw_to);
  while (!to.empty() && to.back() == '/') to.pop_back();
  if (!valid_mailbox_name(to)) return StoreError::kInvalidName;
  std::vector<ChangeEvent> events;
  StoreError err = pool_.with([&](Connection& c) {
    db::pq::Transaction tx(c);
    auto src = c.exec(kMailboxByName, Params().i64(user).text(from));
    if (!src.rows()) return StoreError::kNoSuchMailbox;
    const MailboxInfo info = mailbox_from(src, 0);
    if (c.exec(kMailboxByName, Params().i64(user).text(to)).rows()) return StoreError::kAlreadyExists;
    if (to.size() > from.size() && to.compare(0, from.size() + 1, from + "/") == 0) return StoreError::kInvalidName;
    if (from != "INBOX" && c.exec(kRenameCollision, Params().i64(user).text(from).text(to)).rows())
      return StoreError::kAlreadyExists;
    for (size_t slash = to.find('/'); slash != std::string::npos; slash = to.find('/', slash + 1)) {
      auto r = c.exec(kCreateIfMissing, Params().i64(user).text(to.substr(0, slash)).null());
      if (r.rows()) events.emplace_back(user, r.i64(0, 0), 1, ChangeKind::kCreated, to.substr(0, slash));
    }
    if (from == "INBOX") {
      // RFC 9051 6.3.6: renaming INBOX moves its messages to a new mailbox and
      // leaves INBOX empty; INBOX's children are not renamed.
      const int64_t dest = create_if_missing(c, user, to);
      events.emplace_back(user, dest, 1, ChangeKind::kCreated, to);
      std::vector<int64_t> all;
      auto rows = c.exec(kIndexAll, Params().i64(user).i64(info.mailbox_id));
      for (int i = 0; i < rows.rows(); ++i) all.push_back(rows.i64(i, 0));
      if (!all.empty()) {
        auto moved = c.exec(kCopy, Params().i64(user).i64(info.mailbox_id).i64_array(all).text(to).boolean(true).i64(0).i64(0));
        if (moved.rows() && !moved.null(0, 4)) {
          events.emplace_back(user, dest, moved.i64(0, 4));
          events.emplace_back(user, info.mailbox_id, moved.i64(0, 5));
        }
      }
    } else {
      // The mailbox and its inferiors keep their ids and UIDVALIDITY; only names change.
      auto renamed = c.exec(kRenameMailboxes, Params().i64(user).text(from).text(to));
      c.exec(kRenameSubscriptions, Params().i64(user).text(from).text(to));
      // One event per renamed mailbox (inferiors too) so NOTIFY clients can show every new name.
      for (int i = 0; i < renamed.rows(); ++i) {
        std::string new_name = renamed.text(i, 1);
        events.emplace_back(user, renamed.i64(i, 0), renamed.i64(i, 2), ChangeKind::kRenamed, new_name,
                            from + new_name.substr(to.size()));
      }
    }
    tx.commit();
    return StoreError::kNone;
  });
  if (err == StoreError::kNone) {
    cache_->forget(user, from);
    notify(std::move(events));
  }
  return err;
}

StoreError PgMailStore::subscribe(UserId user, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  std::optional<ChangeEvent> event;
  StoreError err = pool_.with([&](Connection& c) {
    db::pq::Transaction tx(c);
    auto mb = c.exec(kMailboxByName, Params().i64(user).text(name));
    if (!mb.rows()) return StoreError::kNoSuchMailbox;
    c.exec(kSubscribe, Params().i64(user).text(name));
    tx.commit();
    event = ChangeEvent{user, mb.i64(0, 0), mb.i64(0, 5), ChangeKind::kSubscribed, name};
    return StoreError::kNone;
  });
  if (event) notify({*event});
  return err;
}

void PgMailStore::unsubscribe(UserId user, const std::string& raw_name) {
  const std::string name = normalize_mailbox_name(raw_name);
  ChangeEvent event;
  pool_.with([&](Connection& c) {
    db::pq::Transaction tx(c);
    c.exec(kUnsubscribe, Params().i64(user).text(name));
    auto mb = c.exec(kMailboxByName, Params().i64(user).text(name));
    tx.commit();
    event = ChangeEvent{user, mb.rows() ? mb.i64(0, 0) : 0, mb.rows() ? mb.i64(0, 5) : 0, ChangeKind::kUnsubscribed,
                        name};
  });
  notify({event});
}

// ---- the selected mailbox ----

Opened PgMailStore::open_uncached(Connection& c, UserId user, const std::string& name,
                                  std::optional<Modseq> vanished_since) {
  ++misses_;
  Opened out;
  auto first = c.exec(kMailboxByName, Params().i64(user).text(name));
  if (!first.rows()) return out;
  const MailboxId id = first.i64(0, 0);
  Connection::Pipeline pipe(c);
  pipe.add(kReadSnapshot)
      .add(kMailboxById, Params().i64(user).i64(id))
      .add(kIndexAll, Params().i64(user).i64(id));
  if (vanished_since) pipe.add(kExpungedSince, Params().i64(user).i64(id).i64(*vanished_since));
  pipe.add("COMMIT");
  auto r = pipe.run();
  if (!r[1].rows()) return out;  // deleted in between
  auto index = std::make_shared<MailboxIndex>();
  index->info = mailbox_from(r[1], 0);
  const Result& rows = r[2];
  index->entries.reserve(rows.rows());
  for (int i = 0; i < rows.rows(); ++i) {
    IndexEntry e;
    e.uid = static_cast<Uid>(rows.i64(i, 0));
    e.modseq = rows.i64(i, 1);
    e.system = static_cast<uint8_t>(rows.i64(i, 2));
    if (!rows.null(i, 3)) e.keywords = index->keywords.intern(rows.text_array(i, 3));
    index->entries.push_back(e);
  }
  if (vanished_since) out.vanished = uids_from(r[3]);
  cache_->put(user, index);
  out.index = std::move(index);
  return out;
}

Opened PgMailStore::open(UserId user, const std::string& raw_name, std::optional<Modseq> vanished_since) {
  const std::string name = normalize_mailbox_name(raw_name);
  std::shared_ptr<const MailboxIndex> cached = cache_->get(user, name);
  return pool_.with(
      [&](Connection& c) -> Opened {
        if (!cached) return open_uncached(c, user, name, vanished_since);
        const MailboxId id = cached->info.mailbox_id;
        const Modseq since = cached->info.highestmodseq;
        if (!vanished_since) {
          // The common case, a mailbox nobody changed since: one short
          // statement, no transaction. An unchanged HIGHESTMODSEQ (and UIDNEXT,
          // id, UIDVALIDITY) means nothing changed (mail_store.h's invariant).
          auto row = c.exec(kMailboxByName, Params().i64(user).text(name));
          if (!row.rows()) {
            cache_->forget(user, name);
            return Opened{};
          }
          const MailboxInfo now = mailbox_from(row, 0);
          if (now.mailbox_id == id && now.uidvalidity == cached->info.uidvalidity && now.highestmodseq == since &&
              now.uidnext == cached->info.uidnext && now.name == cached->info.name &&
              now.special_use == cached->info.special_use) {
            ++hits_;
            return Opened{std::move(cached), {}};
          }
        }
        // One round trip: the mailbox row and what changed since the cached
        // snapshot, in one snapshot of our own.
        Connection::Pipeline pipe(c);
        pipe.add(kReadSnapshot)
            .add(kMailboxByName, Params().i64(user).text(name))
            .add(kChangedSince, Params().i64(user).i64(id).i64(since))
            .add(kExpungedSince, Params().i64(user).i64(id).i64(since));
        if (vanished_since) pipe.add(kExpungedSince, Params().i64(user).i64(id).i64(*vanished_since));
        pipe.add("COMMIT");
        auto r = pipe.run();
        if (!r[1].rows()) {
          cache_->forget(user, name);
          return Opened{};
        }
        Changes ch;
        ch.exists = true;
        ch.info = mailbox_from(r[1], 0);
        if (ch.info.mailbox_id != id || ch.info.uidvalidity != cached->info.uidvalidity) {
          // A different mailbox under this name now (deleted and created, renamed).
          cache_->forget(user, name);
          return open_uncached(c, user, name, vanished_since);
        }
        Opened out;
        if (vanished_since) out.vanished = uids_from(r[4]);
        if (ch.info.highestmodseq == since && ch.info.uidnext == cached->info.uidnext &&
            ch.info.name == cached->info.name && ch.info.special_use == cached->info.special_use) {
          ++hits_;
          out.index = std::move(cached);  // nothing changed: the cached snapshot as it is
          return out;
        }
        ch.changed = changes_from(r[2]);
        ch.expunged = uids_from(r[3]);
        ++deltas_;
        auto fresh = apply_changes(*cached, ch);
        cache_->put(user, fresh);
        out.index = std::move(fresh);
        return out;
      },
      true);
}

std::optional<Uid> PgMailStore::claim_recent(UserId user, MailboxId mailbox, Uid up_to) {
  return pool_.with([&](Connection& c) -> std::optional<Uid> {
    auto r = c.exec(kClaimRecent, Params().i64(user).i64(mailbox).i64(up_to));
    if (r.rows() == 0 || r.null(0, 0)) return std::nullopt;
    return static_cast<Uid>(r.i64(0, 0));
  });
}

Uid PgMailStore::first_recent_uid(UserId user, MailboxId mailbox) {
  return pool_.with(
      [&](Connection& c) {
        auto r = c.exec(kFirstRecent, Params().i64(user).i64(mailbox));
        return static_cast<Uid>(r.i64(0, 0));
      },
      true);
}

Changes PgMailStore::changes_since(UserId user, MailboxId mailbox, Modseq since) {
  return pool_.with(
      [&](Connection& c) {
        auto r = Connection::Pipeline(c)
                     .add(kReadSnapshot)
                     .add(kMailboxById, Params().i64(user).i64(mailbox))
                     .add(kChangedSince, Params().i64(user).i64(mailbox).i64(since))
                     .add(kExpungedSince, Params().i64(user).i64(mailbox).i64(since))
                     .add("COMMIT")
                     .run();
        Changes ch;
        if (!r[1].rows()) return ch;
        ch.exists = true;
        ch.info = mailbox_from(r[1], 0);
        if (ch.info.highestmodseq <= since) return ch;
        ch.changed = changes_from(r[2]);
        ch.expunged = uids_from(r[3]);
        return ch;
      },
      true);
}

std::vector<Uid> PgMailStore::expunged_since(UserId user, MailboxId mailbox, Modseq since) {
  return pool_.with(
      [&](Connection& c) { return uids_from(c.exec(kExpungedSince, Params().i64(user).i64(mailbox).i64(since))); },
      true);
}

std::vector<std::pair<Uid, std::string>> PgMailStore::delivery_keys(UserId user, MailboxId mailbox,
                                                                    const std::vector<Uid>& uids) {
  if (uids.empty()) return {};
  return pool_.with(
      [&](Connection& c) {
        const Result r = c.exec(kDeliveryKeys, Params().i64(user).i64(mailbox).i64_array(uids));
        std::vector<std::pair<Uid, std::string>> out;
        for (int i = 0; i < r.rows(); ++i) out.emplace_back(static_cast<Uid>(r.i64(i, 0)), r.text(i, 1));
        return out;
      },
      true);
}

std::vector<MessageData> PgMailStore::read_messages(UserId user, MailboxId mailbox, const std::vector<Uid>& uids,
                                                    unsigned fields) {
  if (uids.empty()) return {};
  const RecordShape shape = record_shape(fields);
  return pool_.with(
      [&](Connection& c) {
        // `uids` is ascending: dense enough, read the range.
        const uint64_t span = static_cast<uint64_t>(uids.back()) - uids.front() + 1;
        const bool dense = span <= 2 * uids.size() + 64;
        auto res = std::make_shared<Result>(
            dense ? c.exec_dynamic(shape.range_sql,
                                   Params().i64(user).i64(mailbox).i64(uids.front()).i64(uids.back()))
                  : c.exec_dynamic(shape.list_sql, Params().i64(user).i64(mailbox).i64_array(uids)));
        const Result& r = *res;
        std::vector<MessageData> out;
        out.reserve(r.rows());
        size_t next = 0;  // into uids, for dropping rows of the range nobody asked for
        for (int i = 0; i < r.rows(); ++i) {
          const Uid uid = static_cast<Uid>(r.i64(i, 0));
          while (next < uids.size() && uids[next] < uid) ++next;
          if (next == uids.size() || uids[next] != uid) continue;
          MessageData& m = out.emplace_back();
          m.uid = uid;
          m.modseq = r.i64(i, 1);
          if (shape.flags >= 0)
            m.flags = Flags{static_cast<uint8_t>(r.i64(i, shape.flags)), r.text_array(i, shape.flags + 1)};
          if (shape.internaldate >= 0) m.internaldate = r.unix_seconds(i, shape.internaldate);
          if (shape.savedate >= 0) m.savedate = r.unix_seconds(i, shape.savedate);
          if (shape.size >= 0) {
            m.size = r.i64(i, shape.size);
            m.header_size = r.i64(i, shape.size + 1);
          }
          if (shape.blob >= 0) m.blob = r.text(i, shape.blob);
          if (shape.structure >= 0 && !r.null(i, shape.structure)) m.structure = r.bytes(i, shape.structure);
          if (shape.header >= 0 && !r.null(i, shape.header)) m.header = r.bytes(i, shape.header);
          if (m.structure || m.header) m.owner = res;
          if (shape.preview >= 0 && !r.null(i, shape.preview)) m.preview = r.text(i, shape.preview);
          if (shape.email_id >= 0) m.email_id = r.text(i, shape.email_id);
        }
        return out;
      },
      true);
}

BodySet PgMailStore::read_bodies(UserId, const std::vector<std::string>& blobs) {
  if (blobs.empty()) return {};
  std::vector<std::string> unique;
  {
    std::set<std::string> seen;
    for (const auto& b : blobs)
      if (seen.insert(b).second) unique.push_back(b);
  }
  if (options_.blobs) {
    auto fetched = pool_.with([&](Connection& c) { return fetch_bodies(c, this->blobs(), unique); }, true);
    std::unordered_map<std::string_view, std::optional<std::string_view>> of;
    for (const auto& [key, bytes] : fetched->items) of.emplace(key, bytes);
    std::vector<std::optional<std::string_view>> views(blobs.size());
    for (size_t i = 0; i < blobs.size(); ++i) {
      auto it = of.find(blobs[i]);
      if (it != of.end()) views[i] = it->second;
    }
    return BodySet(std::move(views), std::move(fetched));
  }
  return pool_.with(
      [&](Connection& c) {
        auto r = std::make_shared<Result>(c.exec(kBodies, Params().bytea_array(unique)));
        std::unordered_map<std::string_view, int> row_of;
        for (int i = 0; i < r->rows(); ++i) row_of.emplace(r->bytes(i, 0), i);
        std::vector<std::optional<std::string_view>> views(blobs.size());
        for (size_t i = 0; i < blobs.size(); ++i) {
          auto it = row_of.find(blobs[i]);
          if (it != row_of.end()) views[i] = r->bytes(it->second, 1);
        }
        return BodySet(std::move(views), std::move(r));  // views into the result, no copy
      },
      true);
}

BodySet PgMailStore::read_ranges(UserId, const std::vector<BodyRange>& ranges) {
  if (ranges.empty()) return {};
  std::vector<std::string> keys;
  std::vector<int64_t> offsets, lengths;
  for (const auto& r : ranges) {
    keys.push_back(r.blob);
    offsets.push_back(static_cast<int64_t>(std::min<uint64_t>(r.offset, INT32_MAX - 1)));
    lengths.push_back(static_cast<int64_t>(std::min<uint64_t>(r.length, INT32_MAX)));
  }
  if (options_.blobs) {
    // The catalogue says which bodies are external and how long they are;
    // their ranges, clipped to that, come from the blob store.
    struct Owned {
      Result rows;
      std::vector<std::string> external;
    };
    auto owned = std::make_shared<Owned>();
    owned->rows = pool_.with(
        [&](Connection& c) {
          return c.exec(kRangesExternal, Params().bytea_array(keys).i64_array(offsets).i64_array(lengths));
        },
        true);
    const Result& r = owned->rows;
    std::vector<std::optional<std::string_view>> views(ranges.size());
    std::vector<std::pair<size_t, size_t>> external_at;  // (view, index into owned->external)
    owned->external.reserve(r.rows());
    for (int i = 0; i < r.rows(); ++i) {
      const int64_t ord = r.i64(i, 0);
      if (ord < 1 || static_cast<size_t>(ord) > views.size()) continue;
      const BodyRange& want = ranges[ord - 1];
      if (!r.boolean(i, 2)) {
        views[ord - 1] = r.bytes(i, 1);
        continue;
      }
      const uint64_t size = static_cast<uint64_t>(r.i64(i, 3));
      const uint64_t off = std::min(want.offset, size);
      const uint64_t len = std::min(want.length, size - off);
      std::optional<std::string> bytes = len ? blobs()->get_range(want.blob, off, len) : std::string();
      if (!bytes) {
        spdlog::error("mailstore: body {} is in the catalogue but not in the blob store", hex_of(want.blob));
        continue;
      }
      owned->external.push_back(std::move(*bytes));
      external_at.emplace_back(ord - 1, owned->external.size() - 1);
    }
    for (auto [view, at] : external_at) views[view] = owned->external[at];
    return BodySet(std::move(views), std::move(owned));
  }
  return pool_.with(
      [&](Connection& c) {
        auto r = std::make_shared<Result>(c.exec(kRanges, Params().bytea_array(keys).i64_array(offsets).i64_array(lengths)));
        std::vector<std::optional<std::string_view>> views(ranges.size());
        for (int i = 0; i < r->rows(); ++i) {
          const int64_t ord = r->i64(i, 0);
          if (ord >= 1 && static_cast<size_t>(ord) <= views.size()) views[ord - 1] = r->bytes(i, 1);
        }
        return BodySet(std::move(views), std::move(r));
      },
      true);
}

std::vector<SearchHit> PgMailStore::search(UserId user, MailboxId mailbox, const SearchCriterion& criteria) {
  CompiledSearch q = compile_search(user, mailbox, criteria);
  return pool_.with(
      [&](Connection& c) {
        if (uses_text(criteria)) index_mailbox_backlog(c, user, mailbox, blobs());
        auto r = c.exec_dynamic(q.sql, q.params);
        std::vector<SearchHit> out;
        out.reserve(r.rows());
        for (int i = 0; i < r.rows(); ++i) out.push_back({static_cast<Uid>(r.i64(i, 0)), r.i64(i, 1)});
        return out;
      },
      true);
}

std::vector<Uid> PgMailStore::sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                   const std::vector<SortCriterion>& keys) {
  CompiledSearch q = compile_sort(user, mailbox, criteria, keys);
  return pool_.with(
      [&](Connection& c) {
        if (uses_text(criteria)) index_mailbox_backlog(c, user, mailbox, blobs());
        // Ordered by PostgreSQL (query_with_sort_keys: keys of older bodies first).
        const Result r = query_with_sort_keys(c, q, blobs());
        std::vector<Uid> out;
        out.reserve(r.rows());
        for (int i = 0; i < r.rows(); ++i) out.push_back(static_cast<Uid>(r.i64(i, 0)));
        return out;
      },
      true);
}

std::vector<ThreadNode> PgMailStore::thread(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                            ThreadAlgorithm algorithm) {
  CompiledSearch q = compile_thread_keys(user, mailbox, criteria);
  std::vector<ThreadInput> in = pool_.with(
      [&](Connection& c) {
        if (uses_text(criteria)) index_mailbox_backlog(c, user, mailbox, blobs());
        const Result r = query_with_sort_keys(c, q, blobs());
        std::vector<ThreadInput> rows;
        rows.reserve(r.rows());
        for (int i = 0; i < r.rows(); ++i) {
          ThreadInput t;
          t.uid = static_cast<Uid>(r.i64(i, 0));
          t.sent = r.i64(i, 3);
          if (!r.null(i, 4)) {
            t.subject = r.text(i, 4);
            t.reply_or_forward = r.boolean(i, 5);
            t.message_id = r.text(i, 6);
            t.references = r.text_array(i, 7);
          }
          rows.push_back(std::move(t));
        }
        return rows;
      },
      true);
  // The algorithm itself runs here, on the keys of one query (threading.h).
  return compute_threads(in, algorithm);
}

// ---- writes ----

FlagUpdate PgMailStore::store_flags(UserId user, MailboxId mailbox, const std::vector<Uid>& uids, FlagMode mode,
                                    const Flags& flags, std::optional<Modseq> unchanged_since) {
  FlagUpdate out;
  if (uids.empty()) return out;
  Params p;
  p.i64(user).i64(mailbox).i64_array(uids).i64(mode == FlagMode::kReplace ? 0 : mode == FlagMode::kAdd ? 1 : 2);
  p.i64(flags.system);
  keywords_param(p, flags.keywords);
  p.opt_i64(unchanged_since).boolean(!options_.durable_flag_updates);
  Modseq modseq = 0;
  pool_.with([&](Connection& c) {
    auto r = c.exec(kStoreFlags, p);
    for (int i = 0; i < r.rows(); ++i) {
      const Uid uid = static_cast<Uid>(r.i64(i, 0));
      if (r.boolean(i, 4)) {
        out.modified.push_back(uid);
        continue;
      }
      out.changed.push_back({uid, Flags{static_cast<uint8_t>(r.i64(i, 1)), r.text_array(i, 2)}, r.i64(i, 3)});
      modseq = r.i64(i, 3);
    }
  });
  std::sort(out.changed.begin(), out.changed.end(), [](const auto& a, const auto& b) { return a.uid < b.uid; });
  std::sort(out.modified.begin(), out.modified.end());
  if (!out.changed.empty()) notify({ChangeEvent{user, mailbox, modseq}});
  return out;
}

std::vector<Uid> PgMailStore::expunge(UserId user, MailboxId mailbox, const std::optional<std::vector<Uid>>& only) {
  Params p;
  p.i64(user).i64(mailbox);
  if (only) p.i64_array(*only);
  else p.null();
  p.boolean(true).boolean(!options_.durable_flag_updates);
  Modseq modseq = 0;
  std::vector<Uid> out = pool_.with([&](Connection& c) {
    auto r = c.exec(kExpunge, p);
    if (r.rows()) modseq = r.i64(0, 1);
    return uids_from(r);
  });
  if (!out.empty()) notify({ChangeEvent{user, mailbox, modseq}});
  return out;
}

namespace {
// The APPEND statement's parameters: the mailbox, the quota, one array per
// column of the messages (mailstore_append in sql/008_engine.sql).
Params append_params(UserId user, const std::string& name, const Quota& quota,
                     const std::vector<PreparedMessage>& prepared, const std::vector<AppendItem>& items) {
  Params p;
  p.i64(user).text(name).i64(quota.bytes).i64(quota.messages);
  message_arrays(p, prepared);
  std::vector<int64_t> sysflags, internaldates;
  std::vector<std::string> keywords;
  for (const auto& item : items) {
    sysflags.push_back(item.flags.system);
    std::string k;
    for (const auto& kw : item.flags.keywords) k += (k.empty() ? "" : " ") + kw;
    keywords.push_back(std::move(k));
    internaldates.push_back(item.internaldate.value_or(kNoNumber));
  }
  p.i64_array(sysflags).text_array(keywords).i64_array(internaldates).i64(kMetaVersion);
  return p;
}

void read_append_row(const Result& row, size_t count, AppendResult& out, Modseq& modseq) {
  out.mailbox_id = row.i64(0, 0);
  out.uidvalidity = row.i64(0, 1);
  modseq = row.i64(0, 3);
  out.uids.clear();
  for (size_t i = 0; i < count; ++i) out.uids.push_back(static_cast<Uid>(row.i64(0, 2) + i));
}
}  // namespace

AppendResult PgMailStore::append(UserId user, const std::string& mailbox, const std::vector<AppendItem>& items,
                                 const Quota& quota) {
  AppendResult out;
  if (items.empty()) return out;
  // Parsing and hashing before any lock.
  std::vector<PreparedMessage> prepared;
  prepared.reserve(items.size());
  for (const auto& item : items) prepared.push_back(prepare_message(item.message, item.binary));
  const std::string name = normalize_mailbox_name(mailbox);
  Modseq modseq = 0;
  const bool external = external_blobs();
  const std::vector<int64_t> intents = upload_bodies(prepared);
  try {
    pool_.with([&](Connection& c) {
      // One round trip: bodies first (content-addressed, no lock needed), then
      // the rows, whose UID allocation locks the mailbox until the COMMIT
      // right behind it.
      Connection::Pipeline pipe(c);
      pipe.add("BEGIN");
      for (const auto& m : prepared) add_blob(pipe, m, external);
      const size_t at = 1 + kBlobStatements * prepared.size() + add_finish_intents(pipe, intents, prepared, external);
      pipe.add(kAppend, append_params(user, name, quota, prepared, items));
      pipe.add("COMMIT");
      auto r = pipe.run();
      read_append_row(r[at], prepared.size(), out, modseq);
    });
  } catch (const db::pq::Error& e) {
    abandon_intents(intents);
    if (e.sqlstate() == "PL003") throw BlobUnavailable(std::string("mailstore: ") + e.what() + " (try again)");
    auto err = store_error(e);
    if (!err) throw;
    return AppendResult{*err};
  } catch (...) {
    abandon_intents(intents);
    throw;
  }
  notify({ChangeEvent{user, out.mailbox_id, modseq}});
  return out;
}

ReplaceResult PgMailStore::replace(UserId user, MailboxId source, Uid uid, const std::string& dest,
                                   const AppendItem& item, const Quota& quota) {
  ReplaceResult out;
  const std::vector<AppendItem> items{item};
  const std::vector<PreparedMessage> prepared{prepare_message(item.message, item.binary)};
  const std::string name = normalize_mailbox_name(dest);
  Modseq append_modseq = 0, expunge_modseq = 0;
  const bool external = external_blobs();
  const std::vector<int64_t> intents = upload_bodies(prepared);
  try {
    pool_.with([&](Connection& c) {
      // One transaction: the new message and the expunge of the old one
      // commit together. Both mailbox rows are locked first, in id order (as
      // mailstore_copy does), so two REPLACEs between the same two mailboxes
      // in opposite directions cannot deadlock.
      Connection::Pipeline pipe(c);
      pipe.add("BEGIN");
      for (const auto& m : prepared) add_blob(pipe, m, external);
      const size_t at =
          1 + kBlobStatements * prepared.size() + add_finish_intents(pipe, intents, prepared, external) + 1;
      pipe.add(kLockTwoMailboxes, Params().i64(user).i64(source).text(name));
      pipe.add(kAppend, append_params(user, name, quota, prepared, items));
      pipe.add(kExpunge, Params().i64(user).i64(source).i64_array(std::vector<Uid>{uid}).boolean(false).boolean(false));
      pipe.add("COMMIT");
      auto r = pipe.run();
      read_append_row(r[at], 1, out.appended, append_modseq);
      out.expunged = uids_from(r[at + 1]);
      if (r[at + 1].rows()) expunge_modseq = r[at + 1].i64(0, 1);
    });
  } catch (const db::pq::Error& e) {
    abandon_intents(intents);
    if (e.sqlstate() == "PL003") throw BlobUnavailable(std::string("mailstore: ") + e.what() + " (try again)");
    auto err = store_error(e);
    if (!err) throw;
    ReplaceResult failed;
    failed.error = *err;
    return failed;
  } catch (...) {
    abandon_intents(intents);
    throw;
  }
  std::vector<ChangeEvent> events{ChangeEvent{user, out.appended.mailbox_id, append_modseq}};
  if (!out.expunged.empty()) events.emplace_back(user, source, expunge_modseq);
  notify(std::move(events));
  return out;
}

CopyResult PgMailStore::copy(UserId user, MailboxId source, const std::vector<Uid>& uids, const std::string& dest,
                             bool move, const Quota& quota) {
  CopyResult out;
  std::vector<ChangeEvent> events;
  try {
    pool_.with([&](Connection& c) {
      auto r = c.exec(kCopy, Params()
                                 .i64(user)
                                 .i64(source)
                                 .i64_array(uids)
                                 .text(normalize_mailbox_name(dest))
                                 .boolean(move)
                                 .i64(quota.bytes)
                                 .i64(quota.messages));
      for (int i = 0; i < r.rows(); ++i) {
        out.uidvalidity = r.i64(i, 2);
        out.dest_mailbox_id = r.i64(i, 3);
        if (r.null(i, 0)) continue;  // nothing to copy
        out.source_uids.push_back(static_cast<Uid>(r.i64(i, 0)));
        out.dest_uids.push_back(static_cast<Uid>(r.i64(i, 1)));
      }
      if (!out.source_uids.empty()) {
        events.emplace_back(user, out.dest_mailbox_id, r.i64(0, 4));
        if (move) events.emplace_back(user, source, r.i64(0, 5));
      }
    });
  } catch (const db::pq::Error& e) {
    auto err = store_error(e);
    if (!err) throw;
    CopyResult failed;
    failed.error = *err;
    return failed;
  }
  notify(std::move(events));
  return out;
}

struct PgMailStore::StagedDelivery::Impl {
  PgMailStore* store = nullptr;
  UserId user = 0;
  std::string name;
  const char* special = nullptr;
  Quota quota;
  std::vector<PreparedMessage> prepared;
  std::vector<std::string> keys;
  std::vector<int64_t> intents;  // external blobs: what the caller's transaction finishes
  std::vector<int64_t> sysflags;
  std::vector<std::string> keywords;  // space-separated, sorted (mailstore_insert_batch)
  bool unless_sieve = false;
  std::map<MailboxId, Modseq> touched;
};

PgMailStore::StagedDelivery::StagedDelivery(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}
PgMailStore::StagedDelivery::~StagedDelivery() = default;

std::unique_ptr<PgMailStore::StagedDelivery> PgMailStore::stage_delivery(UserId user, std::string_view mailbox,
                                                                         const std::vector<DeliveryItem>& items,
                                                                         const Quota& quota, bool unless_sieve) {
  auto impl = std::make_unique<StagedDelivery::Impl>();
  impl->unless_sieve = unless_sieve;
  impl->store = this;
  impl->user = user;
  impl->name = normalize_mailbox_name(mailbox.empty() ? "INBOX" : mailbox);
  impl->special = default_special_use(impl->name);
  impl->quota = quota;
  impl->prepared.reserve(items.size());
  for (const auto& item : items) {
    impl->prepared.push_back(prepare_message(item.message));
    impl->keys.emplace_back(item.delivery_key);
    impl->sysflags.push_back(item.flags.system);
    std::string k;
    for (const auto& kw : item.flags.keywords) k += (k.empty() ? "" : " ") + kw;
    impl->keywords.push_back(std::move(k));
  }
  // External blobs: uploaded now, before the caller's transaction; a caller
  // that never commits leaves intents the sweeper resolves.
  impl->intents = upload_bodies(impl->prepared);
  return std::unique_ptr<StagedDelivery>(new StagedDelivery(std::move(impl)));
}

size_t PgMailStore::StagedDelivery::add_to(Connection::Pipeline& pipe) const {
  static const std::vector<std::string> names = default_names(), specials = default_specials();
  const Impl& d = *impl_;
  if (d.prepared.empty()) return 0;
  pipe.add(kEnsureAccount, Params().i64(d.user).text_array(names).text_array(specials));
  // Bodies need no lock; the rows come last, right before the caller's
  // COMMIT, so the mailbox row stays locked only for the inserts and the commit.
  const bool external = d.store->external_blobs();
  for (const auto& m : d.prepared) add_blob(pipe, m, external);
  const size_t finish = add_finish_intents(pipe, d.intents, d.prepared, external);
  Params p;
  p.i64(d.user).text(d.name).text(d.special ? d.special : "").i64(d.quota.bytes).i64(d.quota.messages);
  p.text_array(d.keys);
  message_arrays(p, d.prepared);
  p.i64(kMetaVersion);
  p.i64_array(d.sysflags).text_array(d.keywords).boolean(d.unless_sieve);
  pipe.add(kDeliver, std::move(p));
  return 2 + kBlobStatements * d.prepared.size() + finish;
}

std::vector<DeliveryResult> PgMailStore::StagedDelivery::read(const std::vector<Result>& results, size_t first) {
  Impl& d = *impl_;
  std::vector<DeliveryResult> out(d.prepared.size());
  d.touched.clear();
  if (d.prepared.empty()) return out;
  const Result& rows =
      results.at(first + 1 + kBlobStatements * d.prepared.size() + (d.store->external_blobs() ? 1 : 0));
  for (int row = 0; row < rows.rows(); ++row) {
    const int64_t item = rows.i64(row, 0);
    if (item < 1 || static_cast<size_t>(item) > out.size()) continue;
    DeliveryResult& r = out[item - 1];
    r = DeliveryResult{};
    switch (rows.i64(row, 1)) {
      case 0:
        r.mailbox_id = rows.i64(row, 2);
        r.uid = rows.i64(row, 3);
        d.touched[r.mailbox_id] = std::max(d.touched[r.mailbox_id], rows.i64(row, 4));
        break;
      case 1:
        r.duplicate = true;
        r.mailbox_id = rows.null(row, 2) ? 0 : rows.i64(row, 2);
        r.uid = rows.null(row, 3) ? 0 : rows.i64(row, 3);
        break;
      case 2: r.over_quota = true; break;
      case 3: r.over_quota = r.exceeds_quota = true; break;
      case 4: r.over_quota = r.over_message_quota = true; break;
      case 5: r.sieve = true; break;
    }
  }
  return out;
}

void PgMailStore::StagedDelivery::announce() {
  Impl& d = *impl_;
  std::vector<ChangeEvent> events;
  for (auto [id, modseq] : d.touched) events.emplace_back(d.user, id, modseq);
  d.touched.clear();
  if (!events.empty()) d.store->notify(std::move(events));
}

std::vector<DeliveryResult> PgMailStore::deliver(UserId user, std::string_view mailbox,
                                                 const std::vector<DeliveryItem>& items, const Quota& quota) {
  if (items.empty()) return {};
  auto staged = stage_delivery(user, mailbox, items, quota);
  std::vector<DeliveryResult> results;
  try {
    pool_.with([&](Connection& c) {
      Connection::Pipeline pipe(c);
      pipe.add("BEGIN");
      staged->add_to(pipe);
      pipe.add("COMMIT");
      results = staged->read(pipe.run(), 1);
    });
  } catch (const db::pq::Error& e) {
    abandon_intents(staged->impl_->intents);
    if (e.sqlstate() == "PL003") throw BlobUnavailable(std::string("mailstore: ") + e.what() + " (try again)");
    throw;
  } catch (...) {
    abandon_intents(staged->impl_->intents);
    throw;
  }
  staged->announce();
  return results;
}

// ---- external blobs (sql/016_external_blobs.sql) ----

std::vector<int64_t> PgMailStore::upload_bodies(const std::vector<PreparedMessage>& prepared) {
  if (!options_.blobs || prepared.empty()) return {};
  std::vector<std::string> keys;
  std::vector<int64_t> locks;
  std::unordered_map<std::string_view, const PreparedMessage*> body_of;
  for (const auto& m : prepared) {
    if (!body_of.emplace(m.key, &m).second) continue;
    keys.push_back(m.key);
    locks.push_back(blob_lock_key(m.key));
  }
  std::vector<int64_t> intents;
  std::vector<std::string> upload;
  // Committed (and flushed) before the upload: a crash after it leaves a row
  // the sweeper finds. A body the catalogue has already is not uploaded again.
  pool_.with([&](Connection& c) {
    auto r = Connection::Pipeline(c)
                 .add("BEGIN")
                 .add(kLockBlobsShared, Params().i64_array(locks))
                 .add(kAddIntents, Params().bytea_array(keys))
                 .add("COMMIT")
                 .run();
    for (int i = 0; i < r[2].rows(); ++i) {
      intents.push_back(r[2].i64(i, 0));
      if (!r[2].boolean(i, 2)) upload.push_back(r[2].text(i, 1));
    }
  });
  try {
    for (const auto& key : upload) blobs()->put(key, body_of.at(key)->body);
  } catch (...) {
    abandon_intents(intents);
    throw;
  }
  if (options_.fault_hook) options_.fault_hook("uploaded");
  return intents;
}

void PgMailStore::abandon_intents(const std::vector<int64_t>& intents) noexcept {
  if (intents.empty()) return;
  try {
    pool_.with([&](Connection& c) { c.exec(kAbandonIntents, Params().i64_array(intents)); }, true);
  } catch (const std::exception& e) {
    // They expire by age instead.
    spdlog::warn("mailstore: cannot hand {} upload intents to the sweeper now: {}", intents.size(), e.what());
  }
}

bool PgMailStore::finish_expired_intent(Connection& c, int64_t intent, const std::string& sha) {
  db::pq::Transaction tx(c);
  // The lock first, the checks in later statements: they see every intent
  // and catalogue row committed before the lock was granted, and no writer
  // can add one for this body until the commit below.
  c.exec(kLockBlob, Params().i64(blob_lock_key(sha)));
  if (c.exec(kDropIntent, Params().i64(intent)).rows() == 0) {
    tx.commit();  // its writer committed (or another sweeper was here)
    return false;
  }
  const bool named = c.exec(kBlobNamed, Params().bytea(sha)).boolean(0, 0);
  if (!named) blobs()->remove(sha);  // under the lock; a failure keeps the intent
  tx.commit();
  return !named;
}

PgMailStore::BlobSweep PgMailStore::sweep_blobs(std::chrono::seconds grace, size_t batch) {
  BlobSweep out;
  if (!options_.blobs) return out;
  constexpr int64_t kSweepLockKey = 0x7073746c0002;  // "pstl" + 2
  const int64_t grace_s = grace.count(), limit = static_cast<int64_t>(std::max<size_t>(batch, 1));
  pool_.with([&](Connection& c) {
    if (!c.exec(kSweepTryLock, Params().i64(kSweepLockKey)).boolean(0, 0)) {
      out.locked = false;
      return;
    }
    struct Unlock {
      Connection& c;
      int64_t key;
      ~Unlock() {
        try {
          c.exec(kSweepUnlock, Params().i64(key));
        } catch (...) {
        }
      }
    } unlock{c, kSweepLockKey};
    // 1. Writers that never committed.
    for (;;) {
      const Result expired = c.exec(kExpiredIntents, Params().i64(grace_s).i64(limit));
      for (int i = 0; i < expired.rows(); ++i) {
        ++out.expired_intents;
        if (finish_expired_intent(c, expired.i64(i, 0), expired.text(i, 1))) ++out.objects_deleted;
      }
      if (expired.rows() < limit) break;
    }
    // 2. Mark what no message refers to (and unmark what is referred to again).
    std::string cursor;
    for (;;) {
      const Result page = c.exec(kExternalPage, Params().bytea(cursor).i64(limit));
      if (page.rows() == 0) break;
      std::vector<std::string> keys;
      for (int i = 0; i < page.rows(); ++i) keys.push_back(page.text(i, 0));
      const Result changed = c.exec(kMarkPage, Params().bytea_array(keys));
      for (int i = 0; i < changed.rows(); ++i) ++(changed.boolean(i, 0) ? out.marked : out.unmarked);
      cursor = keys.back();
      if (page.rows() < limit) break;
    }
    // 3. Collect rows unreferenced for the grace period, then their objects.
    const Result candidates = c.exec(kMarkedCandidates, Params().i64(grace_s).i64(limit));
    for (int i = 0; i < candidates.rows(); ++i) {
      const std::string sha = candidates.text(i, 0);
      int64_t intent = 0;
      try {
        db::pq::Transaction tx(c);
        c.exec(kLockBlob, Params().i64(blob_lock_key(sha)));
        if (c.exec(kCheckCollectable, Params().bytea(sha).i64(grace_s)).rows() == 0) continue;  // rolls back
        c.exec(kCollectBlob, Params().bytea(sha));
        c.exec(kDeleteBlobRow, Params().bytea(sha));
        intent = c.exec(kDeletionIntent, Params().bytea(sha)).i64(0, 0);
        tx.commit();
      } catch (const db::pq::Error& e) {
        // 23503: a message refers to it after all (the foreign key is the last word).
        if (e.sqlstate() != "23503") throw;
        continue;
      }
      ++out.collected;
      if (finish_expired_intent(c, intent, sha)) ++out.objects_deleted;
    }
  });
  return out;
}

// ---- the search backlog (sql/014_search_backlog.sql) ----

size_t PgMailStore::index_search_backlog(size_t max_bodies) {
  if (max_bodies == 0) return 0;
  return pool_.with(
      [&](Connection& c) -> size_t {
        db::pq::Transaction tx(c);
        c.run("SET LOCAL synchronous_commit = off");
        const Result claimed = c.exec(kClaimBacklog, Params().i64(static_cast<int64_t>(max_bodies)));
        if (claimed.rows() == 0) return 0;
        index_claimed(c, claimed, blobs());
        tx.commit();
        return static_cast<size_t>(claimed.rows());
      },
      true);
}

int64_t PgMailStore::search_backlog() {
  return pool_.with([&](Connection& c) { return c.exec(kBacklogSize).i64(0, 0); }, true);
}

// ---- METADATA (RFC 5464) ----

MetadataResult PgMailStore::get_metadata(UserId user, const std::string& mailbox,
                                         const std::vector<std::string>& entries, MetadataDepth depth,
                                         std::optional<size_t> maxsize) {
  std::vector<std::string> keys;
  for (const auto& e : entries) keys.push_back(metadata_entry_key(e));
  const int32_t depth_code = depth == MetadataDepth::kZero ? 0 : depth == MetadataDepth::kOne ? 1 : 2;
  const int64_t limit = maxsize ? static_cast<int64_t>(std::min<size_t>(*maxsize, INT64_MAX)) : INT64_MAX;
  return pool_.with(
      [&](Connection& c) {
        MetadataResult out;
        int64_t mailbox_id = 0;
        if (!mailbox.empty()) {
          auto mb = c.exec(kMailboxByName, Params().i64(user).text(normalize_mailbox_name(mailbox)));
          if (!mb.rows()) {
            out.error = MetadataError::kNoSuchMailbox;
            return out;
          }
          mailbox_id = mb.i64(0, 0);
        }
        auto r = c.exec(kGetMetadata, Params().i64(user).i64(mailbox_id).text_array(keys).i32(depth_code).i64(limit));
        for (int i = 0; i < r.rows(); ++i) {
          if (r.null(i, 2)) {
            out.longest_omitted = std::max(out.longest_omitted, static_cast<size_t>(r.i64(i, 1)));
            continue;
          }
          out.entries.push_back(MetadataEntry{r.text(i, 0), std::string(r.bytes(i, 2))});
        }
        return out;
      },
      true);
}

MetadataError PgMailStore::set_metadata(UserId user, const std::string& mailbox,
                                        const std::vector<MetadataUpdate>& raw_updates) {
  std::vector<MetadataUpdate> updates;
  if (auto err = normalize_metadata_updates(raw_updates, updates); err != MetadataError::kNone) return err;
  std::vector<std::string> set_entries, set_values, del_entries;
  for (auto& u : updates) {
    if (u.value) {
      set_entries.push_back(u.entry);
      set_values.push_back(std::move(*u.value));
    } else {
      del_entries.push_back(u.entry);
    }
  }
  const std::string name = mailbox.empty() ? std::string() : normalize_mailbox_name(mailbox);
  const int64_t result = pool_.with([&](Connection& c) {
    auto r = c.exec(kSetMetadata, Params()
                                      .i64(user)
                                      .text(name)
                                      .text_array(set_entries)
                                      .bytea_array(set_values)
                                      .text_array(del_entries)
                                      .i64(static_cast<int64_t>(kMaxMetadataEntries)));
    return r.i64(0, 0);
  });
  if (result == -1) return MetadataError::kNoSuchMailbox;
  if (result < 0) return MetadataError::kTooMany;
  // After the commit, like every other change (NOTIFY MailboxMetadataChange /
  // ServerMetadataChange in imapd): every entry the command named.
  std::vector<std::string> entries = set_entries;
  entries.insert(entries.end(), del_entries.begin(), del_entries.end());
  std::sort(entries.begin(), entries.end());
  notify(metadata_change_events(user, result, name, entries));
  return MetadataError::kNone;
}

// ---- URLAUTH access keys (RFC 4467) ----

std::optional<std::string> PgMailStore::urlauth_key(UserId user, const std::string& mailbox, bool create) {
  const std::string name = normalize_mailbox_name(mailbox);
  const std::string fresh = create ? new_urlauth_key() : std::string(kUrlauthKeyOctets, '\0');
  for (int attempt = 0; attempt < 3; ++attempt) {
    auto key = pool_.with([&](Connection& c) -> std::optional<std::optional<std::string>> {
      auto r = c.exec(kUrlauthKey, Params().i64(user).text(name).bytea(fresh).boolean(create));
      if (!r.boolean(0, 1)) return std::optional<std::string>();  // no such mailbox
      if (r.null(0, 0)) {
        if (!create) return std::optional<std::string>();
        return std::nullopt;  // lost a race with another insert: read it again
      }
      return std::optional<std::string>(std::string(r.bytes(0, 0)));
    });
    if (key) return *key;
  }
  throw std::runtime_error("urlauth_key: no key after three attempts");
}

bool PgMailStore::reset_urlauth_keys(UserId user, const std::string& mailbox) {
  const std::string name = mailbox.empty() ? std::string() : normalize_mailbox_name(mailbox);
  return pool_.with([&](Connection& c) {
    auto r = c.exec(kResetUrlauthKeys, Params().i64(user).text(name));
    return r.boolean(0, 0);
  });
}

PruneResult PgMailStore::prune_expunged(std::chrono::seconds max_age, int64_t batch) {
  // Any constant shared by every imapd; "pstl" + 1.
  constexpr int64_t kPruneLockKey = 0x7073746c0001;
  return pool_.with([&](Connection& c) {
    PruneResult res;
    db::pq::Transaction tx(c);
    if (!c.exec(kPruneLock, Params().i64(kPruneLockKey)).boolean(0, 0)) {
      res.locked = false;
      return res;
    }
    auto pick = c.exec(kPrunePick, Params().i64(max_age.count()));
    if (!pick.rows()) {
      tx.commit();
      return res;
    }
    const int64_t user = pick.i64(0, 0), mailbox = pick.i64(0, 1);
    // One mailbox per transaction, its row locked first in the order writers
    // (EXPUNGE, MOVE) lock it, never two at once: pruning cannot deadlock with them.
    c.exec(kLockMailbox, Params().i64(user).i64(mailbox));
    auto done = c.exec(kPruneBatch, Params().i64(user).i64(mailbox).i64(max_age.count()).i64(batch));
    tx.commit();
    res.deleted = done.i64(0, 0);
    // More may remain in this mailbox or in others; the caller stops at a call
    // that finds nothing old enough.
    res.more = true;
    return res;
  });
}

// ---- change feed ----

void PgMailStore::start_change_feed(ChangeCallback callback) {
  std::lock_guard lock(feed_mu_);
  listener_ = std::make_unique<ChangeListener>(options_.url, std::move(callback));
}

void PgMailStore::stop_change_feed() {
  std::unique_ptr<ChangeListener> l;
  {
    std::lock_guard lock(feed_mu_);
    l = std::move(listener_);
  }
}

std::vector<std::pair<WatchedMailbox, Modseq>> PgMailStore::highest_modseqs(const std::vector<WatchedMailbox>& mb) {
  std::vector<std::pair<WatchedMailbox, Modseq>> out;
  if (mb.empty()) return out;
  std::vector<int64_t> users, boxes;
  for (const auto& w : mb) users.push_back(w.user_id), boxes.push_back(w.mailbox_id);
  return pool_.with(
      [&](Connection& c) {
        auto r = c.exec(kHighestModseqs, Params().i64_array(users).i64_array(boxes));
        for (int i = 0; i < r.rows(); ++i) out.push_back({WatchedMailbox{r.i64(i, 0), r.i64(i, 1)}, r.i64(i, 2)});
        return out;
      },
      true);
}

}  // namespace postline::mailstore::pg
