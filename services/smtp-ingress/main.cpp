// postline-smtpd: SMTP ingress. Accepts mail on MX (25), submission (587,
// STARTTLS + AUTH) and submissions (465, implicit TLS), checks recipients with
// authd and hands each message to queued, answering 250 only once queued has
// committed it. Stateless apart from open connections. Configuration: the
// `smtp`, `tls`, `auth.addr`, `queue.addr` and `log` keys (docs/smtp.md).
//
// Security posture: every input is bounded (line, header, message, recipients,
// errors, AUTH failures, connections, timeouts); MX never relays; credentials
// travel only under TLS and only to authd, and are never logged; bytes
// pipelined before a TLS handshake are discarded; only <CRLF>.<CRLF> ends DATA.
//
// This file only wires things together; the protocol is in protocol/, the
// network loop in server/.
#include "common/config/config.h"
#include "common/log/log.h"
#include "common/metrics/http_server.h"
#include "common/net/tls.h"
#include "services/smtp-ingress/server/backend.h"
#include "services/smtp-ingress/server/metrics.h"
#include "services/smtp-ingress/server/server.h"

#include <boost/asio/io_context.hpp>
#include <boost/asio/signal_set.hpp>
#include <prometheus/gauge.h>
#include <spdlog/spdlog.h>

#include <cstdio>
#include <iostream>
#include <random>

#ifndef POSTLINE_VERSION
#define POSTLINE_VERSION "0.0.0"
#endif

namespace {

int usage() {
  std::cerr << "usage: postline-smtpd [--config FILE]\n";
  return 2;
}

std::string random_token() {
  thread_local std::mt19937_64 rng{std::random_device{}()};
  return fmt::format("{:016x}", rng());
}

}  // namespace

int main(int argc, char** argv) {
  using namespace postline;
  std::string config_file;
  for (int i = 1; i < argc; ++i) {
    std::string arg = argv[i];
    if (arg == "--config" && i + 1 < argc) config_file = argv[++i];
    else if (arg.rfind("--config=", 0) == 0) config_file = arg.substr(9);
    else if (arg == "--help" || arg == "-h") return usage(), 0;
    else return usage();
  }

  config::Config cfg;
  std::shared_ptr<net::TlsContext> tls;
  smtp::ServerOptions options;
  try {
    cfg = config::Config::load(config_file, config::Config::process_environment());
    log::init("smtpd", cfg.str("log", "level"), cfg.str("log", "format"));
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
    auto& s = options.session;
    s.hostname = cfg.str("smtp", "hostname");
    s.max_message_size = cfg.size("smtp", "max_message_size");
    s.max_recipients = static_cast<size_t>(cfg.integer("smtp", "max_recipients"));
    s.max_line_length = static_cast<size_t>(cfg.integer("smtp", "max_line_length"));
    s.max_header_size = static_cast<size_t>(cfg.size("smtp", "max_header_size"));
    s.max_errors = static_cast<int>(cfg.integer("smtp", "max_errors"));
    s.max_auth_failures = static_cast<int>(cfg.integer("smtp", "max_auth_failures"));
    s.max_messages = static_cast<int>(cfg.integer("smtp", "max_messages_per_session"));
    s.allow_plaintext_auth = cfg.boolean("smtp", "allow_plaintext_auth");
    if (s.max_line_length < 512) throw config::ConfigError("smtp.max_line_length: must be at least 512 (RFC 5321)");
    s.new_queue_id = smtp::new_queue_id;
    s.now_rfc5322 = smtp::rfc5322_now;
    s.random_token = random_token;
  } catch (const config::ConfigError& e) {
    std::cerr << "postline-smtpd: " << e.what() << "\n";
    return 2;
  } catch (const std::exception& e) {  // log level/format, TLS files
    std::cerr << "postline-smtpd: " << e.what() << "\n";
    return 2;
  }

  auto registry = std::make_shared<prometheus::Registry>();
  prometheus::BuildGauge()
      .Name("postline_smtpd_build_info")
      .Help("build version of postline-smtpd")
      .Register(*registry)
      .Add({{"version", POSTLINE_VERSION}})
      .Set(1);
  smtp::SmtpMetrics metrics(*registry);
  smtp::Backend backend({cfg.str("auth", "addr"), cfg.str("queue", "addr")}, *registry);

  boost::asio::io_context io(1);
  smtp::Server server(io, options, tls, backend, metrics);
  metrics::HttpServer http(registry, [&backend] { return backend.ready(); });
  try {
    for (const auto& [name, port] : server.start())
      std::printf("listening %s on %s:%u\n", name.c_str(), options.listen_address.c_str(), port);
    http.start(options.listen_address, cfg.port("smtp", "http_port"));
    std::printf("listening http on %s:%u\n", options.listen_address.c_str(), http.port());
    std::fflush(stdout);
  } catch (const std::exception& e) {
    spdlog::error("{}", e.what());
    std::cerr << "postline-smtpd: " << e.what() << "\n";
    return 1;
  }

  boost::asio::signal_set stop_signals(io, SIGTERM, SIGINT);
  stop_signals.async_wait([&](boost::system::error_code ec, int sig) {
    if (ec) return;
    spdlog::info("signal {}: stopping, {} session(s) open", sig, server.active());
    server.shutdown(std::chrono::seconds(10), [&io] { io.stop(); });
  });
  boost::asio::signal_set hup(io, SIGHUP);
  std::function<void()> wait_hup = [&] {
    hup.async_wait([&](boost::system::error_code ec, int) {
      if (ec) return;
      if (tls) {
        try {
          tls->reload();
          spdlog::info("SIGHUP: TLS certificate reloaded");
        } catch (const std::exception& e) {
          spdlog::error("SIGHUP: TLS reload failed, keeping the old certificate: {}", e.what());
        }
      }
      wait_hup();
    });
  };
  wait_hup();

  spdlog::info("postline-smtpd {} started as {}", POSTLINE_VERSION, options.session.hostname);
  io.run();
  http.stop();
  spdlog::info("stopped");
  return 0;
}
