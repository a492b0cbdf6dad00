#include "services/smtp-ingress/server/recipient_cache.h"

namespace postline::smtp {

std::optional<Resolution> RecipientCache::find(const std::string& address, Clock::time_point now) {
  if (!enabled()) return std::nullopt;
  std::lock_guard lock(mu_);
  auto it = entries_.find(address);
  if (it == entries_.end()) return std::nullopt;
  if (it->second.expires <= now) {
    entries_.erase(it);
    return std::nullopt;
  }
  return it->second.resolution;
}

void RecipientCache::store(const std::string& address, const Resolution& r, Clock::time_point now) {
  // Positive answers only: a cached "unknown" would refuse with a permanent
  // 550 an address created a moment ago.
  if (!enabled() || !r.available || r.refusal.code || r.kind == RecipientKind::kUnknown) return;
  std::lock_guard lock(mu_);
  if (entries_.size() >= max_ && !entries_.count(address)) {
    for (auto it = entries_.begin(); it != entries_.end();)
      it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    if (entries_.size() >= max_) entries_.clear();
  }
  entries_[address] = Entry{now + ttl_, r};
}

size_t RecipientCache::size() const {
  std::lock_guard lock(mu_);
  return entries_.size();
}

}  // namespace postline::smtp
