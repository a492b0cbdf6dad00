#include "common/authclient/authd_client.h"

#include "common/async/offload.h"
#include "common/grpc/grpc.h"
#include "mail/v1/auth.grpc.pb.h"

#include <boost/asio/thread_pool.hpp>
#include <spdlog/spdlog.h>

namespace postline::authclient {

namespace v1 = mail::v1;

struct AuthdClient::Impl {
  std::unique_ptr<v1::AuthService::Stub> stub;
  grpcutil::RpcMetrics metrics;
  v1::Protocol protocol;
  asio::thread_pool threads{4};
  Impl(const std::string& address, prometheus::Registry& registry, const std::string& metrics_prefix, Protocol p)
      : stub(v1::AuthService::NewStub(grpcutil::make_channel(address))),
        metrics(registry, metrics_prefix, "client"),
        protocol(p == Protocol::kImap ? v1::PROTOCOL_IMAP : v1::PROTOCOL_MANAGESIEVE) {}

  // One blocking RPC with its deadline and metrics (on the pool's threads).
  template <class Req, class Resp>
  grpc::Status call(const char* method, std::chrono::seconds deadline,
                    grpc::Status (v1::AuthService::Stub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
                    const Req& req, Resp* resp) {
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, deadline);
    grpcutil::RpcMetrics::Timer timer(metrics, method);
    grpc::Status status = ((*stub).*rpc)(&ctx, req, resp);
    timer.done(status);
    return status;
  }

  // `req` sent on the pool, the answer made into a reply there by `to_reply(method, status, resp)`.
  template <class Req, class Resp, class Reply>
  asio::awaitable<Reply> offload(const char* method, std::chrono::seconds deadline,
                                 grpc::Status (v1::AuthService::Stub::*rpc)(grpc::ClientContext*, const Req&, Resp*),
                                 Req req, Reply (*to_reply)(const char*, const grpc::Status&, const Resp&)) {
    // A named callable, not a temporary in the co_await expression: GCC 12
    // mishandles such temporaries across the suspension (double destruction).
    auto work = [this, method, deadline, rpc, req = std::move(req), to_reply]() {
      Resp resp;
      const grpc::Status status = call(method, deadline, rpc, req, &resp);
      return to_reply(method, status, resp);
    };
    Reply reply = co_await async::offload(threads, std::move(work));
    co_return reply;
  }
};

namespace {

void log_failure(const char* method, const grpc::Status& status) {
  spdlog::warn("authd {} failed: {} {}", method, grpcutil::code_name(status.error_code()), status.error_message());
}

// A failed login's reason (AUTH_RESULT_OK is not one: kUnavailable).
AuthStatus failure_status(v1::AuthResult result) {
  switch (result) {
    case v1::AUTH_RESULT_INVALID_CREDENTIALS: return AuthStatus::kInvalid;
    case v1::AUTH_RESULT_THROTTLED: return AuthStatus::kThrottled;
    case v1::AUTH_RESULT_DISABLED: return AuthStatus::kDisabled;
    default: return AuthStatus::kUnavailable;
  }
}

// The account authd sends with a success (AuthenticateResponse, SaslStepResponse).
template <class Resp>
AuthOutcome account(const Resp& resp) {
  return AuthOutcome{AuthStatus::kOk,        resp.user_id(), resp.email(), resp.quota_bytes(),
                     resp.quota_messages(), resp.admin(),   resp.shard(), resp.moving()};
}

// Runs on the auth thread pool (blocking calls).
SaslReply to_reply(const char* method, const grpc::Status& status, const v1::SaslStepResponse& resp) {
  SaslReply r;
  if (!status.ok()) {
    // NOT_FOUND: the conversation expired (60 s) or lives on another authd
    // replica; INVALID_ARGUMENT: a malformed exchange (an unknown mechanism,
    // an overlong message): failed logins, not outages.
    if (status.error_code() == grpc::StatusCode::NOT_FOUND ||
        status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) {
      r.outcome.status = AuthStatus::kInvalid;
    } else {
      log_failure(method, status);
      r.outcome.status = AuthStatus::kUnavailable;
    }
    return r;
  }
  switch (resp.state()) {
    case v1::SASL_STATE_CONTINUE:
      r.state = SaslReply::State::kContinue;
      r.challenge = resp.challenge();
      r.conversation_id = resp.conversation_id();
      break;
    case v1::SASL_STATE_SUCCESS:
      // authd sends the account's limits with the success (like Authenticate).
      r.state = SaslReply::State::kSuccess;
      r.challenge = resp.challenge();
      r.outcome = account(resp);
      break;
    case v1::SASL_STATE_FAILURE: r.outcome.status = failure_status(resp.result()); break;
    default: r.outcome.status = AuthStatus::kUnavailable; break;
  }
  return r;
}

QuotaReply to_quota_reply(const char* method, const grpc::Status& status, const v1::QuotaResponse& resp) {
  QuotaReply r;
  switch (status.error_code()) {
    case grpc::StatusCode::OK:
      r = QuotaReply{QuotaReply::Status::kOk, resp.user_id(), resp.email(), resp.quota_bytes(), resp.quota_messages()};
      break;
    case grpc::StatusCode::PERMISSION_DENIED: r.status = QuotaReply::Status::kDenied; break;
    case grpc::StatusCode::NOT_FOUND: r.status = QuotaReply::Status::kNotFound; break;
    case grpc::StatusCode::INVALID_ARGUMENT: r.status = QuotaReply::Status::kInvalid; break;
    default:
      log_failure(method, status);
      r.status = QuotaReply::Status::kUnavailable;
      break;
  }
  return r;
}

}  // namespace

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
    v1::AuthenticateRequest req;
    req.set_username(user);
    req.set_password(password);
    req.set_protocol(impl->protocol);
    req.set_mechanism(mechanism);
    req.set_remote_ip(remote_ip);
    v1::AuthenticateResponse resp;
    const grpc::Status status =
        impl->call("Authenticate", std::chrono::seconds(10), &v1::AuthService::Stub::Authenticate, req, &resp);
    AuthOutcome out;
    if (!status.ok()) {
      log_failure("Authenticate", status);
      out.status = AuthStatus::kUnavailable;
    } else if (resp.result() == v1::AUTH_RESULT_OK) {
      out = account(resp);
    } else {
      out.status = failure_status(resp.result());
    }
    return out;
  };
  AuthOutcome result = co_await async::offload(impl->threads, std::move(call));
  co_return result;
}

asio::awaitable<SaslReply> AuthdClient::sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                                   const std::string& remote_ip) {
  v1::SaslStartRequest req;
  req.set_mechanism(mechanism);
  req.set_has_initial_response(initial.has_value());
  if (initial) req.set_initial_response(*initial);
  req.set_protocol(impl_->protocol);
  req.set_remote_ip(remote_ip);
  return impl_->offload("SaslStart", std::chrono::seconds(15), &v1::AuthService::Stub::SaslStart, std::move(req),
                        &to_reply);
}

asio::awaitable<SaslReply> AuthdClient::sasl_step(const std::string& conversation_id, const std::string& response) {
  v1::SaslStepRequest req;
  req.set_conversation_id(conversation_id);
  req.set_response(response);
  return impl_->offload("SaslStep", std::chrono::seconds(15), &v1::AuthService::Stub::SaslStep, std::move(req),
                        &to_reply);
}

asio::awaitable<std::optional<std::vector<std::string>>> AuthdClient::list_mechanisms(bool secure_transport) {
  Impl* impl = impl_.get();
  auto call = [impl, secure_transport]() -> std::optional<std::vector<std::string>> {
    v1::ListMechanismsRequest req;
    req.set_protocol(impl->protocol);
    req.set_secure_transport(secure_transport);
    v1::ListMechanismsResponse resp;
    const grpc::Status status = impl->call("ListMechanisms", std::chrono::seconds(5),
                                           &v1::AuthService::Stub::ListMechanisms, req, &resp);
    if (!status.ok()) {
      log_failure("ListMechanisms", status);
      return std::nullopt;
    }
    return std::vector<std::string>(resp.mechanisms().begin(), resp.mechanisms().end());
  };
  std::optional<std::vector<std::string>> got = co_await async::offload(impl->threads, std::move(call));
  co_return got;
}

asio::awaitable<QuotaReply> AuthdClient::get_quota(int64_t acting_user_id, const std::string& address) {
  v1::GetQuotaRequest req;
  req.set_acting_user_id(acting_user_id);
  req.set_address(address);
  return impl_->offload("GetQuota", std::chrono::seconds(5), &v1::AuthService::Stub::GetQuota, std::move(req),
                        &to_quota_reply);
}

asio::awaitable<QuotaReply> AuthdClient::set_quota(int64_t acting_user_id, const std::string& address,
                                                   int64_t quota_bytes, int64_t quota_messages) {
  v1::SetQuotaRequest req;
  req.set_acting_user_id(acting_user_id);
  req.set_address(address);
  req.set_quota_bytes(quota_bytes);
  req.set_quota_messages(quota_messages);
  return impl_->offload("SetQuota", std::chrono::seconds(5), &v1::AuthService::Stub::SetQuota, std::move(req),
                        &to_quota_reply);
}

}  // namespace postline::authclient
