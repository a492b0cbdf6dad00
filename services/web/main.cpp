// postline-webd: the public HTTPS side of Postline. It serves mail-client
// set-up (Thunderbird autoconfig, Outlook Autodiscover (POX) and Apple
// mobileconfig profiles, each only for domains authd says are hosted here)
// and the web portal for users (services/web/portal, docs/web.md). Optionally a
// plain-HTTP port that only redirects to HTTPS. /metrics /healthz /readyz on
// web.http_port like every service.
//
// Config keys: web.* (common/config/schema.cpp, docs/web.md), tls.cert_file /
// tls.key_file when web.cert_file is empty, smtp.hostname for the default
// server names, auth.addr, grpc.tls_*, log.*, tls.reload_check_interval,
// acme.* for the built-in ACME client (services/web/acme: it obtains and renews
// tls.cert_file, answering http-01 on web.http_redirect_port), and for the
// portal auth.admin_token_file, queue.addr, db.url (quota usage, through the
// mailstore) and web.session_*.
// Security posture: HTTPS only (TLS 1.2+); passwords typed into the portal
// go to authd and nowhere else (never logged); the admin token is held for
// the portal's account pages, which act only on the signed-in account (and on
// others only after authd says it is an administrator); with ACME on, the
// account key, acme.account_key_file 0600, is a secret too: never logged,
// never sent, only signatures made with it are;
// every value put into a document is XML-escaped; requests are bounded in
// header and body size and time; answers for domains we do not host are the
// same 404 as for unknown paths; the domain check asks authd about
// postmaster@<domain>, never about the client's address.
//
// Exit codes: 0 after SIGTERM/SIGINT, 2 bad configuration (including missing
// or unreadable certificate), 1 anything else at start-up.
#include "common/config/acme_settings.h"
#include "common/config/config.h"
#include "common/log/log.h"
#include "common/metrics/http_server.h"
#include "common/net/tls.h"
#include "common/service/certificates.h"
#include "common/service/service.h"
#include "common/service/tls_reloader.h"
#include "services/web/acme/challenges.h"
#include "services/web/acme/manager.h"
#include "services/web/core/site.h"
#include "services/web/core/xml.h"
#include "services/web/server/domain_directory.h"
#include "services/web/portal/portal.h"
#include "services/web/portal/session.h"
#include "services/web/server/metrics.h"
#include "services/web/server/portal_backend.h"
#include "services/web/server/portal_metrics.h"
#include "services/web/server/web_server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>

#ifndef POSTLINE_VERSION
#define POSTLINE_VERSION "0.0.0"
#endif

using namespace postline;

namespace {

// The servers clients are told about, from web.* (smtp.hostname as the default name).
web::ClientSettings client_settings(const config::Config& cfg) {
  auto host = [&](const char* key) {
    std::string h = cfg.str("web", key);
    if (h.empty()) h = cfg.str("smtp", "hostname");
    if (!web::normalise_domain(h))
      throw config::ConfigError(std::string("web.") + key + ": \"" + h + "\" is not a host name (empty = smtp.hostname)");
    return h;
  };
  const std::string imap_host = host("imap_hostname"), smtp_host = host("smtp_hostname");
  web::ClientSettings s;
  // Implicit TLS first (RFC 8314 3.3), then STARTTLS.
  if (auto p = cfg.port("web", "imaps_port")) s.imap.push_back({imap_host, p, web::Security::kImplicitTls});
  if (auto p = cfg.port("web", "imap_starttls_port")) s.imap.push_back({imap_host, p, web::Security::kStartTls});
  if (auto p = cfg.port("web", "submissions_port")) s.smtp.push_back({smtp_host, p, web::Security::kImplicitTls});
  if (auto p = cfg.port("web", "submission_port")) s.smtp.push_back({smtp_host, p, web::Security::kStartTls});
  if (s.imap.empty())
    throw config::ConfigError("web.imaps_port, web.imap_starttls_port: at least one must be offered (not 0)");
  if (s.smtp.empty())
    throw config::ConfigError("web.submissions_port, web.submission_port: at least one must be offered (not 0)");
  return s;
}

}  // namespace

int main(int argc, char** argv) {
  const auto startup = service::start(argc, argv, "postline-webd", "webd");
  if (startup.exit_code) return *startup.exit_code;
  const config::Config& cfg = startup.config;

  std::shared_ptr<net::TlsContext> tls;
  std::unique_ptr<web::ProfileSigner> signer;
  web::ClientSettings settings;
  web::ServerOptions options;
  std::string cert_file, key_file, key_section = "web";
  config::AcmeSettings acme_settings;
  std::string session_key, admin_token;
  web::portal::SessionTimes session_times;
  std::vector<web::HealthUrl> health_urls;
  try {
    // ACME before the certificate is loaded: with no certificate yet, a
    // self-signed placeholder lets every service start (docs/web.md).
    acme_settings = config::acme_settings(cfg);
    if (web::acme::ensure_placeholder(acme_settings))
      spdlog::warn("acme: no certificate at {} yet: wrote a self-signed placeholder until the first order is issued",
                   acme_settings.cert_file);
    cert_file = cfg.str("web", "cert_file");
    key_file = cfg.str("web", "key_file");
    if (cert_file.empty() != key_file.empty())
      throw config::ConfigError("web.cert_file, web.key_file: set both or neither (neither = tls.cert_file, tls.key_file)");
    if (cert_file.empty()) {
      cert_file = cfg.str("tls", "cert_file");
      key_file = cfg.str("tls", "key_file");
      key_section = "tls";
    }
    if (cert_file.empty() || key_file.empty())
      throw config::ConfigError("web.cert_file (or tls.cert_file) and its key are required: webd serves HTTPS only");
    tls = std::make_shared<net::TlsContext>(cert_file, key_file, key_section);
    if (cfg.boolean("web", "sign_mobileconfig"))
      signer = std::make_unique<web::ProfileSigner>(cert_file, key_file, key_section);
    settings = client_settings(cfg);
    options.max_header_size = cfg.size("web", "max_header_size");
    options.max_body_size = cfg.size("web", "max_body_size");
    options.request_timeout = cfg.duration("web", "request_timeout");
    options.limits.max_total = static_cast<size_t>(cfg.integer("web", "max_connections"));
    options.limits.max_per_ip = static_cast<size_t>(cfg.integer("web", "max_connections_per_ip"));
    options.public_https_port = cfg.port("web", "public_https_port");
    if (options.public_https_port == 0) throw config::ConfigError("web.public_https_port: must not be 0");
    if (cfg.port("web", "https_port") == 0)
      throw config::ConfigError("web.https_port: must not be 0 (webd serves HTTPS)");
    // The portal: the session key, and the admin token its account pages use.
    if (auto path = cfg.str("web", "session_secret_file"); !path.empty())
      session_key = config::read_secret_file("web.session_secret_file", path, 32);
    if (auto path = cfg.str("auth", "admin_token_file"); !path.empty())
      admin_token = config::read_secret_file("auth.admin_token_file", path, 16);
    session_times.idle = cfg.duration("web", "session_idle_timeout");
    session_times.absolute = cfg.duration("web", "session_lifetime");
    if (session_times.idle > session_times.absolute)
      throw config::ConfigError("web.session_idle_timeout: must not be longer than web.session_lifetime");
    try {
      health_urls = web::parse_health_urls(cfg.list("web", "health_urls"));
    } catch (const std::invalid_argument& e) {
      throw config::ConfigError(std::string("web.health_urls: ") + e.what());
    }
  } catch (const std::exception& e) {  // ConfigError, TLS and key files
    std::cerr << "postline-webd: " << e.what() << "\n";
    return 2;
  }

  auto registry = service::make_registry("postline_webd", "postline-webd", POSTLINE_VERSION);
  web::WebMetrics metrics(*registry);
  web::DomainDirectory directory(cfg.str("auth", "addr"), cfg.duration("web", "domain_cache_ttl"), *registry);
  web::MtaStsSettings mta_sts;
  mta_sts.mx_host = cfg.str("smtp", "hostname");
  mta_sts.mode = cfg.str("web", "mta_sts_mode");
  mta_sts.max_age = cfg.integer("web", "mta_sts_max_age");
  web::Site site(settings, signer.get(), mta_sts);
  web::acme::ChallengeStore challenges;
  if (acme_settings.enabled)
    options.acme_challenge = [&challenges](std::string_view target) { return challenges.answer(target); };
  if (session_key.empty()) {
    spdlog::warn("web.session_secret_file is empty: portal sessions are signed with a random key of this process "
                 "(they end when webd restarts and other replicas refuse them)");
    session_key = web::portal::random_bytes(32);
  }
  const web::portal::SessionCodec sessions(session_key, session_times);
  web::PortalMetrics portal_metrics(*registry);
  web::PortalBackendOptions backend_options{cfg.str("auth", "addr"), cfg.str("queue", "addr"), admin_token,
                                            cfg.str("db", "url")};
  backend_options.shards = cfg.str("mailstore", "shards");
  backend_options.mail_host = cfg.str("smtp", "hostname");
  backend_options.outbound_host = cfg.str("queue", "hostname");
  backend_options.dkim_keys = cfg.list("queue", "dkim_keys");
  backend_options.mta_sts_mode = mta_sts.mode;
  backend_options.mta_sts_max_age = mta_sts.max_age;
  backend_options.dns_servers = cfg.list("dns", "servers");
  backend_options.health_urls = std::move(health_urls);
  web::GrpcPortalBackend portal_backend(std::move(backend_options), *registry);
  const web::portal::Portal portal(portal_backend, sessions, settings);

  boost::asio::io_context io(1);
  // Signals are taken over before /readyz can say ready, so a SIGHUP sent as
  // soon as the service is up reloads instead of killing it.
  boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  web::WebServer server(io, site, directory, tls, metrics, options);
  server.enable_portal(portal, portal_metrics, 4);
  metrics::HttpServer http(registry, [&directory] { return directory.ready(); });
  service::export_certificate_expiry(http, cfg, tls);
  // SIGHUP and a changed certificate file reload it (and the profile signer) for new connections.
  service::TlsReloader tls_reloader(io, tls, key_file, cfg.duration("tls", "reload_check_interval"), *registry,
                                    [&signer] {
                                      if (signer) signer->reload();
                                    });
  tls_reloader.start();
  std::unique_ptr<web::acme::AcmeManager> acme;
  if (acme_settings.enabled) {
    try {
      acme = std::make_unique<web::acme::AcmeManager>(io, acme_settings, challenges, *registry,
                                                      [&tls_reloader] { tls_reloader.check_now(); });
    } catch (const std::exception& e) {  // the account key or the CA bundle
      std::cerr << "postline-webd: " << e.what() << "\n";
      return 2;
    }
    acme->start();
  }
  const std::string address = cfg.str("web", "listen_address");
  try {
    // Our listeners before any outbound connection (DESIGN.md: dev ports in the ephemeral range).
    for (const auto& [name, port] :
         server.start(address, cfg.port("web", "https_port"), cfg.port("web", "http_redirect_port")))
      log::listening(name, address, port);
    http.start(address, cfg.port("web", "http_port"));
    log::listening("http", address, http.port());
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    log::fatal("postline-webd", e.what());
    return 1;
  }

  stop_signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping, {} connection(s) open", sig, server.active());
    server.shutdown(std::chrono::seconds(10), [&io] { io.stop(); });
  });

  spdlog::info("postline-webd {} started (profiles {})", POSTLINE_VERSION, signer ? "signed" : "unsigned");
  io.run();
  http.stop();
  spdlog::info("stopped");
  return 0;
}
