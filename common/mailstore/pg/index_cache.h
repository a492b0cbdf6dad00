// The in-process cache of mailbox indexes behind PgMailStore::open(): the
// last snapshot of each recently selected mailbox (UID, flags, MODSEQ per
// message). A SELECT asks PostgreSQL only for what changed since the cached
// HIGHESTMODSEQ and applies it, so opening a 100,000-message mailbox costs
// what changed, not 100,000 rows (Dovecot's dovecot.index plays this part).
//
// Snapshots are immutable and shared (shared_ptr<const>): a refresh builds a
// new one. Bounded by the total number of messages held (LRU by mailbox).
#pragma once

#include "common/mailstore/mail_store.h"

#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>

namespace postline::mailstore::pg {

class IndexCache {
 public:
  explicit IndexCache(size_t max_messages) : max_messages_(max_messages) {}

  std::shared_ptr<const MailboxIndex> get(UserId user, const std::string& name);
  void put(UserId user, std::shared_ptr<const MailboxIndex> index);
  void forget(UserId user, const std::string& name);

  size_t messages() const;
  size_t mailboxes() const;

 private:
  struct Key {
    UserId user;
    std::string name;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return std::hash<std::string>()(k.name) ^ (std::hash<int64_t>()(k.user) * 31); }
  };
  struct Slot {
    std::shared_ptr<const MailboxIndex> index;
    std::list<Key>::iterator lru;
  };
  void evict_locked();

  const size_t max_messages_;
  mutable std::mutex mu_;
  std::unordered_map<Key, Slot, KeyHash> slots_;
  std::list<Key> lru_;  // front: most recently used
  size_t messages_ = 0;
};

// A copy of `base` with `changes` applied (new and changed messages merged
// in UID order, expunged ones removed, the mailbox state taken from changes).
std::shared_ptr<MailboxIndex> apply_changes(const MailboxIndex& base, const Changes& changes);

}  // namespace postline::mailstore::pg
