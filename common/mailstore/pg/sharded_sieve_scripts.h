// Users' Sieve scripts over several mailstore shards (docs/DESIGN.md
// "Sharding"): a SieveScriptStore that sends each call to the
// PgSieveScriptStore of the user's shard (each opened at first use).
// managesieved tells it the shard authd answered at login (assign); a user
// nobody assigned is on the default shard.
#pragma once

#include "common/mailstore/pg/pg_sieve_scripts.h"

#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>
#include <vector>

namespace postline::mailstore::pg {

class ShardedSieveScriptStore final : public SieveScriptStore {
 public:
  // `shards` as parse_shards gives them; `default_shard` empty: "main" when
  // configured, else the first.
  ShardedSieveScriptStore(std::vector<std::pair<std::string, std::string>> shards, std::string default_shard,
                          size_t pool_size);
  ~ShardedSieveScriptStore() override;

  // Throws UnknownShard (sharded_mail_store.h) for a shard not configured.
  void assign(UserId user, const std::string& shard);
  PgSieveScriptStore& shard(const std::string& name);

  std::vector<SieveScriptInfo> list_scripts(UserId user) override { return of(user).list_scripts(user); }
  std::optional<std::string> get_script(UserId user, const std::string& name) override {
    return of(user).get_script(user, name);
  }
  void put_script(UserId user, const std::string& name, const std::string& text) override {
    of(user).put_script(user, name, text);
  }
  bool delete_script(UserId user, const std::string& name) override { return of(user).delete_script(user, name); }
  bool rename_script(UserId user, const std::string& from, const std::string& to) override {
    return of(user).rename_script(user, from, to);
  }
  bool set_active_script(UserId user, const std::string& name) override {
    return of(user).set_active_script(user, name);
  }
  std::optional<std::pair<std::string, std::string>> active_script(UserId user) override {
    return of(user).active_script(user);
  }
  std::int64_t scripts_total_size(UserId user) override { return of(user).scripts_total_size(user); }

 private:
  SieveScriptStore& of(UserId user);
  PgSieveScriptStore& open_locked(const std::string& name);

  std::string default_;
  size_t pool_size_;
  std::mutex mu_;
  std::map<std::string, std::string> urls_;
  std::map<std::string, std::unique_ptr<PgSieveScriptStore>> open_;
  std::unordered_map<UserId, std::string> assigned_;
};

}  // namespace postline::mailstore::pg
