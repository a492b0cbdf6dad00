// ARC, Authenticated Received Chain (RFC 8617): verifying the chain of ARC
// sets on an incoming message, and sealing a message we forward with a new
// set. Built on the DKIM code (canonicalisation, header selection, key
// records, signing): an ARC-Message-Signature is a DKIM signature with i=
// as its instance, an ARC-Seal signs the ARC header fields themselves.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailauth/dkim.h"

namespace postline::mailauth {

enum class ArcResult { kNone, kPass, kFail };
const char* to_string(ArcResult r);  // none | pass | fail

struct ArcVerifyOptions {
  uint64_t now = 0;           // unix time; 0 skips t= in the future checks
  int min_rsa_bits = 1024;
  size_t max_instances = 50;  // RFC 8617 4.2.1
  MessageLimits limits;
};

struct ArcVerdict {
  ArcResult result = ArcResult::kNone;
  std::string reason;                  // why fail (for the log and A-R reason=)
  int instances = 0;                   // N, the highest instance
  std::vector<std::string> sealers;    // d= of ARC-Seal 1..N (oldest first)
  // The oldest instance whose AMS still validates (header.oldest-pass, RFC
  // 8617 10.2.1); 0 when only the newest was checked or none passed.
  int oldest_pass = 0;
  std::string latest_sealer() const { return sealers.empty() ? "" : sealers.back(); }
};

ArcVerdict arc_verify(const ParsedMessage& message, DnsLookup& dns, const ArcVerifyOptions& options = {});
ArcVerdict arc_verify(std::string_view message, DnsLookup& dns, const ArcVerifyOptions& options = {});

struct ArcSealOptions {
  std::string domain;    // d=
  std::string selector;  // s=
  std::string authserv_id;  // whose Authentication-Results becomes the ARC-Authentication-Results
  std::optional<uint64_t> timestamp;  // t=
  // The chain's state as we verified it on arrival (cv=); nullopt: verify now
  // (needs dns).
  std::optional<ArcResult> chain;
  std::vector<std::string> headers = {"From", "To", "Cc", "Subject", "Date", "Message-ID", "Reply-To",
                                      "In-Reply-To", "References", "MIME-Version", "Content-Type",
                                      "Content-Transfer-Encoding", "DKIM-Signature", "List-Id"};
};

struct ArcSealResult {
  bool ok = false;
  std::string error;       // why not sealed (chain too long, no A-R of ours, signing failed)
  int instance = 0;
  ArcResult cv = ArcResult::kNone;
  // "ARC-Seal: ...\r\nARC-Message-Signature: ...\r\nARC-Authentication-Results: ...\r\n",
  // to prepend to the message.
  std::string headers;
};

// Seals `message` with instance N+1. The ARC-Authentication-Results payload
// is the value of the topmost Authentication-Results whose authserv-id is
// options.authserv_id (our verdict at ingress); without one there is
// nothing to vouch for and no seal. A chain that failed is sealed with
// cv=fail (RFC 8617 5.1.2); one at 50 instances is not sealed.
ArcSealResult arc_seal(std::string_view message, const PrivateKey& key, const ArcSealOptions& options,
                       DnsLookup* dns = nullptr, const MessageLimits& limits = {});

// "arc=pass" etc. from the value of an Authentication-Results field ("" when absent).
std::string arc_result_in_auth_results(std::string_view header_value);

}  // namespace postline::mailauth
