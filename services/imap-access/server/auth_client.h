// imapd's Authenticator over gRPC: common/authclient's AuthdClient (protocol
// IMAP), which runs the synchronous stub on a small pool of its own so a slow
// authd never blocks I/O threads or starves database work.
#pragma once

#include "common/authclient/authd_client.h"
#include "services/imap-access/commands/context.h"

#include <string>

namespace postline::imap {

class GrpcAuthenticator final : public Authenticator {
 public:
  GrpcAuthenticator(const std::string& address, prometheus::Registry& registry)
      : client_(address, registry, "postline_imapd", authclient::AuthdClient::Protocol::kImap) {}
  asio::awaitable<AuthOutcome> authenticate(const std::string& user, const std::string& password,
                                            const std::string& mechanism, const std::string& remote_ip) override {
    return client_.authenticate(user, password, mechanism, remote_ip);
  }
  asio::awaitable<SaslReply> sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                        const std::string& remote_ip) override {
    return client_.sasl_start(mechanism, std::move(initial), remote_ip);
  }
  asio::awaitable<SaslReply> sasl_step(const std::string& conversation_id, const std::string& response) override {
    return client_.sasl_step(conversation_id, response);
  }
  asio::awaitable<QuotaReply> get_quota(int64_t acting_user_id, const std::string& address) override {
    return client_.get_quota(acting_user_id, address);
  }
  asio::awaitable<QuotaReply> set_quota(int64_t acting_user_id, const std::string& address, int64_t quota_bytes,
                                        int64_t quota_messages) override {
    return client_.set_quota(acting_user_id, address, quota_bytes, quota_messages);
  }

 private:
  authclient::AuthdClient client_;
};

}  // namespace postline::imap
