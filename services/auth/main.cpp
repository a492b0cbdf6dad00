// postline-authd: who may log in, and where an address goes.
//
// Serves AuthService (smtpd, imapd) and AdminService (the `postline` CLI) over
// gRPC, plus /metrics /healthz /readyz over HTTP. State lives in PostgreSQL
// (domains, users, aliases, app passwords, login throttling), so any number of
// replicas can run side by side.
//
// Config keys: db.url, db.pool_size, log.*, auth.* (see common/config/schema.cpp).
// Security posture: passwords are argon2id (libsodium) and never logged; SCRAM
// keys are derived at password set; unknown user and wrong password look the
// same on the wire and in time; failed logins are throttled per IP and per
// account; AdminService needs a bearer token when auth.admin_token_file is set.
//
// Exit codes: 0 after SIGTERM/SIGINT, 2 bad configuration, 3 database not
// reachable or not migrated, 1 anything else at start-up.
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>
#include <prometheus/gauge.h>

#include <csignal>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <sstream>

#include "common/config/config.h"
#include "common/service/certificates.h"
#include "common/service/service.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/grpc/grpc.h"
#include "common/log/log.h"
#include "common/metrics/http_server.h"
#include "services/auth/server/admin_service.h"
#include "services/auth/server/auth_service.h"
#include "services/auth/sql/migrations.h"

namespace asio = boost::asio;
using namespace postline;

namespace {

auth::ThrottlePolicy throttle_policy(const config::Config& cfg) {
  auth::ThrottlePolicy p;
  auto positive = [&](const char* key) {
    auto v = cfg.integer("auth", key);
    if (v < 0) throw config::ConfigError(std::string("auth.") + key + ": must not be negative");
    return static_cast<int>(v);
  };
  p.window = cfg.duration("auth", "throttle_window");
  p.ip_delay_after = positive("throttle_ip_delay_after");
  p.ip_block_after = positive("throttle_ip_block_after");
  p.ip_block_duration = cfg.duration("auth", "throttle_ip_block_duration");
  p.account_delay_after = positive("throttle_account_delay_after");
  p.max_delay = cfg.duration("auth", "throttle_max_delay");
  p.account_max_delay = cfg.duration("auth", "throttle_account_max_delay");
  // The first delay is a quarter second, or the cap if that is lower.
  p.base_delay = std::min<std::chrono::milliseconds>(std::chrono::milliseconds(250), p.max_delay);
  return p;
}

}  // namespace

int main(int argc, char** argv) {
  const auto startup = service::start(argc, argv, "postline-authd", "authd");
  if (startup.exit_code) return *startup.exit_code;
  const config::Config& cfg = startup.config;

  auth::HashParams hash_params;
  auth::ServiceSettings settings;
  auth::ThrottlePolicy policy;
  int hash_threads = 0, pool_size = 0;
  try {
    // Ranges (hash_threads 1-256, pool_size >= 1, ops >= 1) are checked when
    // the configuration loads (common/config key_limits()).
    hash_threads = static_cast<int>(cfg.integer("auth", "hash_threads"));
    pool_size = static_cast<int>(cfg.integer("db", "pool_size"));
    const auto ops = cfg.integer("auth", "hash_ops_limit");
    hash_params.ops_limit = static_cast<unsigned long long>(ops);
    hash_params.mem_limit = cfg.size("auth", "hash_mem_limit");
    settings.scram_iterations = static_cast<int>(cfg.integer("auth", "scram_iterations"));
    settings.default_shard = cfg.str("auth", "default_shard");
    if (settings.default_shard.empty() || settings.default_shard.size() > 63 ||
        settings.default_shard.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-_") != std::string::npos)
      throw config::ConfigError("auth.default_shard: a shard name (1-63 of a-z, 0-9, '-', '_')");
    if (settings.scram_iterations < 4096)
      throw config::ConfigError("auth.scram_iterations: RFC 7677 asks for at least 4096");
    settings.address_policy.local_part_case_sensitive = cfg.boolean("auth", "local_part_case_sensitive");
    settings.address_policy.recipient_delimiter = cfg.str("auth", "recipient_delimiter");
    settings.allow_plaintext_mechanisms = cfg.boolean("auth", "allow_plaintext_mechanisms");
    settings.password_policy.min_length = static_cast<size_t>(cfg.integer("auth", "password_min_length"));
    settings.password_policy.dictionary = cfg.str("auth", "password_dictionary");
    if (!settings.password_policy.dictionary.empty() && !auth::dictionary_available(settings.password_policy.dictionary))
      throw config::ConfigError("auth.password_dictionary: no cracklib dictionary at " +
                                settings.password_policy.dictionary +
                                " (install cracklib-runtime, or set \"\" to check new passwords without it)");
    settings.hash_queue_limit = static_cast<size_t>(hash_threads) * 32;
    const auto token_file = cfg.str("auth", "admin_token_file");
    if (!token_file.empty()) settings.admin_token = config::read_secret_file("auth.admin_token_file", token_file, 16);
    policy = throttle_policy(cfg);
    const auto cache_size = cfg.integer("auth", "verify_cache_size");
    if (cache_size < 0) throw config::ConfigError("auth.verify_cache_size: must not be negative (0 turns the cache off)");
    settings.verify_cache_size = static_cast<size_t>(cache_size);
    settings.verify_cache_ttl = cfg.duration("auth", "verify_cache_ttl");
    // A remembered password outlives nothing but argon2id's cost; past a day
    // that saving is nil while the entry lingers. Also keeps clock arithmetic sane.
    if (settings.verify_cache_ttl > std::chrono::hours(24))
      throw config::ConfigError("auth.verify_cache_ttl: at most 24h (0 turns the cache off)");
  } catch (const config::ConfigError& e) {
    log::fatal("postline-authd", e.what());
    return 2;
  }

  std::unique_ptr<auth::PasswordHasher> hasher;
  try {
    hasher = std::make_unique<auth::PasswordHasher>(hash_params);
  } catch (const std::invalid_argument& e) {
    log::fatal("postline-authd", e.what());
    return 2;
  } catch (const std::exception& e) {
    log::fatal("postline-authd", std::string("cannot hash with auth.hash_mem_limit: ") + e.what());
    return 2;
  }

  // Block the stop signals before any thread starts, so every thread inherits
  // the mask and only sigwait below sees them.
  sigset_t stop_signals;
  sigemptyset(&stop_signals);
  sigaddset(&stop_signals, SIGTERM);
  sigaddset(&stop_signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

  db::Pool pool(cfg.str("db", "url"), static_cast<size_t>(pool_size));
  try {
    pool.with([](pqxx::connection& c) { db::check_schema(c, auth::sql::migrations()); });
  } catch (const db::SchemaError& e) {
    log::fatal("postline-authd", e.what());
    return 3;
  } catch (const std::exception& e) {
    log::fatal("postline-authd", std::string("database not usable (db.url): ") + e.what());
    return 3;
  }

  auto registry = service::make_registry("postline_authd", "postline-authd", POSTLINE_VERSION);
  auth::AuthMetrics metrics(*registry);
  grpcutil::RpcMetrics rpc_metrics(*registry, "postline_authd", "server");

  asio::thread_pool db_pool(static_cast<size_t>(pool_size));
  asio::thread_pool hash_pool(static_cast<size_t>(hash_threads));
  auth::AccountStore accounts(pool, settings.address_policy);
  auth::ThrottleStore throttle(pool, auth::Throttle(policy));
  try {
    settings.fake_salt_secret = accounts.secret("scram_fake_salt");
  } catch (const std::exception& e) {
    log::fatal("postline-authd", e.what());
    return 3;
  }
  auth::ServiceContext ctx{accounts, throttle, *hasher, db_pool, hash_pool, metrics, rpc_metrics, settings};
  ctx.refresh_counts();

  const std::string address = cfg.str("auth", "listen_address");
  // The services must outlive the server (destroyed in reverse order).
  auth::AuthServiceImpl auth_service(ctx);
  auth::AdminServiceImpl admin_service(ctx);
  metrics::HttpServer http(registry, [&pool] { return pool.ping(); });
  http.pools().add("auth", [&pool] { return pool.stats(); });
  service::export_certificate_expiry(http, cfg);
  std::unique_ptr<grpc::Server> server;
  try {
    http.start(address, cfg.port("auth", "http_port"));
    log::listening("http", address, http.port());
    int bound = 0;
    server = grpcutil::start_server(address, cfg.port("auth", "grpc_port"), {&auth_service, &admin_service}, &bound,
                                    0, cfg.str("auth", "grpc_socket"));
    log::listening("grpc", address, static_cast<unsigned>(bound));
    if (const auto socket = cfg.str("auth", "grpc_socket"); !socket.empty()) log::listening_unix("grpc", socket);
  } catch (const std::exception& e) {
    log::fatal("postline-authd", e.what());
    return 1;
  }
  // gRPC health follows the database: smtpd's and imapd's readiness ask it.
  grpcutil::HealthFollower health(*server, [&pool] { return pool.ping(); });
  if (settings.admin_token.empty())
    spdlog::warn("auth.admin_token_file is not set: AdminService accepts anyone who can reach port {}",
                 cfg.port("auth", "grpc_port"));
  spdlog::info("authd ready (hash_threads={}, argon2id ops={} mem={} bytes, verify cache {})", hash_threads,
               hash_params.ops_limit, hash_params.mem_limit,
               ctx.verify_cache.enabled() ? fmt::format("{} users for {}s", settings.verify_cache_size,
                                                        settings.verify_cache_ttl.count())
                                          : std::string("off"));

  // Housekeeping on the db pool: expire throttle rows, refresh gauges (other
  // replicas change accounts too).
  asio::steady_timer housekeeping(db_pool);
  std::function<void()> schedule = [&] {
    housekeeping.expires_after(std::chrono::seconds(30));
    housekeeping.async_wait([&](const boost::system::error_code& ec) {
      if (ec) return;
      try {
        if (int n = throttle.cleanup(); n > 0) spdlog::debug("expired {} login throttle rows", n);
      } catch (const std::exception& e) {
        spdlog::warn("throttle cleanup failed: {}", e.what());
      }
      ctx.refresh_counts();
      schedule();
    });
  };
  schedule();

  int sig = 0;
  sigwait(&stop_signals, &sig);
  spdlog::info("authd stopping on signal {}", sig);
  // Finish RPCs in flight (a few seconds), then stop the pools they post to.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(5));
  housekeeping.cancel();
  http.stop();
  db_pool.join();
  hash_pool.join();
  spdlog::info("authd stopped");
  return 0;
}
