// The signals a protocol server answers (smtpd, imapd, managesieved):
// SIGTERM/SIGINT log the open sessions and drain them (the server's
// shutdown(10 s), then io.stop()); SIGHUP and a changed tls.cert_file /
// tls.key_file reload the certificate for new connections (TlsReloader).
// Declare it after the server, before io.run().
#pragma once

#include "common/config/config.h"
#include "common/service/tls_reloader.h"

#include <boost/asio/signal_set.hpp>
#include <spdlog/spdlog.h>

#include <chrono>
#include <csignal>
#include <memory>

namespace postline::service {

class ServerSignals {
 public:
  // Server: size_t active(); void shutdown(std::chrono::seconds grace, std::function<void()> done).
  template <class Server>
  ServerSignals(boost::asio::io_context& io, Server& server, std::shared_ptr<net::TlsContext> tls,
                const config::Config& cfg, prometheus::Registry& registry)
      : stop_(io, SIGTERM, SIGINT),
        reloader_(io, std::move(tls), cfg.str("tls", "key_file"), cfg.duration("tls", "reload_check_interval"),
                  registry) {
    stop_.async_wait([&io, &server](boost::system::error_code ec, int sig) {
      if (ec) return;
      spdlog::info("signal {}: stopping, {} session(s) open", sig, server.active());
      server.shutdown(std::chrono::seconds(10), [&io] { io.stop(); });
    });
    reloader_.start();
  }

 private:
  boost::asio::signal_set stop_;
  TlsReloader reloader_;
};

}  // namespace postline::service
