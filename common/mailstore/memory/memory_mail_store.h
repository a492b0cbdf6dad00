// MailStore in memory, for unit tests of the services that use a store
// (imapd, the queue) and as the second implementation the conformance suite
// (mail_store_conformance_test.cpp) holds to the same observable behaviour as
// PgMailStore: the same UID/MODSEQ/UIDVALIDITY allocation, flag semantics,
// QRESYNC history with its pruning horizon, quota rules, exactly-once
// delivery, mailbox hierarchy rules, search text semantics (it uses the
// search text message_meta's analyse() computes, which PostgreSQL stores in
// mailstore_search) and change events (the kinds and fields PgMailStore
// posts).
//
// Thread-safe: one mutex around all state. Parsing and hashing of new
// messages happen before it is taken, like PgMailStore does before its locks.
// The change feed calls back synchronously, after the mutation and outside
// the lock, in the order the changes were made; a callback may call the store
// again (its own writes are delivered after the current event).
//
// Time comes from an injectable clock (internal and save dates, OLDER/YOUNGER,
// the age of expunge history for prune_expunged), so tests can age entries.
#pragma once

#include "common/mailstore/mail_store.h"
#include "common/mailstore/message_meta.h"

#include <chrono>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

namespace postline::mailstore {

class MemoryMailStore final : public MailStore {
 public:
  using Clock = std::function<std::chrono::system_clock::time_point()>;

  // `clock`: the store's "now" (system_clock::now when empty).
  explicit MemoryMailStore(Clock clock = {});
  ~MemoryMailStore() override;

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

  void start_change_feed(ChangeCallback callback) override;
  void stop_change_feed() override;
  std::vector<std::pair<WatchedMailbox, Modseq>> highest_modseqs(const std::vector<WatchedMailbox>& mb) override;
  bool ping() override { return true; }

  // For tests: distinct bodies stored (content-addressed, shared by users).
  size_t stored_blobs() const;
  // For tests: drops every stored sort key, as if the bodies had been stored
  // before sort keys existed (PostgreSQL rows from before migration 012); the
  // next SORT or THREAD computes them again from the bodies.
  void forget_sort_keys();

 private:
  struct Message {
    Uid uid = 0;
    Modseq modseq = 0;
    uint8_t system = 0;
    std::vector<std::string> keywords;  // sorted, distinct
    int64_t internaldate = 0, savedate = 0;
    int64_t size = 0, header_size = 0;
    std::string blob;  // key into blobs_
    std::string structure;
    std::optional<std::string> header, preview;
    std::string email_id;
    std::string thread_id;  // RFC 8474, thread_id_of(); "" when there is none
    std::optional<int64_t> sent_day;
  };
  struct ExpungedRecord {
    Modseq modseq = 0;
    std::chrono::system_clock::time_point at;
  };
  struct Mailbox {
    MailboxInfo info;
    Modseq pruned_horizon = 0;  // highest MODSEQ of a pruned expunge record
    std::map<Uid, Message> messages;
    std::map<Uid, ExpungedRecord> expunged;
    int64_t total_bytes = 0;
    Uid first_recent_uid = 1;  // \Recent: UIDs from here up are unclaimed
    std::shared_ptr<const MailboxIndex> snapshot;  // built by open(), dropped by every change
    // METADATA by entry (lower case): goes with the mailbox (DELETE) and keeps
    // following it under a new name (RENAME), like mailbox_id in PostgreSQL.
    std::map<std::string, std::string> metadata;
    std::optional<std::string> urlauth_key;  // URLAUTH (RFC 4467); follows RENAME, goes with DELETE
  };
  struct Delivered {
    MailboxId mailbox_id = 0;
    int64_t uid = 0;
  };
  struct Account {
    bool created = false;                         // ensure_account ran
    std::map<std::string, Mailbox> mailboxes;     // by name (bytewise order)
    std::set<std::string> subscriptions;
    std::map<std::string, Delivered> deliveries;  // by delivery key
    std::map<std::string, std::string> server_metadata;  // METADATA-SERVER entries
  };
  struct Blob {
    std::string body;
    std::string search_text;
    std::optional<SortKeys> sort;  // nullopt: computed on first use (forget_sort_keys)
  };
  // The matching messages (under mu_), with their sort keys.
  std::vector<std::pair<const Message*, const SortKeys*>> sortable(UserId user, MailboxId mailbox,
                                                                   const SearchCriterion& criteria);
  // All under mu_.
  Account& account(UserId user) { return accounts_[user]; }
  Mailbox* by_id(UserId user, MailboxId id);
  Mailbox& add_mailbox(Account& a, const std::string& name, const char* special_use);
  void ensure_account_locked(UserId user);
  Usage usage_locked(UserId user);
  // APPEND's checks and inserts, under mu_ (APPEND and REPLACE).
  AppendResult append_locked(UserId user, const std::string& name, const std::vector<AppendItem>& items,
                             const std::vector<PreparedMessage>& prepared, const Quota& quota);
  std::vector<Uid> expunged_since_locked(const Mailbox& mb, Modseq since) const;
  void remove_message(Mailbox& mb, Uid uid, Modseq modseq);
  void insert_message(Mailbox& mb, Message m);
  int64_t now_seconds() const;
  void post(std::vector<ChangeEvent> events);

  // Delivers what post() queued (outside mu_), in order.
  void dispatch();

  Clock clock_;
  mutable std::mutex mu_;
  std::map<UserId, Account> accounts_;
  std::map<std::string, Blob> blobs_;
  int64_t next_uidvalidity_ = 1;
  MailboxId next_mailbox_id_ = 1;

  // The change feed: events queued under mu_ (so their order is the order of
  // the changes), delivered by dispatch() under dispatch_mu_.
  std::mutex dispatch_mu_;
  ChangeCallback callback_;  // guarded by mu_
  std::deque<ChangeEvent> pending_;  // guarded by mu_
};

}  // namespace postline::mailstore
