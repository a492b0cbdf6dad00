// postline_db_pool_* for each database connection pool of a service, read from
// the pools (db::Pool::stats(), db::pq::Pool::stats()) at each scrape:
//   postline_db_pool_connections{pool,state}    gauge, state=in_use|idle
//   postline_db_pool_max_connections{pool}      gauge, the pool's size
//   postline_db_pool_waits_total{pool}          acquires that found none free and waited
//   postline_db_pool_wait_seconds_total{pool}   time spent waiting for a connection
//   postline_db_pool_acquire_timeouts_total{pool} acquires that gave up (the caller got Unavailable)
#pragma once

#include "common/db/pool_stats.h"

#include <prometheus/collectable.h>

#include <functional>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace postline::metrics {

class PoolCollector : public prometheus::Collectable {
 public:
  // `name` is the pool label ("auth", "mailstore" ...); `stats` must stay
  // callable while the collector is registered (the pool outlives HttpServer).
  void add(std::string name, std::function<db::PoolStats()> stats);
  std::vector<prometheus::MetricFamily> Collect() const override;

 private:
  mutable std::mutex mutex_;
  std::vector<std::pair<std::string, std::function<db::PoolStats()>>> pools_;
};

}  // namespace postline::metrics
