#include "services/auth/core/throttle.h"

#include <algorithm>

namespace postline::auth {

milliseconds Throttle::delay_for(int failures, int after, milliseconds cap) const {
  if (failures < after || after <= 0) return milliseconds(0);
  // Exponent capped so the shift never overflows, whatever the counts.
  const int n = std::min(failures - after, 30);
  const auto delay = policy_.base_delay * (int64_t{1} << n);
  return std::min<milliseconds>(delay, cap);
}

ThrottleVerdict Throttle::check(ThrottleScope scope, const ThrottleState& s, Clock::time_point now) const {
  ThrottleVerdict v;
  if (scope == ThrottleScope::kIp && s.blocked_until > now) {
    v.blocked = true;
    v.blocked_until = s.blocked_until;
    return v;
  }
  if (now - s.last_failure > policy_.window) return v;  // forgotten
  if (scope == ThrottleScope::kIp)
    v.delay = delay_for(s.failures, policy_.ip_delay_after, policy_.max_delay);
  else
    v.delay = delay_for(s.failures, policy_.account_delay_after, policy_.account_max_delay);
  return v;
}

ThrottleState Throttle::record_failure(ThrottleScope scope, ThrottleState s, Clock::time_point now) const {
  if (s.failures == 0 || now - s.last_failure > policy_.window) {
    s.failures = 0;
    s.first_failure = now;
  }
  ++s.failures;
  s.last_failure = now;
  if (scope == ThrottleScope::kIp && policy_.ip_block_after > 0 && s.failures >= policy_.ip_block_after &&
      s.blocked_until <= now) {
    s.blocked_until = now + policy_.ip_block_duration;
    // Counting starts afresh after a block, so the next block needs as many
    // failures again rather than following the first one after expiry.
    s.failures = 0;
    s.first_failure = now;
  }
  return s;
}

bool Throttle::expired(const ThrottleState& s, Clock::time_point now) const {
  return now - s.last_failure > policy_.window && s.blocked_until <= now;
}

ThrottleVerdict Throttle::combine(const ThrottleVerdict& ip, const ThrottleVerdict& account) {
  if (ip.blocked) return ip;
  ThrottleVerdict v;
  v.delay = std::max(ip.delay, account.delay);
  return v;
}

}  // namespace postline::auth
