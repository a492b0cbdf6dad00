// Calls into AdminService with the CLI's conventions: deadline, bearer token,
// and a CliError naming the operation when the call fails.
#pragma once

#include "mail/v1/auth.grpc.pb.h"
#include "tools/postline/cli_context.h"

namespace postline::cli {

template <typename Req, typename Resp, typename Method>
Resp admin_call(CliContext& ctx, const std::string& what, Method method, const Req& req) {
  auto stub = mail::v1::AdminService::NewStub(ctx.auth_channel());
  grpc::ClientContext call;
  ctx.prepare(call);
  Resp resp;
  grpc::Status status = ((*stub).*method)(&call, req, &resp);
  if (!status.ok()) ctx.rpc_failed(what, status, "authd at " + ctx.resolved_auth_addr());
  return resp;
}

}  // namespace postline::cli
