#include "common/grpc/grpc.h"

#include <grpcpp/health_check_service_interface.h>

#include <stdexcept>

namespace postline::grpcutil {

std::shared_ptr<grpc::Channel> make_channel(const std::string& address) {
  grpc::ChannelArguments args;
  // Reconnect quickly after a peer restarts (queued killed in tests, rolling deploys).
  args.SetInt(GRPC_ARG_INITIAL_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MIN_RECONNECT_BACKOFF_MS, 100);
  args.SetInt(GRPC_ARG_MAX_RECONNECT_BACKOFF_MS, 1000);
  args.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  return grpc::CreateCustomChannel(address, grpc::InsecureChannelCredentials(), args);
}

void set_deadline(grpc::ClientContext& ctx, std::chrono::milliseconds timeout) {
  ctx.set_deadline(std::chrono::system_clock::now() + timeout);
}

bool wait_connected(const std::shared_ptr<grpc::Channel>& channel, std::chrono::milliseconds wait) {
  if (channel->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) return true;
  return channel->WaitForConnected(std::chrono::system_clock::now() + wait);
}

std::unique_ptr<grpc::Server> start_server(const std::string& address, uint16_t port,
                                           const std::vector<grpc::Service*>& services, int* bound_port) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::ServerBuilder builder;
  int selected = 0;
  builder.AddListeningPort(address + ":" + std::to_string(port), grpc::InsecureServerCredentials(), &selected);
  builder.SetMaxReceiveMessageSize(64 * 1024 * 1024);
  for (auto* s : services) builder.RegisterService(s);
  auto server = builder.BuildAndStart();
  if (!server || selected == 0)
    throw std::runtime_error("cannot listen for gRPC on " + address + ":" + std::to_string(port));
  if (auto* health = server->GetHealthCheckService()) health->SetServingStatus(true);
  if (bound_port) *bound_port = selected;
  return server;
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

}  // namespace postline::grpcutil
