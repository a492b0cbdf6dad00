// The HTTP side of every service: /metrics (Prometheus text format from a
// prometheus-cpp registry), /healthz (the process is alive) and /readyz (its
// dependencies answer). It runs on its own thread so a slow readiness check or a
// scrape never delays mail traffic.
#pragma once

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

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
  uint16_t bound_port_ = 0;
};

// Renders the registry in the Prometheus text exposition format.
std::string render(prometheus::Registry& registry);

}  // namespace postline::metrics
