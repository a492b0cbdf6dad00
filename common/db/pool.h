// A bounded pool of libpqxx connections. A pqxx::connection is not thread-safe,
// so each thread borrows one through a Lease and gives it back when done. A
// connection that broke is dropped and replaced on the next acquire, so a
// PostgreSQL restart heals by itself.
#pragma once

#include "common/db/pool_stats.h"
#include "common/db/unavailable.h"

#include <pqxx/pqxx>

#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace postline::db {

class Pool {
 public:
  Pool(std::string url, size_t size);
  ~Pool();

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<pqxx::connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& other) noexcept : pool_(std::exchange(other.pool_, nullptr)), conn_(std::move(other.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    Lease(const Lease&) = delete;
    ~Lease();
    pqxx::connection& operator*() { return *conn_; }
    pqxx::connection* operator->() { return conn_.get(); }
    // The connection is suspect (an exception other than a SQL error): do not reuse.
    void discard() {
      if (conn_ && pool_) pool_->count_dropped();
      conn_.reset();
    }

   private:
    Pool* pool_;
    std::unique_ptr<pqxx::connection> conn_;
  };

  Lease acquire(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Runs fn(pqxx::connection&) on a pooled connection; a pqxx::broken_connection
  // discards the connection and is rethrown as Unavailable.
  template <typename Fn>
  auto with(Fn&& fn) {
    auto lease = acquire();
    try {
      return fn(*lease);
    } catch (const pqxx::broken_connection& e) {
      lease.discard();
      throw Unavailable(std::string("database connection lost: ") + e.what());
    } catch (const pqxx::sql_error& e) {
      // 25006: the server is a standby now (failover); writes cannot succeed
      // on this connection, and the refused statement applied nothing.
      if (e.sqlstate() != "25006") throw;
      lease.discard();
      throw Unavailable(std::string("the database is read-only (a standby; failover in progress?): ") + e.what());
    }
  }

  // True if a connection can run SELECT 1 now (for /readyz).
  bool ping();
  const std::string& url() const { return url_; }
  // For /metrics (common/metrics PoolCollector).
  PoolStats stats();

 private:
  void release(std::unique_ptr<pqxx::connection> conn);
  void count_dropped();
  std::string url_;
  size_t size_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<pqxx::connection>> idle_;
  size_t out_ = 0;  // leased connections
  PoolCounters counters_;
};

}  // namespace postline::db
