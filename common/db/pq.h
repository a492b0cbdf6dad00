// A thin layer over libpq for the hot paths of the stores (the mailstore):
// statements prepared once per connection (parsed and planned once, not per
// call), binary parameters and results (bytea travels as raw bytes, numbers
// as network-order integers: no escaping, no unescaping, no number parsing),
// and pipelines (several statements, one network round trip).
//
// Why not libpqxx here: Debian 12's libpqxx 6.4 exchanges every value as
// text, so a message body crosses the socket hex- or escape-encoded and is
// unescaped again in the service (PQunescapeBytea was imapd's top function),
// and it has no pipeline mode. libpqxx stays for the rest of the code base
// (queue, auth, migrations), where none of that matters.
//
// Not thread-safe: one Connection per thread at a time (Pool hands them out).
#pragma once

#include "common/db/pool_stats.h"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

struct pg_conn;
struct pg_result;

namespace postline::db::pq {

// A statement error reported by the server (constraint, syntax, serialization ...).
class Error : public std::runtime_error {
 public:
  Error(const std::string& what, std::string sqlstate) : std::runtime_error(what), sqlstate_(std::move(sqlstate)) {}
  const std::string& sqlstate() const { return sqlstate_; }
  bool serialization_failure() const { return sqlstate_ == "40001" || sqlstate_ == "40P01"; }
  bool unique_violation() const { return sqlstate_ == "23505"; }
  // 25006 read_only_sql_transaction: the server is a standby (a demoted
  // primary, or an endpoint that still points at one after a failover). It
  // refused the write, so nothing of the transaction was applied.
  bool read_only() const { return sqlstate_ == "25006"; }

 private:
  std::string sqlstate_;
};

// The connection is gone (server restart, network). `sent` is false when the
// statement provably never left this process, so running it again elsewhere
// cannot apply it twice.
class ConnectionLost : public std::runtime_error {
 public:
  ConnectionLost(const std::string& what, bool sent) : std::runtime_error(what), sent_(sent) {}
  bool sent() const { return sent_; }

 private:
  bool sent_;
};

// A statement with a stable name, prepared on a connection the first time it
// is used there. Define them as constants next to the code that owns the SQL.
struct Statement {
  const char* name;
  const char* sql;
};

// Positional parameters ($1, $2 ...), binary where the type has a compact
// binary form. The PostgreSQL type is sent along, so SQL needs no casts.
class Params {
 public:
  Params() = default;
  Params& i64(int64_t v);
  Params& i32(int32_t v);
  Params& i16(int16_t v);
  Params& boolean(bool v);
  Params& text(std::string_view v);
  Params& bytea(std::string_view v);
  // bytea without a copy: the bytes stay the caller's and must outlive every
  // use of these Params (a Pipeline's run()). For message bodies, which
  // would otherwise be copied once more only to be copied into libpq's buffer.
  Params& bytea_ref(std::string_view v);
  Params& null();  // untyped NULL (the server infers the type)
  Params& i64_array(const std::vector<int64_t>& v);
  Params& i64_array(const std::vector<uint32_t>& v);
  Params& text_array(const std::vector<std::string>& v);
  Params& bytea_array(const std::vector<std::string>& v);
  template <typename T>
  Params& opt_i64(const std::optional<T>& v) {
    return v ? i64(static_cast<int64_t>(*v)) : null();
  }

  int size() const { return static_cast<int>(values_.size()); }
  // For libpq (valid while this object lives and is not changed).
  const char* const* values() const;
  const int* lengths() const { return lengths_.data(); }
  const int* formats() const { return formats_.data(); }
  const unsigned* types() const { return types_.data(); }

 private:
  Params& add(unsigned type, int format, std::string bytes, bool is_null = false);
  std::vector<std::string> values_;
  std::vector<const char*> refs_;  // non-null: a bytea_ref's bytes (values_ is empty then)
  std::vector<bool> null_;
  std::vector<int> lengths_, formats_;
  std::vector<unsigned> types_;
  mutable std::vector<const char*> pointers_;
};

// A query result in binary format. Column accessors check the type's width
// and throw std::runtime_error on a mismatch (a programming error).
class Result {
 public:
  Result() = default;
  explicit Result(pg_result* r) : r_(r, &clear) {}
  int rows() const;
  int columns() const;
  bool null(int row, int col) const;
  int64_t i64(int row, int col) const;  // int8, int4 or int2
  int32_t i32(int row, int col) const;
  bool boolean(int row, int col) const;
  std::string_view bytes(int row, int col) const;  // bytea / text bytes, zero-copy
  std::string text(int row, int col) const { return std::string(bytes(row, col)); }
  // timestamptz as Unix seconds (binary timestamps are microseconds since 2000-01-01).
  int64_t unix_seconds(int row, int col) const;
  // date as days since 1970-01-01.
  int32_t unix_days(int row, int col) const;
  std::vector<std::string> text_array(int row, int col) const;  // NULL -> empty
  std::vector<int64_t> i64_array(int row, int col) const;
  int64_t affected() const;  // rows changed by INSERT/UPDATE/DELETE

 private:
  static void clear(pg_result* r);
  std::shared_ptr<pg_result> r_;
};

class Connection {
 public:
  // Connects (blocking). Throws ConnectionLost when the server cannot be reached.
  // `settings`: session parameters set once after connecting (e.g. {"synchronous_commit", "off"}).
  explicit Connection(const std::string& url,
                      const std::vector<std::pair<std::string, std::string>>& settings = {});
  ~Connection();
  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  Result exec(const Statement& st, const Params& params = {});
  // A statement built at run time (SEARCH). Prepared under a name derived from
  // its text, so the same shape is planned once per connection; at most
  // kMaxDynamic such shapes are kept (then the oldest is deallocated).
  Result exec_dynamic(const std::string& sql, const Params& params = {});
  // A command without parameters or results that matter (BEGIN, COMMIT, SET ...).
  void run(const char* sql);

  // Several statements sent together and answered in order: one round trip.
  // The first error aborts the rest (like a transaction); it is thrown after
  // every result has been read, so the connection stays usable.
  class Pipeline {
   public:
    explicit Pipeline(Connection& c) : c_(c) {}
    Pipeline& add(const Statement& st, Params params = {});
    Pipeline& add(const char* plain_sql);  // no parameters (BEGIN/COMMIT)
    std::vector<Result> run();

   private:
    struct Item {
      const Statement* st = nullptr;
      const char* plain = nullptr;
      Params params;
    };
    Connection& c_;
    std::vector<Item> items_;
  };

  // True while the connection is usable; checks, without blocking, whether the
  // server closed it since the last use (a restart), so a pool never hands
  // out a connection that will fail its first statement. A connection that
  // met a read-only error (25006) is not healthy: its server is a standby.
  bool healthy();
  // The server said it is a hot standby (libpq's in_hot_standby report, no
  // round trip), or a statement here failed with 25006.
  bool on_standby() const;
  int socket() const;
  // LISTEN support: reads what arrived (non-blocking) and returns the
  // notifications received, as (channel, payload).
  std::vector<std::pair<std::string, std::string>> notifications();
  pg_conn* raw() { return c_; }
  // Prepares, in one round trip, every named statement another connection of
  // this process has prepared (the pool calls it on a new connection).
  void prepare_known();

  static constexpr size_t kMaxDynamic = 64;

 private:
  friend class Pipeline;
  // Prepares with the parameter types of `p` (binary values must be read as
  // the type they were encoded as; an untyped NULL lets the server infer).
  void ensure_prepared(const char* name, const char* sql, const Params& p);
  Result take(pg_result* r, bool sent);
  [[noreturn]] void lost(bool sent);
  pg_conn* c_ = nullptr;
  bool read_only_seen_ = false;
  std::unordered_set<std::string> prepared_;
  std::unordered_map<std::string, std::string> dynamic_;  // sql -> statement name
  std::vector<std::string> dynamic_order_;
  uint64_t dynamic_seq_ = 0;
};

// BEGIN ... COMMIT on a connection; rolls back when destroyed uncommitted.
class Transaction {
 public:
  explicit Transaction(Connection& c, const char* begin = "BEGIN");
  ~Transaction();
  void commit();
  Connection& conn() { return c_; }

 private:
  Connection& c_;
  bool done_ = false;
};

// A bounded pool of Connections (the pqxx Pool's twin for this layer).
class Pool {
 public:
  Pool(std::string url, size_t size, std::vector<std::pair<std::string, std::string>> settings = {});
  ~Pool();

  class Lease {
   public:
    Lease(Pool* pool, std::unique_ptr<Connection> conn) : pool_(pool), conn_(std::move(conn)) {}
    Lease(Lease&& o) noexcept : pool_(std::exchange(o.pool_, nullptr)), conn_(std::move(o.conn_)) {}
    Lease& operator=(Lease&&) = delete;
    ~Lease();
    Connection& operator*() { return *conn_; }
    Connection* operator->() { return conn_.get(); }
    void discard() {
      if (conn_ && pool_) pool_->count_dropped();
      conn_.reset();
    }

   private:
    Pool* pool_;
    std::unique_ptr<Connection> conn_;
  };

  // Throws db::Unavailable (common/db/pool.h) when none can be had in time.
  Lease acquire(std::chrono::milliseconds timeout = std::chrono::seconds(5));

  // Runs fn(Connection&). A lost connection is discarded; when the statement
  // provably never reached the server (or `idempotent` says running it twice
  // is harmless) it runs once more on a fresh connection, so a PostgreSQL
  // restart costs no client command; otherwise db::Unavailable is thrown.
  template <typename Fn>
  auto with(Fn&& fn, bool idempotent = false) {
    for (int attempt = 0;; ++attempt) {
      auto lease = acquire();
      try {
        return fn(*lease);
      } catch (const ConnectionLost& e) {
        lease.discard();
        if (attempt == 0 && (idempotent || !e.sent())) continue;
        throw_unavailable(e.what());
      } catch (const Error& e) {
        // A read-only server after a failover: the connection is useless for
        // writes, and the refused statement applied nothing, so it runs once
        // more on a fresh connection (which libpq's target_session_attrs
        // places on the new primary).
        if (!e.read_only()) throw;
        lease.discard();
        if (attempt == 0) continue;
        throw_unavailable("the database is read-only (a standby; failover in progress?): " + std::string(e.what()));
      }
    }
  }
  const std::string& url() const { return url_; }
  // For /metrics (common/metrics PoolCollector).
  PoolStats stats();

 private:
  [[noreturn]] static void throw_unavailable(const std::string& why);
  void release(std::unique_ptr<Connection> conn);
  void count_dropped();
  std::string url_;
  size_t size_;
  std::vector<std::pair<std::string, std::string>> settings_;
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Connection>> idle_;
  size_t out_ = 0;
  PoolCounters counters_;
};

}  // namespace postline::db::pq
