// postline-imapd: IMAP access to the shared mailstore. Listens on imap.port
// (STARTTLS) and imap.tls_port (implicit TLS, when tls.cert_file is set),
// authenticates through authd (auth.addr) and reads/writes mailboxes through
// the mailstore interface (common/mailstore, its PostgreSQL implementation on
// db.url). Stateless apart from open
// connections; any number of instances can share one database (changes reach
// every instance through LISTEN/NOTIFY). Configuration: the `imap`, `tls`,
// `db`, `auth.addr` and `log` keys (docs/imap.md). Security: credentials go
// only to authd and are never logged; no plaintext authentication before TLS
// unless the client is on loopback or imap.allow_plaintext_auth.
//
// This file only wires things together; the protocol is in protocol/, the
// commands in commands/, the network loop in server/.
#include "common/config/config.h"
#include "common/service/memory.h"
#include "common/service/certificates.h"
#include "common/service/server_signals.h"
#include "common/service/service.h"
#include "common/grpc/grpc.h"
#include "common/log/log.h"
#include "common/mailstore/blob/blob_config.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "common/metrics/http_server.h"
#include "common/net/tls.h"
#include "services/imap-access/server/auth_client.h"
#include "services/imap-access/server/expunge_pruner.h"
#include "services/imap-access/server/metrics.h"
#include "services/imap-access/server/notifier.h"
#include "services/imap-access/server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <malloc.h>

#include <cstdio>
#include <iostream>

#ifndef POSTLINE_VERSION
#define POSTLINE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace postline;
  // FETCH moves bodies through multi-megabyte buffers (store results,
  // response chunks). With glibc's defaults each of them is a fresh mmap and
  // munmap, and the page faults cost more than the copying (perf: a third of
  // imapd's time in FETCH BODY[]). Keep such buffers in the heap and keep up to
  // 64 MiB of freed heap for the next command.
  mallopt(M_MMAP_THRESHOLD, 32 << 20);
  mallopt(M_TRIM_THRESHOLD, 64 << 20);
  const auto startup = service::start(argc, argv, "postline-imapd", "imapd");
  if (startup.exit_code) return *startup.exit_code;
  const config::Config& cfg = startup.config;

  std::shared_ptr<net::TlsContext> tls;
  imap::Settings settings;
  net::ConnectionLimits limits;
  imap::PruneOptions prune;
  try {
    const std::string cert = cfg.str("tls", "cert_file"), key = cfg.str("tls", "key_file");
    if (!cert.empty() || !key.empty()) tls = std::make_shared<net::TlsContext>(cert, key);
    settings.max_line = static_cast<size_t>(cfg.integer("imap", "max_line_length"));
    settings.max_literal = cfg.size("imap", "max_literal_size");
    uint64_t inflight = cfg.size("imap", "max_inflight_literals");
    // 0: from the memory this process may use (common/service/memory.h).
    // The budget counts each literal byte literal_cost_factor times (what an
    // APPEND really holds while it runs), so one literal of the largest size
    // must fit that many times.
    const uint64_t one_literal = settings.max_literal * settings.literal_cost_factor;
    if (inflight == 0) inflight = service::buffer_budget_for(service::memory_limit_bytes(), one_literal);
    spdlog::info("imap.max_inflight_literals: {} MiB for literals and the copies their commands make", inflight >> 20);
    if (inflight < one_literal)
      throw config::ConfigError("imap.max_inflight_literals: must be at least " +
                                std::to_string(settings.literal_cost_factor) +
                                " times imap.max_literal_size (each literal is counted with the copies its command makes)");
    settings.literal_budget = std::make_shared<net::ByteBudget>(inflight);
    settings.idle_timeout = cfg.duration("imap", "idle_timeout");
    settings.login_timeout = cfg.duration("imap", "login_timeout");
    settings.max_bad_commands = static_cast<int>(cfg.integer("imap", "max_bad_commands"));
    settings.allow_plaintext_auth = cfg.boolean("imap", "allow_plaintext_auth");
    settings.allow_plaintext_auth_from_loopback = cfg.boolean("imap", "allow_plaintext_auth_from_loopback");
    settings.max_unauthenticated_command = cfg.size("imap", "max_unauthenticated_command");
    settings.tls_available = tls != nullptr;
    // imap.max_line_length >= 1024 and imap.idle_timeout >= 30m (RFC 9051 5.4)
    // are checked when the configuration loads (common/config key_limits()).
    prune.history = cfg.duration("imap", "expunged_history");
    prune.interval = cfg.duration("imap", "expunged_prune_interval");
    limits.max_total = static_cast<size_t>(cfg.integer("imap", "max_connections"));
    // IMAP clients open several connections per account and offices share
    // one address behind NAT: no per-address limit on logged-in connections
    // below the total (imap.max_unauthenticated_per_ip and
    // imap.max_connections_per_user bound the rest; see context below).
    limits.max_per_ip = limits.max_total;
  } catch (const std::exception& e) {  // ConfigError, log level/format, TLS files
    log::fatal("postline-imapd", e.what());
    return 2;
  }

  const std::string db_url = cfg.str("db", "url");
  // mailstore.shards (docs/DESIGN.md "Sharding"): empty = db.url as "main".
  std::vector<std::pair<std::string, std::string>> shards;
  try {
    shards = mailstore::pg::parse_shards(cfg.str("mailstore", "shards"), db_url);
  } catch (const std::invalid_argument& e) {
    log::fatal("postline-imapd", std::string("mailstore.shards: ") + e.what());
    return 2;
  }
  try {
    for (const auto& [name, url] : shards) mailstore::pg::check_schema(url);
  } catch (const mailstore::pg::SchemaMismatch& e) {
    log::fatal("postline-imapd", e.what());
    return 3;
  } catch (const std::exception& e) {
    log::fatal("postline-imapd", std::string("cannot check the database schema: ") + e.what());
    return 3;
  }

  auto registry = service::make_registry("postline_imapd", "postline-imapd", POSTLINE_VERSION);
  imap::ImapMetrics metrics(*registry);
  const auto pool_size = static_cast<size_t>(cfg.integer("db", "pool_size"));
  mailstore::pg::PgOptions store_options;
  store_options.url = db_url;
  store_options.pool_size = pool_size;
  store_options.index_cache_messages = static_cast<size_t>(cfg.integer("imap", "index_cache_messages"));
  store_options.durable_flag_updates = cfg.boolean("imap", "durable_flag_updates");
  try {
    // mailstore.blob_backend: bodies in PostgreSQL (null) or in S3.
    store_options.blobs = mailstore::blob_store_from_config(cfg, registry.get(), config::Config::process_environment());
  } catch (const std::exception& e) {
    log::fatal("postline-imapd", e.what());
    return 2;
  }
  mailstore::pg::ShardedMailStore store(shards, "", [store_options](const std::string& url) {
    auto o = store_options;
    o.url = url;
    return std::make_unique<mailstore::pg::PgMailStore>(o);
  });
  boost::asio::thread_pool db_threads(pool_size);
  imap::GrpcAuthenticator auth(cfg.str("auth", "addr"), *registry);

  boost::asio::io_context io(1);
  imap::Notifier notifier(io, store, db_threads);
  imap::ServerContext context;
  context.services.settings = settings;
  context.services.store = &store;
  context.services.assign_shard = [&store](int64_t user, const std::string& shard) { store.assign(user, shard); };
  context.services.db_threads = &db_threads;
  context.services.auth = &auth;
  context.services.observer = &metrics;
  if (tls) context.services.tls_context = [tls] { return tls->current(); };
  context.metrics = &metrics;
  context.notifier = &notifier;
  context.tls = tls;
  // Per-address and per-account limits (issue 16): strangers that never log
  // in, or one account holding hundreds of IDLEs, cannot take every slot.
  context.unauthenticated = std::make_shared<net::ConnectionCounter>(
      net::ConnectionLimits{SIZE_MAX, static_cast<size_t>(cfg.integer("imap", "max_unauthenticated_per_ip"))});
  context.services.user_slots = std::make_shared<net::ConnectionCounter>(
      net::ConnectionLimits{SIZE_MAX, static_cast<size_t>(cfg.integer("imap", "max_connections_per_user"))});

  imap::Server server(io, context, limits);
  metrics::HttpServer http(registry, [&store] { return store.ping(); });
  for (const auto& [name, url] : shards) {
    auto& shard = store.shard(name);
    http.pools().add(shards.size() == 1 ? std::string("mailstore") : "mailstore_" + name,
                     [&shard] { return shard.pool_stats(); });
  }
  service::export_certificate_expiry(http, cfg, tls);
  const std::string address = cfg.str("imap", "listen_address");
  try {
    for (const auto& [name, port] : server.start(address, cfg.port("imap", "port"), cfg.port("imap", "tls_port"))) {
      metrics.listener_started(name);
      log::listening(name, address, port);
    }
    http.start(address, cfg.port("imap", "http_port"));
    log::listening("http", address, http.port());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    log::fatal("postline-imapd", e.what());
    return 1;
  }
  notifier.start();
  imap::start_expunge_pruner(io, store, db_threads, prune, *registry);

  // The index cache's figures for /metrics, every few seconds.
  boost::asio::steady_timer cache_metrics(io);
  std::function<void()> report_cache = [&] {
    mailstore::pg::PgMailStore::CacheStats st;
    store.for_each_open([&st](const std::string&, mailstore::pg::PgMailStore& s) {
      const auto one = s.cache_stats();
      st.messages += one.messages;
      st.mailboxes += one.mailboxes;
      st.hits += one.hits;
      st.deltas += one.deltas;
      st.misses += one.misses;
    });
    metrics.index_cache(st.messages, st.mailboxes, st.hits, st.deltas, st.misses);
    cache_metrics.expires_after(std::chrono::seconds(5));
    cache_metrics.async_wait([&](boost::system::error_code ec) {
      if (!ec) report_cache();
    });
  };
  report_cache();

  // SIGTERM/SIGINT drain the sessions; SIGHUP and a changed tls.cert_file/key_file reload the certificate.
  service::ServerSignals signals(io, server, tls, cfg, *registry);

  spdlog::info("postline-imapd {} started", POSTLINE_VERSION);
  io.run();
  notifier.stop();
  http.stop();
  db_threads.join();
  spdlog::info("stopped");
  return 0;
}
