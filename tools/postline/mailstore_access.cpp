#include "tools/postline/mailstore_access.h"

#include <cstdio>

#include "common/db/unavailable.h"
#include "common/mailstore/blob/blob_config.h"
#include "common/mailstore/pg/pg_sieve_scripts.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "mail/v1/auth.grpc.pb.h"

namespace postline::cli {

mail::v1::User find_user(CliContext& ctx, const std::string& email, const std::string& what) {
  const auto at = email.rfind('@');
  if (at == std::string::npos || at == 0 || at + 1 == email.size())
    throw CliError("EMAIL: expected an address, got '" + email + "'", 2);
  // GetUser rather than ResolveRecipient: under the admin token like every
  // account command, and an alias resolves to nobody's mailboxes here.
  mail::v1::GetUserRequest req;
  req.set_email(email);
  auto stub = mail::v1::AdminService::NewStub(ctx.auth_channel());
  grpc::ClientContext call;
  ctx.prepare(call);
  mail::v1::GetUserResponse resp;
  const grpc::Status status = stub->GetUser(&call, req, &resp);
  if (status.error_code() == grpc::NOT_FOUND)
    throw CliError(what + ": no such user " + email + " (create it first: postline user add " + email + ")");
  if (!status.ok()) ctx.rpc_failed(what, status, "authd at " + ctx.resolved_auth_addr());
  return resp.user();
}

std::string shard_url(CliContext& ctx, const std::string& shard, const std::string& what) {
  const std::string name = shard.empty() ? mailstore::pg::kDefaultShard : shard;
  std::vector<std::pair<std::string, std::string>> shards;
  try {
    shards = mailstore::pg::parse_shards(ctx.config().str("mailstore", "shards"), ctx.resolved_db_url());
  } catch (const std::invalid_argument& e) {
    throw CliError(what + ": mailstore.shards: " + e.what(), 2);
  }
  for (const auto& [n, url] : shards)
    if (n == name) return url;
  throw CliError(what + ": the account is on shard '" + name + "', which mailstore.shards does not name", 2);
}

namespace {
std::string checked_url(CliContext& ctx, const std::string& what, const std::string& shard) {
  const std::string url = shard_url(ctx, shard, what);
  if (url.empty()) throw CliError(what + ": no database configured (--db-url, POSTLINE_DB_URL or db.url)", 2);
  try {
    mailstore::pg::check_schema(url);
  } catch (const mailstore::pg::SchemaMismatch& e) {
    throw CliError(what + ": " + e.what());
  } catch (const std::exception& e) {
    throw CliError(what + ": cannot reach the mailstore database (--db-url / POSTLINE_DB_URL / db.url): " +
                   e.what());
  }
  return url;
}
}  // namespace

std::unique_ptr<mailstore::SieveScriptStore> open_sieve_scripts(CliContext& ctx, const std::string& what,
                                                                const std::string& shard) {
  return std::make_unique<mailstore::pg::PgSieveScriptStore>(checked_url(ctx, what, shard), 1);
}

std::unique_ptr<mailstore::pg::PgMailStore> open_mailstore(CliContext& ctx, const std::string& what,
                                                           const std::string& shard) {
  const std::string url = checked_url(ctx, what, shard);
  mailstore::pg::PgOptions options;
  options.url = url;
  options.pool_size = 2;
  options.index_cache_messages = 0;  // one command, nothing to reuse
  // A command's writes wait for their WAL flush: an operator's expunge should
  // not come back after a database crash (imapd trades that for STORE speed).
  options.durable_flag_updates = true;
  // Bodies where the configuration keeps them (an import writes them).
  try {
    options.blobs = mailstore::blob_store_from_config(ctx.config(), nullptr, config::Config::process_environment());
  } catch (const config::ConfigError& e) {
    throw CliError(what + ": " + e.what(), 2);
  }
  return std::make_unique<mailstore::pg::PgMailStore>(options);
}

void mailstore_failed(const std::string& what, const std::exception& e) {
  if (dynamic_cast<const db::Unavailable*>(&e))
    throw CliError(what + ": the mailstore database is unavailable: " + e.what());
  throw CliError(what + ": " + e.what());
}

std::string format_used_bytes(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " B";
  const char* units[] = {"KiB", "MiB", "GiB", "TiB", "PiB"};
  double v = static_cast<double>(bytes) / 1024;
  int u = 0;
  while (u < 4 && v >= 1024) {
    v /= 1024;
    ++u;
  }
  char buf[32];
  std::snprintf(buf, sizeof buf, "%.1f %s", v, units[u]);
  return buf;
}

int64_t percent_of(int64_t used, int64_t limit) {
  if (limit <= 0) return -1;
  return static_cast<int64_t>((static_cast<__int128>(used) * 100) / limit);
}

}  // namespace postline::cli
