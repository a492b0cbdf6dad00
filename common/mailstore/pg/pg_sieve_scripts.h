// SieveScriptStore on PostgreSQL (sql/017_sieve_scripts.sql): one prepared
// statement per call (common/db/pq.h), autocommit.
#pragma once

#include "common/mailstore/sieve_scripts.h"  // first: pq.h needs <utility>
#include "common/db/pq.h"

#include <memory>
#include <string>

namespace postline::mailstore::pg {

class PgSieveScriptStore final : public SieveScriptStore {
 public:
  // A pool of its own on `url`.
  explicit PgSieveScriptStore(const std::string& url, size_t pool_size = 4);
  // Connections from `pool`, which must outlive this store.
  explicit PgSieveScriptStore(db::pq::Pool& pool);
  ~PgSieveScriptStore() override;

  std::vector<SieveScriptInfo> list_scripts(UserId user) override;
  std::optional<std::string> get_script(UserId user, const std::string& name) override;
  void put_script(UserId user, const std::string& name, const std::string& text) override;
  bool delete_script(UserId user, const std::string& name) override;
  bool rename_script(UserId user, const std::string& from, const std::string& to) override;
  bool set_active_script(UserId user, const std::string& name) override;
  std::optional<std::pair<std::string, std::string>> active_script(UserId user) override;
  std::int64_t scripts_total_size(UserId user) override;
  db::PoolStats pool_stats() { return pool_.stats(); }

 private:
  std::unique_ptr<db::pq::Pool> own_;
  db::pq::Pool& pool_;
};

}  // namespace postline::mailstore::pg
