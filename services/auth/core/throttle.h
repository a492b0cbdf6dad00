// Brute-force defence: the pure decision logic, with time passed in so tests
// drive it with a fake clock. The state lives in PostgreSQL (store/
// throttle_store.h) so every authd replica sees the same counts.
//
// Two scopes:
//  - per source IP: after ip_delay_after failures each attempt waits a growing
//    delay (base * 2^n, capped at max_delay); after ip_block_after failures the
//    IP is refused outright for ip_block_duration.
//  - per account: after account_delay_after failures attempts on that account
//    wait a growing delay capped at account_max_delay, but the account is never
//    blocked, so an attacker elsewhere cannot lock its owner out.
// Failures older than `window` are forgotten.
#pragma once

#include <chrono>
#include <cstdint>

namespace postline::auth {

using Clock = std::chrono::system_clock;
using std::chrono::milliseconds;

struct ThrottlePolicy {
  std::chrono::seconds window{15 * 60};
  int ip_delay_after = 5;
  int ip_block_after = 20;
  std::chrono::seconds ip_block_duration{15 * 60};
  int account_delay_after = 10;
  milliseconds base_delay{250};
  milliseconds max_delay{8000};
  milliseconds account_max_delay{4000};
};

enum class ThrottleScope { kIp, kAccount };

struct ThrottleState {
  int failures = 0;
  Clock::time_point first_failure{};
  Clock::time_point last_failure{};
  Clock::time_point blocked_until{};  // epoch = not blocked
};

struct ThrottleVerdict {
  bool blocked = false;
  Clock::time_point blocked_until{};
  milliseconds delay{0};  // wait this long before checking the password
  // Failures recorded against the account (any age): a success has something
  // to clear only when this is non-zero, so a clean login writes nothing.
  int account_failures = 0;
};

class Throttle {
 public:
  explicit Throttle(ThrottlePolicy policy) : policy_(policy) {}

  ThrottleVerdict check(ThrottleScope scope, const ThrottleState& state, Clock::time_point now) const;
  ThrottleState record_failure(ThrottleScope scope, ThrottleState state, Clock::time_point now) const;
  // True when a row can be deleted: nothing in it matters any more.
  bool expired(const ThrottleState& state, Clock::time_point now) const;

  // Combines the IP and account verdicts into what the login does.
  static ThrottleVerdict combine(const ThrottleVerdict& ip, const ThrottleVerdict& account);

  const ThrottlePolicy& policy() const { return policy_; }

 private:
  milliseconds delay_for(int failures, int after, milliseconds cap) const;
  ThrottlePolicy policy_;
};

}  // namespace postline::auth
