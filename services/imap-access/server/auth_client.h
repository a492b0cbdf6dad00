// AuthService.Authenticate over gRPC (protocol IMAP). The synchronous stub
// runs on a small dedicated pool so a slow authd never blocks I/O threads or
// starves database work.
#pragma once

#include "common/grpc/grpc.h"
#include "services/imap-access/commands/context.h"

#include <boost/asio/thread_pool.hpp>

#include <memory>
#include <string>

namespace postline::imap {

class GrpcAuthenticator final : public Authenticator {
 public:
  GrpcAuthenticator(const std::string& address, prometheus::Registry& registry);
  ~GrpcAuthenticator() override;
  asio::awaitable<AuthOutcome> authenticate(const std::string& user, const std::string& password,
                                            const std::string& mechanism, const std::string& remote_ip) override;
  asio::awaitable<SaslReply> sasl_start(const std::string& mechanism, std::optional<std::string> initial,
                                        const std::string& remote_ip) override;
  asio::awaitable<SaslReply> sasl_step(const std::string& conversation_id, const std::string& response) override;
  asio::awaitable<QuotaReply> get_quota(int64_t acting_user_id, const std::string& address) override;
  asio::awaitable<QuotaReply> set_quota(int64_t acting_user_id, const std::string& address, int64_t quota_bytes,
                                        int64_t quota_messages) override;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace postline::imap
