// AdminService: account management for the `postline` CLI. When
// auth.admin_token_file is set every call must carry
// "authorization: Bearer <token>"; the token is compared in constant time.
// Every change writes an audit line (who: the peer address; never a password).
#pragma once

#include "mail/v1/auth.grpc.pb.h"
#include "services/auth/server/context.h"

namespace postline::auth {

class AdminServiceImpl final : public mail::v1::AdminService::CallbackService {
 public:
  explicit AdminServiceImpl(ServiceContext& ctx) : ctx_(ctx) {}

#define POSTLINE_ADMIN_RPC(Name)                                                                            \
  grpc::ServerUnaryReactor* Name(grpc::CallbackServerContext* context, const mail::v1::Name##Request* req, \
                                 mail::v1::Name##Response* resp) override;
  POSTLINE_ADMIN_RPC(AddDomain)
  POSTLINE_ADMIN_RPC(ListDomains)
  POSTLINE_ADMIN_RPC(RemoveDomain)
  POSTLINE_ADMIN_RPC(AddUser)
  POSTLINE_ADMIN_RPC(ListUsers)
  POSTLINE_ADMIN_RPC(GetUser)
  POSTLINE_ADMIN_RPC(RemoveUser)
  POSTLINE_ADMIN_RPC(SetPassword)
  POSTLINE_ADMIN_RPC(UpdateUser)
  POSTLINE_ADMIN_RPC(SetCatchAll)
  POSTLINE_ADMIN_RPC(AddAlias)
  POSTLINE_ADMIN_RPC(ListAliases)
  POSTLINE_ADMIN_RPC(RemoveAlias)
  POSTLINE_ADMIN_RPC(AddAppPassword)
  POSTLINE_ADMIN_RPC(ListAppPasswords)
  POSTLINE_ADMIN_RPC(RemoveAppPassword)
  POSTLINE_ADMIN_RPC(ListThrottles)
  POSTLINE_ADMIN_RPC(Unblock)
#undef POSTLINE_ADMIN_RPC

 private:
  // Checks the token, then runs `fn` (returning a grpc::Status) on `pool`,
  // turning exceptions into statuses with a clear message.
  template <typename Fn>
  grpc::ServerUnaryReactor* run(grpc::CallbackServerContext* context, const char* method, asio::thread_pool& pool,
                                Fn fn);

  ServiceContext& ctx_;
};

// A generated app password: 20 characters from an unambiguous alphabet in
// groups of four (about 100 bits), e.g. "k7mq-3xfa-...".
std::string generate_app_password();

}  // namespace postline::auth
