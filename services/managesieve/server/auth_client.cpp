#include "services/managesieve/server/auth_client.h"

#include "common/async/offload.h"
#include "common/grpc/grpc.h"
#include "mail/v1/auth.grpc.pb.h"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

#include <optional>

namespace postline::managesieve {

struct GrpcAuthenticator::Impl {
  std::unique_ptr<mail::v1::AuthService::Stub> stub;
  grpcutil::RpcMetrics metrics;
  asio::thread_pool threads{4};
  std::vector<std::string> mechanisms;
  std::optional<std::chrono::steady_clock::time_point> mechanisms_at;
  Impl(const std::string& address, prometheus::Registry& registry)
      : stub(mail::v1::AuthService::NewStub(grpcutil::make_channel(address))),
        metrics(registry, "postline_managesieved", "client") {}
};

GrpcAuthenticator::GrpcAuthenticator(const std::string& address, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(address, registry)) {}

GrpcAuthenticator::~GrpcAuthenticator() { impl_->threads.join(); }

namespace {

// Runs on the auth pool (blocking calls).
SaslReply to_reply(const char* method, const grpc::Status& status, const mail::v1::SaslStepResponse& resp) {
  SaslReply r;
  if (!status.ok()) {
    // NOT_FOUND: the conversation expired (60 s) or lives on another authd
    // replica; INVALID_ARGUMENT: a malformed exchange (an unknown mechanism,
    // an overlong message): failed logins, not outages.
    if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      r.status = AuthStatus::kInvalid;
    } else {
      spdlog::warn("authd {} failed: {} {}", method, grpcutil::code_name(status.error_code()), status.error_message());
      r.status = AuthStatus::kUnavailable;
    }
    return r;
  }
  switch (resp.state()) {
    case mail::v1::SASL_STATE_CONTINUE:
      r.state = SaslReply::State::kContinue;
      r.challenge = resp.challenge();
      r.conversation_id = resp.conversation_id();
      break;
    case mail::v1::SASL_STATE_SUCCESS:
      r.state = SaslReply::State::kSuccess;
      r.status = AuthStatus::kOk;
      r.challenge = resp.challenge();
      r.user_id = resp.user_id();
      r.email = resp.email();
      r.shard = resp.shard();
      r.moving = resp.moving();
      break;
    case mail::v1::SASL_STATE_FAILURE:
      switch (resp.result()) {
        case mail::v1::AUTH_RESULT_INVALID_CREDENTIALS: r.status = AuthStatus::kInvalid; break;
        case mail::v1::AUTH_RESULT_THROTTLED: r.status = AuthStatus::kThrottled; break;
        case mail::v1::AUTH_RESULT_DISABLED: r.status = AuthStatus::kDisabled; break;
        default: r.status = AuthStatus::kUnavailable; break;
      }
      break;
    default: r.status = AuthStatus::kUnavailable; break;
  }
  return r;
}

}  // namespace

asio::awaitable<SaslReply> GrpcAuthenticator::sasl(SaslRequest request, std::string remote_ip) {
  Impl* impl = impl_.get();
  // A named callable, not a temporary in the co_await expression (GCC 12, common/async/offload.h).
  auto call = [impl, request = std::move(request), remote_ip = std::move(remote_ip)]() {
    mail::v1::SaslStepResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(15));
    grpc::Status status;
    if (request.start) {
      mail::v1::SaslStartRequest req;
      req.set_mechanism(request.mechanism);
      req.set_has_initial_response(request.initial.has_value());
      if (request.initial) req.set_initial_response(*request.initial);
      req.set_protocol(mail::v1::PROTOCOL_MANAGESIEVE);
      req.set_remote_ip(remote_ip);
      grpcutil::RpcMetrics::Timer timer(impl->metrics, "SaslStart");
      status = impl->stub->SaslStart(&ctx, req, &resp);
      timer.done(status);
      return to_reply("SaslStart", status, resp);
    }
    mail::v1::SaslStepRequest req;
    req.set_conversation_id(request.conversation_id);
    req.set_response(request.response);
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "SaslStep");
    status = impl->stub->SaslStep(&ctx, req, &resp);
    timer.done(status);
    return to_reply("SaslStep", status, resp);
  };
  SaslReply reply = co_await async::offload(impl->threads, std::move(call));
  co_return reply;
}

asio::awaitable<std::vector<std::string>> GrpcAuthenticator::mechanisms() {
  Impl* impl = impl_.get();
  const auto now = std::chrono::steady_clock::now();
  if (impl->mechanisms_at && now - *impl->mechanisms_at < std::chrono::minutes(1)) co_return impl->mechanisms;
  // Asked once per minute even when authd does not answer (the old list meanwhile).
  impl->mechanisms_at = now;
  auto call = [impl]() -> std::optional<std::vector<std::string>> {
    mail::v1::ListMechanismsRequest req;
    req.set_protocol(mail::v1::PROTOCOL_MANAGESIEVE);
    req.set_secure_transport(true);
    mail::v1::ListMechanismsResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(5));
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "ListMechanisms");
    grpc::Status status = impl->stub->ListMechanisms(&ctx, req, &resp);
    timer.done(status);
    if (!status.ok()) {
      spdlog::warn("authd ListMechanisms failed: {} {}", grpcutil::code_name(status.error_code()),
                   status.error_message());
      return std::nullopt;
    }
    return std::vector<std::string>(resp.mechanisms().begin(), resp.mechanisms().end());
  };
  std::optional<std::vector<std::string>> got = co_await async::offload(impl->threads, std::move(call));
  if (got && !got->empty()) impl->mechanisms = std::move(*got);
  co_return impl->mechanisms;
}

}  // namespace postline::managesieve
