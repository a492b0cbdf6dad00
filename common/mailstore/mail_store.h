// The mailstore's public interface (Dovecot's lib-storage in spirit): callers
// open a mailbox and get a snapshot of its index, read message metadata and
// bodies, change flags, append, copy, move and expunge, search, and follow a
// change feed ordered by MODSEQ. The store owns its tables, its transactions
// and their isolation; no database type appears here. Two implementations:
//   PgMailStore     (pg/pg_mail_store.h)          PostgreSQL, the product
//   MemoryMailStore (memory/memory_mail_store.h)  in memory, for unit tests
// and one conformance suite (mail_store_conformance.h) that both pass.
//
// Calls are blocking and thread-safe; services run them off their I/O threads
// (imapd: its database thread pool). Errors a client can cause are values
// (StoreError); infrastructure failures throw (db::Unavailable when the
// database cannot be reached, which callers answer as a temporary failure).
//
// Invariant that the whole sync design rests on: per mailbox, MODSEQs become
// visible in order. A writer allocates its MODSEQ (and UIDs) under the
// mailbox row's lock and holds it until commit, so once a reader has seen
// HIGHESTMODSEQ = n, every change with MODSEQ <= n is visible to it. Caches
// and sessions can therefore ask "what changed since n" and never miss one.
#pragma once

#include "common/mailstore/quota.h"

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postline::mailstore {

using UserId = int64_t;
using MailboxId = int64_t;
using Uid = uint32_t;
using Modseq = int64_t;

enum class StoreError {
  kNone,
  kNoSuchMailbox,   // NO [NONEXISTENT] / [TRYCREATE]
  kAlreadyExists,   // NO [ALREADYEXISTS]
  kInvalidName,     // NO [CANNOT]
  kInboxProtected,  // DELETE INBOX: NO [CANNOT]
  kHasChildren,     // DELETE of a mailbox with inferiors: NO [INUSE]
  kOverQuota,       // NO [OVERQUOTA]
};

// ---- flags ------------------------------------------------------------------

// System flags as bits (RFC 9051 2.3.2); \Recent is not stored (it is a
// property of a session, not of a message).
enum SystemFlag : uint8_t {
  kSeen = 1 << 0,
  kAnswered = 1 << 1,
  kFlagged = 1 << 2,
  kDeleted = 1 << 3,
  kDraft = 1 << 4,
};
inline constexpr uint8_t kAllSystemFlags = 0x1f;

struct Flags {
  uint8_t system = 0;
  std::vector<std::string> keywords;  // sorted, distinct, as the client spelled them
  bool operator==(const Flags&) const = default;
  bool has(SystemFlag f) const { return system & f; }
};

// "\Seen" -> kSeen (ASCII case-insensitive); 0 for anything else (a keyword,
// \Recent, an unknown backslash name).
uint8_t system_flag_bit(std::string_view name);
// Flag names in canonical spelling: system flags, then keywords.
std::vector<std::string> flag_names(const Flags& flags);
// From IMAP flag names: system flags to bits, keywords sorted and distinct.
// Unknown backslash names are dropped (callers validate first).
Flags flags_from_names(const std::vector<std::string>& names);

// ---- mailboxes --------------------------------------------------------------

struct MailboxInfo {
  MailboxId mailbox_id = 0;
  std::string name;  // UTF-8, '/' hierarchy, INBOX upper case
  std::optional<std::string> special_use;
  int64_t uidvalidity = 0;
  int64_t uidnext = 1;
  Modseq highestmodseq = 1;
};

struct MailboxStatus {
  MailboxInfo info;
  int64_t messages = 0, unseen = 0, deleted = 0, size = 0;
  int64_t recent = 0;  // messages no session has claimed as \Recent yet
};

struct MailboxList {
  std::vector<MailboxInfo> mailboxes;     // ordered by name
  std::vector<std::string> subscriptions;  // ordered
};

// ---- the index: what a session's view of a mailbox is built from -----------

// Interned keyword combinations of one mailbox: most messages carry none or
// one of a few sets, so an entry stores a small id instead of strings.
class KeywordSets {
 public:
  KeywordSets();
  uint32_t intern(const std::vector<std::string>& sorted_keywords);  // 0 = no keywords
  const std::vector<std::string>& get(uint32_t id) const { return sets_[id]; }
  size_t size() const { return sets_.size(); }
  // Every keyword used by any set (FLAGS / PERMANENTFLAGS), sorted.
  std::vector<std::string> all_keywords() const;

 private:
  std::vector<std::vector<std::string>> sets_;
  std::map<std::vector<std::string>, uint32_t> ids_;
};

struct IndexEntry {
  Uid uid = 0;
  uint32_t keywords = 0;  // KeywordSets id
  Modseq modseq = 0;
  uint8_t system = 0;     // SystemFlag bits
};

// A consistent snapshot of one mailbox: its state and every message's UID,
// flags and MODSEQ in UID order. Immutable once published (shared between
// sessions of one process).
struct MailboxIndex {
  MailboxInfo info;
  std::vector<IndexEntry> entries;
  KeywordSets keywords;

  Flags flags_of(const IndexEntry& e) const { return Flags{e.system, keywords.get(e.keywords)}; }
};

struct MessageChange {
  Uid uid = 0;
  Flags flags;
  Modseq modseq = 0;
};

// What changed in a mailbox after a MODSEQ (one snapshot).
struct Changes {
  bool exists = false;                 // false: the mailbox was deleted (or renamed away)
  MailboxInfo info;                    // current UIDNEXT, HIGHESTMODSEQ ...
  std::vector<MessageChange> changed;  // new or changed messages, ascending UID
  std::vector<Uid> expunged;           // ascending; a superset when history was pruned
};

struct Opened {
  std::shared_ptr<const MailboxIndex> index;  // null: no such mailbox
  std::vector<Uid> vanished;                  // expunged after `vanished_since` (QRESYNC)
};

// ---- message data for FETCH -------------------------------------------------

// Which parts of a message record a read needs (bit set); UID and MODSEQ
// always come along.
enum MessageField : unsigned {
  kFieldFlags = 1u << 0,
  kFieldInternalDate = 1u << 1,
  kFieldSaveDate = 1u << 2,
  kFieldSize = 1u << 3,        // size and header_size
  kFieldBlob = 1u << 4,        // blob key, for body reads
  kFieldStructure = 1u << 5,   // the parsed MIME tree (ENVELOPE, BODYSTRUCTURE, sections)
  kFieldHeader = 1u << 6,      // the cached header section (HEADER, HEADER.FIELDS)
  kFieldPreview = 1u << 7,
  kFieldEmailId = 1u << 8,
};

struct MessageData {
  Uid uid = 0;
  Modseq modseq = 0;
  Flags flags;
  int64_t internaldate = 0, savedate = 0;  // Unix seconds
  int64_t size = 0, header_size = 0;
  std::string blob;                        // body key (raw SHA-256)
  // The two large fields are views into memory `owner` keeps alive (the
  // store's result), not copies: a FETCH of 100,000 headers copies each once.
  std::optional<std::string_view> structure;  // mime::serialize_structure
  // The header section (up to and including the blank line) when it is cached
  // (at most kMaxCachedHeader bytes); nullopt: read it from the body.
  std::optional<std::string_view> header;
  std::shared_ptr<const void> owner;
  std::optional<std::string> preview;
  std::string email_id;
};
inline constexpr size_t kMaxCachedHeader = 64 * 1024;

struct BodyRange {
  std::string blob;
  uint64_t offset = 0, length = 0;
};

// Body bytes read in bulk: positional views into memory the set owns (the
// store's own result buffer), so FETCH copies a body once, into the response.
class BodySet {
 public:
  BodySet() = default;
  BodySet(std::vector<std::optional<std::string_view>> views, std::shared_ptr<const void> owner)
      : views_(std::move(views)), owner_(std::move(owner)) {}
  size_t size() const { return views_.size(); }
  bool empty() const { return views_.empty(); }
  // nullopt: no such body. Valid while this set (or a copy) lives.
  const std::optional<std::string_view>& operator[](size_t i) const { return views_[i]; }
  // What keeps the bytes alive, for callers that hand the views on.
  const std::shared_ptr<const void>& owner() const { return owner_; }

 private:
  std::vector<std::optional<std::string_view>> views_;
  std::shared_ptr<const void> owner_;
};

// ---- search -----------------------------------------------------------------

// SEARCH criteria as the store evaluates them (RFC 9051 6.4.4 semantics).
// Sequence numbers are the caller's business: they arrive here as UID ranges.
struct SearchCriterion {
  enum Kind {
    kAll, kNone, kAnd, kOr, kNot,
    kSystemFlag,                          // number = SystemFlag bit (set)
    kKeyword,                             // text (set)
    kBefore, kOn, kSince,                 // internal date; number = days since 1970-01-01 (UTC)
    kSentBefore, kSentOn, kSentSince,     // Date: header's day
    kSavedBefore, kSavedOn, kSavedSince,  // RFC 8514
    kOlder, kYounger,                     // number = seconds (RFC 5032)
    kLarger, kSmaller,                    // number = bytes
    kHeader,                              // field + text (empty text: field present)
    kBody, kText,                         // text
    kUids,                                // uid_ranges (inclusive)
    kModseq,                              // number: MODSEQ >= number
    kEmailId,                             // text: the message's EMAILID (RFC 8474)
    kThreadId,                            // text: the message's THREADID (RFC 8474, thread_id_of)
  };
  Kind kind = kAll;
  std::string field, text;
  int64_t number = 0;
  std::vector<std::pair<Uid, Uid>> uid_ranges;
  std::vector<SearchCriterion> children;
};

struct SearchHit {
  Uid uid = 0;
  Modseq modseq = 0;
};

// ---- sort and thread (RFC 5256, RFC 5957) -------------------------------------

// SORT keys. The values compared are computed once per distinct body when it
// is stored (message_meta.h SortKeys), so a store sorts without reading
// bodies: SUBJECT the base subject (RFC 5256 2.1, case-folded), FROM/TO/CC
// the local part of the first address (ASCII case-folded), DISPLAYFROM/
// DISPLAYTO (RFC 5957) the decoded display name or else the addr-spec
// (case-folded), DATE the Date: header as UTC (the internal date when it is
// missing or unparsable), ARRIVAL the internal date, SIZE RFC822.SIZE.
// Strings compare bytewise on their folded UTF-8; ties go to the next key,
// and in the end to the UID (the mailbox order, RFC 5256 3).
enum class SortKey { kArrival, kCc, kDate, kFrom, kSize, kSubject, kTo, kDisplayFrom, kDisplayTo };
struct SortCriterion {
  SortKey key = SortKey::kArrival;
  bool reverse = false;
  bool operator==(const SortCriterion&) const = default;
};

enum class ThreadAlgorithm { kOrderedSubject, kReferences };

// One node of a THREAD answer: uid 0 is a dummy (a message that is referred
// to but not in the answer; only at the top level, RFC 5256 REFERENCES step 3).
struct ThreadNode {
  Uid uid = 0;
  std::vector<ThreadNode> children;
  bool operator==(const ThreadNode&) const = default;
};

// ---- writes -------------------------------------------------------------------

enum class FlagMode { kReplace, kAdd, kRemove };

struct FlagUpdate {
  std::vector<MessageChange> changed;  // rows whose flags changed, with their new MODSEQ
  std::vector<Uid> modified;           // UNCHANGEDSINCE failures (RFC 7162 MODIFIED)
};

struct AppendItem {
  std::string_view message;              // as received; line endings are canonicalised unless binary
  Flags flags;
  std::optional<int64_t> internaldate;   // Unix seconds; nullopt = now
  bool binary = false;                   // literal8 (RFC 3516): store the bytes exactly as sent
};

struct AppendResult {
  StoreError error = StoreError::kNone;
  MailboxId mailbox_id = 0;
  int64_t uidvalidity = 0;
  std::vector<Uid> uids;  // one per item, in order (all or nothing)
};

struct ReplaceResult {
  StoreError error = StoreError::kNone;
  AppendResult appended;      // the new message
  std::vector<Uid> expunged;  // the replaced UID; empty when it was gone already
};

struct CopyResult {
  StoreError error = StoreError::kNone;
  int64_t uidvalidity = 0;                 // of the destination
  MailboxId dest_mailbox_id = 0;
  std::vector<Uid> source_uids, dest_uids;  // pairwise, ascending source order
};

struct Usage {
  int64_t bytes = 0, messages = 0;
};

struct PruneResult {
  bool locked = true;   // false: another process holds the pruning lock
  int64_t deleted = 0;  // rows deleted by this call
  bool more = false;    // rows old enough may remain (call again)
};

// ---- delivery (the queue's contract) -----------------------------------------

struct PreparedMessage;  // message_meta.h

struct DeliveryItem {
  std::string_view message;
  std::string_view delivery_key;  // the queue recipient id: delivering the same key twice inserts once
  Flags flags{};                  // set on the new message (Sieve's imap4flags, fileinto :flags)
  // Optional: prepare_message() of `message`, done once by a caller that
  // delivers one message to several mailboxes (PgMailStore uses it instead of
  // parsing, hashing and copying the bytes again; `message` still names the
  // bytes, for stores that do not use it: the prepared body will do).
  std::shared_ptr<const PreparedMessage> prepared{};
};

struct DeliveryResult {
  MailboxId mailbox_id = 0;
  int64_t uid = 0;
  bool duplicate = false;           // delivered before under this key: nothing inserted
  bool over_quota = false;          // nothing inserted, the key is not recorded (a retry may succeed)
  bool exceeds_quota = false;       // the message alone is larger than the byte limit (bounce)
  bool over_message_quota = false;  // the MESSAGE limit is the reason (defer)
  // Nothing inserted, the key is not recorded: the user has an active Sieve
  // script and the delivery was staged `unless_sieve` (PgMailStore::stage_delivery):
  // the caller runs the script instead.
  bool sieve = false;
};

// ---- change feed --------------------------------------------------------------

// What a change notification says (accounts.h encodes it for PostgreSQL).
enum class ChangeKind : char {
  kMessages = 'm',      // messages added, expunged or flagged (no names)
  kCreated = 'c',       // name
  kDeleted = 'd',       // name (the mailbox is gone)
  kRenamed = 'r',       // name = new name, old_name
  kSubscribed = 's',    // name (mailbox_id 0 when no such mailbox)
  kUnsubscribed = 'u',  // name
  // METADATA (RFC 5464) entries set or removed: name = the mailbox ("" for the
  // server annotations, mailbox_id 0), `entries` = the entry names (lower case).
  kMetadata = 'a',
  // The account moved to another shard (`postline account move`, sent on the
  // old shard's channel; mailbox_id 0): its sessions here must end.
  kMoved = 'x',
};

struct ChangeEvent {
  ChangeEvent() = default;
  ChangeEvent(int64_t user, int64_t mailbox, int64_t seq, ChangeKind k = ChangeKind::kMessages, std::string n = {},
              std::string old = {})
      : user_id(user), mailbox_id(mailbox), modseq(seq), kind(k), name(std::move(n)), old_name(std::move(old)) {}
  UserId user_id = 0;
  MailboxId mailbox_id = 0;  // 0 with user_id 0: events may have been lost, resynchronise everything
  Modseq modseq = 0;
  ChangeKind kind = ChangeKind::kMessages;
  std::string name, old_name;
  std::vector<std::string> entries;  // kMetadata
};

// Called on the store's own thread; must be quick (hand the event over).
using ChangeCallback = std::function<void(const ChangeEvent&)>;

struct WatchedMailbox {
  UserId user_id = 0;
  MailboxId mailbox_id = 0;
};

// ---- METADATA (RFC 5464) ------------------------------------------------------

// Annotations of a mailbox, or of the account ("server" annotations, METADATA-
// SERVER: the empty mailbox name). Both /private and /shared entries belong to
// the user: Postline has no mailbox sharing, so a /shared entry of a user's
// mailbox (or of their server annotations) is seen by that user alone.
// Entry names are case-insensitive (RFC 5464 3.2); the store keeps them
// lower-cased (metadata_entry_key) and answers with that spelling. Callers
// check the name rules first (imapd's parser); the store enforces the limits.
//
// Limits: one value at most kMaxMetadataValueOctets (SETMETADATA answers
// NO [METADATA MAXSIZE n]); at most kMaxMetadataEntries entries per mailbox
// and as many server entries per user (NO [METADATA TOOMANY]).
inline constexpr size_t kMaxMetadataValueOctets = 64 * 1024;
inline constexpr size_t kMaxMetadataEntries = 100;

enum class MetadataDepth { kZero, kOne, kInfinity };  // GETMETADATA DEPTH 0 / 1 / infinity

enum class MetadataError {
  kNone,
  kNoSuchMailbox,  // NO [NONEXISTENT]
  kTooLarge,       // a value over kMaxMetadataValueOctets: NO [METADATA MAXSIZE n]
  kTooMany,        // the change would leave more than kMaxMetadataEntries: NO [METADATA TOOMANY]
};

struct MetadataEntry {
  std::string entry;  // lower case
  std::string value;  // any octets, NUL included
  bool operator==(const MetadataEntry&) const = default;
};

struct MetadataResult {
  MetadataError error = MetadataError::kNone;
  std::vector<MetadataEntry> entries;  // distinct, ordered by name (bytewise)
  // The largest value that MAXSIZE left out (RFC 5464 4.2.1 LONGENTRIES); 0 = none.
  size_t longest_omitted = 0;
};

// One entry of a SETMETADATA: a value to set, or nullopt (NIL) to remove it.
struct MetadataUpdate {
  std::string entry;
  std::optional<std::string> value;
};

// The stored spelling of an entry name: ASCII lower case.
std::string metadata_entry_key(std::string_view entry);
// For implementations: keys lower-cased, one update per entry (the last one
// sent wins), ordered by entry; kTooLarge if any value is over the limit.
MetadataError normalize_metadata_updates(const std::vector<MetadataUpdate>& in, std::vector<MetadataUpdate>& out);

// ---- URLAUTH (RFC 4467) mailbox access keys ------------------------------------

// Each mailbox of a user has its own access key for URLAUTH's INTERNAL
// mechanism (common/urlauth: the token is HMAC-SHA256 of the URL under it):
// kUrlauthKeyOctets random octets, made by the first GENURLAUTH of the mailbox,
// forgotten by RESETKEY (so every URL authorized under it stops working and
// the next GENURLAUTH makes a new one), gone with the mailbox, kept through
// RENAME (the mailbox id stays; the old name in old URLs no longer resolves).
inline constexpr size_t kUrlauthKeyOctets = 32;
// kUrlauthKeyOctets octets from a cryptographic random source (OpenSSL).
std::string new_urlauth_key();

// ---- the store ----------------------------------------------------------------

class MailStore {
 public:
  virtual ~MailStore() = default;

  // Accounts and mailboxes.
  // Creates the account and its default mailboxes (subscribed) the first time.
  virtual void ensure_account(UserId user) = 0;
  virtual MailboxList list(UserId user) = 0;
  virtual std::optional<MailboxInfo> find_mailbox(UserId user, const std::string& name) = 0;
  // Counts for STATUS; names that do not exist are left out.
  virtual std::vector<MailboxStatus> status(UserId user, const std::vector<std::string>& names) = 0;
  virtual StoreError create_mailbox(UserId user, const std::string& name) = 0;
  virtual StoreError delete_mailbox(UserId user, const std::string& name) = 0;
  virtual StoreError rename_mailbox(UserId user, const std::string& from, const std::string& to) = 0;
  // kNoSuchMailbox when subscribing to a name that does not exist.
  virtual StoreError subscribe(UserId user, const std::string& name) = 0;
  virtual void unsubscribe(UserId user, const std::string& name) = 0;
  virtual Usage usage(UserId user) = 0;

  // The selected mailbox.
  // A snapshot of the mailbox's index (cheap when the store has it cached:
  // the cost follows what changed since, not the mailbox size).
  virtual Opened open(UserId user, const std::string& name, std::optional<Modseq> vanished_since = {}) = 0;
  virtual Changes changes_since(UserId user, MailboxId mailbox, Modseq since) = 0;
  // \Recent (RFC 3501 2.3.2): the messages from a mailbox's first recent UID
  // up are recent for the first session that claims them. claim_recent moves
  // that mark up to `up_to` (a read-write SELECT, or new mail while selected)
  // and returns where it was: the UIDs [returned, up_to) are this session's.
  // nullopt when nothing below `up_to` was unclaimed (or no such mailbox).
  virtual std::optional<Uid> claim_recent(UserId user, MailboxId mailbox, Uid up_to) = 0;
  // The mark itself, for a session that may look but not claim (EXAMINE).
  virtual Uid first_recent_uid(UserId user, MailboxId mailbox) = 0;
  // Expunged after `since` (exact, or every missing UID below UIDNEXT when
  // the history was pruned below `since`: RFC 7162 3.2.5.2 allows that).
  virtual std::vector<Uid> expunged_since(UserId user, MailboxId mailbox, Modseq since) = 0;
  // The delivery keys (DeliveryItem) under which the given messages came from
  // the queue, ascending by UID; messages that came another way (APPEND,
  // COPY) are left out. For logs only (imapd names a fetched message's trace
  // id, common/mailstore/delivery_key.h): no index serves it, so each call
  // reads the user's delivery records; callers use it at debug level.
  virtual std::vector<std::pair<Uid, std::string>> delivery_keys(UserId user, MailboxId mailbox,
                                                                 const std::vector<Uid>& uids) = 0;
  // Records of the given UIDs (ascending) that still exist, ascending.
  virtual std::vector<MessageData> read_messages(UserId user, MailboxId mailbox, const std::vector<Uid>& uids,
                                                 unsigned fields) = 0;
  // Bodies and byte ranges (clipped to the body), positional; nullopt when missing.
  virtual BodySet read_bodies(UserId user, const std::vector<std::string>& blobs) = 0;
  virtual BodySet read_ranges(UserId user, const std::vector<BodyRange>& ranges) = 0;
  virtual std::vector<SearchHit> search(UserId user, MailboxId mailbox, const SearchCriterion& criteria) = 0;
  // SORT: the UIDs matching `criteria`, ordered by `keys` (at least one),
  // then by UID. Evaluated in the store from the stored sort keys.
  virtual std::vector<Uid> sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                const std::vector<SortCriterion>& keys) = 0;
  // THREAD: the matching messages as threads (top level in thread order),
  // computed from the stored threading keys (message ids, base subject, sent
  // date), never from bodies.
  virtual std::vector<ThreadNode> thread(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                         ThreadAlgorithm algorithm) = 0;

  // Writes. Each is one transaction that takes one new MODSEQ.
  virtual FlagUpdate store_flags(UserId user, MailboxId mailbox, const std::vector<Uid>& uids, FlagMode mode,
                                 const Flags& flags, std::optional<Modseq> unchanged_since = {}) = 0;
  // Removes messages flagged \Deleted (only among `only` when given); returns them.
  virtual std::vector<Uid> expunge(UserId user, MailboxId mailbox, const std::optional<std::vector<Uid>>& only) = 0;
  // All items or none (MULTIAPPEND). Refused with kOverQuota past a limit (soft:
  // concurrent APPENDs may both pass).
  virtual AppendResult append(UserId user, const std::string& mailbox, const std::vector<AppendItem>& items,
                              const Quota& quota = {}) = 0;
  // REPLACE (RFC 8508): appends `item` to `dest` and expunges `uid` of `source`
  // (whatever its flags) in one transaction. A `uid` that is gone already does
  // not stop the append. The quota is counted as for APPEND (before the
  // expunge frees anything).
  virtual ReplaceResult replace(UserId user, MailboxId source, Uid uid, const std::string& dest,
                                const AppendItem& item, const Quota& quota = {}) = 0;
  // COPY, or MOVE (copy + expunge in one transaction; never refused for quota).
  virtual CopyResult copy(UserId user, MailboxId source, const std::vector<Uid>& uids, const std::string& dest,
                          bool move, const Quota& quota = {}) = 0;

  // Delivery from the queue: several messages for one user and mailbox (empty
  // name = INBOX) in one transaction; per item what a single delivery would
  // answer. The quota is strict here (the user's totals are locked).
  virtual std::vector<DeliveryResult> deliver(UserId user, std::string_view mailbox,
                                              const std::vector<DeliveryItem>& items, const Quota& quota = {}) = 0;

  // QRESYNC history pruning, in bounded batches (see the PostgreSQL README).
  virtual PruneResult prune_expunged(std::chrono::seconds max_age, int64_t batch) = 0;

  // METADATA (RFC 5464). `mailbox` "" is the user's server annotations.
  // get_metadata: the entries named, with their children (DEPTH 1) or all
  // descendants (DEPTH infinity); entries that do not exist are left out.
  // Values larger than `maxsize` are left out too and counted in
  // `longest_omitted`. set_metadata: all updates or none, in one transaction;
  // a repeated entry takes its last value; removing what is not there is fine.
  // The entry limit refuses a change only when it leaves more entries than
  // both kMaxMetadataEntries and what was there before (removals always work).
  virtual MetadataResult get_metadata(UserId user, const std::string& mailbox,
                                      const std::vector<std::string>& entries, MetadataDepth depth,
                                      std::optional<size_t> maxsize = {}) = 0;
  virtual MetadataError set_metadata(UserId user, const std::string& mailbox,
                                     const std::vector<MetadataUpdate>& updates) = 0;

  // URLAUTH access keys (above). urlauth_key: the mailbox's key; with
  // `create`, one is made when it has none yet (concurrent callers get the
  // same key). nullopt when there is no such mailbox, or no key and not
  // `create`. reset_urlauth_keys: forgets the key of `mailbox`, or of every
  // mailbox of the user when it is ""; false when the named mailbox does not
  // exist.
  virtual std::optional<std::string> urlauth_key(UserId user, const std::string& mailbox, bool create) = 0;
  virtual bool reset_urlauth_keys(UserId user, const std::string& mailbox) = 0;

  // The change feed: every committed change of any instance, delivered to
  // `callback`. One subscriber per store object; returns when it is set up.
  virtual void start_change_feed(ChangeCallback callback) = 0;
  virtual void stop_change_feed() = 0;
  // HIGHESTMODSEQ of the given mailboxes, for subscribers that check now and
  // then that no notification was lost (a writer that died between its
  // commit and its notification). Mailboxes that no longer exist are left out.
  virtual std::vector<std::pair<WatchedMailbox, Modseq>> highest_modseqs(const std::vector<WatchedMailbox>& mb) = 0;

  // The backing store answers (readiness probes).
  virtual bool ping() = 0;
};

}  // namespace postline::mailstore
