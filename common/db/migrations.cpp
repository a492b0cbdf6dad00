#include "common/db/migrations.h"

#include <algorithm>
#include <map>
#include <set>

namespace postline::db {
namespace {

// An arbitrary, fixed advisory-lock key shared by every migration runner.
constexpr long long kMigrationLockKey = 0x706f73746c696e65;  // "postline"

void ensure_table(pqxx::connection& conn) {
  pqxx::work tx(conn);
  tx.exec(
      "CREATE TABLE IF NOT EXISTS schema_migrations ("
      " component text NOT NULL,"
      " version integer NOT NULL,"
      " name text NOT NULL,"
      " applied_at timestamptz NOT NULL DEFAULT now(),"
      " PRIMARY KEY (component, version))");
  tx.commit();
}

std::map<std::string, std::set<int>> applied(pqxx::connection& conn) {
  std::map<std::string, std::set<int>> out;
  pqxx::read_transaction tx(conn);
  auto rows = tx.exec("SELECT component, version FROM schema_migrations");
  for (const auto& r : rows) out[r[0].as<std::string>()].insert(r[1].as<int>());
  return out;
}

}  // namespace

int migrate(pqxx::connection& conn, const std::vector<Migration>& migrations) {
  {
    pqxx::nontransaction nt(conn);
    nt.exec_params("SELECT pg_advisory_lock($1)", kMigrationLockKey);
  }
  int count = 0;
  try {
    ensure_table(conn);
    auto done = applied(conn);
    auto ordered = migrations;
    std::sort(ordered.begin(), ordered.end(), [](const Migration& a, const Migration& b) {
      return std::tie(a.component, a.version) < std::tie(b.component, b.version);
    });
    for (const auto& m : ordered) {
      if (done[m.component].count(m.version)) continue;
      pqxx::work tx(conn);
      tx.exec(m.sql);
      tx.exec_params("INSERT INTO schema_migrations (component, version, name) VALUES ($1, $2, $3)",
                     m.component, m.version, m.name);
      tx.commit();
      ++count;
    }
  } catch (...) {
    pqxx::nontransaction nt(conn);
    nt.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
    throw;
  }
  pqxx::nontransaction nt(conn);
  nt.exec_params("SELECT pg_advisory_unlock($1)", kMigrationLockKey);
  return count;
}

void check_schema(pqxx::connection& conn, const std::vector<Migration>& known) {
  std::map<std::string, std::set<int>> done;
  {
    pqxx::read_transaction tx(conn);
    auto exists = tx.exec("SELECT to_regclass('schema_migrations') IS NOT NULL");
    if (!exists[0][0].as<bool>())
      throw SchemaError("database has no schema yet: run `postline migrate`");
  }
  done = applied(conn);
  std::map<std::string, int> newest_known;
  for (const auto& m : known) {
    newest_known[m.component] = std::max(newest_known[m.component], m.version);
    if (!done[m.component].count(m.version))
      throw SchemaError("migration " + m.component + "/" + m.name + " is not applied: run `postline migrate`");
  }
  for (const auto& [component, newest] : newest_known) {
    for (int v : done[component])
      if (v > newest)
        throw SchemaError("database schema for " + component + " is at version " + std::to_string(v) +
                          ", newer than this binary knows (" + std::to_string(newest) + "): upgrade the binary");
  }
}

}  // namespace postline::db
