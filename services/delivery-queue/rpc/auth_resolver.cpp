#include "services/delivery-queue/rpc/auth_resolver.h"
#include "common/log/log.h"

#include <spdlog/spdlog.h>

namespace postline::queue {

AuthResolver::AuthResolver(const std::string& auth_addr, grpcutil::RpcMetrics* metrics)
    : stub_(mail::v1::AuthService::NewStub(grpcutil::make_channel(auth_addr))), metrics_(metrics) {}

Resolution AuthResolver::resolve(const std::string& address) {
  grpc::ClientContext ctx;
  grpcutil::set_deadline(ctx, std::chrono::seconds(5));
  mail::v1::ResolveRecipientRequest req;
  req.set_address(address);
  mail::v1::ResolveRecipientResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  auto status = stub_->ResolveRecipient(&ctx, req, &resp);
  if (metrics_) metrics_->observe("ResolveRecipient", status.error_code(), std::chrono::steady_clock::now() - t0);
  Resolution r;
  if (!status.ok()) {
    spdlog::warn("ResolveRecipient({}): {}", log::printable(address, 512), status.error_message());
    return r;  // temporary failure
  }
  switch (resp.kind()) {
    case mail::v1::RECIPIENT_KIND_LOCAL:
      // An alias may expand to several mailboxes; a DSN goes to the first local one.
      for (const auto& t : resp.targets())
        if (t.kind() == mail::v1::RECIPIENT_KIND_LOCAL && t.user_id() > 0) {
          r.kind = Resolution::kLocal;
          r.user_id = t.user_id();
          r.address = t.address();
          return r;
        }
      for (const auto& t : resp.targets())
        if (t.kind() == mail::v1::RECIPIENT_KIND_REMOTE) {
          r.kind = Resolution::kRemote;
          r.address = t.address();
          return r;
        }
      r.kind = Resolution::kUnknown;
      return r;
    case mail::v1::RECIPIENT_KIND_REMOTE:
      r.kind = Resolution::kRemote;
      r.address = address;
      return r;
    case mail::v1::RECIPIENT_KIND_UNKNOWN:
      r.kind = Resolution::kUnknown;
      return r;
    default:
      return r;
  }
}

std::optional<mailstore::Quota> AuthResolver::quota(const std::string& address, int64_t user_id,
                                                    const std::string& trace_id) {
  auto t = local_target(address, user_id, trace_id);
  if (!t) return std::nullopt;
  return t->quota;
}

std::optional<RecipientResolver::LocalTarget> AuthResolver::local_target(const std::string& address, int64_t user_id,
                                                                         const std::string& trace_id) {
  grpc::ClientContext ctx;
  grpcutil::set_deadline(ctx, std::chrono::seconds(5));
  if (!trace_id.empty()) ctx.AddMetadata(log::kTraceMetadata, trace_id);
  mail::v1::ResolveRecipientRequest req;
  req.set_address(address);
  mail::v1::ResolveRecipientResponse resp;
  const auto t0 = std::chrono::steady_clock::now();
  auto status = stub_->ResolveRecipient(&ctx, req, &resp);
  if (metrics_) metrics_->observe("ResolveRecipient", status.error_code(), std::chrono::steady_clock::now() - t0);
  if (!status.ok()) {
    spdlog::warn("[q:{}] ResolveRecipient({}) for the quota: {}", trace_id, log::printable(address, 512),
                 status.error_message());
    return std::nullopt;
  }
  // An alias may expand to several users: the one this queue recipient is for.
  for (const auto& t : resp.targets())
    if (t.kind() == mail::v1::RECIPIENT_KIND_LOCAL && t.user_id() == user_id)
      return LocalTarget{mailstore::Quota{t.quota_bytes(), t.quota_messages()}, t.shard(), t.moving()};
  return std::nullopt;
}

}  // namespace postline::queue
