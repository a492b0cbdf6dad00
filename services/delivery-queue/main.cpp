// postline-queued: the durable delivery queue.
//
// Accepts messages from smtpd (gRPC QueueService.Enqueue, answered only after
// the commit), delivers them with queue.workers threads — local recipients into
// the mailstore, remote ones over SMTP to their MX — retries on the
// queue.retry_schedule until queue.max_lifetime, and tells senders what
// happened with DSNs. Keys: the `queue` and `dns` sections (deploy/postline.example.yaml).
//
// Security posture: the gRPC port has no authentication of its own; bind it to
// a private address (queue.listen_address). Outbound SMTP uses STARTTLS when
// offered (queue.tls=required refuses cleartext). Message bodies are never logged.
//
// This file only wires things together; the logic lives in store/, delivery/,
// rpc/, protocol/ and dsn/.
#include "common/config/config.h"
#include "common/service/certificates.h"
#include "common/service/service.h"
#include "common/dns/dnssec_resolver.h"
#include "common/dns/resolver.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/grpc/grpc.h"
#include "common/log/log.h"
#include "common/log/printable.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "common/mailstore/sql/migrations.h"
#include "common/metrics/http_server.h"
#include "services/delivery-queue/delivery/dkim_signer.h"
#include "services/delivery-queue/delivery/mailstore_delivery.h"
#include "services/delivery-queue/delivery/search_indexer.h"
#include "common/mailstore/blob/blob_config.h"
#include "common/mailstore/pg/blob_sweeper.h"
#include "services/delivery-queue/delivery/sieve_delivery.h"
#include "services/delivery-queue/delivery/sieve_runner.h"
#include "services/delivery-queue/delivery/metrics.h"
#include "services/delivery-queue/delivery/remote_delivery.h"
#include "services/delivery-queue/delivery/workers.h"
#include "services/delivery-queue/store/mta_sts_cache.h"
#include "services/delivery-queue/rpc/auth_resolver.h"
#include "services/delivery-queue/delivery/enqueue_delivery.h"
#include "services/delivery-queue/delivery/immediate_delivery.h"
#include "services/delivery-queue/rpc/queue_service.h"
#include "services/delivery-queue/reports/reporter.h"
#include "common/dns/mailauth_lookup.h"
#include "services/delivery-queue/sql/migrations.h"

#include <prometheus/gauge.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <map>
#include <iostream>
#include <pthread.h>

namespace {

constexpr const char* kName = "postline-queued";


}  // namespace

int main(int argc, char** argv) {
  using namespace postline;
  const auto startup = service::start(argc, argv, kName, "queued");
  if (startup.exit_code) return *startup.exit_code;
  const config::Config& cfg = startup.config;

  queue::WorkerConfig wc;
  queue::RemoteConfig rc;
  std::unique_ptr<queue::DkimSigner> dkim;
  std::unique_ptr<queue::SieveRunner> sieve_runner;
  queue::reports::ReporterConfig report_config;
  try {
    wc.workers = static_cast<int>(cfg.integer("queue", "workers"));
    if (wc.workers < 1 || wc.workers > 256) throw config::ConfigError("queue.workers: must be 1-256");
    wc.batch_size = static_cast<int>(cfg.integer("queue", "batch_size"));
    if (wc.batch_size < 1 || wc.batch_size > 1000) throw config::ConfigError("queue.batch_size: must be 1-1000");
    wc.poll_interval = cfg.duration("queue", "poll_interval");
    if (wc.poll_interval.count() <= 0) throw config::ConfigError("queue.poll_interval: must be positive");
    wc.policy = queue::RetryPolicy::parse(cfg.list("queue", "retry_schedule"), cfg.duration("queue", "max_lifetime"),
                                          "queue.retry_schedule");
    wc.delay_warning = cfg.duration("queue", "delay_warning");
    wc.hostname = cfg.str("queue", "hostname");
    wc.bounce_from = cfg.str("queue", "bounce_from");
    wc.keep_finished = cfg.duration("queue", "keep_finished");
    wc.max_per_domain = static_cast<int>(cfg.integer("queue", "max_per_domain"));
    if (wc.max_per_domain < 1) throw config::ConfigError("queue.max_per_domain: must be at least 1");
    rc = queue::RemoteConfig::from(cfg);
    try {
      dns::Resolver(rc.dns_servers).check();
    } catch (const std::exception& e) {
      throw config::ConfigError(std::string("dns.servers: ") + e.what());
    }
    if (rc.dane) {
      // libunbound must accept the forwarders and the trust anchor now, not
      // at the first delivery.
      try {
        dns::DnssecResolver(rc.dns_servers, rc.trust_anchor_file);
      } catch (const std::exception& e) {
        throw config::ConfigError(std::string("dns.trust_anchor_file: ") + e.what());
      }
    }
    dkim = std::make_unique<queue::DkimSigner>(cfg.list("queue", "dkim_keys"));
    {
      queue::DkimSigner::ArcOptions arc;
      arc.enabled = cfg.boolean("queue", "arc_seal");
      arc.domain = cfg.str("queue", "arc_domain");
      arc.authserv_id = cfg.str("spam", "authserv_id");
      if (arc.authserv_id.empty()) arc.authserv_id = cfg.str("smtp", "hostname");
      dkim->enable_arc(arc);
    }
    if (cfg.integer("queue", "max_recipients") < 1) throw config::ConfigError("queue.max_recipients: must be positive");
    // Sieve at local delivery: the administrator's scripts are read and
    // compiled now, so one that does not compile stops queued here.
    sieve_runner = std::make_unique<queue::SieveRunner>(queue::SieveSettings::from(cfg));
    report_config = queue::reports::ReporterConfig::from(cfg);
  } catch (const config::ConfigError& e) {
    log::fatal(kName, e.what());
    return 2;
  }

  // Signals are taken by sigwait() on the main thread; every thread started
  // from here on inherits the blocked mask.
  sigset_t signals;
  sigemptyset(&signals);
  sigaddset(&signals, SIGTERM);
  sigaddset(&signals, SIGINT);
  pthread_sigmask(SIG_BLOCK, &signals, nullptr);
  std::signal(SIGPIPE, SIG_IGN);

  const std::string url = cfg.str("db", "url");
  const std::string address = cfg.str("queue", "listen_address");
  // gRPC handlers share one pool; each worker holds one connection for its
  // claim transaction (row locks), and delivers into the mailstore, which
  // keeps its own connections (one per worker).
  db::Pool rpc_pool(url, static_cast<size_t>(std::max<int64_t>(1, cfg.integer("db", "pool_size"))));
  db::Pool worker_pool(url, static_cast<size_t>(wc.workers));
  auto registry = service::make_registry("postline_queued", "postline-queued", POSTLINE_VERSION);
  mailstore::pg::PgOptions store_options;
  store_options.url = url;
  store_options.pool_size = static_cast<size_t>(wc.workers);
  store_options.index_cache_messages = 0;  // queued never opens a mailbox
  try {
    // mailstore.blob_backend: bodies in PostgreSQL (null) or in S3.
    store_options.blobs = mailstore::blob_store_from_config(cfg, registry.get(), config::Config::process_environment());
  } catch (const std::exception& e) {
    log::fatal(kName, e.what());
    return 2;
  }
  // mailstore.shards (docs/DESIGN.md "Sharding"): empty = db.url as "main".
  std::vector<std::pair<std::string, std::string>> shards;
  try {
    shards = mailstore::pg::parse_shards(cfg.str("mailstore", "shards"), url);
  } catch (const std::invalid_argument& e) {
    log::fatal(kName, std::string("mailstore.shards: ") + e.what());
    return 2;
  }
  // The shard on db.url: Enqueue's transaction can deliver into it.
  std::string enqueue_shard;
  for (const auto& [name, shard_url] : shards)
    if (shard_url == url) enqueue_shard = name;
  mailstore::pg::ShardedMailStore sharded(shards, "", [store_options](const std::string& shard_url) {
    auto o = store_options;
    o.url = shard_url;
    return std::make_unique<mailstore::pg::PgMailStore>(o);
  });
  mailstore::pg::PgMailStore& store = sharded.shard(sharded.default_shard());
  // With bodies in S3: objects no row refers to (crashed uploads, bodies of
  // expunged messages, bodies of accounts moved away) are deleted after
  // mailstore.s3_orphan_grace, by one sweeper per shard, each in its shard's
  // own object namespace (sql/020; made at start, after the schema checks).
  const auto sweep = mailstore::blob_sweep_settings(cfg);
  std::vector<std::unique_ptr<mailstore::pg::BlobSweeper>> blob_sweepers;

  queue::QueueMetrics metrics(*registry);
  grpcutil::RpcMetrics server_rpc(*registry, "postline_queued", "server");
  grpcutil::RpcMetrics client_rpc(*registry, "postline_queued", "client");

  // Ready = the gRPC server is accepting Enqueue and the database answers;
  // readiness before gRPC listens would let smtpd (and tests) send too early.
  std::atomic<bool> serving{false};
  metrics::HttpServer http(registry, [&] { return serving.load() && rpc_pool.ping(); });
  http.pools().add("rpc", [&] { return rpc_pool.stats(); });
  http.pools().add("workers", [&] { return worker_pool.stats(); });
  for (const auto& [name, shard_url] : shards) {
    auto& one = sharded.shard(name);
    http.pools().add(shards.size() == 1 ? std::string("mailstore") : "mailstore_" + name,
                     [&one] { return one.pool_stats(); });
  }
  service::export_certificate_expiry(http, cfg);
  try {
    http.start(address, cfg.port("queue", "http_port"));
  } catch (const std::exception& e) {
    log::fatal(kName, e.what());
    return 1;
  }
  log::listening("http", address, http.port());

  queue::MailstoreDelivery local(
      sharded,
      [&sharded](int64_t user, const std::string& shard) {
        if (!sharded.has_shard(shard)) return false;
        sharded.assign(user, shard);
        return true;
      },
      shards.size() > 1, sharded.default_shard());
  queue::AuthResolver resolver(cfg.str("auth", "addr"), &client_rpc);
  // MTA-STS policies are cached in PostgreSQL (queue_mta_sts_policies), shared
  // by the instances; two connections are plenty (one read per session).
  db::Pool sts_pool(url, 2);
  queue::PgStsCache sts_cache(sts_pool);
  std::unique_ptr<queue::SmtpRemoteDelivery> remote_holder;
  try {
    remote_holder = std::make_unique<queue::SmtpRemoteDelivery>(rc, dkim->empty() ? nullptr : dkim.get(), &sts_cache);
  } catch (const std::exception& e) {
    log::fatal(kName, e.what());
    http.stop();
    return 2;
  }
  queue::SmtpRemoteDelivery& remote = *remote_holder;
  spdlog::info("outbound transport security: MTA-STS {}, DANE {}", rc.mta_sts ? "on" : "off", rc.dane ? "on" : "off");
  queue::Workers workers(worker_pool, wc, &local, &remote, &resolver, &metrics);
  // Sieve runs on connections of its own (one transaction per recipient with
  // a script), to each shard (docs/DESIGN.md "Sharding": a run happens in the
  // transaction of the account's shard; opened at first use).
  std::map<std::string, std::unique_ptr<db::pq::Pool>> sieve_pools;
  std::map<std::string, queue::SieveShard> sieve_shards;
  for (const auto& [name, shard_url] : shards) {
    auto& pool = sieve_pools[name] = std::make_unique<db::pq::Pool>(shard_url, static_cast<size_t>(wc.workers));
    sieve_shards[name] = {pool.get(), &sharded.shard(name), shard_url == url};
    http.pools().add(shards.size() == 1 ? std::string("sieve") : "sieve_" + name,
                     [p = pool.get()] { return p->stats(); });
  }
  // New mail wakes this instance's workers at once and the other instances'
  // through one coalesced NOTIFY outside the Enqueue transactions.
  queue::RemoteWake remote_wake(rpc_pool.url());
  queue::SieveDelivery sieve(sieve_shards, sharded.default_shard(), *sieve_runner, &metrics, [&] {
    workers.wake();  // the redirects and vacation replies a run queued are due now
    remote_wake.poke();
  });
  workers.use_sieve(&sieve);
  workers.on_queued([&] { remote_wake.poke(); });
  // DMARC and TLS reports (reports/): recorded, sent once a period through
  // this queue, and received ones parsed. Its own two connections.
  db::Pool report_pool(url, 2);
  http.pools().add("reports", [&] { return report_pool.stats(); });
  std::unique_ptr<queue::RemoteWake> report_wake;
  queue::reports::Reporter reporter(report_config, report_pool,
                                    std::make_unique<dns::MailauthLookup>(rc.dns_servers, std::chrono::seconds(5)),
                                    &resolver, *registry, [&] {
                                      workers.wake();
                                      if (report_wake) report_wake->poke();
                                    });
  remote.set_tls_recorder(reporter.tls_recorder());

  queue::ServiceLimits limits;
  limits.max_message_size = cfg.size("queue", "max_message_size");
  limits.max_recipients = static_cast<int>(cfg.integer("queue", "max_recipients"));
  // The admin RPCs take the same bearer token as authd's AdminService.
  std::string admin_token;
  if (auto path = cfg.str("auth", "admin_token_file"); !path.empty()) {
    try {
      admin_token = config::read_secret_file("auth.admin_token_file", path, 16);
    } catch (const config::ConfigError& e) {
      log::fatal(kName, e.what());
      return 2;
    }
  }
  // Enqueue's connections (libpq), as many as the gRPC handlers may use at once.
  const size_t enqueue_pool_size = static_cast<size_t>(std::max<int64_t>(1, cfg.integer("db", "pool_size")));
  db::pq::Pool enqueue_pool(url, enqueue_pool_size);
  http.pools().add("enqueue", [&] { return enqueue_pool.stats(); });
  report_wake = std::make_unique<queue::RemoteWake>(rpc_pool.url());
  queue::QueueServiceImpl service(rpc_pool, limits, {wc.hostname, wc.bounce_from}, &metrics, &server_rpc,
                                  [&] {
                                    workers.wake();
                                    remote_wake.poke();
                                  },
                                  admin_token);
  // BURL (RFC 4468): smtpd's FetchUrl reads URLAUTH URLs through the mailstore.
  // Sharding: the URL owner's shard is asked of authd's directory each time.
  if (shards.size() > 1)
    service.use_url_fetcher(sharded, resolver, [&sharded](int64_t user, const std::string& shard) {
      if (shard.empty() || !sharded.has_shard(shard)) return false;
      sharded.assign(user, shard);
      return true;
    });
  else
    service.use_url_fetcher(sharded, resolver);
  service.set_enqueue_shard(enqueue_shard);
  service.use_reporter(reporter);
  // Enqueue on libpq with group commit (enqueue_pool); local recipients are
  // delivered inside its transactions unless queue.deliver_during_enqueue is off.
  queue::EnqueueBatcher::DeliveryFactory deliver_now;
  if (cfg.boolean("queue", "deliver_during_enqueue") && !enqueue_shard.empty()) {
    auto& local_shard = sharded.shard(enqueue_shard);
    deliver_now = [&](const std::vector<const queue::NewMessage*>& m) -> std::unique_ptr<queue::EnqueueTimeDelivery> {
      return std::make_unique<queue::MailstoreEnqueueDelivery>(local_shard, m, &metrics, sieve_runner.get());
    };
  }
  // Sharding: local recipients on shards other than db.url's are delivered
  // right after the Enqueue commit by an in-process hand-off (two threads,
  // one queue connection; delivery/immediate_delivery.h), not at a worker's
  // claim. The same switch as the delivery inside Enqueue.
  db::pq::Pool handoff_pool(url, 2);
  std::map<std::string, queue::ImmediateDelivery::Shard> handoff_shards;
  for (const auto& [name, shard_url] : shards)
    if (shard_url != url) handoff_shards[name] = {sieve_pools.at(name).get(), &sharded.shard(name)};
  queue::ImmediateDelivery handoff(handoff_pool, handoff_shards, sieve_runner.get(), &metrics, [&] {
    workers.wake();
    remote_wake.poke();
  });
  if (cfg.boolean("queue", "deliver_during_enqueue") && !handoff_shards.empty()) {
    http.pools().add("handoff", [&] { return handoff_pool.stats(); });
    service.use_handoff([&handoff](const std::string& shard) { return handoff.accepts(shard); },
                        [&handoff](std::shared_ptr<const queue::NewMessage> m, std::vector<int64_t> ids) {
                          handoff.offer(std::move(m), std::move(ids));
                        },
                        cfg.duration("queue", "handoff_grace"));
    handoff.start(2);
  }
  queue::EnqueueBatcher::Options batch_options;
  batch_options.max_messages = static_cast<size_t>(std::max<int64_t>(1, cfg.integer("queue", "enqueue_batch_max")));
  batch_options.parallel = std::min<size_t>(
      static_cast<size_t>(std::max<int64_t>(1, cfg.integer("queue", "enqueue_parallel"))), enqueue_pool_size);
  // Search indexing after the commit (common/mailstore/sql/014_search_backlog.sql).
  queue::SearchIndexer indexer(
      [&](size_t max) {
        size_t n = 0;
        for (const auto& [name, shard_url] : shards) n += sharded.shard(name).index_search_backlog(max);
        return n;
      },
      static_cast<size_t>(cfg.integer("queue", "search_index_batch")), std::chrono::seconds(1),
      std::chrono::milliseconds(cfg.integer("queue", "search_index_delay_ms")),
      std::chrono::milliseconds(cfg.integer("queue", "search_index_max_delay_ms")),
      {[&](size_t n) { metrics.search_indexed(n); },
       [&](const char* what) {
         metrics.search_index_failed();
         spdlog::warn("search indexing failed (tried again later): {}", log::printable(what));
       }});
  const bool index_search = cfg.boolean("queue", "search_indexer");
  queue::EnqueueBatcher batcher(enqueue_pool, std::move(deliver_now), batch_options, [&](size_t n) {
    metrics.enqueue_committed(n);
    if (index_search) indexer.wake();
  });
  service.use_batcher(batcher);
  std::unique_ptr<grpc::Server> server;
  int grpc_port = 0;
  try {
    // Idle handler threads kept (else a thread is started and ended per call
    // beyond gRPC's two): Enqueues wait for their batch on their handler
    // threads, so as many as smtpd sessions end DATA at once; at least 32.
    server = grpcutil::start_server(address, cfg.port("queue", "grpc_port"), {&service}, &grpc_port,
                                    static_cast<int>(std::max<size_t>(32, 4 * enqueue_pool_size)),
                                    cfg.str("queue", "grpc_socket"));
  } catch (const std::exception& e) {
    log::fatal(kName, e.what());
    http.stop();
    return 1;
  }
  // The gRPC port is bound before this process makes any outbound connection:
  // the development port 50052 lies inside Linux's ephemeral range, and the
  // kernel picks the same local ports for the same destination run after run,
  // so a PostgreSQL connection opened first could occupy it every time.
  try {
    auto known = queue::sql::migrations();
    auto mailstore = mailstore::sql::migrations();
    known.insert(known.end(), mailstore.begin(), mailstore.end());
    auto lease = rpc_pool.acquire();
    db::check_schema(*lease, known);
    for (const auto& [name, shard_url] : shards)
      if (shard_url != url) mailstore::pg::check_schema(shard_url);
  } catch (const std::exception& e) {
    log::fatal(kName, e.what());
    server->Shutdown();
    http.stop();
    return 3;
  }
  if (store_options.blobs && sweep.interval.count() > 0) {
    // The default shard first: of shards sharing a namespace (databases that
    // held S3 bodies before sql/020), only the first sweeps, as before.
    std::vector<std::string> order{sharded.default_shard()};
    for (const auto& [name, shard_url] : shards)
      if (name != sharded.default_shard()) order.push_back(name);
    std::map<std::string, std::string> swept;  // namespace -> shard
    for (const auto& name : order) {
      auto& one = sharded.shard(name);
      std::string space;
      try {
        space = one.blob_store()->space();
      } catch (const std::exception& e) {
        log::fatal(kName, "mailstore shard " + name + ": cannot read its blob namespace: " + e.what());
        server->Shutdown();
        http.stop();
        return 3;
      }
      if (auto [it, fresh] = swept.emplace(space, name); !fresh) {
        spdlog::warn("mailstore shard {} shares the blob namespace '{}' of shard {}: not swept (docs/operations.md "
                     "\"Sharding\")",
                     name, log::printable(space, 80), it->second);
        continue;
      }
      blob_sweepers.push_back(
          std::make_unique<mailstore::pg::BlobSweeper>(one, sweep.interval, sweep.grace, registry.get(), name));
    }
  }
  // gRPC health follows the database: smtpd's readiness asks it.
  grpcutil::HealthFollower health(*server, [&] { return rpc_pool.ping(); });
  workers.start();
  if (index_search) indexer.start();
  for (auto& sweeper : blob_sweepers) sweeper->start();
  reporter.start();
  serving = true;
  log::listening("grpc", address, static_cast<unsigned>(grpc_port));
  if (const auto socket = cfg.str("queue", "grpc_socket"); !socket.empty()) log::listening_unix("grpc", socket);
  spdlog::info("{} ready: {} workers, retry schedule of {} steps, max lifetime {}s", kName, wc.workers,
               wc.policy.schedule.size(), wc.policy.max_lifetime.count());

  int sig = 0;
  sigwait(&signals, &sig);
  spdlog::info("signal {}: stopping (finishing deliveries in flight)", sig);
  serving = false;
  // New Enqueues get UNAVAILABLE from here on (smtpd says 451); calls in
  // progress get a few seconds to commit.
  server->Shutdown(std::chrono::system_clock::now() + std::chrono::seconds(10));
  handoff.stop();  // what it did not take stays queued for the workers
  workers.stop();
  indexer.stop();
  for (auto& sweeper : blob_sweepers) sweeper->stop();
  reporter.stop();
  http.stop();
  spdlog::info("stopped");
  return 0;
}
