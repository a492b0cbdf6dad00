// gRPC plumbing shared by every service: channels, servers (with the standard
// grpc.health.v1 service), deadlines, and per-method latency metrics.
//
// Calls from Asio code: make the synchronous stub call inside
// postline::async::offload(pool, ...) — the pool bounds concurrent calls and the
// coroutine resumes on its own executor (see common/async/offload.h). This is
// our "awaitable bridge"; it keeps session code linear and testable.
#pragma once

#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <optional>
#include <string>

namespace postline::config {
class Config;
}

namespace postline::grpcutil {

// TLS between services. Set once at start-up (before any channel or server is
// made) from the grpc.tls_* keys; every make_channel/start_server of the
// process then uses it. Mutual: servers require a client certificate that
// chains to ca_file, clients verify the server against the same CA (and
// present their certificate). Process-wide rather than a parameter because
// it is deployment policy, not a property of one call site.
struct TlsFiles {
  std::string cert_file, key_file, ca_file;
  std::string server_name;  // expected name in server certificates; empty = host of the address
  bool enabled() const { return !cert_file.empty(); }
};
// Reads the files now (a missing or unreadable file throws std::runtime_error
// naming it, so a service exits at start-up instead of failing every call);
// all three files or none (std::invalid_argument).
void configure_tls(const TlsFiles& files);
// The grpc.tls_* configuration keys.
TlsFiles tls_files(const config::Config& cfg);
// configure_tls(tls_files(cfg)) and a log line saying plaintext or mutual TLS
// (services; the CLI uses the quiet form).
void configure_tls(const config::Config& cfg);
bool tls_enabled();
// gRPC's own messages (connection errors and the like, at its GRPC_VERBOSITY)
// go through spdlog like every other line, so JSON logs stay JSON.
void route_grpc_logs_to_spdlog();

// A channel to host:port; TLS when configure_tls() was given files.
std::shared_ptr<grpc::Channel> make_channel(const std::string& address);

void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout);

// Gives a channel that is idle or backing off after its peer restarted up to
// `wait` to (re)connect, so the next fail-fast call does not fail just because
// the reconnect timer has not fired yet. Returns true when connected. Call it
// on the blocking side (inside offload), never on an I/O thread.
bool wait_connected(const std::shared_ptr<grpc::Channel>& channel, std::chrono::milliseconds wait);

// grpc.health.v1.Health/Check of the whole server behind `channel` (service
// ""): true when it answers SERVING within `timeout`. What a service's /readyz
// asks of the services it depends on. Blocking: HTTP thread or a pool.
bool health_serving(const std::shared_ptr<grpc::Channel>& channel, std::chrono::milliseconds timeout);

// Builds and starts a server on address:port with the health service enabled
// and reporting SERVING. Throws std::runtime_error if the port cannot be bound.
// `idle_threads`: how many idle handler threads the synchronous server keeps
// (gRPC's MAX_POLLERS; 0: gRPC's default of 2). With the default a server
// answering more concurrent calls than that starts and ends a thread per call
// (a new stack faulted in, then given back: a third of queued's CPU per
// message under the benchmark's 4 concurrent Enqueues).
// `unix_socket`: when not empty, an absolute path where the server also
// listens (gRPC's unix: transport, same credentials as the TCP port). For one
// host: a peer dials unix:PATH, and access is by file permission - the socket
// is made 0660, so the services' user and group reach it and no other local
// user does (anyone on the host reaches 127.0.0.1). A stale socket file left
// by a killed process is replaced. Throws std::invalid_argument for a
// relative or too long path.
std::unique_ptr<grpc::Server> start_server(const std::string& address, uint16_t port,
                                           const std::vector<grpc::Service*>& services,
                                           int* bound_port = nullptr, int idle_threads = 0,
                                           const std::string& unix_socket = "");

// The check start_server applies to `unix_socket`: empty when `path` is
// usable, else why not (config validation names the key with it).
std::string unix_socket_problem(const std::string& path);

// Keeps the server's gRPC health status (grpc.health.v1, what smtpd's and
// imapd's readiness ask) equal to `check()` - the service's own dependency,
// its database - re-evaluated every `interval` on a thread of its own. A
// service whose database is gone answers NOT_SERVING, so the services in
// front of it report not ready (docs/operations.md "Readiness") instead of
// taking traffic they can only answer 451. Stops with the object.
class HealthFollower {
 public:
  HealthFollower(grpc::Server& server, std::function<bool()> check,
                 std::chrono::milliseconds interval = std::chrono::seconds(1));
  ~HealthFollower();
  HealthFollower(const HealthFollower&) = delete;
  HealthFollower& operator=(const HealthFollower&) = delete;
  bool serving() const { return serving_.load(); }

 private:
  std::atomic<bool> serving_{true};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stop_ = false;
  std::thread thread_;
};

// Latency histogram + outcome counter for RPCs, client or server side:
//   <prefix>_grpc_duration_seconds{method,code}
//   <prefix>_grpc_calls_total{method,code}
class RpcMetrics {
 public:
  RpcMetrics(prometheus::Registry& registry, const std::string& prefix, const std::string& side);
  void observe(const std::string& method, grpc::StatusCode code, std::chrono::steady_clock::duration took);

  // RAII helper: RpcMetrics::Timer t(metrics, "Enqueue"); ... t.done(status);
  class Timer {
   public:
    Timer(RpcMetrics& m, std::string method) : m_(m), method_(std::move(method)) {}
    void done(const grpc::Status& status) { m_.observe(method_, status.error_code(), std::chrono::steady_clock::now() - start_); }
   private:
    RpcMetrics& m_;
    std::string method_;
    std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
  };

 private:
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& calls_;
  std::string side_;
};

std::string code_name(grpc::StatusCode code);

}  // namespace postline::grpcutil
