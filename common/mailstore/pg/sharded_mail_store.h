// The mailstore router (docs/DESIGN.md "Sharding"): accounts live on one of
// several PostgreSQL clusters ("shards", `mailstore.shards`), and authd's
// directory names each account's shard. ShardedMailStore is a MailStore that
// sends every call to the PgMailStore of the user's shard, one pool per
// shard, each opened at first use. Callers learn a user's shard from authd
// (Authenticate, SASL, ResolveRecipient, GetUser) and tell the router with
// assign(); an account nobody assigned is on the default shard, so a
// deployment with one shard behaves exactly as before.
#pragma once

#include "common/mailstore/pg/pg_mail_store.h"

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

namespace postline::mailstore::pg {

// "main=postgresql://…,s2=postgresql://…" (commas inside a URL's query are
// not supported: use `&`). Empty: the single `default_url` as shard "main".
// Throws std::invalid_argument naming what is wrong.
std::vector<std::pair<std::string, std::string>> parse_shards(const std::string& spec, const std::string& default_url);
inline constexpr const char* kDefaultShard = "main";

class UnknownShard : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// A call for an account whose move away from the shard this process had it on
// was announced (kMoved) and that nobody has placed again since (a login, a
// delivery: assign()). Its sessions are ending; nothing may write anywhere.
class AccountMoved : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class ShardedMailStore final : public MailStore {
 public:
  // Builds the store of one shard from its URL (the caller's PgOptions).
  // `default_shard` empty: "main" when configured, else the first shard.
  using Factory = std::function<std::unique_ptr<PgMailStore>(const std::string& url)>;
  ShardedMailStore(std::vector<std::pair<std::string, std::string>> shards, std::string default_shard, Factory make);
  ~ShardedMailStore() override;

  // The user's shard as authd said ("" leaves the current assignment).
  // Throws UnknownShard when this process has no such shard configured.
  void assign(UserId user, const std::string& shard);
  std::string shard_of(UserId user);
  PgMailStore& for_user(UserId user);
  PgMailStore& shard(const std::string& name);  // throws UnknownShard
  bool has_shard(const std::string& name) const;
  const std::string& default_shard() const { return default_; }
  std::string url_of(const std::string& name) const;  // throws UnknownShard
  std::vector<std::string> names() const;
  // Calls fn on every shard opened so far.
  void for_each_open(const std::function<void(const std::string&, PgMailStore&)>& fn);

  void ensure_account(UserId user) override { for_user(user).ensure_account(user); }
  MailboxList list(UserId user) override { return for_user(user).list(user); }
  std::optional<MailboxInfo> find_mailbox(UserId user, const std::string& name) override {
    return for_user(user).find_mailbox(user, name);
  }
  std::vector<MailboxStatus> status(UserId user, const std::vector<std::string>& names) override {
    return for_user(user).status(user, names);
  }
  StoreError create_mailbox(UserId user, const std::string& name) override {
    return for_user(user).create_mailbox(user, name);
  }
  StoreError delete_mailbox(UserId user, const std::string& name) override {
    return for_user(user).delete_mailbox(user, name);
  }
  StoreError rename_mailbox(UserId user, const std::string& from, const std::string& to) override {
    return for_user(user).rename_mailbox(user, from, to);
  }
  StoreError subscribe(UserId user, const std::string& name) override { return for_user(user).subscribe(user, name); }
  void unsubscribe(UserId user, const std::string& name) override { for_user(user).unsubscribe(user, name); }
  Usage usage(UserId user) override { return for_user(user).usage(user); }
  Opened open(UserId user, const std::string& name, std::optional<Modseq> vanished_since = {}) override {
    return for_user(user).open(user, name, vanished_since);
  }
  Changes changes_since(UserId user, MailboxId mailbox, Modseq since) override {
    return for_user(user).changes_since(user, mailbox, since);
  }
  std::optional<Uid> claim_recent(UserId user, MailboxId mailbox, Uid up_to) override {
    return for_user(user).claim_recent(user, mailbox, up_to);
  }
  Uid first_recent_uid(UserId user, MailboxId mailbox) override { return for_user(user).first_recent_uid(user, mailbox); }
  std::vector<Uid> expunged_since(UserId user, MailboxId mailbox, Modseq since) override {
    return for_user(user).expunged_since(user, mailbox, since);
  }
  std::vector<std::pair<Uid, std::string>> delivery_keys(UserId user, MailboxId mailbox,
                                                         const std::vector<Uid>& uids) override {
    return for_user(user).delivery_keys(user, mailbox, uids);
  }
  std::vector<MessageData> read_messages(UserId user, MailboxId mailbox, const std::vector<Uid>& uids,
                                         unsigned fields) override {
    return for_user(user).read_messages(user, mailbox, uids, fields);
  }
  BodySet read_bodies(UserId user, const std::vector<std::string>& blobs) override {
    return for_user(user).read_bodies(user, blobs);
  }
  BodySet read_ranges(UserId user, const std::vector<BodyRange>& ranges) override {
    return for_user(user).read_ranges(user, ranges);
  }
  std::vector<SearchHit> search(UserId user, MailboxId mailbox, const SearchCriterion& criteria) override {
    return for_user(user).search(user, mailbox, criteria);
  }
  std::vector<Uid> sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                        const std::vector<SortCriterion>& keys) override {
    return for_user(user).sort(user, mailbox, criteria, keys);
  }
  std::vector<ThreadNode> thread(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                                 ThreadAlgorithm algorithm) override {
    return for_user(user).thread(user, mailbox, criteria, algorithm);
  }
  FlagUpdate store_flags(UserId user, MailboxId mailbox, const std::vector<Uid>& uids, FlagMode mode,
                         const Flags& flags, std::optional<Modseq> unchanged_since = {}) override {
    return for_user(user).store_flags(user, mailbox, uids, mode, flags, unchanged_since);
  }
  std::vector<Uid> expunge(UserId user, MailboxId mailbox, const std::optional<std::vector<Uid>>& only) override {
    return for_user(user).expunge(user, mailbox, only);
  }
  AppendResult append(UserId user, const std::string& mailbox, const std::vector<AppendItem>& items,
                      const Quota& quota = {}) override {
    return for_user(user).append(user, mailbox, items, quota);
  }
  ReplaceResult replace(UserId user, MailboxId source, Uid uid, const std::string& dest, const AppendItem& item,
                        const Quota& quota) override {
    return for_user(user).replace(user, source, uid, dest, item, quota);
  }
  CopyResult copy(UserId user, MailboxId source, const std::vector<Uid>& uids, const std::string& dest, bool move,
                  const Quota& quota = {}) override {
    return for_user(user).copy(user, source, uids, dest, move, quota);
  }
  std::vector<DeliveryResult> deliver(UserId user, std::string_view mailbox, const std::vector<DeliveryItem>& items,
                                      const Quota& quota = {}) override {
    return for_user(user).deliver(user, mailbox, items, quota);
  }
  // Every configured shard (each prunes its own rows).
  PruneResult prune_expunged(std::chrono::seconds max_age, int64_t batch) override;
  MetadataResult get_metadata(UserId user, const std::string& mailbox, const std::vector<std::string>& entries,
                              MetadataDepth depth, std::optional<size_t> maxsize = {}) override {
    return for_user(user).get_metadata(user, mailbox, entries, depth, maxsize);
  }
  std::optional<std::string> urlauth_key(UserId user, const std::string& mailbox, bool create) override {
    return for_user(user).urlauth_key(user, mailbox, create);
  }
  bool reset_urlauth_keys(UserId user, const std::string& mailbox) override {
    return for_user(user).reset_urlauth_keys(user, mailbox);
  }
  MetadataError set_metadata(UserId user, const std::string& mailbox,
                             const std::vector<MetadataUpdate>& updates) override {
    return for_user(user).set_metadata(user, mailbox, updates);
  }
  // Follows every configured shard's feed (opening them). A kMoved event from
  // the shard a user is on here makes the user's calls throw AccountMoved until
  // the next assign() (the event is passed on: imapd ends the sessions).
  void start_change_feed(ChangeCallback callback) override;
  void stop_change_feed() override;
  std::vector<std::pair<WatchedMailbox, Modseq>> highest_modseqs(const std::vector<WatchedMailbox>& mb) override;
  // Every shard opened so far answers (the default shard is opened at start).
  bool ping() override;

 private:
  struct Shard {
    std::string url;
    std::unique_ptr<PgMailStore> store;
  };
  Shard& find(const std::string& name);
  PgMailStore& open_locked(const std::string& name, Shard& s);
  void attach_feed_locked(const std::string& name, PgMailStore& store);

  std::string default_;
  Factory make_;
  mutable std::mutex mu_;
  std::map<std::string, Shard> shards_;
  std::unordered_map<UserId, std::string> assigned_;
  std::unordered_set<UserId> moved_;
  ChangeCallback feed_;
};

}  // namespace postline::mailstore::pg
