// authd's answers to ResolveRecipient, kept for a few seconds (issue 14).
// Every RCPT asked authd (a gRPC call, a thread hand-off each side and a
// PostgreSQL query): about a sixth of the CPU of a small message. Postfix
// reads its lookup tables locally; this is our equivalent of its caches.
//
// Only positive answers are kept (local or remote), never "unknown" (a user
// created a moment ago would get a permanent 550) nor a failure to ask; a key
// is the address exactly as the client wrote it. What a short TTL costs: a
// user removed or given another quota is seen so up to `ttl` later (queued's
// workers ask authd again for anything they deliver later), and an address
// seen in the last `ttl` is still accepted while authd is down. ttl 0 turns
// the cache off. Bounded: when full, expired entries go,
// and if none has expired, everything does.
#pragma once

#include "services/smtp-ingress/protocol/events.h"

#include <chrono>
#include <cstddef>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>

namespace postline::smtp {

class RecipientCache {
 public:
  using Clock = std::chrono::steady_clock;
  RecipientCache(std::chrono::milliseconds ttl, size_t max_entries = 50000) : ttl_(ttl), max_(max_entries) {}

  bool enabled() const { return ttl_.count() > 0 && max_ > 0; }
  std::optional<Resolution> find(const std::string& address, Clock::time_point now = Clock::now());
  // Keeps `r` if it is definitive (authd answered, no policy refusal).
  void store(const std::string& address, const Resolution& r, Clock::time_point now = Clock::now());
  size_t size() const;

 private:
  struct Entry {
    Clock::time_point expires;
    Resolution resolution;
  };
  std::chrono::milliseconds ttl_;
  size_t max_;
  mutable std::mutex mu_;
  std::unordered_map<std::string, Entry> entries_;
};

}  // namespace postline::smtp
