#include "services/imap-access/server/auth_client.h"

#include "common/async/offload.h"
#include "mail/v1/auth.grpc.pb.h"

#include <spdlog/spdlog.h>

namespace postline::imap {

struct GrpcAuthenticator::Impl {
  std::unique_ptr<mail::v1::AuthService::Stub> stub;
  grpcutil::RpcMetrics metrics;
  asio::thread_pool threads{4};
  Impl(const std::string& address, prometheus::Registry& registry)
      : stub(mail::v1::AuthService::NewStub(grpcutil::make_channel(address))),
        metrics(registry, "postline_imapd", "client") {}
};

GrpcAuthenticator::GrpcAuthenticator(const std::string& address, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(address, registry)) {}

GrpcAuthenticator::~GrpcAuthenticator() { impl_->threads.join(); }

asio::awaitable<AuthOutcome> GrpcAuthenticator::authenticate(const std::string& user, const std::string& password,
                                                             const std::string& mechanism,
                                                             const std::string& remote_ip) {
  Impl* impl = impl_.get();
  // A named callable, not a temporary in the co_await expression: GCC 12
  // mishandles such temporaries across the suspension (double destruction).
  auto call = [=]() {
    mail::v1::AuthenticateRequest req;
    req.set_username(user);
    req.set_password(password);
    req.set_protocol(mail::v1::PROTOCOL_IMAP);
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

}  // namespace postline::imap
