#include "common/grpc/grpc.h"

#include "common/config/config.h"

#include <grpc/support/log.h>
#include <grpcpp/generic/generic_stub.h>
#include <grpcpp/health_check_service_interface.h>
#include <spdlog/spdlog.h>

#include <sys/stat.h>
#include <sys/un.h>

#include <filesystem>
#include <fstream>
#include <future>
#include <mutex>
#include <sstream>
#include <stdexcept>

namespace postline::grpcutil {

namespace {

struct TlsMaterial {
  std::string cert_pem, key_pem, ca_pem, server_name;
};

std::mutex tls_mutex;
std::optional<TlsMaterial> tls_material;  // guarded by tls_mutex

std::string read_pem(const std::string& key, const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw std::runtime_error("grpc." + key + ": cannot read " + path);
  std::ostringstream ss;
  ss << in.rdbuf();
  if (ss.str().find("-----BEGIN ") == std::string::npos)
    throw std::runtime_error("grpc." + key + ": " + path + " holds no PEM data");
  return ss.str();
}

std::optional<TlsMaterial> current_tls() {
  std::lock_guard lock(tls_mutex);
  return tls_material;
}

}  // namespace

void configure_tls(const TlsFiles& files) {
  const int given = !files.cert_file.empty() + !files.key_file.empty() + !files.ca_file.empty();
  if (given == 0) {
    std::lock_guard lock(tls_mutex);
    tls_material.reset();
    return;
  }
  if (given != 3)
    throw std::invalid_argument(
        "grpc.tls_cert_file, grpc.tls_key_file and grpc.tls_ca_file: set all three (mutual TLS) or none");
  TlsMaterial m{read_pem("tls_cert_file", files.cert_file), read_pem("tls_key_file", files.key_file),
                read_pem("tls_ca_file", files.ca_file), files.server_name};
  std::lock_guard lock(tls_mutex);
  tls_material = std::move(m);
}

TlsFiles tls_files(const config::Config& cfg) {
  return {cfg.str("grpc", "tls_cert_file"), cfg.str("grpc", "tls_key_file"), cfg.str("grpc", "tls_ca_file"),
          cfg.str("grpc", "tls_server_name")};
}

void route_grpc_logs_to_spdlog() {
  gpr_set_log_function([](gpr_log_func_args* args) {
    const auto level = args->severity == GPR_LOG_SEVERITY_ERROR  ? spdlog::level::err
                       : args->severity == GPR_LOG_SEVERITY_INFO ? spdlog::level::info
                                                                 : spdlog::level::debug;
    spdlog::log(level, "grpc {}:{}: {}", args->file ? args->file : "?", args->line, args->message ? args->message : "");
  });
}

void configure_tls(const config::Config& cfg) {
  const TlsFiles files = tls_files(cfg);
  configure_tls(files);
  if (files.enabled())
    spdlog::info("gRPC between services: mutual TLS (certificate {}, CA {})", files.cert_file, files.ca_file);
  else
    spdlog::info("gRPC between services: plaintext (set grpc.tls_* when services talk across hosts)");
}

bool tls_enabled() { return current_tls().has_value(); }

std::shared_ptr<grpc::Channel> make_channel(const std::string& address) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a peer restarts (queued killed in tests, rolling deploys).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  if (auto tls = current_tls()) {
    grpc::SslCredentialsOptions options;
    options.pem_root_certs = tls->ca_pem;
    options.pem_private_key = tls->key_pem;
    options.pem_cert_chain = tls->cert_pem;
    if (!tls->server_name.empty()) args.SetSslTargetNameOverride(tls->server_name);
    return grpc::CreateCustomChannel(address, grpc::SslCredentials(options), args);
  }
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

bool wait_connected(const std::shared_ptr<grpc::Channel>& channel, std::chrono::milliseconds wait) {
  if (channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) return true;
  return channel->WaitForConnected(std::chrono::system_clock::now() + wait);
}

std::string unix_socket_problem(const std::string& path) {
  if (path.empty() || path.front() != '/') return "must be an absolute path";
  if (path.size() >= sizeof(sockaddr_un{}.sun_path)) return "is longer than a Unix socket path can be";
  return "";
}

std::unique_ptr<grpc::Server> start_server(const std::string& address, uint16_t port,
                                           const std::vector<grpc::Service*>& services, int* bound_port,
                                           int idle_threads, const std::string& unix_socket) {
  if (!unix_socket.empty()) {
    if (auto problem = unix_socket_problem(unix_socket); !problem.empty())
      throw std::invalid_argument("gRPC socket " + unix_socket + " " + problem);
    // A socket file outlives a killed server and would make the bind fail;
    // anything that is not a socket is left alone (and the bind reports it).
    std::error_code ec;
    if (std::filesystem::is_socket(std::filesystem::symlink_status(unix_socket, ec)))
      std::filesystem::remove(unix_socket, ec);
  }
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int selected = 0;
  std::shared_ptr<grpc::ServerCredentials> credentials = grpc::InsecureServerCredentials();
  if (auto tls = current_tls()) {
    // Mutual TLS: a peer without a certificate from our CA never reaches a
    // handler (gRPC's TLS minimum is 1.2).
    grpc::SslServerCredentialsOptions options(GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
    options.pem_root_certs = tls->ca_pem;
    options.pem_key_cert_pairs.push_back({tls->key_pem, tls->cert_pem});
    credentials = grpc::SslServerCredentials(options);
  }
  builder.AddListeningPort(address + ":" + std::to_string(port), credentials, &selected);
  if (!unix_socket.empty()) builder.AddListeningPort("unix:" + unix_socket, credentials);
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  if (idle_threads > 0) builder.SetSyncServerOption(grpc::ServerBuilder::SyncServerOption::MAX_POLLERS, idle_threads);
  for (auto* s : services) builder.RegisterService(s);
  auto server = builder.BuildAndStart();
  if (!server || selected == 0)
    throw std::runtime_error("cannot listen for gRPC on " + address + ":" + std::to_string(port) +
                             (unix_socket.empty() ? "" : " and " + unix_socket));
  if (!unix_socket.empty() && ::chmod(unix_socket.c_str(), 0660) != 0)
    throw std::runtime_error("cannot restrict gRPC socket " + unix_socket + " to its owner and group");
  if (auto* health = server->GetHealthCheckService()) health->SetServingStatus(true);
  if (bound_port) *bound_port = selected;
  return server;
}

HealthFollower::HealthFollower(grpc::Server& server, std::function<bool()> check, std::chrono::milliseconds interval) {
  grpc::HealthCheckServiceInterface* health = server.GetHealthCheckService();
  thread_ = std::thread([this, health, check = std::move(check), interval] {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      lock.unlock();
      bool ok = false;
      try {
        ok = check();
      } catch (const std::exception&) {
        ok = false;
      }
      if (ok != serving_.exchange(ok)) {
        if (health) health->SetServingStatus(ok);
        if (ok) spdlog::info("dependencies answer again: gRPC health SERVING");
        else spdlog::warn("a dependency does not answer: gRPC health NOT_SERVING");
      }
      lock.lock();
      cv_.wait_for(lock, interval, [&] { return stop_; });
    }
  });
}

HealthFollower::~HealthFollower() {
  {
    std::lock_guard lock(mutex_);
    stop_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

std::string code_name(grpc::StatusCode code) {
  switch (code) {
    case grpc::OK: return "OK";
    case grpc::CANCELLED: return "CANCELLED";
    case grpc::UNKNOWN: return "UNKNOWN";
    case grpc::INVALID_ARGUMENT: return "INVALID_ARGUMENT";
    case grpc::DEADLINE_EXCEEDED: return "DEADLINE_EXCEEDED";
    case grpc::NOT_FOUND: return "NOT_FOUND";
    case grpc::ALREADY_EXISTS: return "ALREADY_EXISTS";
    case grpc::PERMISSION_DENIED: return "PERMISSION_DENIED";
    case grpc::RESOURCE_EXHAUSTED: return "RESOURCE_EXHAUSTED";
    case grpc::FAILED_PRECONDITION: return "FAILED_PRECONDITION";
    case grpc::ABORTED: return "ABORTED";
    case grpc::OUT_OF_RANGE: return "OUT_OF_RANGE";
    case grpc::UNIMPLEMENTED: return "UNIMPLEMENTED";
    case grpc::INTERNAL: return "INTERNAL";
    case grpc::UNAVAILABLE: return "UNAVAILABLE";
    case grpc::DATA_LOSS: return "DATA_LOSS";
    case grpc::UNAUTHENTICATED: return "UNAUTHENTICATED";
    default: return "UNKNOWN";
  }
}

RpcMetrics::RpcMetrics(prometheus::Registry& registry, const std::string& prefix, const std::string& side)
    : duration_(prometheus::BuildHistogram()
                    .Name(prefix + "_grpc_" + side + "_duration_seconds")
                    .Help("gRPC " + side + " call latency by method and status code")
                    .Register(registry)),
      calls_(prometheus::BuildCounter()
                 .Name(prefix + "_grpc_" + side + "_calls_total")
                 .Help("gRPC " + side + " calls by method and status code")
                 .Register(registry)),
      side_(side) {}

void RpcMetrics::observe(const std::string& method, grpc::StatusCode code,
                         std::chrono::steady_clock::duration took) {
  static const prometheus::Histogram::BucketBoundaries buckets = {
      0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10};
  const std::map<std::string, std::string> labels = {{"method", method}, {"code", code_name(code)}};
  duration_.Add(labels, buckets).Observe(std::chrono::duration<double>(took).count());
  calls_.Add(labels).Increment();
}

// Through the generic stub (Debian ships no generated health stubs). Request
// {service: ""} is the empty message; the answer {status: SERVING} is the two
// octets 08 01.
bool health_serving(const std::shared_ptr<grpc::Channel>& channel, std::chrono::milliseconds timeout) {
  grpc::GenericStub stub(channel);
  grpc::ClientContext ctx;
  set_deadline(ctx, timeout);
  grpc::ByteBuffer request(nullptr, 0), response;
  std::promise<grpc::Status> done;
  stub.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", grpc::StubOptions(), &request, &response,
                 [&done](grpc::Status status) { done.set_value(std::move(status)); });
  grpc::Status status = done.get_future().get();
  if (!status.ok()) return false;
  std::vector<grpc::Slice> slices;
  if (!response.Dump(&slices).ok()) return false;
  std::string bytes;
  for (const auto& s : slices) bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  return bytes == std::string("\x08\x01", 2);
}

}  // namespace postline::grpcutil
