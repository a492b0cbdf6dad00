// RecipientResolver over authd's AuthService.ResolveRecipient (gRPC, blocking,
// called from worker threads with a deadline).
#pragma once

#include "common/grpc/grpc.h"
#include "services/delivery-queue/delivery/interfaces.h"

#include "mail/v1/auth.grpc.pb.h"

#include <memory>
#include <string>

namespace postline::queue {

class AuthResolver final : public RecipientResolver {
 public:
  AuthResolver(const std::string& auth_addr, grpcutil::RpcMetrics* metrics);
  Resolution resolve(const std::string& address) override;
  std::optional<mailstore::Quota> quota(const std::string& address, int64_t user_id,
                                        const std::string& trace_id) override;
  std::optional<LocalTarget> local_target(const std::string& address, int64_t user_id,
                                          const std::string& trace_id) override;

 private:
  std::unique_ptr<mail::v1::AuthService::Stub> stub_;
  grpcutil::RpcMetrics* metrics_;
};

}  // namespace postline::queue
