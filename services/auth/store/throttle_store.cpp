#include "services/auth/store/throttle_store.h"

namespace postline::auth {
namespace {

// Timestamps cross the SQL boundary as epoch milliseconds so the logic above
// sees exactly the clock it was given (tests use a fake one).
int64_t to_ms(Clock::time_point t) {
  return std::chrono::duration_cast<std::chrono::milliseconds>(t.time_since_epoch()).count();
}
Clock::time_point from_ms(int64_t ms) { return Clock::time_point(std::chrono::milliseconds(ms)); }

constexpr const char* kSelect =
    "SELECT failures, (extract(epoch FROM first_failure_at) * 1000)::bigint,"
    " (extract(epoch FROM last_failure_at) * 1000)::bigint,"
    " coalesce((extract(epoch FROM blocked_until) * 1000)::bigint, 0)"
    " FROM auth_login_throttle WHERE scope = $1 AND key = $2";

// The four state columns of a row, starting at column `first`.
ThrottleState state_of(const pqxx::row& r, pqxx::row::size_type first) {
  ThrottleState s;
  s.failures = r[first].as<int>();
  s.first_failure = from_ms(r[first + 1].as<int64_t>());
  s.last_failure = from_ms(r[first + 2].as<int64_t>());
  s.blocked_until = from_ms(r[first + 3].as<int64_t>());
  return s;
}

ThrottleState read_state(const pqxx::result& r) { return r.empty() ? ThrottleState{} : state_of(r[0], 0); }

// Both scopes of one login in one round trip. An empty key matches nothing
// (record_failure never stores one).
constexpr const char* kCheckStatement = "auth_throttle_check";
constexpr const char* kCheck =
    "SELECT scope, failures, (extract(epoch FROM first_failure_at) * 1000)::bigint,"
    " (extract(epoch FROM last_failure_at) * 1000)::bigint,"
    " coalesce((extract(epoch FROM blocked_until) * 1000)::bigint, 0)"
    " FROM auth_login_throttle WHERE scope = 'ip' AND key = $1::text AND $1::text <> ''"
    " UNION ALL"
    " SELECT scope, failures, (extract(epoch FROM first_failure_at) * 1000)::bigint,"
    " (extract(epoch FROM last_failure_at) * 1000)::bigint,"
    " coalesce((extract(epoch FROM blocked_until) * 1000)::bigint, 0)"
    " FROM auth_login_throttle WHERE scope = 'account' AND key = $2::text AND $2::text <> ''";

constexpr const char* kClearAccountStatement = "auth_throttle_clear_account";
constexpr const char* kClearAccount = "DELETE FROM auth_login_throttle WHERE scope = 'account' AND key = $1";

}  // namespace

ThrottleVerdict ThrottleStore::check(const std::string& ip, const std::string& account) {
  const auto now = now_();
  return pool_.with([&](pqxx::connection& c) {
    // Every login runs this: one prepared statement for both scopes, outside
    // any explicit transaction (a single read needs none).
    c.prepare(kCheckStatement, kCheck);
    pqxx::nontransaction tx(c);
    ThrottleState ip_state, account_state;
    for (const auto& r : tx.exec_prepared(kCheckStatement, ip, account)) {
      ThrottleState s = state_of(r, 1);
      (r[0].as<std::string>() == "ip" ? ip_state : account_state) = s;
    }
    ThrottleVerdict vip, vacc;
    if (!ip.empty()) vip = throttle_.check(ThrottleScope::kIp, ip_state, now);
    if (!account.empty()) vacc = throttle_.check(ThrottleScope::kAccount, account_state, now);
    ThrottleVerdict v = Throttle::combine(vip, vacc);
    v.account_failures = account.empty() ? 0 : account_state.failures;
    return v;
  });
}

void ThrottleStore::record_failure(const std::string& ip, const std::string& account) {
  const auto now = now_();
  pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto bump = [&](const char* scope, const std::string& key, ThrottleScope s) {
      if (key.empty()) return;
      // Make sure the row exists, then lock it: concurrent replicas serialise here.
      tx.exec_params("INSERT INTO auth_login_throttle (scope, key, failures) VALUES ($1, $2, 0)"
                     " ON CONFLICT (scope, key) DO NOTHING",
                     scope, key);
      auto state = read_state(tx.exec_params(std::string(kSelect) + " FOR UPDATE", scope, key));
      state = throttle_.record_failure(s, state, now);
      tx.exec_params(
          "UPDATE auth_login_throttle SET failures = $3, first_failure_at = to_timestamp($4::bigint / 1000.0),"
          " last_failure_at = to_timestamp($5::bigint / 1000.0),"
          " blocked_until = CASE WHEN $6::bigint = 0 THEN NULL ELSE to_timestamp($6::bigint / 1000.0) END"
          " WHERE scope = $1 AND key = $2",
          scope, key, state.failures, to_ms(state.first_failure), to_ms(state.last_failure),
          to_ms(state.blocked_until));
    };
    bump("ip", ip, ThrottleScope::kIp);
    bump("account", account, ThrottleScope::kAccount);
    tx.commit();
  });
}

void ThrottleStore::record_success(const std::string& account) {
  if (account.empty()) return;
  pool_.with([&](pqxx::connection& c) {
    // One statement: autocommit is its transaction.
    c.prepare(kClearAccountStatement, kClearAccount);
    pqxx::nontransaction tx(c);
    tx.exec_prepared(kClearAccountStatement, account);
  });
}

std::vector<ThrottleRow> ThrottleStore::list() {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::read_transaction tx(c);
    auto rows = tx.exec(
        "SELECT scope, key, failures, (extract(epoch FROM first_failure_at) * 1000)::bigint,"
        " (extract(epoch FROM last_failure_at) * 1000)::bigint,"
        " coalesce((extract(epoch FROM blocked_until) * 1000)::bigint, 0)"
        " FROM auth_login_throttle ORDER BY scope, key");
    std::vector<ThrottleRow> out;
    const auto now = now_();
    for (const auto& r : rows) {
      ThrottleRow row;
      row.scope = r[0].as<std::string>();
      row.key = r[1].as<std::string>();
      row.state.failures = r[2].as<int>();
      row.state.first_failure = from_ms(r[3].as<int64_t>());
      row.state.last_failure = from_ms(r[4].as<int64_t>());
      row.state.blocked_until = from_ms(r[5].as<int64_t>());
      if (!throttle_.expired(row.state, now)) out.push_back(std::move(row));
    }
    return out;
  });
}

int ThrottleStore::unblock(const std::string& key) {
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params("DELETE FROM auth_login_throttle WHERE key = $1", key);
    tx.commit();
    return static_cast<int>(r.affected_rows());
  });
}

int ThrottleStore::cleanup() {
  const auto now = now_();
  const int64_t window_ms = std::chrono::duration_cast<std::chrono::milliseconds>(throttle_.policy().window).count();
  return pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto r = tx.exec_params(
        "DELETE FROM auth_login_throttle WHERE last_failure_at < to_timestamp(($1::bigint - $2::bigint) / 1000.0)"
        " AND (blocked_until IS NULL OR blocked_until < to_timestamp($1::bigint / 1000.0))",
        to_ms(now), window_ms);
    tx.commit();
    return static_cast<int>(r.affected_rows());
  });
}

}  // namespace postline::auth
