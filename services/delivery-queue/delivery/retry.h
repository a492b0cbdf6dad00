// What happens to a recipient after an attempt: pure policy, no I/O, unit-tested.
//
// Temporary failures (4xx, connection or DNS trouble) wait for the next step
// of the retry schedule (the last step repeats) with up to ±10% jitter, so a
// burst of mail deferred together does not retry as one burst. A recipient
// whose message is older than max_lifetime when an attempt fails expires; the
// last retry is pulled forward to the expiry time so expiry is prompt.
#pragma once

#include "services/delivery-queue/store/queue_store.h"

#include <chrono>
#include <random>
#include <string>
#include <vector>

namespace postline::queue {

enum class Outcome { kDelivered, kTemporary, kPermanent };

struct RetryPolicy {
  std::vector<std::chrono::seconds> schedule;  // never empty
  std::chrono::seconds max_lifetime;
  double jitter = 0.1;  // fraction of the delay, both ways

  // "1m,5m,15m" → schedule; throws config::ConfigError naming `what`.
  static RetryPolicy parse(const std::vector<std::string>& items, std::chrono::seconds max_lifetime,
                           const std::string& what);
  std::chrono::seconds delay_after(int attempts_made) const;
};

struct Decision {
  State state;
  Clock::time_point next_attempt_at;
};

// attempts_made counts this attempt. `random01` in [0,1) drives the jitter.
Decision decide(Outcome outcome, int attempts_made, Clock::time_point created_at, Clock::time_point now,
                const RetryPolicy& policy, double random01);

}  // namespace postline::queue
