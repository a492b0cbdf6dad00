// Login-throttle state in PostgreSQL (table auth_login_throttle), shared by every
// authd replica. The decisions are core/throttle.h's; this file only loads and
// saves rows, under row locks so concurrent failures from several replicas all
// count.
#pragma once

#include <functional>
#include <string>
#include <vector>

#include "common/db/pool.h"
#include "services/auth/core/throttle.h"

namespace postline::auth {

struct ThrottleRow {
  std::string scope;  // "ip" | "account"
  std::string key;
  ThrottleState state;
};

class ThrottleStore {
 public:
  using Now = std::function<Clock::time_point()>;
  ThrottleStore(db::Pool& pool, Throttle throttle, Now now = [] { return Clock::now(); })
      : pool_(pool), throttle_(throttle), now_(std::move(now)) {}

  // What to do before checking a password from `ip` for `account` (either may be empty).
  ThrottleVerdict check(const std::string& ip, const std::string& account);
  void record_failure(const std::string& ip, const std::string& account);
  // A success clears the account's counter. The IP's counter stays until its
  // window passes: otherwise an attacker holding one valid account could wipe
  // the record of failures against every other account between guesses.
  void record_success(const std::string& account);

  std::vector<ThrottleRow> list();
  // Removes the row(s) for `key` (an IP or an account); returns how many.
  int unblock(const std::string& key);
  // Deletes rows that no longer matter; returns how many.
  int cleanup();

  const Throttle& throttle() const { return throttle_; }

 private:
  db::Pool& pool_;
  Throttle throttle_;
  Now now_;
};

}  // namespace postline::auth
