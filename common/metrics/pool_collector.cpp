#include "common/metrics/pool_collector.h"

#include "common/metrics/families.h"

namespace postline::metrics {

void PoolCollector::add(std::string name, std::function<db::PoolStats()> stats) {
  std::lock_guard lock(mutex_);
  pools_.emplace_back(std::move(name), std::move(stats));
}

std::vector<prometheus::MetricFamily> PoolCollector::Collect() const {
  using prometheus::MetricType;
  auto connections = family("postline_db_pool_connections",
                            "Database connections the pool holds, by state (in_use: lent out, idle)", MetricType::Gauge);
  auto max = family("postline_db_pool_max_connections", "The most connections the pool opens (its size)",
                    MetricType::Gauge);
  auto waits = family("postline_db_pool_waits_total", "Connection requests that found none free and waited",
                      MetricType::Counter);
  auto wait_seconds = family("postline_db_pool_wait_seconds_total",
                             "Seconds connection requests spent waiting for a free connection", MetricType::Counter);
  auto timeouts = family("postline_db_pool_acquire_timeouts_total",
                         "Connection requests that gave up waiting (the caller got 'database unavailable')",
                         MetricType::Counter);
  auto dropped = family("postline_db_pool_connections_dropped_total",
                        "Connections closed because they broke or reached a read-only server (a restart or "
                        "failover of PostgreSQL)",
                        MetricType::Counter);
  auto connect_failures = family("postline_db_pool_connect_failures_total",
                                 "New connections that could not be made (no writable PostgreSQL reachable)",
                                 MetricType::Counter);
  std::lock_guard lock(mutex_);
  for (const auto& [name, stats_of] : pools_) {
    const db::PoolStats s = stats_of();
    const prometheus::ClientMetric::Label pool{"pool", name};
    add_sample(connections, static_cast<double>(s.in_use), {pool, {"state", "in_use"}});
    add_sample(connections, static_cast<double>(s.open - s.in_use), {pool, {"state", "idle"}});
    add_sample(max, static_cast<double>(s.max), {pool});
    add_sample(waits, static_cast<double>(s.waits), {pool});
    add_sample(wait_seconds, s.wait_seconds, {pool});
    add_sample(timeouts, static_cast<double>(s.timeouts), {pool});
    add_sample(dropped, static_cast<double>(s.dropped), {pool});
    add_sample(connect_failures, static_cast<double>(s.connect_failures), {pool});
  }
  std::vector<prometheus::MetricFamily> out;
  if (pools_.empty()) return out;
  for (auto* f : {&connections, &max, &waits, &wait_seconds, &timeouts, &dropped, &connect_failures})
    out.push_back(std::move(*f));
  return out;
}

}  // namespace postline::metrics
