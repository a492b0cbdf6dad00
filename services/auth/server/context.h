// What the gRPC services share: stores, pools, metrics and settings. Built once
// in main.cpp; the services hold a reference.
//
// Threads: gRPC's callback threads only parse requests and post work. Database
// work runs on `db_pool` (size db.pool_size), argon2id on `hash_pool` (size
// auth.hash_threads) — argon2 is slow and memory-hungry by design, so the pool
// bounds both CPU and memory (hash_threads x hash_mem_limit).
#pragma once

#include <boost/asio/thread_pool.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <string>

#include "common/grpc/grpc.h"
#include "services/auth/core/address.h"
#include "services/auth/core/password_policy.h"
#include "services/auth/core/password.h"
#include "services/auth/core/password_policy.h"
#include "services/auth/core/verify_cache.h"
#include "services/auth/store/account_store.h"
#include "services/auth/store/throttle_store.h"

namespace postline::auth {

namespace asio = boost::asio;

class AuthMetrics {
 public:
  explicit AuthMetrics(prometheus::Registry& registry);
  void login(const std::string& protocol, const std::string& mechanism, const std::string& outcome);
  void hash_duration(double seconds) { hash_duration_.Observe(seconds); }
  void throttled(const std::string& action) { throttled_.Add({{"action", action}}).Increment(); }
  void verify_cache(bool hit, size_t entries) {
    (hit ? cache_hits_ : cache_misses_).Increment();
    cache_entries_.Set(static_cast<double>(entries));
  }
  void set_counts(int64_t accounts, int64_t domains) {
    accounts_.Set(static_cast<double>(accounts));
    domains_.Set(static_cast<double>(domains));
  }

 private:
  prometheus::Family<prometheus::Counter>& logins_;
  prometheus::Histogram& hash_duration_;
  prometheus::Family<prometheus::Counter>& throttled_;
  prometheus::Gauge& accounts_;
  prometheus::Gauge& domains_;
  prometheus::Family<prometheus::Counter>& cache_lookups_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  prometheus::Gauge& cache_entries_;
};

struct ServiceSettings {
  AddressPolicy address_policy;
  PasswordPolicy password_policy;  // new passwords (AddUser, SetPassword); none by default in code
  int scram_iterations = 4096;
  bool allow_plaintext_mechanisms = false;
  std::string admin_token;  // empty: admin API open
  size_t hash_queue_limit = 64;  // pending hashes beyond this fail fast (overload)
  // Keys the SCRAM salt shown for unknown users (auth_secrets.scram_fake_salt),
  // the same in every replica. Empty: a random per-process key.
  std::string fake_salt_secret;
  // Verified-credential cache (auth.verify_cache_size, auth.verify_cache_ttl);
  // either 0 turns it off.
  size_t verify_cache_size = 100000;
  std::chrono::seconds verify_cache_ttl{3600};
  std::string default_shard = "main";  // auth.default_shard: where AddUser places new accounts
};

struct ServiceContext {
  AccountStore& accounts;
  ThrottleStore& throttle;
  PasswordHasher& hasher;
  asio::thread_pool& db_pool;
  asio::thread_pool& hash_pool;
  AuthMetrics& metrics;
  grpcutil::RpcMetrics& rpc_metrics;
  ServiceSettings settings;
  std::atomic<size_t> hash_pending{0};
  // Skips argon2id for a password this process verified recently against the
  // same stored hash (see core/verify_cache.h for why that is safe).
  VerifyCache verify_cache{settings.verify_cache_size, settings.verify_cache_ttl};

  // Re-reads the account and domain gauges (after admin changes; periodically).
  void refresh_counts();
};

// Keeps audit lines single-line and bounded: a username field is attacker-chosen.
std::string printable(std::string_view s, size_t max = 128);

}  // namespace postline::auth
