// DMARC (RFC 7489): policy records, identifier alignment, and the policy to apply.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailauth/dkim.h"
#include "common/mailauth/dns_lookup.h"
#include "common/mailauth/public_suffix.h"
#include "common/mailauth/spf.h"

namespace postline::mailauth {

enum class DmarcPolicy { kNone, kQuarantine, kReject };
enum class Alignment { kRelaxed, kStrict };
const char* to_string(DmarcPolicy p);

struct DmarcRecord {
  DmarcPolicy p = DmarcPolicy::kNone;
  std::optional<DmarcPolicy> sp;
  int pct = 100;
  Alignment adkim = Alignment::kRelaxed;
  Alignment aspf = Alignment::kRelaxed;
  // rua: where aggregate reports go (queued sends them, reports.send);
  // ruf (failure reports) is parsed but not acted on.
  std::string rua, ruf;
  std::string fo;  // failure reporting options, as written ("" = "0")
};

// RFC 7489 6.3/6.6.3: v=DMARC1 must come first; p= is required; bad values of other
// known tags fall back to their defaults, unknown tags are ignored.
std::optional<DmarcRecord> parse_dmarc_record(std::string_view text, std::string* error = nullptr);

bool domains_aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl);

enum class DmarcResult { kNone, kPass, kFail, kTempError, kPermError };
const char* to_string(DmarcResult r);

struct DmarcInput {
  std::string from_domain;  // RFC5322.From domain
  std::vector<DkimSignatureResult> dkim;  // results of dkim_verify
  SpfResult spf = SpfResult::kNone;       // SPF result for the MAIL FROM identity
  std::string spf_domain;                 // the MAIL FROM domain (HELO domain when null sender)
  // 0..99; a failing message is subject to the policy when pct_roll < pct (RFC 7489
  // 6.6.4). Pass a random value per message; tests pass fixed ones.
  int pct_roll = 0;
};

struct DmarcVerdict {
  DmarcResult result = DmarcResult::kNone;
  std::string reason;
  std::string from_domain;
  std::string policy_domain;   // where the record was found
  std::optional<DmarcRecord> record;
  bool dkim_aligned = false;   // a passing, aligned DKIM signature exists
  bool spf_aligned = false;    // SPF passed and aligned
  DmarcPolicy published = DmarcPolicy::kNone;  // p or sp as applicable
  DmarcPolicy apply = DmarcPolicy::kNone;      // what to do: after pass / pct sampling
  // The policy was not applied because a trusted ARC sealer vouched for an
  // earlier authentication (RFC 8617 7.2; InboundOptions::arc_trusted_sealers).
  bool arc_override = false;
  std::string arc_override_sealer;
};

DmarcVerdict dmarc_evaluate(DnsLookup& dns, const DmarcInput& in,
                            const PublicSuffixList& psl = PublicSuffixList::system());

// Extracts the single domain of a From header value ("Name <a@b.example>" -> "b.example").
// nullopt when there is no address or more than one (RFC 7489 6.6.1 leaves those to
// local policy; we treat them as unauthenticatable).
std::optional<std::string> from_header_domain(std::string_view from_value);

}  // namespace postline::mailauth
