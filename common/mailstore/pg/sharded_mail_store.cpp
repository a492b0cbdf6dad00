#include "common/mailstore/pg/sharded_mail_store.h"

#include <set>
#include <stdexcept>

namespace postline::mailstore::pg {

namespace {
std::string trim(std::string s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t' || s.front() == '\n')) s.erase(s.begin());
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t' || s.back() == '\n')) s.pop_back();
  return s;
}
bool valid_name(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  for (char c : n)
    if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_')) return false;
  return true;
}
}  // namespace

std::vector<std::pair<std::string, std::string>> parse_shards(const std::string& spec, const std::string& default_url) {
  std::vector<std::pair<std::string, std::string>> out;
  if (trim(spec).empty()) {
    out.emplace_back(kDefaultShard, default_url);
    return out;
  }
  std::set<std::string> seen;
  size_t pos = 0;
  while (pos <= spec.size()) {
    const size_t comma = spec.find(',', pos);
    const std::string item = trim(spec.substr(pos, comma == std::string::npos ? std::string::npos : comma - pos));
    pos = comma == std::string::npos ? spec.size() + 1 : comma + 1;
    if (item.empty()) continue;
    const size_t eq = item.find('=');
    if (eq == std::string::npos) throw std::invalid_argument("shard entry without '=': expected NAME=URL");
    std::string name = trim(item.substr(0, eq)), url = trim(item.substr(eq + 1));
    if (!valid_name(name))
      throw std::invalid_argument("shard name '" + name + "': use 1-63 of a-z, 0-9, '-', '_'");
    if (url.empty()) throw std::invalid_argument("shard " + name + " has no URL");
    if (!seen.insert(name).second) throw std::invalid_argument("shard " + name + " named twice");
    out.emplace_back(std::move(name), std::move(url));
  }
  if (out.empty()) throw std::invalid_argument("no shard named");
  return out;
}

ShardedMailStore::ShardedMailStore(std::vector<std::pair<std::string, std::string>> shards, std::string default_shard,
                                   Factory make)
    : default_(std::move(default_shard)), make_(std::move(make)) {
  if (default_.empty() && !shards.empty()) {
    default_ = shards.front().first;
    for (const auto& [name, url] : shards)
      if (name == kDefaultShard) default_ = name;
  }
  for (auto& [name, url] : shards) shards_[name].url = std::move(url);
  if (!shards_.count(default_)) throw UnknownShard("the default shard " + default_ + " is not among mailstore.shards");
}

ShardedMailStore::~ShardedMailStore() { stop_change_feed(); }

ShardedMailStore::Shard& ShardedMailStore::find(const std::string& name) {
  auto it = shards_.find(name);
  if (it == shards_.end()) throw UnknownShard("unknown mailstore shard '" + name + "' (not in mailstore.shards)");
  return it->second;
}

PgMailStore& ShardedMailStore::open_locked(const std::string& name, Shard& s) {
  if (!s.store) {
    s.store = make_(s.url);
    if (feed_) attach_feed_locked(name, *s.store);
  }
  return *s.store;
}

void ShardedMailStore::attach_feed_locked(const std::string& name, PgMailStore& store) {
  auto cb = feed_;
  store.start_change_feed([this, cb, name](const ChangeEvent& e) {
    if (e.kind == ChangeKind::kMoved) {
      std::lock_guard lock(mu_);
      auto it = assigned_.find(e.user_id);
      const std::string& on = it == assigned_.end() ? default_ : it->second;
      if (on == name) {
        if (it != assigned_.end()) assigned_.erase(it);
        moved_.insert(e.user_id);
      }
    }
    cb(e);
  });
}

void ShardedMailStore::assign(UserId user, const std::string& shard) {
  if (shard.empty()) return;
  std::lock_guard lock(mu_);
  find(shard);
  moved_.erase(user);
  if (shard == default_)
    assigned_.erase(user);
  else
    assigned_[user] = shard;
}

std::string ShardedMailStore::shard_of(UserId user) {
  std::lock_guard lock(mu_);
  auto it = assigned_.find(user);
  return it == assigned_.end() ? default_ : it->second;
}

PgMailStore& ShardedMailStore::for_user(UserId user) {
  std::lock_guard lock(mu_);
  if (moved_.count(user)) throw AccountMoved("the account moved to another mailstore shard");
  auto it = assigned_.find(user);
  const std::string& name = it == assigned_.end() ? default_ : it->second;
  return open_locked(name, find(name));
}

PgMailStore& ShardedMailStore::shard(const std::string& name) {
  std::lock_guard lock(mu_);
  return open_locked(name, find(name));
}

bool ShardedMailStore::has_shard(const std::string& name) const {
  std::lock_guard lock(mu_);
  return shards_.count(name) > 0;
}

std::string ShardedMailStore::url_of(const std::string& name) const {
  std::lock_guard lock(mu_);
  auto it = shards_.find(name);
  if (it == shards_.end()) throw UnknownShard("unknown mailstore shard '" + name + "' (not in mailstore.shards)");
  return it->second.url;
}

std::vector<std::string> ShardedMailStore::names() const {
  std::lock_guard lock(mu_);
  std::vector<std::string> out;
  for (const auto& [n, s] : shards_) out.push_back(n);
  return out;
}

void ShardedMailStore::for_each_open(const std::function<void(const std::string&, PgMailStore&)>& fn) {
  std::vector<std::pair<std::string, PgMailStore*>> open;
  {
    std::lock_guard lock(mu_);
    for (auto& [n, s] : shards_)
      if (s.store) open.emplace_back(n, s.store.get());
  }
  for (auto& [n, st] : open) fn(n, *st);
}

PruneResult ShardedMailStore::prune_expunged(std::chrono::seconds max_age, int64_t batch) {
  PruneResult total;
  total.locked = false;
  for (const auto& n : names()) {
    auto r = shard(n).prune_expunged(max_age, batch);
    total.locked = total.locked || r.locked;
    total.deleted += r.deleted;
    total.more = total.more || r.more;
  }
  return total;
}

void ShardedMailStore::start_change_feed(ChangeCallback callback) {
  {
    std::lock_guard lock(mu_);
    feed_ = std::move(callback);
  }
  // imapd must hear every shard: a session may be on any of them.
  for (const auto& n : names()) {
    std::lock_guard lock(mu_);
    auto& s = find(n);
    if (s.store)
      attach_feed_locked(n, *s.store);
    else
      open_locked(n, s);
  }
}

void ShardedMailStore::stop_change_feed() {
  std::vector<PgMailStore*> open;
  {
    std::lock_guard lock(mu_);
    feed_ = nullptr;
    for (auto& [n, s] : shards_)
      if (s.store) open.push_back(s.store.get());
  }
  for (auto* st : open) st->stop_change_feed();
}

std::vector<std::pair<WatchedMailbox, Modseq>> ShardedMailStore::highest_modseqs(const std::vector<WatchedMailbox>& mb) {
  std::map<std::string, std::vector<WatchedMailbox>> by_shard;
  for (const auto& w : mb) by_shard[shard_of(w.user_id)].push_back(w);
  std::vector<std::pair<WatchedMailbox, Modseq>> out;
  for (auto& [n, list] : by_shard) {
    auto part = shard(n).highest_modseqs(list);
    out.insert(out.end(), part.begin(), part.end());
  }
  return out;
}

bool ShardedMailStore::ping() {
  bool ok = true;
  bool any = false;
  for_each_open([&](const std::string&, PgMailStore& s) {
    any = true;
    ok = ok && s.ping();
  });
  return any ? ok : shard(default_).ping();
}

}  // namespace postline::mailstore::pg
