#include "common/mailstore/pg/pg_sieve_scripts.h"

#include <stdexcept>

namespace postline::mailstore::pg {

namespace {

using db::pq::Connection;
using db::pq::Params;
using db::pq::Statement;

const Statement kList{"ms_sieve_list",
                      "SELECT s.name, a.user_id IS NOT NULL, s.size FROM mailstore_sieve_scripts s "
                      "LEFT JOIN mailstore_sieve_active a ON a.user_id = s.user_id AND a.name = s.name "
                      "WHERE s.user_id = $1 ORDER BY s.name COLLATE \"C\""};
const Statement kGet{"ms_sieve_get", "SELECT script FROM mailstore_sieve_scripts WHERE user_id = $1 AND name = $2"};
const Statement kPut{"ms_sieve_put",
                     "INSERT INTO mailstore_sieve_scripts (user_id, name, script) VALUES ($1, $2, $3) "
                     "ON CONFLICT (user_id, name) DO UPDATE SET script = EXCLUDED.script, updated_at = now()"};
// The active row goes with the script (ON DELETE CASCADE).
const Statement kDelete{"ms_sieve_delete", "DELETE FROM mailstore_sieve_scripts WHERE user_id = $1 AND name = $2"};
// The active row follows (ON UPDATE CASCADE). A concurrent put of `to` that
// commits first makes this a unique violation: "to exists".
const Statement kRename{"ms_sieve_rename",
                        "UPDATE mailstore_sieve_scripts SET name = $3, updated_at = now() "
                        "WHERE user_id = $1 AND name = $2 AND NOT EXISTS "
                        "(SELECT 1 FROM mailstore_sieve_scripts WHERE user_id = $1 AND name = $3)"};
const Statement kActivate{"ms_sieve_activate",
                          "INSERT INTO mailstore_sieve_active (user_id, name) "
                          "SELECT user_id, name FROM mailstore_sieve_scripts WHERE user_id = $1 AND name = $2 "
                          "ON CONFLICT (user_id) DO UPDATE SET name = EXCLUDED.name RETURNING 1"};
const Statement kDeactivate{"ms_sieve_deactivate", "DELETE FROM mailstore_sieve_active WHERE user_id = $1"};
const Statement kActive{"ms_sieve_active",
                        "SELECT a.name, s.script FROM mailstore_sieve_active a "
                        "JOIN mailstore_sieve_scripts s ON s.user_id = a.user_id AND s.name = a.name "
                        "WHERE a.user_id = $1"};
const Statement kTotal{"ms_sieve_total",
                       "SELECT coalesce(sum(size), 0)::bigint FROM mailstore_sieve_scripts WHERE user_id = $1"};

void require_name(const std::string& name) {
  if (name.empty()) throw std::invalid_argument("a Sieve script name may not be empty");
}

}  // namespace

PgSieveScriptStore::PgSieveScriptStore(const std::string& url, size_t pool_size)
    : own_(std::make_unique<db::pq::Pool>(url, pool_size)), pool_(*own_) {}

PgSieveScriptStore::PgSieveScriptStore(db::pq::Pool& pool) : pool_(pool) {}

PgSieveScriptStore::~PgSieveScriptStore() = default;

std::vector<SieveScriptInfo> PgSieveScriptStore::list_scripts(UserId user) {
  return pool_.with(
      [&](Connection& c) {
        auto r = c.exec(kList, Params().i64(user));
        std::vector<SieveScriptInfo> out;
        out.reserve(r.rows());
        for (int i = 0; i < r.rows(); ++i) out.push_back({r.text(i, 0), r.boolean(i, 1), r.i64(i, 2)});
        return out;
      },
      /*idempotent=*/true);
}

std::optional<std::string> PgSieveScriptStore::get_script(UserId user, const std::string& name) {
  return pool_.with(
      [&](Connection& c) -> std::optional<std::string> {
        auto r = c.exec(kGet, Params().i64(user).text(name));
        if (r.rows() == 0) return std::nullopt;
        return r.text(0, 0);
      },
      true);
}

void PgSieveScriptStore::put_script(UserId user, const std::string& name, const std::string& text) {
  require_name(name);
  // Running it twice stores the same thing.
  pool_.with([&](Connection& c) { c.exec(kPut, Params().i64(user).text(name).bytea(text)); }, true);
}

bool PgSieveScriptStore::delete_script(UserId user, const std::string& name) {
  return pool_.with([&](Connection& c) { return c.exec(kDelete, Params().i64(user).text(name)).affected() > 0; });
}

bool PgSieveScriptStore::rename_script(UserId user, const std::string& from, const std::string& to) {
  require_name(to);
  return pool_.with([&](Connection& c) {
    try {
      return c.exec(kRename, Params().i64(user).text(from).text(to)).affected() > 0;
    } catch (const db::pq::Error& e) {
      if (e.unique_violation()) return false;  // `to` was created meanwhile
      throw;
    }
  });
}

bool PgSieveScriptStore::set_active_script(UserId user, const std::string& name) {
  return pool_.with(
      [&](Connection& c) {
        if (name.empty()) {
          c.exec(kDeactivate, Params().i64(user));
          return true;
        }
        try {
          return c.exec(kActivate, Params().i64(user).text(name)).rows() > 0;
        } catch (const db::pq::Error& e) {
          if (e.sqlstate() == "23503") return false;  // the script was deleted meanwhile
          throw;
        }
      },
      true);
}

std::optional<std::pair<std::string, std::string>> PgSieveScriptStore::active_script(UserId user) {
  return pool_.with(
      [&](Connection& c) -> std::optional<std::pair<std::string, std::string>> {
        auto r = c.exec(kActive, Params().i64(user));
        if (r.rows() == 0) return std::nullopt;
        return std::make_pair(r.text(0, 0), r.text(0, 1));
      },
      true);
}

std::int64_t PgSieveScriptStore::scripts_total_size(UserId user) {
  return pool_.with([&](Connection& c) { return c.exec(kTotal, Params().i64(user)).i64(0, 0); }, true);
}

}  // namespace postline::mailstore::pg
