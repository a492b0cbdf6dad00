// MailStore on PostgreSQL (the tables of common/mailstore/sql). See
// common/mailstore/README.md for the schema and docs/DESIGN.md for why it is
// built this way: prepared statements with binary results (common/db/pq.h),
// one round trip per command (pipelines for reads, server-side functions for
// writes), an in-process index cache for SELECT, and change notifications
// sent after commit instead of inside the writer's transaction.
#pragma once

#include "common/db/pq.h"
#include "common/mailstore/blob/blob_store.h"
#include "common/mailstore/mail_store.h"

#include <atomic>
#include <functional>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <unordered_set>

namespace postline::mailstore {
struct PreparedMessage;
}

namespace postline::mailstore::pg {

class IndexCache;
class NotificationSender;
class ChangeListener;

struct PgOptions {
  std::string url;
  size_t pool_size = 8;
  // Messages (index entries, about 24 bytes each) the open() cache may hold
  // across all mailboxes; 0 disables it.
  size_t index_cache_messages = 2'000'000;
  // STORE and EXPUNGE wait for their WAL flush like every other write. Off by
  // default: a crash may then lose the last fraction of a second of flag
  // changes (a message may show up unread or undeleted again), never a
  // message; APPEND, COPY, MOVE, delivery and mailbox changes always wait.
  bool durable_flag_updates = false;
  // Where message bodies live. Null (the default, `mailstore.blob_backend:
  // postgres`): in mailstore_blobs.data, written in the same pipeline as the
  // rows. A BlobStore (S3): there, uploaded before the transaction that
  // refers to them, with mailstore_blobs as the catalogue (data NULL,
  // sql/016_external_blobs.sql); bodies stored in PostgreSQL before stay
  // readable. The store as configured: this database uses it in its own
  // namespace (blob_store(), sql/020).
  std::shared_ptr<BlobStore> blobs;
  // Tests only: called at named points of a write with an external blob
  // store ("uploaded": the bodies are in the blob store, their intents
  // committed, the transaction that refers to them not begun). An exception
  // thrown here leaves everything as a crash at that point would.
  std::function<void(std::string_view point)> fault_hook;
};

// The database holds the mailstore schema this build was made for. Throws
// SchemaMismatch (run `postline migrate`, or upgrade the binary) or another
// std::exception when the database cannot be asked.
class SchemaMismatch : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};
void check_schema(const std::string& url);

// The advisory lock key of a body (raw SHA-256) that writers take shared and
// the blob sweeper exclusive (sql/016_external_blobs.sql).
int64_t blob_lock_key(std::string_view sha);

class PgMailStore final : public MailStore {
 public:
  explicit PgMailStore(PgOptions options);
  ~PgMailStore() override;

  void ensure_account(UserId user) override;
  MailboxList list(UserId user) override;
  std::optional<MailboxInfo> find_mailbox(UserId user, const std::string& name) override;
  std::vector<MailboxStatus> status(UserId user, const std::vector<std::string>& names) override;
  StoreError create_mailbox(UserId user, const std::string& name) override;
  StoreError delete_mailbox(UserId user, const std::string& name) override;
  StoreError rename_mailbox(UserId user, const std::string& from, const std::string& to) override;
  StoreError subscribe(UserId user, const std::string& name) override;
  void unsubscribe(UserId user, const std::string& name) override;
  Usage usage(UserId user) override;

  Opened open(UserId user, const std::string& name, std::optional<Modseq> vanished_since = {}) override;
  Changes changes_since(UserId user, MailboxId mailbox, Modseq since) override;
  std::optional<Uid> claim_recent(UserId user, MailboxId mailbox, Uid up_to) override;
  Uid first_recent_uid(UserId user, MailboxId mailbox) override;
  std::vector<Uid> expunged_since(UserId user, MailboxId mailbox, Modseq since) override;
  std::vector<std::pair<Uid, std::string>> delivery_keys(UserId user, MailboxId mailbox,
                                                         const std::vector<Uid>& uids) override;
  std::vector<MessageData> read_messages(UserId user, MailboxId mailbox, const std::vector<Uid>& uids,
                                         unsigned fields) override;
  BodySet read_bodies(UserId user, const std::vector<std::string>& blobs) override;
  BodySet read_ranges(UserId user, const std::vector<BodyRange>& ranges) override;
  std::vector<SearchHit> search(UserId user, MailboxId mailbox, const SearchCriterion& criteria) override;
  std::vector<Uid> sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                        const std::vector<SortCriterion>& keys) override;
  std::vector<ThreadNode> thread(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                 ThreadAlgorithm algorithm) override;

  FlagUpdate store_flags(UserId user, MailboxId mailbox, const std::vector<Uid>& uids, FlagMode mode,
                         const Flags& flags, std::optional<Modseq> unchanged_since = {}) override;
  std::vector<Uid> expunge(UserId user, MailboxId mailbox, const std::optional<std::vector<Uid>>& only) override;
  AppendResult append(UserId user, const std::string& mailbox, const std::vector<AppendItem>& items,
                      const Quota& quota = {}) override;
  ReplaceResult replace(UserId user, MailboxId source, Uid uid, const std::string& dest, const AppendItem& item,
                        const Quota& quota) override;
  CopyResult copy(UserId user, MailboxId source, const std::vector<Uid>& uids, const std::string& dest, bool move,
                  const Quota& quota = {}) override;
  std::vector<DeliveryResult> deliver(UserId user, std::string_view mailbox, const std::vector<DeliveryItem>& items,
                                      const Quota& quota = {}) override;
  PruneResult prune_expunged(std::chrono::seconds max_age, int64_t batch) override;
  MetadataResult get_metadata(UserId user, const std::string& mailbox, const std::vector<std::string>& entries,
                              MetadataDepth depth, std::optional<size_t> maxsize = {}) override;
  std::optional<std::string> urlauth_key(UserId user, const std::string& mailbox, bool create) override;
  bool reset_urlauth_keys(UserId user, const std::string& mailbox) override;
  MetadataError set_metadata(UserId user, const std::string& mailbox,
                             const std::vector<MetadataUpdate>& updates) override;

  // A delivery that commits together with the caller's own writes on the
  // caller's connection (queued's Enqueue: queue rows and mailbox rows in one
  // transaction, one WAL flush instead of three). stage_delivery() does the
  // CPU work (parsing, hashing); add_to() appends the statements to a
  // pipeline that runs inside the caller's open transaction; read() takes
  // their results from that run (it throws what deliver() would); once the
  // caller has committed, announce() tells IMAP sessions, as deliver() does
  // after its own commit. A rollback leaves no trace. The messages and keys
  // must outlive the StagedDelivery. `unless_sieve`: when the user has an
  // active Sieve script, nothing is delivered and every result says `sieve`
  // (queued then runs the script; the check is inside the delivery statement).
  class StagedDelivery {
   public:
    ~StagedDelivery();
    size_t add_to(db::pq::Connection::Pipeline& pipe) const;  // the number of statements added
    std::vector<DeliveryResult> read(const std::vector<db::pq::Result>& results, size_t first);
    void announce();

   private:
    friend class PgMailStore;
    struct Impl;
    explicit StagedDelivery(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
  };
  std::unique_ptr<StagedDelivery> stage_delivery(UserId user, std::string_view mailbox,
                                                 const std::vector<DeliveryItem>& items, const Quota& quota = {},
                                                 bool unless_sieve = false);

  // Builds the search index (mailstore_search) of up to `max_bodies` bodies
  // listed in mailstore_search_backlog, oldest first, in one transaction that
  // does not wait for its WAL flush (the index can be built again from the
  // blobs). Rows another indexer holds are skipped. Returns how many bodies
  // it indexed; 0 when the backlog is empty. queued runs it after its
  // deliveries (sql/014_search_backlog.sql); SEARCH, SORT and THREAD with a
  // text key index their own mailbox's part of the backlog first.
  size_t index_search_backlog(size_t max_bodies = 64);
  // Bodies still waiting for their search index (a metric; counts the table).
  int64_t search_backlog();

  // Recomputes the per-mailbox totals that usage(), STATUS SIZE and the quota
  // checks read (kept by triggers, sql/006) from the messages themselves, for
  // every mailbox of the user, in one transaction that holds the mailbox rows
  // so no concurrent write is miscounted (Dovecot's `quota recalc`; `postline
  // mailbox recalc`). A maintenance operation of this store's bookkeeping, so
  // not part of MailStore (MemoryMailStore's totals cannot drift).
  struct UsageRecount {
    Usage before, after;          // what the totals said, what the messages add up to
    int64_t mailboxes_fixed = 0;  // mailboxes whose totals were wrong
  };
  UsageRecount recalculate_usage(UserId user);

  // The external blob store's garbage collector (nothing to do without one):
  // 1. upload intents older than `grace` whose writer never committed: their
  //    object goes unless a catalogue row or another intent names it;
  // 2. mark: external catalogue rows no message refers to get gc_marked_at
  //    (rows referred to again lose it);
  // 3. sweep: rows marked longer than `grace` ago and still unreferenced go
  //    (with their search and sort rows), then their object.
  // Every object deletion holds the body's advisory lock and re-checks first
  // (sql/016_external_blobs.sql). One sweeper at a time across processes
  // (`locked` false: another one is running). queued runs it every
  // mailstore.s3_sweep_interval with mailstore.s3_orphan_grace.
  struct BlobSweep {
    bool locked = true;
    int64_t expired_intents = 0;  // intents of writers that never committed
    int64_t marked = 0, unmarked = 0;
    int64_t collected = 0;        // catalogue rows removed
    int64_t objects_deleted = 0;  // objects removed from the blob store
  };
  BlobSweep sweep_blobs(std::chrono::seconds grace, size_t batch = 500);
  bool external_blobs() const { return static_cast<bool>(options_.blobs); }
  // The external blob store as this database sees it: PgOptions::blobs in the
  // database's own namespace (sql/020_blob_namespaces.sql: no two shards share
  // an object). Null without an external store. Reads the namespace at the
  // first call.
  std::shared_ptr<BlobStore> blob_store();

  void start_change_feed(ChangeCallback callback) override;
  void stop_change_feed() override;
  std::vector<std::pair<WatchedMailbox, Modseq>> highest_modseqs(const std::vector<WatchedMailbox>& mb) override;
  bool ping() override;

  // For tests and metrics.
  size_t cached_messages() const;
  struct CacheStats {
    uint64_t messages = 0, mailboxes = 0;  // held now
    uint64_t hits = 0, deltas = 0, misses = 0;  // opens so far: unchanged, changes applied, read whole
  };
  CacheStats cache_stats() const;
  // The connection pool's figures (postline_db_pool_*).
  db::PoolStats pool_stats() { return pool_.stats(); }

 private:
  Opened open_uncached(db::pq::Connection& c, UserId user, const std::string& name,
                       std::optional<Modseq> vanished_since);
  void notify(std::vector<ChangeEvent> events);
  // External blobs: records intents, uploads the bodies not stored yet and
  // returns the intent ids the writing transaction must finish.
  std::vector<int64_t> upload_bodies(const std::vector<PreparedMessage>& prepared);
  // After a write failed: its intents are left to the next sweep at once.
  void abandon_intents(const std::vector<int64_t>& intents) noexcept;
  // One expired (or sweeper-made) intent: drops it and, when nothing else
  // names its body, the object. Returns whether the object was deleted.
  bool finish_expired_intent(db::pq::Connection& c, int64_t intent, const std::string& sha);

  PgOptions options_;
  BlobStore* blobs();  // blob_store().get()
  std::mutex blobs_mu_;
  std::shared_ptr<BlobStore> blobs_;  // options_.blobs in this database's namespace
  db::pq::Pool pool_;
  std::unique_ptr<IndexCache> cache_;
  std::atomic<uint64_t> hits_{0}, deltas_{0}, misses_{0};
  std::unique_ptr<NotificationSender> sender_;
  // Accounts known to exist: a LOGIN after the first costs no round trip.
  std::mutex ensured_mu_;
  std::unordered_set<UserId> ensured_;
  std::mutex feed_mu_;
  std::unique_ptr<ChangeListener> listener_;
};

}  // namespace postline::mailstore::pg
