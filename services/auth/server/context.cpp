#include "services/auth/server/context.h"

#include "common/log/printable.h"

#include <spdlog/spdlog.h>

namespace postline::auth {

AuthMetrics::AuthMetrics(prometheus::Registry& registry)
    : logins_(prometheus::BuildCounter()
                  .Name("postline_authd_logins_total")
                  .Help("Login attempts by protocol, SASL mechanism and outcome")
                  .Register(registry)),
      hash_duration_(prometheus::BuildHistogram()
                         .Name("postline_authd_hash_duration_seconds")
                         .Help("Time spent in argon2id per password check or hash")
                         .Register(registry)
                         .Add({}, prometheus::Histogram::BucketBoundaries{0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                                           1, 2.5, 5})),
      throttled_(prometheus::BuildCounter()
                     .Name("postline_authd_throttled_total")
                     .Help("Login attempts slowed (action=delayed) or refused (action=blocked) by throttling")
                     .Register(registry)),
      accounts_(prometheus::BuildGauge()
                    .Name("postline_authd_accounts")
                    .Help("User accounts")
                    .Register(registry)
                    .Add({})),
      domains_(prometheus::BuildGauge().Name("postline_authd_domains").Help("Hosted domains").Register(registry).Add({})),
      cache_lookups_(prometheus::BuildCounter()
                         .Name("postline_authd_verify_cache_lookups_total")
                         .Help("Password checks answered by the verified-credential cache (result=hit, argon2id "
                               "skipped) or not (result=miss)")
                         .Register(registry)),
      cache_hits_(cache_lookups_.Add({{"result", "hit"}})),
      cache_misses_(cache_lookups_.Add({{"result", "miss"}})),
      cache_entries_(prometheus::BuildGauge()
                         .Name("postline_authd_verify_cache_entries")
                         .Help("Users the verified-credential cache holds an entry for (expired ones included "
                               "until looked up or evicted)")
                         .Register(registry)
                         .Add({})) {
  // Series exist at zero from the start, so rate() and the alerts on them see
  // 0 rather than nothing until the first throttled login (login.cpp).
  for (const char* action : {"delayed", "blocked"}) throttled_.Add({{"action", action}});
}

void AuthMetrics::login(const std::string& protocol, const std::string& mechanism, const std::string& outcome) {
  logins_.Add({{"protocol", protocol}, {"mechanism", mechanism}, {"outcome", outcome}}).Increment();
}

void ServiceContext::refresh_counts() {
  try {
    metrics.set_counts(accounts.count_users(), accounts.count_domains());
  } catch (const std::exception& e) {
    spdlog::warn("cannot refresh account gauges: {}", e.what());
  }
}

// One escaping rule for every service's log lines: common/log/printable.h.
std::string printable(std::string_view s, size_t max) { return postline::log::printable(s, max); }

}  // namespace postline::auth
