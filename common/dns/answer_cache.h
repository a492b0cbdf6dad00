// A process-wide cache of DNS answers for MailauthLookup (smtpd's SPF, DKIM,
// DMARC and DNSBL look-ups). Every message from a sender domain asks the same
// few questions (the domain's SPF TXT, _dmarc, the DKIM key); without a cache
// each one is a UDP round trip and two thread wake-ups, per message.
//
// The rules (RFC 1035 3.2.1, RFC 2308):
// - a positive answer lives for the smallest TTL of its answer records, capped
//   at `max_ttl`; TTL 0 is not cached;
// - NXDOMAIN and "no data" live for min(SOA TTL, SOA MINIMUM) of the SOA in the
//   authority section, capped at `max_negative_ttl`; a negative answer without
//   an SOA is not cached (RFC 2308 5);
// - temporary failures (SERVFAIL, timeouts) are never cached: the next message
//   asks again;
// - answers are stored raw, exactly as the server sent them, so every parser
//   downstream sees what it would have seen without the cache.
// Bounded: at most `max_entries`; when full, expired entries go first, then the
// entries that expire soonest.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

namespace postline::dns {

// The TTL a cache may keep `message` for, by the rules above (answer: positive;
// otherwise the SOA rule), or nullopt when it must not be kept (malformed,
// truncated, no SOA on a negative answer, TTL 0).
std::optional<std::chrono::seconds> cacheable_ttl(const std::vector<unsigned char>& message, bool positive);

class AnswerCache {
 public:
  using Clock = std::chrono::steady_clock;
  struct Options {
    size_t max_entries = 10000;
    std::chrono::seconds max_ttl{300};
    std::chrono::seconds max_negative_ttl{60};
  };
  struct Entry {
    int status = 0;  // the c-ares status the answer came with
    std::vector<unsigned char> message;
  };
  explicit AnswerCache(Options options, std::function<void(bool hit)> observer = nullptr);

  // count_miss = false: a miss is not reported to the observer (a cache-only
  // probe whose caller then asks for real, which counts).
  std::optional<Entry> get(int type, const std::string& name, Clock::time_point now = Clock::now(),
                           bool count_miss = true);
  // Keeps the answer for `ttl` (already capped by cacheable_ttl's caller).
  void put(int type, const std::string& name, Entry entry, std::chrono::seconds ttl,
           Clock::time_point now = Clock::now());
  size_t size();
  const Options& options() const { return options_; }

 private:
  struct Stored {
    Entry entry;
    Clock::time_point expires;
  };
  static std::string key(int type, const std::string& name);
  void make_room(Clock::time_point now);
  Options options_;
  std::function<void(bool)> observer_;
  std::mutex mutex_;
  std::unordered_map<std::string, Stored> entries_;
};

}  // namespace postline::dns
