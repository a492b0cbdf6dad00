#include "common/mailstore/pg/index_cache.h"

namespace postline::mailstore::pg {

std::shared_ptr<const MailboxIndex> IndexCache::get(UserId user, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(Key{user, name});
  if (it == slots_.end()) return nullptr;
  lru_.splice(lru_.begin(), lru_, it->second.lru);
  return it->second.index;
}

void IndexCache::put(UserId user, std::shared_ptr<const MailboxIndex> index) {
  if (!index || max_messages_ == 0) return;
  // One mailbox larger than the whole cache is not kept (it would evict everything).
  if (index->entries.size() > max_messages_) return;
  std::lock_guard lock(mu_);
  Key key{user, index->info.name};
  auto it = slots_.find(key);
  if (it != slots_.end()) {
    messages_ -= it->second.index->entries.size();
    it->second.index = std::move(index);
    messages_ += it->second.index->entries.size();
    lru_.splice(lru_.begin(), lru_, it->second.lru);
  } else {
    lru_.push_front(key);
    messages_ += index->entries.size();
    slots_.emplace(std::move(key), Slot{std::move(index), lru_.begin()});
  }
  evict_locked();
}

void IndexCache::forget(UserId user, const std::string& name) {
  std::lock_guard lock(mu_);
  auto it = slots_.find(Key{user, name});
  if (it == slots_.end()) return;
  messages_ -= it->second.index->entries.size();
  lru_.erase(it->second.lru);
  slots_.erase(it);
}

void IndexCache::evict_locked() {
  while (messages_ > max_messages_ && lru_.size() > 1) {
    auto it = slots_.find(lru_.back());
    messages_ -= it->second.index->entries.size();
    slots_.erase(it);
    lru_.pop_back();
  }
}

size_t IndexCache::messages() const {
  std::lock_guard lock(mu_);
  return messages_;
}

size_t IndexCache::mailboxes() const {
  std::lock_guard lock(mu_);
  return slots_.size();
}

std::shared_ptr<MailboxIndex> apply_changes(const MailboxIndex& base, const Changes& changes) {
  auto out = std::make_shared<MailboxIndex>();
  out->info = changes.info;
  out->keywords = base.keywords;
  out->entries.reserve(base.entries.size() + changes.changed.size());
  // Three ascending UID lists merged in one pass.
  size_t c = 0, x = 0;
  auto from_change = [&](const MessageChange& m) {
    return IndexEntry{m.uid, out->keywords.intern(m.flags.keywords), m.modseq, m.flags.system};
  };
  for (const IndexEntry& e : base.entries) {
    while (c < changes.changed.size() && changes.changed[c].uid < e.uid) {
      const auto& m = changes.changed[c++];
      while (x < changes.expunged.size() && changes.expunged[x] < m.uid) ++x;
      if (x < changes.expunged.size() && changes.expunged[x] == m.uid) continue;
      out->entries.push_back(from_change(m));
    }
    while (x < changes.expunged.size() && changes.expunged[x] < e.uid) ++x;
    if (x < changes.expunged.size() && changes.expunged[x] == e.uid) {
      if (c < changes.changed.size() && changes.changed[c].uid == e.uid) ++c;
      continue;
    }
    if (c < changes.changed.size() && changes.changed[c].uid == e.uid) {
      out->entries.push_back(from_change(changes.changed[c++]));
    } else {
      out->entries.push_back(e);
    }
  }
  for (; c < changes.changed.size(); ++c) {
    const auto& m = changes.changed[c];
    while (x < changes.expunged.size() && changes.expunged[x] < m.uid) ++x;
    if (x < changes.expunged.size() && changes.expunged[x] == m.uid) continue;
    out->entries.push_back(from_change(m));
  }
  return out;
}

}  // namespace postline::mailstore::pg
