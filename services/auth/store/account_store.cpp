#include "services/auth/store/account_store.h"

#include <algorithm>
#include <functional>
#include <set>

namespace postline::auth {
namespace {

using Kind = StoreError::Kind;

std::string domain_of(const std::string& email) { return email.substr(email.rfind('@') + 1); }

pqxx::binarystring bin(const std::string& s) { return pqxx::binarystring(s.data(), s.size()); }

std::string bytes(const pqxx::field& f) { return f.is_null() ? std::string() : pqxx::binarystring(f).str(); }

std::string text(const pqxx::field& f) { return f.is_null() ? std::string() : f.as<std::string>(); }

int64_t domain_id(pqxx::transaction_base& tx, const std::string& domain) {
  auto r = tx.exec_params("SELECT id FROM auth_domains WHERE name = $1", domain);
  if (r.empty()) throw StoreError(Kind::kNotFound, "domain " + domain + " is not hosted here (postline domain add)");
  return r[0][0].as<int64_t>();
}

UserRow user_row(const pqxx::row& r) {
  UserRow u;
  u.id = r["id"].as<int64_t>();
  u.email = r["email"].as<std::string>();
  u.disabled = r["disabled"].as<bool>();
  u.quota_bytes = r["quota_bytes"].as<int64_t>();
  u.display_name = r["display_name"].as<std::string>();
  u.last_login_at = text(r["last_login"]);
  u.quota_messages = r["quota_messages"].as<int64_t>();
  u.admin = r["admin"].as<bool>();
  u.shard = r["shard"].as<std::string>();
  u.moving = r["moving"].as<bool>();
  return u;
}

constexpr const char* kUserColumns =
    "id, email, disabled, quota_bytes, quota_messages, admin, shard, moving, display_name, "
    "to_char(last_login_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last_login";

bool valid_shard_name(const std::string& n) {
  if (n.empty() || n.size() > 63) return false;
  for (char ch : n)
    if (!((ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_')) return false;
  return true;
}

void require_changed(const pqxx::result& r, const std::string& email) {
  if (r.affected_rows() == 0) throw StoreError(Kind::kNotFound, "no such user " + email);
}

// Hot-path statements (every login, every SMTP RCPT) are prepared: parsed and
// planned once per connection. libpqxx 6 registers a definition lazily on
// first use and ignores a repeated prepare() with the same text, so each call
// site prepares right before it executes; a connection replaced after a
// PostgreSQL restart prepares again by itself.
constexpr const char* kLoginRecordStatement = "auth_login_record";
constexpr const char* kLoginRecord =
    "SELECT u.id, u.email, u.password_hash, u.disabled, u.scram_salt, coalesce(u.scram_iterations, 0),"
    " u.scram_stored_key, u.scram_server_key, u.display_name, u.quota_bytes, u.quota_messages, u.admin,"
    " (u.last_login_at IS NULL OR u.last_login_at < now() - make_interval(secs => $2)),"
    " a.id, a.label, a.secret_sha256, a.scram_stored_key, a.scram_server_key,"
    " (a.last_used_at IS NULL OR a.last_used_at < now() - make_interval(secs => $2)),"
    " u.shard, u.moving"
    " FROM auth_users u LEFT JOIN auth_app_passwords a ON a.user_id = u.id"
    " WHERE u.email = $1 ORDER BY a.id";

constexpr const char* kTouchUserStatement = "auth_touch_user";
constexpr const char* kTouchUser =
    "UPDATE auth_users SET last_login_at = now()"
    " WHERE id = $1 AND (last_login_at IS NULL OR last_login_at < now() - make_interval(secs => $2))";
constexpr const char* kTouchAppStatement = "auth_touch_app_password";
constexpr const char* kTouchApp =
    "UPDATE auth_app_passwords SET last_used_at = now()"
    " WHERE id = $1 AND (last_used_at IS NULL OR last_used_at < now() - make_interval(secs => $2))";

// Recipient resolution: the domain and an exact user in one round trip (the
// common case, a plain mailbox, needs nothing else), then aliases.
constexpr const char* kResolveStatement = "auth_resolve_first";
constexpr const char* kResolve =
    "SELECT coalesce(d.catch_all, ''), u.id, u.disabled, u.quota_bytes, u.quota_messages, u.shard, u.moving"
    " FROM auth_domains d LEFT JOIN auth_users u ON u.email = $2"
    " WHERE d.name = $1";
constexpr const char* kUserByEmailStatement = "auth_resolve_user";
constexpr const char* kUserByEmail = "SELECT id, disabled, quota_bytes, quota_messages, shard, moving FROM auth_users WHERE email = $1";
constexpr const char* kAliasTargetsStatement = "auth_resolve_alias";
constexpr const char* kAliasTargets = "SELECT target FROM auth_aliases WHERE address = $1 ORDER BY target";
constexpr const char* kIsHostedStatement = "auth_is_hosted";
constexpr const char* kIsHosted = "SELECT 1 FROM auth_domains WHERE name = $1";

// Aliases may point at aliases; past this depth we assume a loop someone made by mistake.
constexpr int kMaxAliasDepth = 8;
constexpr size_t kMaxTargets = 1000;

}  // namespace

DomainRow AccountStore::add_domain(const std::string& name) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params("INSERT INTO auth_domains (name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id", name);
    if (r.empty()) throw StoreError(Kind::kAlreadyExists, "domain " + name + " already exists");
    tx.commit();
    DomainRow d;
    d.name = name;
    return d;
  });
}

std::vector<DomainRow> AccountStore::list_domains() {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec(
        "SELECT d.name, coalesce(d.catch_all, ''),"
        " (SELECT count(*) FROM auth_users u WHERE u.domain_id = d.id),"
        " (SELECT count(DISTINCT address) FROM auth_aliases a WHERE a.domain_id = d.id)"
        " FROM auth_domains d ORDER BY d.name");
    std::vector<DomainRow> out;
    for (const auto& r : rows)
      out.push_back({r[0].as<std::string>(), r[2].as<int64_t>(), r[3].as<int64_t>(), r[1].as<std::string>()});
    return out;
  });
}

void AccountStore::remove_domain(const std::string& name, bool force) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params("SELECT id, (SELECT count(*) FROM auth_users u WHERE u.domain_id = d.id) FROM auth_domains d"
                            " WHERE name = $1 FOR UPDATE",
                            name);
    if (r.empty()) throw StoreError(Kind::kNotFound, "no such domain " + name);
    const int64_t users = r[0][1].as<int64_t>();
    if (users > 0 && !force)
      throw StoreError(Kind::kFailedPrecondition, "domain " + name + " still has " + std::to_string(users) +
                                                      " user(s); remove them first or use --force");
    tx.exec_params("DELETE FROM auth_domains WHERE id = $1", r[0][0].as<int64_t>());
    tx.commit();
  });
}

void AccountStore::set_catch_all(const std::string& domain, const std::string& target) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params("UPDATE auth_domains SET catch_all = NULLIF($2, '') WHERE name = $1", domain, target);
    if (r.affected_rows() == 0) throw StoreError(Kind::kNotFound, "no such domain " + domain);
    tx.commit();
  });
}

UserRow AccountStore::add_user(const NewUser& u) {
  if (!valid_shard_name(u.shard)) throw StoreError(Kind::kInvalidArgument, "shard name: use 1-63 of a-z, 0-9, '-', '_'");
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    const int64_t did = domain_id(tx, domain_of(u.email));
    auto alias = tx.exec_params("SELECT 1 FROM auth_aliases WHERE address = $1 LIMIT 1", u.email);
    if (!alias.empty())
      throw StoreError(Kind::kAlreadyExists, u.email + " is an alias; remove the alias before adding a user");
    auto r = tx.exec_params(
        std::string("INSERT INTO auth_users (domain_id, email, password_hash, scram_salt, scram_iterations,"
                    " scram_stored_key, scram_server_key, quota_bytes, display_name, quota_messages, admin, shard)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) ON CONFLICT (email) DO NOTHING RETURNING ") +
            kUserColumns,
        did, u.email, u.password_hash, bin(u.scram.salt), u.scram.iterations, bin(u.scram.stored_key),
        bin(u.scram.server_key), u.quota_bytes, u.display_name, u.quota_messages, u.admin, u.shard);
    if (r.empty()) throw StoreError(Kind::kAlreadyExists, "user " + u.email + " already exists");
    tx.commit();
    return user_row(r[0]);
  });
}

std::vector<UserRow> AccountStore::list_users(const std::string& domain) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result rows;
    if (domain.empty()) {
      rows = tx.exec(std::string("SELECT ") + kUserColumns + " FROM auth_users ORDER BY email");
    } else {
      (void)domain_id(tx, domain);
      rows = tx.exec_params(std::string("SELECT ") + kUserColumns +
                                " FROM auth_users WHERE domain_id = (SELECT id FROM auth_domains WHERE name = $1) ORDER BY email",
                            domain);
    }
    std::vector<UserRow> out;
    for (const auto& r : rows) out.push_back(user_row(r));
    return out;
  });
}

std::optional<UserRow> AccountStore::get_user(const std::string& email) {
  return pool_.with([&](pqxx::connection& c) -> std::optional<UserRow> {
    pqxx::read_transaction tx(c);
    auto r = tx.exec_params(std::string("SELECT ") + kUserColumns + " FROM auth_users WHERE email = $1", email);
    if (r.empty()) return std::nullopt;
    return user_row(r[0]);
  });
}

void AccountStore::remove_user(const std::string& email) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(tx.exec_params("DELETE FROM auth_users WHERE email = $1", email), email);
    tx.commit();
  });
}

void AccountStore::set_password(const std::string& email, const std::string& hash, const scram::Credentials& s) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        "UPDATE auth_users SET password_hash = $2, scram_salt = $3, scram_iterations = $4, scram_stored_key = $5,"
        " scram_server_key = $6, updated_at = now() WHERE email = $1 RETURNING id",
        email, hash, bin(s.salt), s.iterations, bin(s.stored_key), bin(s.server_key));
    require_changed(r, email);
    // App passwords' SCRAM keys were derived under the old salt; they keep working
    // for PLAIN/LOGIN but SCRAM needs them re-issued. Changing the main password
    // is usually a reaction to a compromise, so revoke them all.
    tx.exec_params("DELETE FROM auth_app_passwords WHERE user_id = $1", r[0][0].as<int64_t>());
    tx.commit();
  });
}

void AccountStore::set_disabled(const std::string& email, bool disabled) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(tx.exec_params("UPDATE auth_users SET disabled = $2, updated_at = now() WHERE email = $1", email, disabled),
                    email);
    tx.commit();
  });
}

void AccountStore::set_quota(const std::string& email, int64_t quota) {
  if (quota < 0) throw StoreError(Kind::kInvalidArgument, "quota must not be negative");
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(
        tx.exec_params("UPDATE auth_users SET quota_bytes = $2, updated_at = now() WHERE email = $1", email, quota), email);
    tx.commit();
  });
}

void AccountStore::set_quota_messages(const std::string& email, int64_t quota) {
  if (quota < 0) throw StoreError(Kind::kInvalidArgument, "message quota must not be negative");
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(
        tx.exec_params("UPDATE auth_users SET quota_messages = $2, updated_at = now() WHERE email = $1", email, quota),
        email);
    tx.commit();
  });
}

void AccountStore::set_admin(const std::string& email, bool admin) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(tx.exec_params("UPDATE auth_users SET admin = $2, updated_at = now() WHERE email = $1", email, admin),
                    email);
    tx.commit();
  });
}

void AccountStore::set_shard(const std::string& email, const std::optional<std::string>& shard,
                             std::optional<bool> moving) {
  if (shard && !valid_shard_name(*shard))
    throw StoreError(Kind::kInvalidArgument, "shard name: use 1-63 of a-z, 0-9, '-', '_'");
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(tx.exec_params("UPDATE auth_users SET shard = coalesce($2, shard), moving = coalesce($3, moving),"
                                   " updated_at = now() WHERE email = $1",
                                   email, shard, moving),
                    email);
    tx.commit();
  });
}

std::optional<UserRow> AccountStore::get_user_by_id(int64_t id) {
  return pool_.with([&](pqxx::connection& c) -> std::optional<UserRow> {
    pqxx::read_transaction tx(c);
    auto r = tx.exec_params(std::string("SELECT ") + kUserColumns + " FROM auth_users WHERE id = $1", id);
    if (r.empty()) return std::nullopt;
    return user_row(r[0]);
  });
}

UserRow AccountStore::set_limits(const std::string& email, int64_t quota_bytes, int64_t quota_messages) {
  if (quota_bytes < 0 || quota_messages < 0) throw StoreError(Kind::kInvalidArgument, "quota must not be negative");
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(std::string("UPDATE auth_users SET quota_bytes = $2, quota_messages = $3, updated_at = now()"
                                        " WHERE email = $1 RETURNING ") +
                                kUserColumns,
                            email, quota_bytes, quota_messages);
    if (r.empty()) throw StoreError(Kind::kNotFound, "no such user " + email);
    tx.commit();
    return user_row(r[0]);
  });
}

void AccountStore::set_display_name(const std::string& email, const std::string& name) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    require_changed(
        tx.exec_params("UPDATE auth_users SET display_name = $2, updated_at = now() WHERE email = $1", email, name), email);
    tx.commit();
  });
}

std::optional<LoginRecord> AccountStore::login_record(const std::string& email) {
  return pool_.with([&](pqxx::connection& c) -> std::optional<LoginRecord> {
    c.prepare(kLoginRecordStatement, kLoginRecord);
    // One statement, so no explicit transaction: each statement sees one
    // snapshot anyway. An unknown user costs the same round trip as a real one
    // (the dummy argon2 covers the rest of the timing).
    pqxx::nontransaction tx(c);
    auto rows = tx.exec_prepared(kLoginRecordStatement, email, kLastUseResolution.count());
    if (rows.empty()) return std::nullopt;
    const auto& r = rows[0];
    LoginRecord rec;
    rec.id = r[0].as<int64_t>();
    rec.email = r[1].as<std::string>();
    rec.password_hash = r[2].as<std::string>();
    rec.disabled = r[3].as<bool>();
    rec.scram.salt = bytes(r[4]);
    rec.scram.iterations = r[5].as<int>();
    rec.scram.stored_key = bytes(r[6]);
    rec.scram.server_key = bytes(r[7]);
    rec.display_name = r[8].as<std::string>();
    rec.quota_bytes = r[9].as<int64_t>();
    rec.quota_messages = r[10].as<int64_t>();
    rec.admin = r[11].as<bool>();
    rec.login_stale = r[12].as<bool>();
    rec.shard = r[19].as<std::string>();
    rec.moving = r[20].as<bool>();
    for (const auto& a : rows) {
      if (a[13].is_null()) break;  // LEFT JOIN: no app passwords
      LoginRecord::App app;
      app.id = a[13].as<int64_t>();
      app.label = a[14].as<std::string>();
      app.secret_sha256 = bytes(a[15]);
      app.scram.salt = rec.scram.salt;
      app.scram.iterations = rec.scram.iterations;
      app.scram.stored_key = bytes(a[16]);
      app.scram.server_key = bytes(a[17]);
      app.use_stale = a[18].as<bool>();
      rec.apps.push_back(std::move(app));
    }
    return rec;
  });
}

void AccountStore::record_login(int64_t user_id, int64_t app_id) {
  pool_.with([&](pqxx::connection& c) {
    c.prepare(kTouchUserStatement, kTouchUser);
    c.prepare(kTouchAppStatement, kTouchApp);
    pqxx::work tx(c);
    // Bookkeeping only: do not wait for the WAL flush (a crash may lose the
    // timestamp, never anything else; it is this transaction only).
    tx.exec("SET LOCAL synchronous_commit = off");
    // The age test is repeated here, not only in the caller, so concurrent
    // logins (other threads, other replicas) write at most once per interval.
    tx.exec_prepared(kTouchUserStatement, user_id, kLastUseResolution.count());
    if (app_id > 0) tx.exec_prepared(kTouchAppStatement, app_id, kLastUseResolution.count());
    tx.commit();
  });
}

bool AccountStore::upgrade_hash(int64_t user_id, const std::string& old_hash, const std::string& new_hash) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params("UPDATE auth_users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", user_id,
                            old_hash, new_hash);
    tx.commit();
    return r.affected_rows() > 0;
  });
}

int64_t AccountStore::add_app_password(const std::string& email, const std::string& label,
                                       const std::string& secret_sha256, const scram::Credentials& s) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto u = tx.exec_params("SELECT id FROM auth_users WHERE email = $1", email);
    if (u.empty()) throw StoreError(Kind::kNotFound, "no such user " + email);
    auto r = tx.exec_params(
        "INSERT INTO auth_app_passwords (user_id, label, secret_sha256, scram_stored_key, scram_server_key)"
        " VALUES ($1, $2, $3, $4, $5) ON CONFLICT (user_id, label) DO NOTHING RETURNING id",
        u[0][0].as<int64_t>(), label, bin(secret_sha256), bin(s.stored_key), bin(s.server_key));
    if (r.empty())
      throw StoreError(Kind::kAlreadyExists, email + " already has an app password labelled '" + label + "'");
    tx.commit();
    return r[0][0].as<int64_t>();
  });
}

std::vector<AppPasswordRow> AccountStore::list_app_passwords(const std::string& email) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto u = tx.exec_params("SELECT id FROM auth_users WHERE email = $1", email);
    if (u.empty()) throw StoreError(Kind::kNotFound, "no such user " + email);
    auto rows = tx.exec_params(
        "SELECT id, label,"
        " to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        " to_char(last_used_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
        " FROM auth_app_passwords WHERE user_id = $1 ORDER BY label",
        u[0][0].as<int64_t>());
    std::vector<AppPasswordRow> out;
    for (const auto& r : rows) out.push_back({r[0].as<int64_t>(), r[1].as<std::string>(), text(r[2]), text(r[3])});
    return out;
  });
}

void AccountStore::remove_app_password(const std::string& email, const std::string& label) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        "DELETE FROM auth_app_passwords WHERE label = $2 AND user_id = (SELECT id FROM auth_users WHERE email = $1)", email,
        label);
    if (r.affected_rows() == 0)
      throw StoreError(Kind::kNotFound, "no app password labelled '" + label + "' for " + email);
    tx.commit();
  });
}

std::optional<scram::Credentials> AccountStore::scram_params(const std::string& email) {
  return pool_.with([&](pqxx::connection& c) -> std::optional<scram::Credentials> {
    pqxx::read_transaction tx(c);
    auto r = tx.exec_params("SELECT scram_salt, coalesce(scram_iterations, 0) FROM auth_users WHERE email = $1", email);
    if (r.empty()) return std::nullopt;
    scram::Credentials s;
    s.salt = bytes(r[0][0]);
    s.iterations = r[0][1].as<int>();
    return s;
  });
}

void AccountStore::add_alias(const std::string& address, const std::vector<std::string>& targets) {
  if (targets.empty()) throw StoreError(Kind::kInvalidArgument, "an alias needs at least one target");
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    const int64_t did = domain_id(tx, domain_of(address));
    auto user = tx.exec_params("SELECT 1 FROM auth_users WHERE email = $1", address);
    if (!user.empty())
      throw StoreError(Kind::kAlreadyExists, address + " is a user; an alias cannot shadow a mailbox");
    for (const auto& t : targets) {
      if (t == address) throw StoreError(Kind::kInvalidArgument, "alias " + address + " cannot point at itself");
      tx.exec_params("INSERT INTO auth_aliases (domain_id, address, target) VALUES ($1, $2, $3)"
                     " ON CONFLICT (address, target) DO NOTHING",
                     did, address, t);
    }
    tx.commit();
  });
}

std::vector<AliasRow> AccountStore::list_aliases(const std::string& domain) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    pqxx::result rows;
    if (domain.empty()) {
      rows = tx.exec("SELECT address, target FROM auth_aliases ORDER BY address, target");
    } else {
      (void)domain_id(tx, domain);
      rows = tx.exec_params(
          "SELECT address, target FROM auth_aliases WHERE domain_id = (SELECT id FROM auth_domains WHERE name = $1)"
          " ORDER BY address, target",
          domain);
    }
    std::vector<AliasRow> out;
    for (const auto& r : rows) {
      auto address = r[0].as<std::string>();
      if (out.empty() || out.back().address != address) out.push_back({address, {}});
      out.back().targets.push_back(r[1].as<std::string>());
    }
    return out;
  });
}

void AccountStore::remove_alias(const std::string& address, const std::string& target) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = target.empty() ? tx.exec_params("DELETE FROM auth_aliases WHERE address = $1", address)
                            : tx.exec_params("DELETE FROM auth_aliases WHERE address = $1 AND target = $2", address, target);
    if (r.affected_rows() == 0)
      throw StoreError(Kind::kNotFound, target.empty() ? "no such alias " + address
                                                       : "alias " + address + " has no target " + target);
    tx.commit();
  });
}

Resolution AccountStore::resolve(const Address& address) {
  return pool_.with([&](pqxx::connection& c) {
    c.prepare(kResolveStatement, kResolve);
    c.prepare(kUserByEmailStatement, kUserByEmail);
    c.prepare(kAliasTargetsStatement, kAliasTargets);
    c.prepare(kIsHostedStatement, kIsHosted);
    // Under read committed every statement takes its own snapshot, inside a
    // read-only transaction or not: no BEGIN/COMMIT round trips for nothing.
    pqxx::nontransaction tx(c);
    Resolution res;
    std::set<std::string> seen;
    std::set<int64_t> users_seen;

    struct UserHit {
      int64_t id;
      bool disabled;
      int64_t quota_bytes, quota_messages;
      std::string shard;
      bool moving;
    };
    auto user_at = [](const pqxx::row& r, pqxx::row::size_type col) -> std::optional<UserHit> {
      if (r[col].is_null()) return std::nullopt;
      return UserHit{r[col].as<int64_t>(),         r[col + 1].as<bool>(),        r[col + 2].as<int64_t>(),
                     r[col + 3].as<int64_t>(),     r[col + 4].as<std::string>(), r[col + 5].as<bool>()};
    };
    const std::string addr = address.str();
    auto first = tx.exec_prepared(kResolveStatement, address.domain, addr);
    if (first.empty()) {
      res.kind = Resolution::Kind::kRemote;
      res.targets.push_back({false, 0, addr});
      return res;
    }
    // The exact user for `addr` came with the domain row. `addr` is expanded
    // at most once (it is in `seen` from the start), so this is its only lookup.
    const std::optional<UserHit> top_user = user_at(first[0], 1);
    auto find_user = [&](const std::string& a) -> std::optional<UserHit> {
      if (a == addr) return top_user;
      auto u = tx.exec_prepared(kUserByEmailStatement, a);
      return u.empty() ? std::nullopt : user_at(u[0], 0);
    };

    // Expands one address we host into targets. Returns false if nothing matched.
    std::function<bool(const std::string&, const std::string&, const std::string&, int)> expand;
    auto add_remote = [&](const std::string& a) {
      if (res.targets.size() < kMaxTargets) res.targets.push_back({false, 0, a});
    };
    auto lookup_exact = [&](const std::string& a, int depth) -> bool {
      if (auto u = find_user(a)) {
        // A disabled user receives nothing: the address reads as unknown (550 5.1.1),
        // so mail is refused at RCPT rather than accepted and lost.
        if (u->disabled) return false;
        if (users_seen.insert(u->id).second && res.targets.size() < kMaxTargets)
          res.targets.push_back({true, u->id, a, u->quota_bytes, u->quota_messages, u->shard, u->moving});
        return true;
      }
      auto targets = tx.exec_prepared(kAliasTargetsStatement, a);
      if (targets.empty()) return false;
      bool any = false;
      for (const auto& row : targets) {
        const auto target = row[0].as<std::string>();
        if (!seen.insert(target).second) {
          any = true;  // already expanded (a loop or a diamond); it counted the first time
          continue;
        }
        const auto at = target.rfind('@');
        const std::string local = target.substr(0, at), domain = target.substr(at + 1);
        if (tx.exec_prepared(kIsHostedStatement, domain).empty()) {
          add_remote(target);
          any = true;
        } else if (depth < kMaxAliasDepth && expand(target, local, domain, depth + 1)) {
          any = true;
        }
      }
      return any;
    };
    expand = [&](const std::string& a, const std::string& local, const std::string& domain, int depth) -> bool {
      if (lookup_exact(a, depth)) return true;
      // Plus-addressing: anna+lists@ goes where anna@ goes.
      const std::string base = base_local_part(local, policy_.recipient_delimiter);
      if (base != local && lookup_exact(base + "@" + domain, depth)) return true;
      return false;
    };

    seen.insert(addr);
    bool found = expand(addr, address.local, address.domain, 0);
    if (!found) {
      const auto catch_all = first[0][0].as<std::string>();
      if (!catch_all.empty()) {
        const auto at = catch_all.rfind('@');
        const std::string domain = catch_all.substr(at + 1);
        if (tx.exec_prepared(kIsHostedStatement, domain).empty()) {
          add_remote(catch_all);
          found = true;
        } else if (seen.insert(catch_all).second) {
          found = expand(catch_all, catch_all.substr(0, at), domain, 1);
        }
      }
    }
    res.kind = found && !res.targets.empty() ? Resolution::Kind::kLocal : Resolution::Kind::kUnknown;
    if (res.kind == Resolution::Kind::kUnknown) res.targets.clear();
    return res;
  });
}

std::string AccountStore::secret(const std::string& name) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto r = tx.exec_params("SELECT value FROM auth_secrets WHERE name = $1", name);
    if (r.empty()) throw StoreError(Kind::kNotFound, "secret " + name + " missing: run `postline migrate`");
    return r[0][0].as<std::string>();
  });
}

bool AccountStore::is_hosted(const std::string& domain) {
  return pool_.with([&](pqxx::connection& c) {
    c.prepare(kIsHostedStatement, kIsHosted);
    pqxx::nontransaction tx(c);
    return !tx.exec_prepared(kIsHostedStatement, domain).empty();
  });
}

int64_t AccountStore::count_users() {
  return pool_.with([](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec("SELECT count(*) FROM auth_users")[0][0].as<int64_t>();
  });
}

int64_t AccountStore::count_domains() {
  return pool_.with([](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    return tx.exec("SELECT count(*) FROM auth_domains")[0][0].as<int64_t>();
  });
}

}  // namespace postline::auth
