#include "common/db/pq.h"

#include "common/db/unavailable.h"
#include "common/db/url_check.h"

#include <libpq-fe.h>

#include <arpa/inet.h>

#include <cstring>
#include <functional>
#include <mutex>

namespace postline::db::pq {

namespace {

// PostgreSQL type OIDs (pg_type.dat); stable across versions.
constexpr Oid kBool = 16, kBytea = 17, kInt8 = 20, kInt2 = 21, kInt4 = 23, kText = 25, kInt8Array = 1016,
              kTextArray = 1009, kByteaArray = 1001;
// Binary timestamps and dates count from 2000-01-01.
constexpr int64_t kPgEpochUnixSeconds = 946684800;
constexpr int32_t kPgEpochUnixDays = 10957;

void put_be32(std::string& out, uint32_t v) {
  v = htonl(v);
  out.append(reinterpret_cast<const char*>(&v), 4);
}
void put_be64(std::string& out, uint64_t v) {
  put_be32(out, static_cast<uint32_t>(v >> 32));
  put_be32(out, static_cast<uint32_t>(v));
}
uint32_t get_be32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return ntohl(v);
}
uint64_t get_be64(const char* p) { return (static_cast<uint64_t>(get_be32(p)) << 32) | get_be32(p + 4); }

std::string be64(int64_t v) {
  std::string s;
  put_be64(s, static_cast<uint64_t>(v));
  return s;
}

// One-dimensional array in the binary wire format (array_recv).
template <typename Each>
std::string array_bytes(Oid element, size_t n, Each&& each) {
  std::string out;
  put_be32(out, n ? 1 : 0);  // dimensions
  put_be32(out, 0);          // no NULLs
  put_be32(out, element);
  if (n) {
    put_be32(out, static_cast<uint32_t>(n));
    put_be32(out, 1);  // lower bound
  }
  for (size_t i = 0; i < n; ++i) each(out, i);
  return out;
}

// Walks a binary one-dimensional array: fn(element bytes) per non-NULL element.
void walk_array(std::string_view a, const std::function<void(std::string_view)>& fn) {
  if (a.size() < 12) throw std::runtime_error("pq: short array");
  const uint32_t ndim = get_be32(a.data());
  if (ndim == 0) return;
  if (ndim != 1 || a.size() < 20) throw std::runtime_error("pq: only one-dimensional arrays are read");
  const uint32_t n = get_be32(a.data() + 12);
  size_t pos = 20;
  for (uint32_t i = 0; i < n; ++i) {
    if (pos + 4 > a.size()) throw std::runtime_error("pq: truncated array");
    const int32_t len = static_cast<int32_t>(get_be32(a.data() + pos));
    pos += 4;
    if (len < 0) continue;
    if (pos + static_cast<size_t>(len) > a.size()) throw std::runtime_error("pq: truncated array element");
    fn(a.substr(pos, static_cast<size_t>(len)));
    pos += static_cast<size_t>(len);
  }
}

std::string error_text(PGconn* c) {
  std::string s = c ? PQerrorMessage(c) : "no connection";
  while (!s.empty() && (s.back() == '\n' || s.back() == ' ')) s.pop_back();
  return s;
}

}  // namespace

// ---- Params ----------------------------------------------------------------

Params& Params::add(unsigned type, int format, std::string bytes, bool is_null) {
  lengths_.push_back(static_cast<int>(bytes.size()));
  values_.push_back(std::move(bytes));
  refs_.push_back(nullptr);
  null_.push_back(is_null);
  formats_.push_back(format);
  types_.push_back(type);
  return *this;
}

Params& Params::i64(int64_t v) { return add(kInt8, 1, be64(v)); }
Params& Params::i32(int32_t v) {
  std::string s;
  put_be32(s, static_cast<uint32_t>(v));
  return add(kInt4, 1, std::move(s));
}
Params& Params::i16(int16_t v) {
  uint16_t n = htons(static_cast<uint16_t>(v));
  return add(kInt2, 1, std::string(reinterpret_cast<const char*>(&n), 2));
}
Params& Params::boolean(bool v) { return add(kBool, 1, std::string(1, v ? '\1' : '\0')); }
Params& Params::text(std::string_view v) { return add(kText, 1, std::string(v)); }
Params& Params::bytea(std::string_view v) { return add(kBytea, 1, std::string(v)); }
Params& Params::bytea_ref(std::string_view v) {
  add(kBytea, 1, std::string());
  lengths_.back() = static_cast<int>(v.size());
  refs_.back() = v.data() ? v.data() : "";
  return *this;
}
Params& Params::null() { return add(0, 1, std::string(), true); }

Params& Params::i64_array(const std::vector<int64_t>& v) {
  return add(kInt8Array, 1, array_bytes(kInt8, v.size(), [&](std::string& out, size_t i) {
               put_be32(out, 8);
               put_be64(out, static_cast<uint64_t>(v[i]));
             }));
}
Params& Params::i64_array(const std::vector<uint32_t>& v) {
  return add(kInt8Array, 1, array_bytes(kInt8, v.size(), [&](std::string& out, size_t i) {
               put_be32(out, 8);
               put_be64(out, v[i]);
             }));
}
Params& Params::text_array(const std::vector<std::string>& v) {
  return add(kTextArray, 1, array_bytes(kText, v.size(), [&](std::string& out, size_t i) {
               put_be32(out, static_cast<uint32_t>(v[i].size()));
               out += v[i];
             }));
}

Params& Params::bytea_array(const std::vector<std::string>& v) {
  return add(kByteaArray, 1, array_bytes(kBytea, v.size(), [&](std::string& out, size_t i) {
               put_be32(out, static_cast<uint32_t>(v[i].size()));
               out += v[i];
             }));
}

const char* const* Params::values() const {
  pointers_.resize(values_.size());
  for (size_t i = 0; i < values_.size(); ++i) pointers_[i] = null_[i] ? nullptr : refs_[i] ? refs_[i] : values_[i].data();
  return pointers_.data();
}

// ---- Result ----------------------------------------------------------------

void Result::clear(pg_result* r) { PQclear(r); }
int Result::rows() const { return r_ ? PQntuples(r_.get()) : 0; }
int Result::columns() const { return r_ ? PQnfields(r_.get()) : 0; }
bool Result::null(int row, int col) const { return PQgetisnull(r_.get(), row, col); }
int64_t Result::affected() const {
  const char* n = r_ ? PQcmdTuples(r_.get()) : "";
  return *n ? std::strtoll(n, nullptr, 10) : 0;
}

std::string_view Result::bytes(int row, int col) const {
  return {PQgetvalue(r_.get(), row, col), static_cast<size_t>(PQgetlength(r_.get(), row, col))};
}

int64_t Result::i64(int row, int col) const {
  const char* p = PQgetvalue(r_.get(), row, col);
  switch (PQgetlength(r_.get(), row, col)) {
    case 8: return static_cast<int64_t>(get_be64(p));
    case 4: return static_cast<int32_t>(get_be32(p));
    case 2: {
      uint16_t v;
      std::memcpy(&v, p, 2);
      return static_cast<int16_t>(ntohs(v));
    }
  }
  throw std::runtime_error(std::string("pq: column ") + PQfname(r_.get(), col) + " is not an integer");
}

int32_t Result::i32(int row, int col) const { return static_cast<int32_t>(i64(row, col)); }

bool Result::boolean(int row, int col) const {
  if (PQgetlength(r_.get(), row, col) != 1) throw std::runtime_error("pq: not a boolean");
  return *PQgetvalue(r_.get(), row, col) != 0;
}

int64_t Result::unix_seconds(int row, int col) const {
  if (PQftype(r_.get(), col) != 1184 && PQftype(r_.get(), col) != 1114)
    throw std::runtime_error(std::string("pq: column ") + PQfname(r_.get(), col) + " is not a timestamp");
  const int64_t us = static_cast<int64_t>(get_be64(PQgetvalue(r_.get(), row, col)));
  // Floor division: times before 2000 are negative.
  int64_t secs = us / 1000000;
  if (us % 1000000 < 0) --secs;
  return secs + kPgEpochUnixSeconds;
}

int32_t Result::unix_days(int row, int col) const {
  return static_cast<int32_t>(get_be32(PQgetvalue(r_.get(), row, col))) + kPgEpochUnixDays;
}

std::vector<std::string> Result::text_array(int row, int col) const {
  std::vector<std::string> out;
  if (null(row, col)) return out;
  walk_array(bytes(row, col), [&](std::string_view e) { out.emplace_back(e); });
  return out;
}

std::vector<int64_t> Result::i64_array(int row, int col) const {
  std::vector<int64_t> out;
  if (null(row, col)) return out;
  walk_array(bytes(row, col), [&](std::string_view e) {
    if (e.size() != 8) throw std::runtime_error("pq: not an int8 array");
    out.push_back(static_cast<int64_t>(get_be64(e.data())));
  });
  return out;
}

// ---- Connection --------------------------------------------------------------

Connection::Connection(const std::string& url, const std::vector<std::pair<std::string, std::string>>& settings) {
  c_ = PQconnectdb(with_program_name(url).c_str());
  if (PQstatus(c_) != CONNECTION_OK) {
    std::string why = error_text(c_);
    PQfinish(c_);
    c_ = nullptr;
    throw ConnectionLost("cannot connect to the database: " + why, false);
  }
  for (const auto& [name, value] : settings) {
    static const Statement kSet{"pq_set_config", "SELECT set_config($1, $2, false)"};
    exec(kSet, Params().text(name).text(value));
  }
}

Connection::~Connection() {
  if (c_) PQfinish(c_);
}

int Connection::socket() const { return PQsocket(c_); }

void Connection::lost(bool sent) {
  throw ConnectionLost("database connection lost: " + error_text(c_), sent);
}

Result Connection::take(pg_result* r, bool sent) {
  Result res(r);
  if (!r) lost(sent);
  switch (PQresultStatus(r)) {
    case PGRES_TUPLES_OK:
    case PGRES_COMMAND_OK:
    case PGRES_EMPTY_QUERY:
      return res;
    default:
      break;
  }
  if (PQstatus(c_) != CONNECTION_OK) lost(sent);
  const char* state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
  if (state && std::string_view(state) == "25006") read_only_seen_ = true;
  std::string msg = PQresultErrorMessage(r);
  while (!msg.empty() && (msg.back() == '\n' || msg.back() == ' ')) msg.pop_back();
  throw Error(msg, state ? state : "");
}

namespace {
// Every named statement this process has prepared, with its parameter types:
// a new connection prepares them all in one round trip (prepare_known), so
// the first command that runs on it does not pay one PREPARE per statement.
struct KnownStatement {
  std::string name, sql;
  std::vector<unsigned> types;
};
std::mutex known_mu;
std::vector<KnownStatement> known_statements;
std::unordered_set<std::string> known_names;

void remember(const char* name, const char* sql, const Params& p) {
  if (std::string_view(name).rfind("pq_dyn_", 0) == 0) return;  // per-connection shapes
  std::lock_guard lock(known_mu);
  if (!known_names.insert(name).second) return;
  known_statements.push_back({name, sql, std::vector<unsigned>(p.types(), p.types() + p.size())});
}
}  // namespace

void Connection::ensure_prepared(const char* name, const char* sql, const Params& p) {
  if (prepared_.count(name)) return;
  if (PQstatus(c_) != CONNECTION_OK) lost(false);
  take(PQprepare(c_, name, sql, p.size(), p.types()), false);
  prepared_.insert(name);
  remember(name, sql, p);
}

void Connection::prepare_known() {
  std::vector<KnownStatement> todo;
  {
    std::lock_guard lock(known_mu);
    for (const auto& k : known_statements)
      if (!prepared_.count(k.name)) todo.push_back(k);
  }
  if (todo.empty()) return;
  if (PQenterPipelineMode(c_) != 1) return;
  size_t sent = 0;
  for (const auto& k : todo) {
    if (PQsendPrepare(c_, k.name.c_str(), k.sql.c_str(), static_cast<int>(k.types.size()), k.types.data()) != 1)
      break;
    ++sent;
  }
  bool ok = PQpipelineSync(c_) == 1;
  for (size_t i = 0; i < sent && ok; ++i) {
    pg_result* r = PQgetResult(c_);
    if (!r) {
      ok = false;
      break;
    }
    if (PQresultStatus(r) == PGRES_COMMAND_OK) prepared_.insert(todo[i].name);
    PQclear(r);
    while (pg_result* extra = PQgetResult(c_)) PQclear(extra);
  }
  if (ok) {
    pg_result* r = PQgetResult(c_);  // the Sync
    if (r) PQclear(r);
  }
  PQexitPipelineMode(c_);
}

Result Connection::exec(const Statement& st, const Params& p) {
  ensure_prepared(st.name, st.sql, p);
  const bool sent = PQsendQueryPrepared(c_, st.name, p.size(), p.values(), p.lengths(), p.formats(), 1) == 1;
  if (!sent) lost(false);
  Result last;
  bool have = false;
  std::optional<Error> error;
  // Read every result of the statement (one), then the end marker.
  while (pg_result* r = PQgetResult(c_)) {
    try {
      last = take(r, true);
      have = true;
    } catch (const Error& e) {
      if (!error) error = e;
    }
  }
  if (error) throw *error;
  if (!have || PQstatus(c_) != CONNECTION_OK) lost(true);
  return last;
}

Result Connection::exec_dynamic(const std::string& sql, const Params& p) {
  auto it = dynamic_.find(sql);
  if (it == dynamic_.end()) {
    if (dynamic_.size() >= kMaxDynamic) {
      const std::string oldest = dynamic_order_.front();
      dynamic_order_.erase(dynamic_order_.begin());
      for (auto d = dynamic_.begin(); d != dynamic_.end(); ++d)
        if (d->second == oldest) {
          dynamic_.erase(d);
          break;
        }
      prepared_.erase(oldest);
      run(("DEALLOCATE " + oldest).c_str());
    }
    const std::string name = "pq_dyn_" + std::to_string(++dynamic_seq_);
    ensure_prepared(name.c_str(), sql.c_str(), p);
    it = dynamic_.emplace(sql, name).first;
    dynamic_order_.push_back(name);
  }
  const Statement st{it->second.c_str(), it->first.c_str()};
  return exec(st, p);
}

void Connection::run(const char* sql) {
  if (PQstatus(c_) != CONNECTION_OK) lost(false);
  const bool sent = PQsendQueryParams(c_, sql, 0, nullptr, nullptr, nullptr, nullptr, 1) == 1;
  if (!sent) lost(false);
  std::optional<Error> error;
  bool have = false;
  while (pg_result* r = PQgetResult(c_)) {
    try {
      take(r, true);
      have = true;
    } catch (const Error& e) {
      if (!error) error = e;
    }
  }
  if (error) throw *error;
  if (!have) lost(true);
}

bool Connection::healthy() {
  if (!c_ || PQstatus(c_) != CONNECTION_OK) return false;
  // The socket is non-blocking inside libpq: this reads only what is there
  // (a server that shut down left an error message and EOF).
  if (PQconsumeInput(c_) == 0) return false;
  while (PGnotify* n = PQnotifies(c_)) PQfreemem(n);  // nobody LISTENs on pooled connections
  return PQstatus(c_) == CONNECTION_OK && PQtransactionStatus(c_) == PQTRANS_IDLE && !on_standby();
}

bool Connection::on_standby() const {
  if (read_only_seen_) return true;
  // PostgreSQL 14+ reports in_hot_standby at connect and when a promotion
  // ends recovery; older servers do not send it (nullptr: assume a primary).
  const char* standby = c_ ? PQparameterStatus(c_, "in_hot_standby") : nullptr;
  return standby && std::string_view(standby) == "on";
}

std::vector<std::pair<std::string, std::string>> Connection::notifications() {
  std::vector<std::pair<std::string, std::string>> out;
  if (PQconsumeInput(c_) == 0) lost(true);
  while (PGnotify* n = PQnotifies(c_)) {
    out.emplace_back(n->relname, n->extra);
    PQfreemem(n);
  }
  return out;
}

// ---- Pipeline ----------------------------------------------------------------

Connection::Pipeline& Connection::Pipeline::add(const Statement& st, Params params) {
  items_.push_back({&st, nullptr, std::move(params)});
  return *this;
}

Connection::Pipeline& Connection::Pipeline::add(const char* plain_sql) {
  items_.push_back({nullptr, plain_sql, {}});
  return *this;
}

std::vector<Result> Connection::Pipeline::run() {
  PGconn* c = c_.c_;
  // Statements are prepared before the pipeline starts (once per connection),
  // so the pipeline itself is only Bind/Execute messages.
  for (const auto& it : items_)
    if (it.st) c_.ensure_prepared(it.st->name, it.st->sql, it.params);
  if (PQenterPipelineMode(c) != 1) c_.lost(false);
  bool sent_any = false;
  for (const auto& it : items_) {
    const int ok = it.st ? PQsendQueryPrepared(c, it.st->name, it.params.size(), it.params.values(),
                                               it.params.lengths(), it.params.formats(), 1)
                         : PQsendQueryParams(c, it.plain, 0, nullptr, nullptr, nullptr, nullptr, 1);
    if (ok != 1) {
      PQexitPipelineMode(c);
      c_.lost(sent_any);
    }
  }
  if (PQpipelineSync(c) != 1) c_.lost(true);
  sent_any = true;
  std::vector<Result> results;
  results.reserve(items_.size());
  std::optional<Error> error;
  bool broken = false;
  for (size_t i = 0; i < items_.size() && !broken; ++i) {
    pg_result* r = PQgetResult(c);
    if (!r) {
      broken = true;
      break;
    }
    if (PQresultStatus(r) == PGRES_PIPELINE_ABORTED) {
      PQclear(r);
      results.emplace_back();
    } else {
      try {
        results.push_back(c_.take(r, true));
      } catch (const Error& e) {
        if (!error) error = e;
        results.emplace_back();
      } catch (const ConnectionLost&) {
        broken = true;
      }
    }
    // Each statement's results end with a NULL.
    while (pg_result* extra = PQgetResult(c)) PQclear(extra);
  }
  // Then the Sync's own result.
  if (!broken) {
    pg_result* r = PQgetResult(c);
    if (!r || PQresultStatus(r) != PGRES_PIPELINE_SYNC) broken = true;
    if (r) PQclear(r);
  }
  PQexitPipelineMode(c);
  if (broken || PQstatus(c) != CONNECTION_OK) c_.lost(true);
  // An explicit transaction that failed inside the pipeline stays open and aborted.
  if (error && PQtransactionStatus(c) != PQTRANS_IDLE) c_.run("ROLLBACK");
  if (error) throw *error;
  return results;
}

// ---- Transaction -------------------------------------------------------------

Transaction::Transaction(Connection& c, const char* begin) : c_(c) { c_.run(begin); }

Transaction::~Transaction() {
  if (done_) return;
  try {
    if (PQtransactionStatus(c_.raw()) != PQTRANS_IDLE) c_.run("ROLLBACK");
  } catch (...) {
    // The connection is gone or unusable; the pool drops it (healthy() fails).
  }
}

void Transaction::commit() {
  c_.run("COMMIT");
  done_ = true;
}

// ---- Pool --------------------------------------------------------------------

Pool::Pool(std::string url, size_t size, std::vector<std::pair<std::string, std::string>> settings)
    : url_(std::move(url)), size_(size == 0 ? 1 : size), settings_(std::move(settings)) {}

Pool::~Pool() = default;

Pool::Lease::~Lease() {
  if (pool_) pool_->release(std::move(conn_));
}

void Pool::throw_unavailable(const std::string& why) { throw db::Unavailable(why); }

Pool::Lease Pool::acquire(std::chrono::milliseconds timeout) {
  std::unique_ptr<Connection> conn;
  {
    std::unique_lock lock(mutex_);
    if (!counters_.wait(lock, cv_, timeout, [&] { return !idle_.empty() || out_ + idle_.size() < size_; }))
      throw db::Unavailable("no database connection free within " + std::to_string(timeout.count()) + " ms");
    ++out_;
    if (!idle_.empty()) {
      conn = std::move(idle_.back());
      idle_.pop_back();
    }
  }
  if (conn && !conn->healthy()) {
    conn.reset();
    count_dropped();
  }
  if (!conn) {
    try {
      conn = std::make_unique<Connection>(url_, settings_);
      // Without target_session_attrs=read-write (or behind an endpoint that
      // has not followed a failover yet) libpq may land on a standby, where
      // every write would fail: a temporary failure, like no connection.
      if (conn->on_standby())
        throw ConnectionLost("reached a read-only standby, not the primary (give db.url every member and "
                             "target_session_attrs=read-write)",
                             false);
      conn->prepare_known();
    } catch (const std::exception& e) {
      {
        std::lock_guard lock(mutex_);
        counters_.connect_failed();
      }
      release(nullptr);
      throw db::Unavailable(e.what());
    }
  }
  return Lease(this, std::move(conn));
}

PoolStats Pool::stats() {
  std::lock_guard lock(mutex_);
  return counters_.snapshot(size_, idle_.size(), out_);
}

void Pool::release(std::unique_ptr<Connection> conn) {
  {
    std::lock_guard lock(mutex_);
    --out_;
    if (conn && PQstatus(conn->raw()) == CONNECTION_OK && PQtransactionStatus(conn->raw()) == PQTRANS_IDLE &&
        !conn->on_standby())
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

}  // namespace postline::db::pq
