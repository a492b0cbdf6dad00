#include "common/authclient/authd_client.h"

#include "common/async/offload.h"
#include "common/grpc/grpc.h"
#include "mail/v1/auth.grpc.pb.h"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

namespace postline::authclient {

struct AuthdClient::Impl {
  std::unique_ptr<mail::v1::AuthService::Stub> stub;
  grpcutil::RpcMetrics metrics;
  mail::v1::Protocol protocol;
  asio::thread_pool threads{4};
  Impl(const std::string& address, prometheus::Registry& registry, const std::string& metrics_prefix,
       Protocol p)
      : stub(mail::v1::AuthService::NewStub(grpcutil::make_channel(address))),
        metrics(registry, metrics_prefix, "client"),
        protocol(p == Protocol::kImap ? mail::v1::PROTOCOL_IMAP : mail::v1::PROTOCOL_MANAGESIEVE) {}
};

AuthdClient::AuthdClient(const std::string& address, prometheus::Registry& registry,
                         const std::string& metrics_prefix, Protocol protocol)
    : impl_(std::make_unique<Impl>(address, registry, metrics_prefix, protocol)) {}

AuthdClient::~AuthdClient() { impl_->threads.join(); }

asio::awaitable<AuthOutcome> AuthdClient::authenticate(const std::string& user, const std::string& password,
                                                       const std::string& mechanism, const std::string& remote_ip) {
  Impl* impl = impl_.get();
  // A named callable, not a temporary in the co_await expression: GCC 12
  // mishandles such temporaries across the suspension (double destruction).
  auto call = [=]() {
    mail::v1::AuthenticateRequest req;
    req.set_username(user);
    req.set_password(password);
    req.set_protocol(impl->protocol);
    req.set_mechanism(mechanism);
    req.set_remote_ip(remote_ip);
    mail::v1::AuthenticateResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(10));
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "Authenticate");
    grpc::Status status = impl->stub->Authenticate(&ctx, req, &resp);
    timer.done(status);
    AuthOutcome out;
    if (!status.ok()) {
      spdlog::warn("authd Authenticate failed: {} {}", grpcutil::code_name(status.error_code()),
                   status.error_message());
      out.status = AuthStatus::kUnavailable;
      return out;
    }
    switch (resp.result()) {
      case mail::v1::AUTH_RESULT_OK:
        out.status = AuthStatus::kOk;
        out.user_id = resp.user_id();
        out.email = resp.email();
        out.quota_bytes = resp.quota_bytes();
        out.quota_messages = resp.quota_messages();
        out.admin = resp.admin();
        out.shard = resp.shard();
        out.moving = resp.moving();
        break;
      case mail::v1::AUTH_RESULT_INVALID_CREDENTIALS: out.status = AuthStatus::kInvalid; break;
      case mail::v1::AUTH_RESULT_THROTTLED: out.status = AuthStatus::kThrottled; break;
      case mail::v1::AUTH_RESULT_DISABLED: out.status = AuthStatus::kDisabled; break;
      default: out.status = AuthStatus::kUnavailable; break;
    }
    return out;
  };
  AuthOutcome result = co_await async::offload(impl->threads, std::move(call));
  co_return result;
}

namespace {

// Runs on the auth thread pool (blocking calls).
SaslReply to_reply(const char* method, const grpc::Status& status, const mail::v1::SaslStepResponse& resp) {
  SaslReply r;
  if (!status.ok()) {
    // NOT_FOUND: the conversation expired (60 s) or lives on another authd
    // replica; INVALID_ARGUMENT: a malformed exchange (an unknown mechanism,
    // an overlong message): failed logins, not outages.
    if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      r.outcome.status = AuthStatus::kInvalid;
    } else {
      spdlog::warn("authd {} failed: {} {}", method, grpcutil::code_name(status.error_code()), status.error_message());
      r.outcome.status = AuthStatus::kUnavailable;
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
      // authd sends the account's limits with the success (like Authenticate).
      r.state = SaslReply::State::kSuccess;
      r.challenge = resp.challenge();
      r.outcome.status = AuthStatus::kOk;
      r.outcome.user_id = resp.user_id();
      r.outcome.email = resp.email();
      r.outcome.quota_bytes = resp.quota_bytes();
      r.outcome.quota_messages = resp.quota_messages();
      r.outcome.admin = resp.admin();
      r.outcome.shard = resp.shard();
      r.outcome.moving = resp.moving();
      break;
    case mail::v1::SASL_STATE_FAILURE:
      switch (resp.result()) {
        case mail::v1::AUTH_RESULT_INVALID_CREDENTIALS: r.outcome.status = AuthStatus::kInvalid; break;
        case mail::v1::AUTH_RESULT_THROTTLED: r.outcome.status = AuthStatus::kThrottled; break;
        case mail::v1::AUTH_RESULT_DISABLED: r.outcome.status = AuthStatus::kDisabled; break;
        default: r.outcome.status = AuthStatus::kUnavailable; break;
      }
      break;
    default: r.outcome.status = AuthStatus::kUnavailable; break;
  }
  return r;
}

}  // namespace

asio::awaitable<SaslReply> AuthdClient::sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                                   const std::string& remote_ip) {
  Impl* impl = impl_.get();
  auto call = [impl, mechanism, initial, remote_ip]() {
    mail::v1::SaslStartRequest req;
    req.set_mechanism(mechanism);
    req.set_has_initial_response(initial.has_value());
    if (initial) req.set_initial_response(*initial);
    req.set_protocol(impl->protocol);
    req.set_remote_ip(remote_ip);
    mail::v1::SaslStepResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(15));
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "SaslStart");
    grpc::Status status = impl->stub->SaslStart(&ctx, req, &resp);
    timer.done(status);
    return to_reply("SaslStart", status, resp);
  };
  SaslReply reply = co_await async::offload(impl->threads, std::move(call));
  co_return reply;
}

asio::awaitable<SaslReply> AuthdClient::sasl_step(const std::string& conversation_id, const std::string& response) {
  Impl* impl = impl_.get();
  auto call = [impl, conversation_id, response]() {
    mail::v1::SaslStepRequest req;
    req.set_conversation_id(conversation_id);
    req.set_response(response);
    mail::v1::SaslStepResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(15));
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "SaslStep");
    grpc::Status status = impl->stub->SaslStep(&ctx, req, &resp);
    timer.done(status);
    return to_reply("SaslStep", status, resp);
  };
  SaslReply reply = co_await async::offload(impl->threads, std::move(call));
  co_return reply;
}

asio::awaitable<std::optional<std::vector<std::string>>> AuthdClient::list_mechanisms(bool secure_transport) {
  Impl* impl = impl_.get();
  auto call = [impl, secure_transport]() -> std::optional<std::vector<std::string>> {
    mail::v1::ListMechanismsRequest req;
    req.set_protocol(impl->protocol);
    req.set_secure_transport(secure_transport);
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
  co_return got;
}

namespace {

QuotaReply to_quota_reply(const char* method, const grpc::Status& status, const mail::v1::QuotaResponse& resp) {
  QuotaReply r;
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      r.status = QuotaReply::Status::kOk;
      r.user_id = resp.user_id();
      r.email = resp.email();
      r.quota_bytes = resp.quota_bytes();
      r.quota_messages = resp.quota_messages();
      break;
    case grpc::StatusCode::PERMISSION_DENIED: r.status = QuotaReply::Status::kDenied; break;
    case grpc::StatusCode::NOT_FOUND: r.status = QuotaReply::Status::kNotFound; break;
    case grpc::StatusCode::INVALID_ARGUMENT: r.status = QuotaReply::Status::kInvalid; break;
    default:
      spdlog::warn("authd {} failed: {} {}", method, grpcutil::code_name(status.error_code()), status.error_message());
      r.status = QuotaReply::Status::kUnavailable;
      break;
  }
  return r;
}

}  // namespace

asio::awaitable<QuotaReply> AuthdClient::get_quota(int64_t acting_user_id, const std::string& address) {
  Impl* impl = impl_.get();
  auto call = [impl, acting_user_id, address]() {
    mail::v1::GetQuotaRequest req;
    req.set_acting_user_id(acting_user_id);
    req.set_address(address);
    mail::v1::QuotaResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(5));
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "GetQuota");
    grpc::Status status = impl->stub->GetQuota(&ctx, req, &resp);
    timer.done(status);
    return to_quota_reply("GetQuota", status, resp);
  };
  QuotaReply reply = co_await async::offload(impl->threads, std::move(call));
  co_return reply;
}

asio::awaitable<QuotaReply> AuthdClient::set_quota(int64_t acting_user_id, const std::string& address,
                                           int64_t quota_bytes, int64_t quota_messages) {
  Impl* impl = impl_.get();
  auto call = [impl, acting_user_id, address, quota_bytes, quota_messages]() {
    mail::v1::SetQuotaRequest req;
    req.set_acting_user_id(acting_user_id);
    req.set_address(address);
    req.set_quota_bytes(quota_bytes);
    req.set_quota_messages(quota_messages);
    mail::v1::QuotaResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(5));
    grpcutil::RpcMetrics::Timer timer(impl->metrics, "SetQuota");
    grpc::Status status = impl->stub->SetQuota(&ctx, req, &resp);
    timer.done(status);
    return to_quota_reply("SetQuota", status, resp);
  };
  QuotaReply reply = co_await async::offload(impl->threads, std::move(call));
  co_return reply;
}

}  // namespace postline::authclient
