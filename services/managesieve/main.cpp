// postline-managesieved: ManageSieve (RFC 5804), how mail clients upload and
// activate the Sieve scripts queued runs at local delivery. Listens on
// managesieve.port (4190 in deployments; STARTTLS when tls.cert_file is set),
// authenticates through authd (auth.addr: SaslStart/SaslStep, the mechanisms
// of ListMechanisms, authd's throttling) and keeps scripts in the mailstore's
// SieveScriptStore (common/mailstore, PostgreSQL on db.url). Scripts are
// compiled with common/sieve before they are stored; quotas on their number,
// size and total are managesieve.max_scripts, max_script_size and
// max_total_size. Stateless apart from open connections. Configuration: the
// `managesieve`, `tls`, `db`, `auth.addr` and `log` keys (docs/managesieve.md).
// Security: credentials go only to authd and are never logged; no
// authentication before TLS unless the client is on loopback or
// managesieve.allow_plaintext_auth.
//
// This file only wires things together; the protocol is in protocol/, the
// network loop in server/.
#include "common/config/config.h"
#include "common/db/pq.h"
#include "common/log/log.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/pg/pg_sieve_scripts.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "common/mailstore/pg/sharded_sieve_scripts.h"
#include "common/metrics/http_server.h"
#include "common/net/tls.h"
#include "common/service/certificates.h"
#include "common/service/service.h"
#include "common/service/server_signals.h"
#include "common/sieve/sieve.h"
#include "services/managesieve/server/auth_client.h"
#include "services/managesieve/server/metrics.h"
#include "services/managesieve/server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <algorithm>

#ifndef POSTLINE_VERSION
#define POSTLINE_VERSION "0.0.0"
#endif

int main(int argc, char** argv) {
  using namespace postline;
  const auto startup = service::start(argc, argv, "postline-managesieved", "managesieved");
  if (startup.exit_code) return *startup.exit_code;
  const config::Config& cfg = startup.config;

  managesieve::ServerContext context;
  net::ConnectionLimits limits;
  std::shared_ptr<net::TlsContext> tls;
  try {
    const std::string cert = cfg.str("tls", "cert_file"), key = cfg.str("tls", "key_file");
    if (!cert.empty() || !key.empty()) tls = std::make_shared<net::TlsContext>(cert, key);
    managesieve::Settings& s = context.settings;
    s.tls_available = tls != nullptr;
    s.allow_plaintext_auth = cfg.boolean("managesieve", "allow_plaintext_auth");
    s.allow_plaintext_auth_from_loopback = cfg.boolean("managesieve", "allow_plaintext_auth_from_loopback");
    s.max_line = static_cast<size_t>(cfg.integer("managesieve", "max_line_length"));
    s.max_unauthenticated_command = cfg.size("managesieve", "max_unauthenticated_command");
    s.max_bad_commands = static_cast<int>(cfg.integer("managesieve", "max_bad_commands"));
    s.quotas.max_scripts = static_cast<uint64_t>(cfg.integer("managesieve", "max_scripts"));
    s.quotas.max_script_size = cfg.size("managesieve", "max_script_size");
    s.quotas.max_total_size = cfg.size("managesieve", "max_total_size");
    // The interpreter's own ceiling is common/sieve's Limits::max_script_size:
    // what is stored here must also run at delivery.
    const size_t library_max = sieve::Limits{}.max_script_size;
    if (s.quotas.max_script_size > library_max)
      throw config::ConfigError("managesieve.max_script_size: at most " + std::to_string(library_max) +
                                " octets (the Sieve interpreter's limit)");
    const auto& supported = sieve::supported_extensions();
    for (const auto& ext : cfg.list("managesieve", "sieve_extensions")) {
      if (std::find(supported.begin(), supported.end(), ext) == supported.end())
        throw config::ConfigError("managesieve.sieve_extensions: \"" + ext + "\" is not a Sieve extension Postline supports");
      s.sieve.allowed_extensions.insert(ext);
    }
    context.login_timeout = cfg.duration("managesieve", "login_timeout");
    context.idle_timeout = cfg.duration("managesieve", "idle_timeout");
    limits.max_total = static_cast<size_t>(cfg.integer("managesieve", "max_connections"));
    limits.max_per_ip = limits.max_total;  // not logged in: max_unauthenticated_per_ip below
  } catch (const std::exception& e) {  // ConfigError, TLS files
    log::fatal("postline-managesieved", e.what());
    return 2;
  }

  const std::string db_url = cfg.str("db", "url");
  try {
    mailstore::pg::check_schema(db_url);
  } catch (const mailstore::pg::SchemaMismatch& e) {
    log::fatal("postline-managesieved", e.what());
    return 3;
  } catch (const std::exception& e) {
    log::fatal("postline-managesieved", std::string("cannot check the database schema: ") + e.what());
    return 3;
  }

  auto registry = service::make_registry("postline_managesieved", "postline-managesieved", POSTLINE_VERSION);
  managesieve::ManageSieveMetrics metrics(*registry);
  const auto pool_size = static_cast<size_t>(cfg.integer("db", "pool_size"));
  // mailstore.shards (docs/DESIGN.md "Sharding"): each account's scripts on its shard.
  std::vector<std::pair<std::string, std::string>> shards;
  try {
    shards = mailstore::pg::parse_shards(cfg.str("mailstore", "shards"), db_url);
    for (const auto& [name, url] : shards)
      if (url != db_url) mailstore::pg::check_schema(url);
  } catch (const std::exception& e) {
    log::fatal("postline-managesieved", std::string("mailstore.shards: ") + e.what());
    return 2;
  }
  mailstore::pg::ShardedSieveScriptStore store(shards, "", pool_size);
  boost::asio::thread_pool db_threads(pool_size);
  managesieve::GrpcAuthenticator auth(cfg.str("auth", "addr"), *registry);

  boost::asio::io_context io(1);
  context.store = &store;
  context.place_user = [&store](std::int64_t user, const std::string& shard) { store.assign(user, shard); };
  context.db_threads = &db_threads;
  context.auth = &auth;
  context.metrics = &metrics;
  context.tls = tls;
  context.unauthenticated = std::make_shared<net::ConnectionCounter>(net::ConnectionLimits{
      SIZE_MAX, static_cast<size_t>(cfg.integer("managesieve", "max_unauthenticated_per_ip"))});
  context.user_slots = std::make_shared<net::ConnectionCounter>(
      net::ConnectionLimits{SIZE_MAX, static_cast<size_t>(cfg.integer("managesieve", "max_connections_per_user"))});

  managesieve::Server server(io, context, limits);
  // Ready when the script table answers (a query for nobody's scripts: no SQL here).
  metrics::HttpServer http(registry, [&store] {
    try {
      return store.scripts_total_size(0) == 0;
    } catch (const std::exception&) {
      return false;
    }
  });
  for (const auto& [name, url] : shards) {
    auto& one = store.shard(name);
    http.pools().add(shards.size() == 1 ? std::string("sieve") : "sieve_" + name, [&one] { return one.pool_stats(); });
  }
  service::export_certificate_expiry(http, cfg, tls);
  const std::string address = cfg.str("managesieve", "listen_address");
  try {
    const uint16_t port = server.start(address, cfg.port("managesieve", "port"));
    log::listening("managesieve", address, port);
    http.start(address, cfg.port("managesieve", "http_port"));
    log::listening("http", address, http.port());
  } catch (const std::exception& e) {
    log::fatal("postline-managesieved", e.what());
    return 1;
  }

  // SIGTERM/SIGINT drain the sessions; SIGHUP and a changed tls.cert_file/key_file reload the certificate.
  service::ServerSignals signals(io, server, tls, cfg, *registry);

  spdlog::info("postline-managesieved {} started", POSTLINE_VERSION);
  io.run();
  http.stop();
  db_threads.join();
  spdlog::info("stopped");
  return 0;
}
