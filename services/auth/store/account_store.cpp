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
  return u;
}

constexpr const char* kUserColumns =
    "id, email, disabled, quota_bytes, quota_messages, admin, display_name, "
    "to_char(last_login_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') AS last_login";

void require_changed(const pqxx::result& r, const std::string& email) {
  if (r.affected_rows() == 0) throw StoreError(Kind::kNotFound, "no such user " + email);
}

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
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    const int64_t did = domain_id(tx, domain_of(u.email));
    auto alias = tx.exec_params("SELECT 1 FROM auth_aliases WHERE address = $1 LIMIT 1", u.email);
    if (!alias.empty())
      throw StoreError(Kind::kAlreadyExists, u.email + " is an alias; remove the alias before adding a user");
    auto r = tx.exec_params(
        std::string("INSERT INTO auth_users (domain_id, email, password_hash, scram_salt, scram_iterations,"
                    " scram_stored_key, scram_server_key, quota_bytes, display_name, quota_messages, admin)"
                    " VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) ON CONFLICT (email) DO NOTHING RETURNING ") +
            kUserColumns,
        did, u.email, u.password_hash, bin(u.scram.salt), u.scram.iterations, bin(u.scram.stored_key),
        bin(u.scram.server_key), u.quota_bytes, u.display_name, u.quota_messages, u.admin);
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
    pqxx::read_transaction tx(c);
    auto r = tx.exec_params(
        "SELECT id, email, password_hash, disabled, scram_salt, coalesce(scram_iterations, 0),"
        " scram_stored_key, scram_server_key FROM auth_users WHERE email = $1",
        email);
    if (r.empty()) {
      // Same round trips as for a real account, so the lookup's time does not
      // say whether the user exists (the dummy argon2 covers the rest).
      (void)tx.exec_params("SELECT id FROM auth_app_passwords WHERE user_id = $1", int64_t{0});
      return std::nullopt;
    }
    LoginRecord rec;
    rec.id = r[0][0].as<int64_t>();
    rec.email = r[0][1].as<std::string>();
    rec.password_hash = r[0][2].as<std::string>();
    rec.disabled = r[0][3].as<bool>();
    rec.scram.salt = bytes(r[0][4]);
    rec.scram.iterations = r[0][5].as<int>();
    rec.scram.stored_key = bytes(r[0][6]);
    rec.scram.server_key = bytes(r[0][7]);
    auto apps = tx.exec_params(
        "SELECT id, label, secret_sha256, scram_stored_key, scram_server_key FROM auth_app_passwords"
        " WHERE user_id = $1 ORDER BY id",
        rec.id);
    for (const auto& a : apps) {
      LoginRecord::App app;
      app.id = a[0].as<int64_t>();
      app.label = a[1].as<std::string>();
      app.secret_sha256 = bytes(a[2]);
      app.scram.salt = rec.scram.salt;
      app.scram.iterations = rec.scram.iterations;
      app.scram.stored_key = bytes(a[3]);
      app.scram.server_key = bytes(a[4]);
      rec.apps.push_back(std::move(app));
    }
    return rec;
  });
}

void AccountStore::record_login(int64_t user_id, int64_t app_id) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE auth_users SET last_login_at = now() WHERE id = $1", user_id);
    if (app_id > 0) tx.exec_params("UPDATE auth_app_passwords SET last_used_at = now() WHERE id = $1", app_id);
    tx.commit();
  });
}

void AccountStore::upgrade_hash(int64_t user_id, const std::string& old_hash, const std::string& new_hash) {
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    tx.exec_params("UPDATE auth_users SET password_hash = $3 WHERE id = $1 AND password_hash = $2", user_id, old_hash,
                   new_hash);
    tx.commit();
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
    pqxx::read_transaction tx(c);
    Resolution res;
    std::set<std::string> seen;
    std::set<int64_t> users_seen;

    // Expands one address we host into targets. Returns false if nothing matched.
    std::function<bool(const std::string&, const std::string&, const std::string&, int)> expand;
    auto add_remote = [&](const std::string& addr) {
      if (res.targets.size() < kMaxTargets) res.targets.push_back({false, 0, addr});
    };
    auto lookup_exact = [&](const std::string& addr, int depth) -> bool {
      auto u = tx.exec_params("SELECT id, disabled, quota_bytes, quota_messages FROM auth_users WHERE email = $1", addr);
      if (!u.empty()) {
        // A disabled user receives nothing: the address reads as unknown (550 5.1.1),
        // so mail is refused at RCPT rather than accepted and lost.
        if (u[0][1].as<bool>()) return false;
        const int64_t id = u[0][0].as<int64_t>();
        if (users_seen.insert(id).second && res.targets.size() < kMaxTargets)
          res.targets.push_back({true, id, addr, u[0][2].as<int64_t>(), u[0][3].as<int64_t>()});
        return true;
      }
      auto a = tx.exec_params("SELECT target FROM auth_aliases WHERE address = $1 ORDER BY target", addr);
      if (a.empty()) return false;
      bool any = false;
      for (const auto& row : a) {
        const auto target = row[0].as<std::string>();
        if (!seen.insert(target).second) {
          any = true;  // already expanded (a loop or a diamond); it counted the first time
          continue;
        }
        const auto at = target.rfind('@');
        const std::string local = target.substr(0, at), domain = target.substr(at + 1);
        auto d = tx.exec_params("SELECT 1 FROM auth_domains WHERE name = $1", domain);
        if (d.empty()) {
          add_remote(target);
          any = true;
        } else if (depth < kMaxAliasDepth && expand(target, local, domain, depth + 1)) {
          any = true;
        }
      }
      return any;
    };
    expand = [&](const std::string& addr, const std::string& local, const std::string& domain, int depth) -> bool {
      if (lookup_exact(addr, depth)) return true;
      // Plus-addressing: anna+lists@ goes where anna@ goes.
      const std::string base = base_local_part(local, policy_.recipient_delimiter);
      if (base != local && lookup_exact(base + "@" + domain, depth)) return true;
      return false;
    };

    auto d = tx.exec_params("SELECT coalesce(catch_all, '') FROM auth_domains WHERE name = $1", address.domain);
    if (d.empty()) {
      res.kind = Resolution::Kind::kRemote;
      res.targets.push_back({false, 0, address.str()});
      return res;
    }
    const std::string addr = address.str();
    seen.insert(addr);
    bool found = expand(addr, address.local, address.domain, 0);
    if (!found) {
      const auto catch_all = d[0][0].as<std::string>();
      if (!catch_all.empty()) {
        const auto at = catch_all.rfind('@');
        const std::string domain = catch_all.substr(at + 1);
        auto ours = tx.exec_params("SELECT 1 FROM auth_domains WHERE name = $1", domain);
        if (ours.empty()) {
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
    pqxx::read_transaction tx(c);
    return !tx.exec_params("SELECT 1 FROM auth_domains WHERE name = $1", domain).empty();
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
