// The antispam decisions of smtpd's MX listener, sans-I/O: what a DNSBL answer
// means, and what to do with a message given SPF/DKIM/DMARC (and optionally
// Rspamd) results. No DNS, no database, no clock: server/antispam.cpp gathers
// the facts and applies the decision. Tested in tests/spam_policy_test.cpp.
#pragma once

#include "common/mailauth/dkim.h"
#include "common/mailauth/dmarc.h"
#include "common/mailauth/ip_address.h"
#include "common/mailauth/spf.h"

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::smtp::policy {

// One DNSBL from `spam.dnsbl_zones`: "zone" (any 127.0.0.0/8 answer lists) or
// "zone=127.0.0.2|127.0.0.4" (only those return codes list; many lists encode
// the reason in the last octet, and some codes mean "you asked too much").
struct DnsblZone {
  std::string zone;
  std::vector<mailauth::IpAddress> codes;
};
std::optional<DnsblZone> parse_dnsbl_zone(std::string_view spec, std::string* error = nullptr);

// "4.3.2.1.zone" for 1.2.3.4; IPv6 as 32 reversed nibbles (RFC 5782 2.1, 2.4).
std::string dnsbl_query_name(const mailauth::IpAddress& client, std::string_view zone);

// Whether an A answer means "listed": the answer must be in 127.0.0.0/8
// (RFC 5782 2.1; anything else is a wildcarding resolver or a dead list whose
// domain was re-registered, which must never block mail) and match the codes.
bool dnsbl_listed(const DnsblZone& zone, const std::vector<mailauth::IpAddress>& answers);

enum class Action { kAccept, kJunk, kReject, kTempFail };
const char* to_string(Action a);

struct PolicyConfig {
  double junk_score = 5.0;     // spam.junk_score: at or above → Junk + X-Spam-Status: Yes
  double reject_score = 15.0;  // spam.reject_score: at or above → 550 5.7.1 at DATA
  bool dmarc_enforce = true;   // spam.dmarc_enforce: honour p=reject/quarantine
};

struct RspamdResult {
  bool available = false;  // false: not configured or unreachable
  double score = 0;
  std::string action;      // "no action", "add header", "rewrite subject", "greylist", "soft reject", "reject"
};

struct Checks {
  mailauth::SpfResult spf = mailauth::SpfResult::kNone;
  mailauth::AuthResult dkim = mailauth::AuthResult::kNone;  // overall
  mailauth::DmarcResult dmarc = mailauth::DmarcResult::kNone;
  mailauth::DmarcPolicy dmarc_apply = mailauth::DmarcPolicy::kNone;  // after pct
  std::string dmarc_domain;
  // A trusted ARC sealer vouched for the message: DMARC failed here but the
  // policy is not applied (apply is none) and the failure scores nothing.
  bool dmarc_overridden = false;
  RspamdResult rspamd;
};

struct Decision {
  Action action = Action::kAccept;
  double score = 0;
  std::vector<std::string> symbols;  // why, e.g. "SPF_SOFTFAIL(2.0)"
  // The reply for kReject / kTempFail.
  int code = 250;
  std::string enhanced;
  std::string text;
  std::string reason;  // metric label: score, dmarc_reject, rspamd_reject, ...
};

Decision decide(const Checks& checks, const PolicyConfig& config);

// Removes every header field named `name` (case-insensitive, with its folded
// continuation lines) from the header section of `message`; returns how many.
size_t remove_header_fields(std::string& message, std::string_view name);

// Whether the header section of `message` may have a field named `name`
// (case-insensitive; blanks before the colon allowed): a cheap look before
// the removals above, which copy or move the message. Never false when one
// of them would remove a field.
bool has_header_field(std::string_view message, std::string_view name);

// The greylisting key of a client: "192.0.2.0/24" for 192.0.2.77, the /64 for
// IPv6 (large senders retry from a sibling address of the same pool).
std::string greylist_network(const std::string& ip);

// "X-Spam-Status: Yes, score=7.5 required=5.0 tests=SPF_FAIL(3.5),..." (the
// SpamAssassin layout, which mail clients' filters already understand).
std::string spam_status_header(const Decision& d, const PolicyConfig& config);

}  // namespace postline::smtp::policy
