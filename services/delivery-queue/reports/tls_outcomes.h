// What remote delivery tells the TLS reporting (RFC 8460): one call per SMTP
// session that reached the point where TLS is decided. The MTA-STS and DANE
// code paths report through the same call (policy_type sts / tlsa with their
// policy strings); opportunistic STARTTLS reports no-policy-found.
#pragma once

#include <cstdint>
#include <mutex>
#include <string>
#include <tuple>
#include <map>
#include <vector>

namespace postline::queue::reports {

enum class TlsPolicyType { kSts, kTlsa, kNoPolicyFound };
const char* to_string(TlsPolicyType t);  // "sts", "tlsa", "no-policy-found"

struct TlsOutcome {
  std::string policy_domain;                 // the recipient domain the policy is for
  TlsPolicyType policy_type = TlsPolicyType::kNoPolicyFound;
  std::vector<std::string> policy_strings;   // STS policy lines or TLSA records ("" for none)
  std::string mx_host;                       // receiving MX host name
  std::string receiving_ip;
  bool success = false;
  // On failure: an RFC 8460 4.3 result type, e.g. "starttls-not-supported",
  // "validation-failure", "certificate-host-mismatch", "tlsa-invalid".
  std::string result_type;
};

class TlsOutcomeRecorder {
 public:
  virtual ~TlsOutcomeRecorder() = default;
  // Cheap and thread-safe: called from delivery workers, never blocks on I/O.
  virtual void record(const TlsOutcome& outcome) = 0;
  // Convenience for the call sites.
  void record(std::string policy_domain, TlsPolicyType type, std::vector<std::string> policy_strings,
              std::string mx_host, std::string receiving_ip, std::string result_type, bool success) {
    record(TlsOutcome{std::move(policy_domain), type, std::move(policy_strings), std::move(mx_host),
                      std::move(receiving_ip), success, std::move(result_type)});
  }
};

// The production recorder: counts per (period, row) in memory; the report
// job (or its flush timer) takes the counts and adds them to the table in
// one statement. A crash loses at most one flush interval of counts.
class TlsOutcomeBuffer final : public TlsOutcomeRecorder {
 public:
  using TlsOutcomeRecorder::record;
  explicit TlsOutcomeBuffer(int64_t period_seconds, size_t max_rows = 100000)
      : period_(period_seconds > 0 ? period_seconds : 86400), max_rows_(max_rows) {}
  void record(const TlsOutcome& outcome) override;

  struct Row {
    int64_t period_start = 0;
    std::string policy_domain, policy_type, policy_strings, mx_host, receiving_ip, result_type;
    int64_t sessions = 0;
  };
  std::vector<Row> take();
  int64_t dropped() const;

  // Wall clock (unix seconds) used for the period; tests set it.
  void set_clock(int64_t (*now)()) { now_ = now; }

 private:
  using Key = std::tuple<int64_t, std::string, std::string, std::string, std::string, std::string, std::string>;
  int64_t period_;
  size_t max_rows_;
  int64_t (*now_)() = nullptr;
  mutable std::mutex mutex_;
  std::map<Key, int64_t> counts_;
  int64_t dropped_ = 0;
};

}  // namespace postline::queue::reports
