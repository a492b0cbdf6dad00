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
#include "common/mailstore/pg/sharded_mail_store.h"
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
      int applied = db::migrate(conn, migrations);
      // Every other mailstore shard (mailstore.shards) holds the mailstore's
      // tables only: the directory and the queue stay on db.url.
      std::vector<std::pair<std::string, std::string>> shards;
      try {
        shards = mailstore::pg::parse_shards(ctx.config().str("mailstore", "shards"), url);
      } catch (const std::invalid_argument& e) {
        throw CliError(std::string("migrate: mailstore.shards: ") + e.what(), 2);
      }
      for (const auto& [name, shard_url] : shards) {
        if (shard_url == url) continue;
        try {
          pqxx::connection sc(shard_url);
          applied += db::migrate(sc, mailstore::sql::migrations());
        } catch (const pqxx::broken_connection& e) {
          throw CliError("migrate: cannot connect to mailstore shard " + name + ": " + e.what());
        }
      }
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
