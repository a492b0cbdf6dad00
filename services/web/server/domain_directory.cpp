#include "services/web/server/domain_directory.h"

#include "common/async/offload.h"
#include "common/log/printable.h"
#include "mail/v1/auth.grpc.pb.h"

#include <prometheus/counter.h>
#include <spdlog/spdlog.h>

namespace postline::web {

namespace pb = mail::v1;

struct DomainDirectory::Impl {
  std::shared_ptr<grpc::Channel> channel;
  std::unique_ptr<pb::AuthService::Stub> stub;
  grpcutil::RpcMetrics rpc_metrics;
  prometheus::Family<prometheus::Counter>& lookups;
  prometheus::Counter& cache_hits;
  std::chrono::seconds ttl;
  boost::asio::thread_pool threads{4};
  std::mutex mutex;
  struct Entry {
    bool hosted;
    std::chrono::steady_clock::time_point expires;
  };
  std::map<std::string, Entry> cache;
  static constexpr size_t kMaxCached = 10000;

  Impl(const std::string& addr, std::chrono::seconds cache_ttl, prometheus::Registry& registry)
      : channel(grpcutil::make_channel(addr)),
        stub(pb::AuthService::NewStub(channel)),
        rpc_metrics(registry, "postline_webd", "client"),
        lookups(prometheus::BuildCounter()
                    .Name("postline_webd_domain_lookups_total")
                    .Help("Domain checks asked of authd, by answer (hosted, not_hosted, unavailable)")
                    .Register(registry)),
        cache_hits(prometheus::BuildCounter()
                       .Name("postline_webd_domain_cache_hits_total")
                       .Help("Domain checks answered from webd's cache (web.domain_cache_ttl)")
                       .Register(registry)
                       .Add({})),
        ttl(cache_ttl) {
    for (const char* r : {"hosted", "not_hosted", "unavailable"}) lookups.Add({{"result", r}});
  }

  std::optional<bool> cached(const std::string& domain) {
    if (ttl.count() == 0) return std::nullopt;
    std::lock_guard lock(mutex);
    auto it = cache.find(domain);
    if (it == cache.end()) return std::nullopt;
    if (it->second.expires <= std::chrono::steady_clock::now()) {
      cache.erase(it);
      return std::nullopt;
    }
    return it->second.hosted;
  }

  void remember(const std::string& domain, bool hosted) {
    if (ttl.count() == 0) return;
    std::lock_guard lock(mutex);
    const auto now = std::chrono::steady_clock::now();
    if (cache.size() >= kMaxCached) {
      // Bounded against a stranger asking for a million random domains: drop
      // what expired, and if that frees nothing, everything.
      std::erase_if(cache, [now](const auto& kv) { return kv.second.expires <= now; });
      if (cache.size() >= kMaxCached) cache.clear();
    }
    cache[domain] = Entry{hosted, now + ttl};
  }
};

DomainDirectory::DomainDirectory(const std::string& auth_addr, std::chrono::seconds cache_ttl,
                                 prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(auth_addr, cache_ttl, registry)) {}

DomainDirectory::~DomainDirectory() { impl_->threads.join(); }

bool DomainDirectory::ready() { return grpcutil::health_serving(impl_->channel, std::chrono::milliseconds(500)); }

boost::asio::awaitable<Hosted> DomainDirectory::hosted(std::string domain) {
  Impl* impl = impl_.get();
  if (auto hit = impl->cached(domain)) {
    impl->cache_hits.Increment();
    co_return *hit ? Hosted::kYes : Hosted::kNo;
  }
  // A named callable moved in (GCC 12 and lambda temporaries in co_await: common/async/offload.h).
  auto call = [impl, domain]() {
    pb::ResolveRecipientRequest req;
    req.set_address("postmaster@" + domain);
    pb::ResolveRecipientResponse resp;
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, std::chrono::seconds(5));
    grpcutil::wait_connected(impl->channel, std::chrono::seconds(2));
    grpcutil::RpcMetrics::Timer timer(impl->rpc_metrics, "ResolveRecipient");
    const grpc::Status status = impl->stub->ResolveRecipient(&ctx, req, &resp);
    timer.done(status);
    if (status.error_code() == grpc::StatusCode::INVALID_ARGUMENT) return Hosted::kNo;  // not a domain authd knows how to hold
    if (!status.ok()) {
      spdlog::warn("authd ResolveRecipient for domain {} failed: {} {}", log::printable(domain),
                   grpcutil::code_name(status.error_code()), status.error_message());
      return Hosted::kUnavailable;
    }
    switch (resp.kind()) {
      case pb::RECIPIENT_KIND_LOCAL:
      case pb::RECIPIENT_KIND_UNKNOWN: return Hosted::kYes;
      case pb::RECIPIENT_KIND_REMOTE: return Hosted::kNo;
      default: return Hosted::kUnavailable;  // UNSPECIFIED: a bug on authd's side, not an answer
    }
  };
  const Hosted answer = co_await async::offload(impl->threads, std::move(call));
  impl->lookups.Add({{"result", answer == Hosted::kYes ? "hosted" : answer == Hosted::kNo ? "not_hosted" : "unavailable"}})
      .Increment();
  if (answer != Hosted::kUnavailable) impl->remember(domain, answer == Hosted::kYes);
  co_return answer;
}

}  // namespace postline::web
