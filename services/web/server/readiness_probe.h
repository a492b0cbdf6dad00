// webd's view of the services it does not talk gRPC to (smtpd, imapd): a GET
// of each one's internal /readyz (web.health_urls, docs/web.md "Administration").
// Blocking, bounded by a deadline: called from the portal's worker threads.
#pragma once

#include <chrono>
#include <string>
#include <vector>

namespace postline::web {

struct HealthUrl {
  std::string name;  // "smtpd"
  std::string host, port, target;
  std::string url;   // as configured, for the page
};

// "name=http://host:port/path" entries; throws std::invalid_argument naming the
// entry that is not one.
std::vector<HealthUrl> parse_health_urls(const std::vector<std::string>& entries);

enum class Readiness { kReady, kNotReady, kUnreachable };
const char* readiness_name(Readiness r);  // "ready", "not ready", "unreachable"

struct ProbeResult {
  Readiness readiness = Readiness::kUnreachable;
  std::string detail;  // "HTTP 200", "HTTP 503: <first line of the body>", or why it could not be asked
};

// 200 = ready, any other answer = not ready, no answer within `timeout`
// (refused, no such host, timed out) = unreachable.
ProbeResult probe_readyz(const HealthUrl& url, std::chrono::milliseconds timeout);

}  // namespace postline::web
