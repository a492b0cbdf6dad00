// MTA-STS (RFC 8461), sans-I/O: the `_mta-sts` TXT record, the policy file,
// MX pattern matching, and the cache decision (which policy applies, whether
// to fetch). No DNS, no HTTPS, no clock: the caller (delivery/mta_sts_source)
// does the look-ups and hands the answers in. Every parser has limits and is
// driven by the fuzz target fuzz/mta_sts_fuzz.cpp.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue::sts {

// Limits on what a policy domain may hand us.
inline constexpr size_t kMaxPolicyBytes = 64 * 1024;  // the HTTPS body (RFC 8461 3.2 policies are tiny)
inline constexpr size_t kMaxMxPatterns = 256;
inline constexpr size_t kMaxLine = 1024;
inline constexpr int64_t kMaxMaxAge = 31557600;  // RFC 8461 3.2: at most one year
inline constexpr size_t kMaxIdLength = 32;        // RFC 8461 3.1: 1*32(ALPHA / DIGIT)

enum class Mode { kEnforce, kTesting, kNone };
const char* mode_name(Mode m);

// One `v=STSv1; id=...` TXT record, parsed. nullopt with *why when it is not one.
struct TxtRecord {
  std::string id;
};
std::optional<TxtRecord> parse_txt(std::string_view txt, std::string* why);

// The answer to the TXT query of _mta-sts.<domain>, already split into
// records (each the concatenation of its strings).
enum class TxtStatus { kFound, kAbsent, kInvalid, kTemporary };
struct TxtAnswer {
  TxtStatus status = TxtStatus::kAbsent;
  std::string id;     // kFound
  std::string error;  // kInvalid / kTemporary: why
};
// RFC 8461 3.1: records not starting with "v=STSv1" are ignored; more than
// one STS record, or one that does not parse, is kInvalid (no policy).
TxtAnswer evaluate_txt(const std::vector<std::string>& records);

struct Policy {
  Mode mode = Mode::kNone;
  std::vector<std::string> mx;  // patterns, lower-case, no final dot ("*.example.net" allowed)
  int64_t max_age = 0;          // seconds, capped at kMaxMaxAge
  // The policy as the TLS-RPT report shows it (RFC 8460 4.4 policy-string):
  // one entry per line of the file, CR removed.
  std::vector<std::string> lines;
};
// The policy file (RFC 8461 3.2): "key: value" lines, LF or CRLF. version
// STSv1, mode and max_age are required, mx at least once unless mode none;
// unknown keys are ignored. nullopt with *why for anything else (too large,
// too many mx lines, a bad pattern, a repeated key).
std::optional<Policy> parse_policy(std::string_view text, std::string* why);

// A pattern as the policy may hold it: a host name, or "*." and a host name.
bool valid_pattern(std::string_view pattern);
// RFC 8461 4.1: case-insensitive; "*.example.net" matches exactly one more
// label on the left ("mx.example.net", not "a.b.example.net" nor
// "example.net"). A final dot on `host` is ignored.
bool mx_matches(std::string_view pattern, std::string_view host);
bool policy_allows(const Policy& policy, std::string_view host);

// What is known from the cache (the stored policy text and id, and whether it
// is still within its max_age).
struct Cached {
  std::string id;
  std::string text;
  bool fresh = false;  // now < fetched_at + max_age
};

// RFC 8461 5.1: what to do with a TXT answer and what the cache holds.
enum class Step {
  kUseCached,  // the cached policy applies (same id, or no usable TXT while it is fresh)
  kFetch,      // fetch the policy over HTTPS (new id, or no fresh cache); on failure see after_fetch_failure
  kNoPolicy,   // no policy applies: opportunistic
};
Step next_step(const TxtAnswer& txt, const std::optional<Cached>& cached);
// A fetch failed (or its body did not parse): the fresh cached policy still
// applies (RFC 8461 5.1: a failed refresh does not drop a valid policy).
bool use_cached_after_fetch_failure(const std::optional<Cached>& cached);

}  // namespace postline::queue::sts
