// The HTTP side of every service: /metrics (Prometheus text format from a
// prometheus-cpp registry), /healthz (the process is alive) and /readyz (its
// dependencies answer). It runs on its own thread so a slow readiness check or a
// scrape never delays mail traffic.
//
// Besides the registry, /metrics carries what every service exports the same
// way: postline_ready (1/0, what /readyz would answer at that moment, asked at
// each scrape), the process_* metrics (ProcessCollector), postline_db_pool_*
// for the pools added to pools(), and the certificate expiry gauge for the
// certificates added to certificates().
#pragma once

#include "common/metrics/certificate_collector.h"
#include "common/metrics/pool_collector.h"

#include <prometheus/collectable.h>
#include <prometheus/registry.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <thread>

namespace postline::metrics {

class HttpServer {
 public:
  // readiness: returns true when the service can do its job (run on the HTTP
  // thread; keep it short, e.g. a `SELECT 1` with a timeout).
  HttpServer(std::shared_ptr<prometheus::Registry> registry, std::function<bool()> readiness);
  ~HttpServer();
  HttpServer(const HttpServer&) = delete;
  HttpServer& operator=(const HttpServer&) = delete;

  // Binds and starts serving; throws std::runtime_error naming the address on failure.
  void start(const std::string& address, uint16_t port);
  void stop();
  uint16_t port() const { return bound_port_; }

  // What is added (at any time) must outlive this server.
  PoolCollector& pools();
  CertificateCollector& certificates();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t bound_port_ = 0;
};

// Renders the registry, then each collectable, in the Prometheus text exposition format.
std::string render(prometheus::Registry& registry,
                   const std::vector<std::shared_ptr<prometheus::Collectable>>& more = {});

}  // namespace postline::metrics
