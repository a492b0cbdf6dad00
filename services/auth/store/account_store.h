// PostgreSQL access for accounts: domains, users, aliases, app passwords and the
// recipient resolution built on them. Blocking (libpqxx): call from the db work
// pool, never from a gRPC thread. Every query is parameterised.
//
// Addresses handed in must already be normalised (core/address.h); the store
// compares text exactly.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/db/pool.h"
#include "services/auth/core/address.h"
#include "services/auth/core/scram.h"

namespace postline::auth {

// A failure the caller can name to the client (maps onto a gRPC status code).
class StoreError : public std::runtime_error {
 public:
  enum class Kind { kNotFound, kAlreadyExists, kFailedPrecondition, kInvalidArgument };
  StoreError(Kind kind, const std::string& message) : std::runtime_error(message), kind_(kind) {}
  Kind kind() const { return kind_; }

 private:
  Kind kind_;
};

struct DomainRow {
  std::string name;
  int64_t user_count = 0;
  int64_t alias_count = 0;
  std::string catch_all;
};

struct UserRow {
  int64_t id = 0;
  std::string email;
  bool disabled = false;
  int64_t quota_bytes = 0;
  std::string display_name;
  std::string last_login_at;  // ISO text, empty if never
  int64_t quota_messages = 0;  // 0 = unlimited
  bool admin = false;          // may read/set other users' quotas over IMAP
  std::string shard = "main";  // the mailstore shard the account's mail is on
  bool moving = false;         // an account move is switching it between shards
};

struct NewUser {
  std::string email;  // normalised
  std::string password_hash;
  scram::Credentials scram;
  int64_t quota_bytes = 0;
  std::string display_name;
  int64_t quota_messages = 0;
  bool admin = false;
  std::string shard = "main";
};

// Everything a login needs, read in one round trip (one prepared statement).
struct LoginRecord {
  int64_t id = 0;
  std::string email;
  std::string password_hash;
  bool disabled = false;
  scram::Credentials scram;  // empty keys if never derived
  std::string display_name;
  int64_t quota_bytes = 0;
  int64_t quota_messages = 0;
  bool admin = false;
  std::string shard = "main";
  bool moving = false;
  // last_login_at is older than AccountStore::kLastUseResolution (or never
  // set): only then does a successful login write it.
  bool login_stale = true;
  struct App {
    int64_t id = 0;
    std::string label;
    std::string secret_sha256;
    scram::Credentials scram;
    bool use_stale = true;  // the same for last_used_at
  };
  std::vector<App> apps;
};

struct AppPasswordRow {
  int64_t id = 0;
  std::string label;
  std::string created_at;
  std::string last_used_at;
};

struct AliasRow {
  std::string address;
  std::vector<std::string> targets;
};

struct Target {
  bool local = false;
  int64_t user_id = 0;  // when local
  std::string address;  // final address
  int64_t quota_bytes = 0;  // when local; 0 = unlimited
  int64_t quota_messages = 0;  // when local; 0 = unlimited
  std::string shard;           // when local: the mailstore shard
  bool moving = false;         // when local: being moved between shards (defer)
};

struct Resolution {
  enum class Kind { kLocal, kRemote, kUnknown } kind = Kind::kUnknown;
  std::vector<Target> targets;
};

class AccountStore {
 public:
  AccountStore(db::Pool& pool, AddressPolicy policy) : pool_(pool), policy_(std::move(policy)) {}

  // Domains
  DomainRow add_domain(const std::string& name);
  std::vector<DomainRow> list_domains();
  void remove_domain(const std::string& name, bool force);
  // Empty target clears the catch-all.
  void set_catch_all(const std::string& domain, const std::string& target);

  // Users
  UserRow add_user(const NewUser& user);
  std::vector<UserRow> list_users(const std::string& domain);  // empty: all
  std::optional<UserRow> get_user(const std::string& email);
  void remove_user(const std::string& email);
  void set_password(const std::string& email, const std::string& hash, const scram::Credentials& scram);
  void set_disabled(const std::string& email, bool disabled);
  void set_quota(const std::string& email, int64_t quota_bytes);
  void set_display_name(const std::string& email, const std::string& name);
  void set_quota_messages(const std::string& email, int64_t quota_messages);
  void set_admin(const std::string& email, bool admin);
  // Sharding: the account's mailstore shard and its "moving" mark (`postline
  // account move`). Either may be left unchanged (nullopt).
  void set_shard(const std::string& email, const std::optional<std::string>& shard, std::optional<bool> moving);
  std::optional<UserRow> get_user_by_id(int64_t id);
  // Replaces both limits in one statement (IMAP SETQUOTA); the updated row.
  UserRow set_limits(const std::string& email, int64_t quota_bytes, int64_t quota_messages);

  // Logins
  // last_login_at / last_used_at are bookkeeping for operators, not security
  // state: a login rewrites them only when they are older than this, so most
  // logins write nothing at all.
  static constexpr std::chrono::seconds kLastUseResolution{5 * 60};
  std::optional<LoginRecord> login_record(const std::string& email);
  // Sets last_login_at (and the app password's last_used_at; app id 0: main
  // password) if older than kLastUseResolution. Asynchronous commit: losing a
  // timestamp in a crash is harmless, waiting for a WAL flush per login is not.
  void record_login(int64_t user_id, int64_t app_password_id);
  // Replaces an outdated hash, but only if it is still the one we verified.
  // True if it did.
  bool upgrade_hash(int64_t user_id, const std::string& old_hash, const std::string& new_hash);

  // App passwords
  int64_t add_app_password(const std::string& email, const std::string& label, const std::string& secret_sha256,
                           const scram::Credentials& scram);
  std::vector<AppPasswordRow> list_app_passwords(const std::string& email);
  void remove_app_password(const std::string& email, const std::string& label);
  // The user's SCRAM salt and iterations (app passwords reuse them).
  std::optional<scram::Credentials> scram_params(const std::string& email);

  // Aliases: targets are normalised addresses, local or remote.
  void add_alias(const std::string& address, const std::vector<std::string>& targets);
  std::vector<AliasRow> list_aliases(const std::string& domain);
  // Empty target: remove every target of the alias.
  void remove_alias(const std::string& address, const std::string& target);

  // Where mail for `address` goes (see README "Recipient resolution").
  Resolution resolve(const Address& address);
  // A value from auth_secrets (throws StoreError if missing: schema not migrated).
  std::string secret(const std::string& name);
  // True if mail for `domain` (normalised) is ours.
  bool is_hosted(const std::string& domain);

  // Gauges.
  int64_t count_users();
  int64_t count_domains();

 private:
  db::Pool& pool_;
  AddressPolicy policy_;
};

}  // namespace postline::auth
