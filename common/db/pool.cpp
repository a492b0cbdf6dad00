#include "common/db/pool.h"

namespace postline::db {

Pool::Pool(std::string url, size_t size) : url_(std::move(url)), size_(size == 0 ? 1 : size) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_) pool_->release(std::move(conn_));
}

Pool::Lease Pool::acquire(std::chrono::milliseconds timeout) {
  std::unique_ptr<pqxx::connection> conn;
  {
    std::unique_lock lock(mutex_);
    if (!cv_.wait_for(lock, timeout, [&] { return !idle_.empty() || out_ + idle_.size() < size_; }))
      throw Unavailable("no database connection free within " + std::to_string(timeout.count()) + " ms");
    ++out_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (conn && !conn->is_open()) conn.reset();
  if (!conn) {
    try {
      conn = std::make_unique<pqxx::connection>(url_);
    } catch (const std::exception& e) {
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
    if (conn && conn->is_open()) idle_.push_back(std::move(conn));
  }
  cv_.notify_one();
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
