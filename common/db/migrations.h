// Numbered schema migrations, one list per owning component, embedded into the
// binaries at build time (cmake/EmbedSql.cmake). migrate() applies the missing
// ones under a PostgreSQL advisory lock so concurrent runners (several pods, a
// Job and a developer) serialise; check_schema() lets a service refuse to start
// on a schema it does not know.
#pragma once

#include <pqxx/pqxx>

#include <stdexcept>
#include <string>
#include <vector>

namespace postline::db {

struct Migration {
  std::string component;  // "auth", "queue", "mailstore"
  int version;            // from the file name: 001_init.sql -> 1
  std::string name;       // "001_init"
  std::string sql;
};

class SchemaError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Applies every migration not yet recorded, each in its own transaction, in
// (component, version) order. Returns how many were applied.
int migrate(pqxx::connection& conn, const std::vector<Migration>& migrations);

// Throws SchemaError if any migration in `known` is not applied yet ("run
// `postline migrate`") or the database has versions newer than `known` for
// these components (an older binary against a newer schema).
void check_schema(pqxx::connection& conn, const std::vector<Migration>& known);

}  // namespace postline::db
