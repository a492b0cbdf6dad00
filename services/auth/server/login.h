// The login pipeline shared by Authenticate and the SASL mechanisms:
//
//   db pool:   throttle check (IP and account: one prepared statement)
//   (timer):   the throttle's delay, if any — no thread waits
//   db pool:   account lookup (one prepared statement: user, limits, app
//              passwords); app-password check (SHA-256); the verified-
//              credential cache (core/verify_cache.h) — a hit skips argon2id
//   hash pool: on a miss, argon2id verify (or a dummy verify for an unknown
//              user, so both cost the same), rehash if parameters rose
//   db pool:   record the outcome, audit line, metrics
//
// A successful login with no recorded failures and a last_login_at younger
// than AccountStore::kLastUseResolution writes nothing: two reads in all.
//
// Unknown user and wrong password give the same result, INVALID_CREDENTIALS; a
// disabled account says DISABLED only to someone who knows its password.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>

#include "mail/v1/auth.pb.h"
#include "services/auth/server/context.h"

namespace postline::auth {

struct LoginRequest {
  std::string username;
  std::string password;  // never logged
  std::string protocol;  // "smtp" | "imap" | "unspecified" (metric label)
  std::string mechanism; // "PLAIN" | "LOGIN" | "SCRAM-SHA-256" (metric label)
  std::string remote_ip;
  // The caller's gRPC deadline: a throttle delay that would outlast it is
  // answered THROTTLED at once rather than timing out on the caller's side.
  std::chrono::system_clock::time_point deadline = std::chrono::system_clock::time_point::max();
};

struct LoginOutcome {
  mail::v1::AuthResult result = mail::v1::AUTH_RESULT_TEMPORARY_FAILURE;
  int64_t user_id = 0;
  std::string email;
  std::string display_name;
  int64_t quota_bytes = 0;
  int64_t quota_messages = 0;
  bool admin = false;
  std::string shard;   // the mailstore shard (docs/DESIGN.md "Sharding")
  bool moving = false;
};

std::string protocol_label(mail::v1::Protocol p);
std::string outcome_label(mail::v1::AuthResult r);

// Runs asynchronously; `done` is called exactly once, on a pool thread.
void password_login(ServiceContext& ctx, LoginRequest req, std::function<void(LoginOutcome)> done);

// The throttle key for a login name: the normalised address, or the raw text
// (bounded, lower-cased) when it is not an address at all.
std::string account_key(const ServiceContext& ctx, const std::string& username);

// Records the end of any login (password or SCRAM): throttle counters, last
// login, audit line, metrics. Runs on the db pool (blocking). `account_failures`
// is what the throttle check saw (ThrottleVerdict::account_failures): a
// success clears the account's counter only when there is one.
LoginOutcome conclude_login(ServiceContext& ctx, const LoginRequest& req, const std::string& account,
                            const std::optional<LoginRecord>& record, bool credentials_ok, int64_t app_id,
                            int account_failures);

// Refuses or delays before the credentials are checked. Calls `blocked` when
// the IP is blocked (or the delay would outlast the deadline); otherwise runs
// `next` with the verdict after the delay.
void throttle_gate(ServiceContext& ctx, const LoginRequest& req, const std::string& account,
                   std::function<void(const ThrottleVerdict&)> next, std::function<void(LoginOutcome)> blocked);

}  // namespace postline::auth
