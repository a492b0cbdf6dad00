#include "services/delivery-queue/delivery/retry.h"

#include "common/config/config.h"

namespace postline::queue {

RetryPolicy RetryPolicy::parse(const std::vector<std::string>& items, std::chrono::seconds max_lifetime,
                               const std::string& what) {
  RetryPolicy p;
  for (const auto& item : items) {
    auto d = config::parse_duration(item, what);
    if (d.count() <= 0) throw config::ConfigError(what + ": retry delays must be positive, got '" + item + "'");
    p.schedule.push_back(d);
  }
  if (p.schedule.empty()) throw config::ConfigError(what + ": needs at least one delay");
  if (max_lifetime.count() <= 0) throw config::ConfigError("queue.max_lifetime: must be positive");
  p.max_lifetime = max_lifetime;
  return p;
}

std::chrono::seconds RetryPolicy::delay_after(int attempts_made) const {
  if (attempts_made < 1) attempts_made = 1;
  size_t i = static_cast<size_t>(attempts_made - 1);
  if (i >= schedule.size()) i = schedule.size() - 1;
  return schedule[i];
}

Decision decide(Outcome outcome, int attempts_made, Clock::time_point created_at, Clock::time_point now,
                const RetryPolicy& policy, double random01) {
  switch (outcome) {
    case Outcome::kDelivered: return {State::kDelivered, now};
    case Outcome::kPermanent: return {State::kBounced, now};
    case Outcome::kTemporary: break;
  }
  const auto expires_at = created_at + policy.max_lifetime;
  if (now >= expires_at) return {State::kExpired, now};
  const auto base = std::chrono::duration<double>(policy.delay_after(attempts_made));
  const double factor = 1.0 + policy.jitter * (2.0 * random01 - 1.0);
  auto next = now + std::chrono::duration_cast<Clock::duration>(base * factor);
  if (next > expires_at) next = expires_at;
  return {State::kDeferred, next};
}

}  // namespace postline::queue
