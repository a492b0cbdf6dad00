// postline-smtpd: SMTP ingress. Accepts mail on MX (25), submission (587,
// STARTTLS + AUTH) and submissions (465, implicit TLS), checks recipients with
// authd and hands each message to queued, answering 250 only once queued has
// committed it. Stateless apart from open connections (greylisting and rate
// limit counters live in PostgreSQL, shared by all replicas). Configuration:
// the `smtp`, `spam`, `dns.servers`, `db` (only with greylisting or rate
// limits), `tls`, `auth.addr`, `queue.addr` and `log` keys (docs/smtp.md,
// docs/antispam.md).
//
// Security posture: every input is bounded (line, header, message, recipients,
// errors, AUTH failures, connections, timeouts); MX never relays; credentials
// travel only under TLS and only to authd, and are never logged; bytes
// pipelined before a TLS handshake are discarded; only <CRLF>.<CRLF> ends DATA.
//
// This file only wires things together; the protocol is in protocol/, the
// network loop in server/.
#include "common/config/config.h"
#include "common/service/memory.h"
#include "common/service/certificates.h"
#include "common/service/server_signals.h"
#include "common/service/service.h"
#include "common/grpc/grpc.h"
#include "common/db/migrations.h"
#include "common/db/pool.h"
#include "common/dns/mailauth_lookup.h"
#include "services/smtp-ingress/server/antispam.h"
#include "services/smtp-ingress/server/dmarc_reports.h"
#include "services/smtp-ingress/sql/migrations.h"
#include "common/log/log.h"
#include "common/metrics/http_server.h"
#include "common/net/tls.h"
#include "services/smtp-ingress/server/backend.h"
#include "services/smtp-ingress/server/metrics.h"
#include "services/smtp-ingress/server/server.h"

#include <boost/asio/io_context.hpp>
#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <iostream>
#include <random>

#ifndef POSTLINE_VERSION
#define POSTLINE_VERSION "0.0.0"
#endif

namespace {

std::string random_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace postline;
  const auto startup = service::start(argc, argv, "postline-smtpd", "smtpd");
  if (startup.exit_code) return *startup.exit_code;
  const config::Config& cfg = startup.config;

  std::shared_ptr<net::TlsContext> tls;
  smtp::ServerOptions options;
  smtp::AntispamOptions spam;
  try {
    const std::string cert = cfg.str("tls", "cert_file"), key = cfg.str("tls", "key_file");
    if (!cert.empty() || !key.empty()) tls = std::make_shared<net::TlsContext>(cert, key);
    options.listen_address = cfg.str("smtp", "listen_address");
    options.mx_port = cfg.port("smtp", "mx_port");
    options.submission_port = cfg.port("smtp", "submission_port");
    options.submissions_port = cfg.port("smtp", "submissions_port");
    options.command_timeout = cfg.duration("smtp", "command_timeout");
    options.data_timeout = cfg.duration("smtp", "data_timeout");
    options.connection_limits.max_total = static_cast<size_t>(cfg.integer("smtp", "max_connections"));
    options.connection_limits.max_per_ip = static_cast<size_t>(cfg.integer("smtp", "max_connections_per_ip"));
    options.max_sessions_per_user = static_cast<size_t>(cfg.integer("smtp", "max_sessions_per_user"));
    auto& s = options.session;
    s.hostname = cfg.str("smtp", "hostname");
    s.max_message_size = cfg.size("smtp", "max_message_size");
    // Measured: a 10 MiB message costs smtpd about 7.5 times its size until
    // queued has it (tests/e2e/test_memory_under_attack.py).
    s.data_cost_factor = 8;
    const uint64_t one_message = s.max_message_size * s.data_cost_factor;
    uint64_t inflight = cfg.size("smtp", "max_inflight_data");
    // 0: from the memory this process may use (a container's limit), so the
    // budget cannot exceed it (common/service/memory.h).
    if (inflight == 0) inflight = service::buffer_budget_for(service::memory_limit_bytes(), one_message);
    spdlog::info("smtp.max_inflight_data: {} MiB for messages and the copies smtpd makes of them", inflight >> 20);
    if (inflight < one_message)
      throw config::ConfigError("smtp.max_inflight_data: must be at least " + std::to_string(s.data_cost_factor) +
                                " times smtp.max_message_size (each message is counted with the copies smtpd makes)");
    s.data_budget = std::make_shared<net::ByteBudget>(inflight);
    s.max_recipients = static_cast<size_t>(cfg.integer("smtp", "max_recipients"));
    s.max_line_length = static_cast<size_t>(cfg.integer("smtp", "max_line_length"));
    s.max_header_size = static_cast<size_t>(cfg.size("smtp", "max_header_size"));
    s.max_errors = static_cast<int>(cfg.integer("smtp", "max_errors"));
    s.max_auth_failures = static_cast<int>(cfg.integer("smtp", "max_auth_failures"));
    s.max_messages = static_cast<int>(cfg.integer("smtp", "max_messages_per_session"));
    s.allow_plaintext_auth = cfg.boolean("smtp", "allow_plaintext_auth");
    s.new_queue_id = smtp::new_queue_id;
    s.now_rfc5322 = smtp::rfc5322_now;
    s.random_token = random_token;

    spam.enabled = cfg.boolean("spam", "enabled");
    spam.authserv_id = cfg.str("spam", "authserv_id");
    if (spam.authserv_id.empty()) spam.authserv_id = s.hostname;
    spam.policy.dmarc_enforce = cfg.boolean("spam", "dmarc_enforce");
    auto score = [&](const char* key) {
      try {
        size_t used = 0;
        double v = std::stod(cfg.str("spam", key), &used);
        if (used == cfg.str("spam", key).size()) return v;
      } catch (const std::exception&) {
      }
      throw config::ConfigError(fmt::format("spam.{}: expected a number", key));
    };
    spam.policy.junk_score = score("junk_score");
    spam.policy.reject_score = score("reject_score");
    if (spam.policy.reject_score < spam.policy.junk_score)
      throw config::ConfigError("spam.reject_score: must not be below spam.junk_score");
    for (const auto& z : cfg.list("spam", "dnsbl_zones")) {
      std::string err;
      auto zone = smtp::policy::parse_dnsbl_zone(z, &err);
      if (!zone) throw config::ConfigError("spam.dnsbl_zones: " + err);
      spam.dnsbl.push_back(*zone);
    }
    spam.greylist = cfg.boolean("spam", "greylist");
    spam.greylist_delay = cfg.duration("spam", "greylist_delay");
    spam.greylist_retry_window = cfg.duration("spam", "greylist_retry_window");
    spam.greylist_whitelist_ttl = cfg.duration("spam", "greylist_whitelist_ttl");
    spam.rate_window = cfg.duration("spam", "rate_window");
    spam.rate_ip_messages = cfg.integer("spam", "rate_ip_messages");
    spam.rate_ip_recipients = cfg.integer("spam", "rate_ip_recipients");
    spam.rate_sender_messages = cfg.integer("spam", "rate_sender_messages");
    spam.rate_sender_recipients = cfg.integer("spam", "rate_sender_recipients");
    spam.rspamd_url = cfg.str("spam", "rspamd_url");
    if (!spam.rspamd_url.empty() && spam.rspamd_url.rfind("http://", 0) != 0)
      throw config::ConfigError("spam.rspamd_url: must start with http:// (Rspamd's worker speaks plain HTTP)");
    spam.rspamd_fail_open = cfg.boolean("spam", "rspamd_fail_open");
    spam.rspamd_timeout = cfg.duration("spam", "rspamd_timeout");
    spam.dns_servers = cfg.list("dns", "servers");
    spam.dns_timeout = cfg.duration("spam", "dns_timeout");
    for (const auto& sealer : cfg.list("spam", "arc_trusted_sealers")) {
      std::string d;
      for (char c : sealer) d += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
      if (d.empty() || d.find_first_of(" @;") != std::string::npos)
        throw config::ConfigError("spam.arc_trusted_sealers: expected domain names, got '" + sealer + "'");
      spam.arc_trusted_sealers.push_back(d);
    }
  } catch (const config::ConfigError& e) {
    log::fatal("postline-smtpd", e.what());
    return 2;
  } catch (const std::exception& e) {  // TLS files
    log::fatal("postline-smtpd", e.what());
    return 2;
  }

  auto registry = service::make_registry("postline_smtpd", "postline-smtpd", POSTLINE_VERSION);
  smtp::SmtpMetrics metrics(*registry);
  smtp::BackendOptions backend_options;
  backend_options.auth_addr = cfg.str("auth", "addr");
  backend_options.queue_addr = cfg.str("queue", "addr");
  backend_options.recipient_cache_ttl = cfg.duration("smtp", "recipient_cache_ttl");
  backend_options.enqueue_retry_window = cfg.duration("smtp", "enqueue_retry_window");
  smtp::Backend backend(backend_options, *registry);

  // The database is needed only for state shared between replicas.
  std::shared_ptr<db::Pool> pool;
  const bool need_db = spam.greylist || spam.rate_ip_messages > 0 || spam.rate_ip_recipients > 0 ||
                       spam.rate_sender_messages > 0 || spam.rate_sender_recipients > 0;
  if (need_db) {
    try {
      pool = std::make_shared<db::Pool>(cfg.str("db", "url"), static_cast<size_t>(cfg.integer("db", "pool_size")));
      auto lease = pool->acquire();
      db::check_schema(*lease, smtp::sql::migrations());
    } catch (const std::exception& e) {
      log::fatal("postline-smtpd", std::string("database (needed by spam.greylist / spam.rate_*): ") + e.what());
      return 1;
    }
  }
  std::unique_ptr<smtp::Antispam> antispam;
  {
    std::shared_ptr<dns::AnswerCache> dns_cache;
    if (const auto entries = cfg.integer("dns", "cache_size"); entries > 0) {
      dns::AnswerCache::Options o;
      o.max_entries = static_cast<size_t>(entries);
      o.max_ttl = o.max_negative_ttl =
          std::max(std::chrono::seconds(1), cfg.duration("dns", "cache_max_ttl"));
      auto& lookups = prometheus::BuildCounter()
                          .Name("postline_smtpd_dns_cache_lookups_total")
                          .Help("SPF/DKIM/DMARC/DNSBL DNS questions answered from smtpd's cache (hit) or asked of the resolver (miss)")
                          .Register(*registry);
      auto* hit = &lookups.Add({{"result", "hit"}});
      auto* miss = &lookups.Add({{"result", "miss"}});
      dns_cache = std::make_shared<dns::AnswerCache>(o, [hit, miss](bool h) { (h ? hit : miss)->Increment(); });
    }
    auto dns = std::make_unique<dns::MailauthLookup>(spam.dns_servers, std::chrono::milliseconds(spam.dns_timeout),
                                                     dns_cache);
    // With a cache, messages whose answers are all in it are judged on the
    // I/O thread (Antispam::check_message).
    std::unique_ptr<mailauth::DnsLookup> cached = dns_cache ? dns->cache_only() : nullptr;
    antispam = std::make_unique<smtp::Antispam>(spam, std::move(dns), pool, *registry, std::move(cached));
  }

  // DMARC aggregate reports (reports.send): evaluations go to queued in batches.
  std::unique_ptr<smtp::DmarcReportSink> dmarc_reports;
  if (cfg.boolean("reports", "send") && spam.enabled) {
    dmarc_reports = std::make_unique<smtp::DmarcReportSink>(
        [&backend](const postline::mail::v1::RecordDmarcRequest& r) { return backend.record_dmarc(r); },
        cfg.duration("reports", "flush_interval"), *registry);
    antispam->set_dmarc_sink(dmarc_reports.get());
  }

  boost::asio::io_context io(1);
  smtp::Server server(io, options, tls, backend, metrics, antispam.get());
  metrics::HttpServer http(registry, [&backend] { return backend.ready(); });
  if (pool) http.pools().add("antispam", [pool] { return pool->stats(); });
  service::export_certificate_expiry(http, cfg, tls);
  try {
    for (const auto& [name, port] : server.start()) {
      metrics.sessions.Add({{"listener", name}});  // at zero until the first session
      log::listening(name, options.listen_address, port);
    }
    http.start(options.listen_address, cfg.port("smtp", "http_port"));
    log::listening("http", options.listen_address, http.port());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    log::fatal("postline-smtpd", e.what());
    return 1;
  }

  // SIGTERM/SIGINT drain the sessions; SIGHUP and a changed tls.cert_file/key_file reload the certificate.
  service::ServerSignals signals(io, server, tls, cfg, *registry);

  spdlog::info("postline-smtpd {} started as {}", POSTLINE_VERSION, options.session.hostname);
  io.run();
  backend.cancel_calls(std::chrono::seconds(5));  // before io goes: Enqueue answers are posted to it
  http.stop();
  spdlog::info("stopped");
  return 0;
}
