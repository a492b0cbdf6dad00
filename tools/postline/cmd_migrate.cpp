// postline migrate: applies every component's schema migrations (auth, queue,
// mailstore — whichever this binary was built with) under the shared advisory
// lock, so running it from several places at once is safe.
#include <iostream>
#include <set>

#include "common/db/migrations.h"
#include "services/auth/sql/migrations.h"
#include "tools/postline/cli_context.h"
#include "services/delivery-queue/sql/migrations.h"
#include "common/mailstore/sql/migrations.h"
#include "services/smtp-ingress/sql/migrations.h"

namespace postline::cli {

std::vector<db::Migration> all_migrations() {
  std::vector<db::Migration> all = auth::sql::migrations();
  for (auto& m : queue::sql::migrations()) all.push_back(std::move(m));
  for (auto& m : mailstore::sql::migrations()) all.push_back(std::move(m));
  for (auto& m : smtp::sql::migrations()) all.push_back(std::move(m));  // greylisting, rate limits
  return all;
}

void register_migrate_commands(CLI::App& app, CliContext& ctx) {
  auto* migrate = app.add_subcommand("migrate", "apply all pending database migrations");
  migrate->add_option("--db-url", ctx.db_url, "PostgreSQL URL (default: POSTLINE_DB_URL, then db.url)")
      ->envname("POSTLINE_DB_URL");
  migrate->callback([&ctx] {
    const std::string url = ctx.resolved_db_url();
    const auto migrations = all_migrations();
    try {
      pqxx::connection conn(url);
      const int applied = db::migrate(conn, migrations);
      std::set<std::string> components;
      for (const auto& m : migrations) components.insert(m.component);
      std::string names;
      for (const auto& c : components) names += (names.empty() ? "" : ", ") + c;
      print_outcome(ctx,
                    JsonObject()
                        .add("applied", static_cast<int64_t>(applied))
                        .add("components", std::vector<std::string>(components.begin(), components.end())),
                    "applied " + std::to_string(applied) + " migration(s); schema current for " + names + "\n");
    } catch (const pqxx::broken_connection& e) {
      throw CliError(std::string("migrate: cannot connect to the database (--db-url / POSTLINE_DB_URL / db.url): ") +
                     e.what());
    } catch (const pqxx::sql_error& e) {
      throw CliError(std::string("migrate: a migration failed and was rolled back: ") + e.what() +
                     (e.query().empty() ? "" : "\n  in: " + e.query().substr(0, 200)));
    }
  });
}

}  // namespace postline::cli
