#include "common/db/pool.h"
#include "common/db/url_check.h"

#include <sys/socket.h>
#include <sys/types.h>

#include <cerrno>

namespace postline::db {

namespace {
// Nothing should arrive on an idle connection: end of stream is the server
// gone, and bytes are its last words (the FATAL of a shutdown). Peeks without
// blocking or consuming; libpqxx 6.4 gives no other way to ask.
bool idle_connection_alive(pqxx::connection& c) {
  const int fd = c.sock();
  if (fd < 0) return false;
  char byte;
  const ssize_t n = ::recv(fd, &byte, 1, MSG_PEEK | MSG_DONTWAIT);
  if (n >= 0) return false;
  return errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR;
}
}  // namespace

Pool::Pool(std::string url, size_t size) : url_(std::move(url)), size_(size == 0 ? 1 : size) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_) pool_->release(std::move(conn_));
}

Pool::Lease Pool::acquire(std::chrono::milliseconds timeout) {
  std::unique_ptr<pqxx::connection> conn;
  {
    std::unique_lock lock(mutex_);
    if (!counters_.wait(lock, cv_, timeout, [&] { return !idle_.empty() || out_ + idle_.size() < size_; }))
      throw Unavailable("no database connection free within " + std::to_string(timeout.count()) + " ms");
    ++out_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  // An idle connection the server closed meanwhile (a PostgreSQL restart)
  // still looks open until it is used; reading what arrived on its socket
  // (non-blocking) finds the EOF, so the caller gets a fresh one instead of a
  // failed statement (a LOGIN answered NO [UNAVAILABLE] after a restart).
  if (conn && (!idle_connection_alive(*conn) || !conn->is_open())) {
    conn.reset();
    count_dropped();
  }
  if (!conn) {
    try {
      conn = std::make_unique<pqxx::connection>(with_program_name(url_));
      // One round trip per new connection (libpqxx 6.4 does not expose
      // libpq's in_hot_standby report): a standby reached without
      // target_session_attrs=read-write, or through an endpoint that has not
      // followed a failover yet, would fail every write.
      bool standby = false;
      {
        pqxx::nontransaction tx(*conn);
        standby = tx.exec("SELECT pg_is_in_recovery()")[0][0].as<bool>();
      }
      if (standby)
        throw std::runtime_error("reached a read-only standby, not the primary (give db.url every member and "
                                 "target_session_attrs=read-write)");
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mutex_);
        counters_.connect_failed();
      }
      release(nullptr);
      throw Unavailable(std::string("cannot connect to the database: ") + e.what());
    }
  }
  return Lease(this, std::move(conn));
}

void Pool::release(std::unique_ptr<pqxx::connection> conn) {
  {
    std::lock_guard lock(mutex_);
    --out_;
    if (conn && conn->is_open())
      idle_.push_back(std::move(conn));
    else if (conn)
      counters_.dropped();
  }
  cv_.notify_one();
}

void Pool::count_dropped() {
  std::lock_guard lock(mutex_);
  counters_.dropped();
}

PoolStats Pool::stats() {
  std::lock_guard lock(mutex_);
  return counters_.snapshot(size_, idle_.size(), out_);
}

bool Pool::ping() {
  try {
    return with([](pqxx::connection& c) {
      pqxx::nontransaction tx(c);
      tx.exec("SELECT 1");
      return true;
    });
  } catch (const std::exception&) {
    return false;
  }
}

}  // namespace postline::db
