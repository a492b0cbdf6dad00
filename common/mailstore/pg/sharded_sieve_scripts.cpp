#include "common/mailstore/pg/sharded_sieve_scripts.h"

#include "common/mailstore/pg/sharded_mail_store.h"

namespace postline::mailstore::pg {

ShardedSieveScriptStore::ShardedSieveScriptStore(std::vector<std::pair<std::string, std::string>> shards,
                                                 std::string default_shard, size_t pool_size)
    : default_(std::move(default_shard)), pool_size_(pool_size) {
  if (default_.empty() && !shards.empty()) {
    default_ = shards.front().first;
    for (const auto& [name, url] : shards)
      if (name == kDefaultShard) default_ = name;
  }
  for (auto& [name, url] : shards) urls_[name] = std::move(url);
  if (!urls_.count(default_)) throw UnknownShard("the default shard " + default_ + " is not among mailstore.shards");
}

ShardedSieveScriptStore::~ShardedSieveScriptStore() = default;

PgSieveScriptStore& ShardedSieveScriptStore::open_locked(const std::string& name) {
  auto u = urls_.find(name);
  if (u == urls_.end()) throw UnknownShard("unknown mailstore shard '" + name + "' (not in mailstore.shards)");
  auto& s = open_[name];
  if (!s) s = std::make_unique<PgSieveScriptStore>(u->second, pool_size_);
  return *s;
}

void ShardedSieveScriptStore::assign(UserId user, const std::string& shard) {
  if (shard.empty()) return;
  std::lock_guard lock(mu_);
  if (!urls_.count(shard)) throw UnknownShard("unknown mailstore shard '" + shard + "' (not in mailstore.shards)");
  if (shard == default_)
    assigned_.erase(user);
  else
    assigned_[user] = shard;
}

PgSieveScriptStore& ShardedSieveScriptStore::shard(const std::string& name) {
  std::lock_guard lock(mu_);
  return open_locked(name);
}

SieveScriptStore& ShardedSieveScriptStore::of(UserId user) {
  std::lock_guard lock(mu_);
  auto it = assigned_.find(user);
  return open_locked(it == assigned_.end() ? default_ : it->second);
}

}  // namespace postline::mailstore::pg
