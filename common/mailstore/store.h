// The IMAP-facing operations on the mailstore. Blocking (libpqxx): imapd runs
// them on its database thread pool. Each mutating call is one transaction that
// bumps the mailbox MODSEQ and NOTIFYs (see accounts.h), so every imapd
// instance learns of the change. Errors a client can cause are values
// (StoreError); database failures throw.
#pragma once

#include <pqxx/pqxx>

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailstore/quota.h"

namespace postline::mailstore {

enum class StoreError {
  kNone,
  kNoSuchMailbox,   // NO [NONEXISTENT] / [TRYCREATE]
  kAlreadyExists,   // NO [ALREADYEXISTS]
  kInvalidName,     // NO [CANNOT]
  kInboxProtected,  // DELETE INBOX: NO [CANNOT]
  kHasChildren,     // DELETE of a parent with \Noselect children semantics: NO [INUSE]
  kOverQuota,       // NO [OVERQUOTA]
};

struct MailboxInfo {
  int64_t mailbox_id = 0;
  std::string name;
  std::optional<std::string> special_use;
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;
  int64_t highestmodseq = 1;
};

struct MailboxStatus {
  MailboxInfo info;
  int64_t messages = 0, unseen = 0, deleted = 0, size = 0;
};

struct MessageState {
  int64_t uid = 0;
  std::vector<std::string> flags;
  int64_t modseq = 0;
};

struct MessageRecord {
  int64_t uid = 0;
  std::vector<std::string> flags;
  int64_t modseq = 0;
  int64_t internaldate = 0;  // unix seconds
  int64_t savedate = 0;
  int64_t size = 0;
  int64_t header_size = 0;
  std::string blob_key;  // raw SHA-256
  std::optional<std::string> preview;
  std::string email_id;
  int meta_version = 0;
  std::optional<std::string> structure;  // mime::serialize_structure, NULL for old rows
};

// System flags in their canonical spelling; keywords unchanged.
std::string canonical_flag(std::string_view flag);

std::vector<MailboxInfo> list_mailboxes(pqxx::transaction_base& tx, int64_t user_id);
std::vector<std::string> list_subscriptions(pqxx::transaction_base& tx, int64_t user_id);
std::optional<MailboxInfo> find_mailbox(pqxx::transaction_base& tx, int64_t user_id, const std::string& name);
std::optional<MailboxStatus> mailbox_status(pqxx::transaction_base& tx, int64_t user_id, const std::string& name);

// Messages of a mailbox with modseq > since (0: all), ordered by UID.
std::vector<MessageState> message_states(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                         int64_t since_modseq = 0);
// UIDs expunged with modseq > since, ordered. When old history was pruned
// (since < the mailbox's pruned horizon, see prune_expunged) the exact answer
// is unknown, so this returns every UID below UIDNEXT that no longer exists:
// a superset, which RFC 7162 3.2.5.2 allows for VANISHED (EARLIER).
std::vector<int64_t> expunged_since(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                    int64_t since_modseq);

std::vector<MessageRecord> fetch_records(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id,
                                         const std::vector<int64_t>& uids);
std::optional<std::string> read_body(pqxx::transaction_base& tx, const std::string& blob_key);
std::optional<std::string> read_body_range(pqxx::transaction_base& tx, const std::string& blob_key,
                                           uint64_t offset, uint64_t length);

enum class FlagMode { kReplace, kAdd, kRemove };
struct FlagUpdate {
  std::vector<MessageState> changed;   // new flags and modseq of rows that changed
  std::vector<int64_t> modified;       // UNCHANGEDSINCE failures (RFC 7162 MODIFIED)
};
FlagUpdate store_flags(pqxx::connection& conn, int64_t user_id, int64_t mailbox_id,
                       const std::vector<int64_t>& uids, FlagMode mode, const std::vector<std::string>& flags,
                       std::optional<int64_t> unchanged_since = std::nullopt);

// Removes messages flagged \Deleted (restricted to `uids` when given); returns
// the expunged UIDs, recorded with their MODSEQ for QRESYNC.
std::vector<int64_t> expunge(pqxx::connection& conn, int64_t user_id, int64_t mailbox_id,
                             const std::optional<std::vector<int64_t>>& uids);

struct AppendResult {
  StoreError error = StoreError::kNone;
  int64_t mailbox_id = 0, uidvalidity = 0, uid = 0;
};
// Refuses (kOverQuota) when the user's stored bytes or message count would
// exceed a limit of `quota` (0 = unlimited). A soft limit: no lock across the
// user's mailboxes, so two concurrent APPENDs may both pass.
AppendResult append(pqxx::connection& conn, int64_t user_id, const std::string& mailbox_name,
                    std::string_view message, const std::vector<std::string>& flags,
                    std::optional<int64_t> internaldate, const Quota& quota = {});

struct CopyResult {
  StoreError error = StoreError::kNone;
  int64_t uidvalidity = 0;                 // of the destination
  std::vector<int64_t> source_uids, dest_uids;  // pairwise, ascending source order
};
// COPY, or MOVE (copy + expunge from the source in the same transaction).
// COPY is refused (kOverQuota) when the copies would exceed a limit; MOVE
// within one user changes neither total and is never refused for quota.
CopyResult copy_messages(pqxx::connection& conn, int64_t user_id, int64_t source_mailbox_id,
                         const std::vector<int64_t>& uids, const std::string& dest_name, bool move,
                         const Quota& quota = {});

// Bytes and messages the user stores in all mailboxes (QUOTA STORAGE/MESSAGE).
struct Usage {
  int64_t bytes = 0, messages = 0;
};
Usage usage(pqxx::transaction_base& tx, int64_t user_id);

// QRESYNC history pruning. Deletes expunged-UID rows older than `max_age`, at
// most `batch` rows of one mailbox per transaction, and raises that mailbox's
// pruned horizon (mailstore_mailboxes.expunged_pruned_modseq) to the highest
// MODSEQ deleted, in the same transaction. Only one process prunes at a time
// (pg_try_advisory_xact_lock); a batch that does not get the lock does nothing
// and says so. Call repeatedly until `more` is false.
struct PruneResult {
  bool locked = true;    // false: another process holds the pruning lock
  int64_t deleted = 0;   // rows deleted by this call
  bool more = false;     // rows old enough may remain (call again)
};
PruneResult prune_expunged(pqxx::connection& conn, std::chrono::seconds max_age, int64_t batch);
// The highest MODSEQ whose expunge history was pruned (0: complete history).
int64_t pruned_horizon(pqxx::transaction_base& tx, int64_t user_id, int64_t mailbox_id);

StoreError create_mailbox(pqxx::connection& conn, int64_t user_id, const std::string& name);
StoreError delete_mailbox(pqxx::connection& conn, int64_t user_id, const std::string& name);
StoreError rename_mailbox(pqxx::connection& conn, int64_t user_id, const std::string& from, const std::string& to);
void set_subscribed(pqxx::connection& conn, int64_t user_id, const std::string& name, bool subscribed);

}  // namespace postline::mailstore
