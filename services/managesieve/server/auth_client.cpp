#include "services/managesieve/server/auth_client.h"

namespace postline::managesieve {

GrpcAuthenticator::GrpcAuthenticator(const std::string& address, prometheus::Registry& registry)
    : client_(address, registry, "postline_managesieved", authclient::AuthdClient::Protocol::kManageSieve) {}

asio::awaitable<SaslReply> GrpcAuthenticator::sasl(SaslRequest request, std::string remote_ip) {
  if (request.start) {
    SaslReply reply = co_await client_.sasl_start(request.mechanism, std::move(request.initial), remote_ip);
    co_return reply;
  }
  SaslReply reply = co_await client_.sasl_step(request.conversation_id, request.response);
  co_return reply;
}

asio::awaitable<std::vector<std::string>> GrpcAuthenticator::mechanisms() {
  const auto now = std::chrono::steady_clock::now();
  if (mechanisms_at_ && now - *mechanisms_at_ < std::chrono::minutes(1)) co_return mechanisms_;
  // Asked once per minute even when authd does not answer (the old list meanwhile).
  mechanisms_at_ = now;
  std::optional<std::vector<std::string>> got = co_await client_.list_mechanisms(/*secure_transport=*/true);
  if (got && !got->empty()) mechanisms_ = std::move(*got);
  co_return mechanisms_;
}

}  // namespace postline::managesieve
