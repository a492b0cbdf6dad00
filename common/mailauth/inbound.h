// One call for the SMTP ingress: everything that judges an inbound message's sender
// (SPF on MAIL FROM/HELO, DKIM, DMARC) and the Authentication-Results header to add.
// Still sans-I/O: DNS goes through the DnsLookup the caller passes in.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "common/mailauth/arc.h"
#include "common/mailauth/auth_results.h"
#include "common/mailauth/dkim.h"
#include "common/mailauth/dmarc.h"
#include "common/mailauth/spf.h"

namespace postline::mailauth {

struct InboundInput {
  IpAddress client_ip;
  std::string helo;
  std::string mail_from;    // reverse-path without <>, "" for the null sender
  // As received (DATA/BDAT content, dot-unstuffed). Owned rather than viewed: a view
  // built from a temporary in an aggregate initialiser would dangle; move it in.
  std::string message;
  std::string authserv_id;  // our Authentication-Results id, e.g. the MX host name
  uint64_t now = 0;          // unix time (DKIM x=/t=, SPF %{t})
  int pct_roll = 0;          // 0..99, random per message (DMARC pct=)
};

struct InboundOptions {
  SpfOptions spf;
  DkimVerifyOptions dkim;
  ArcVerifyOptions arc;
  // ARC sealers (d= of the newest ARC-Seal) trusted to vouch for mail they
  // forward: a DMARC failure of a message whose ARC chain passes and whose
  // newest seal is theirs is not enforced (DmarcVerdict::arc_override; RFC
  // 8617 7.2). Empty (the default): ARC is verified and reported, never
  // trusted. Lower-case domain names.
  std::vector<std::string> arc_trusted_sealers;
};

struct InboundVerdict {
  SpfVerdict spf;            // MAIL FROM identity (HELO identity when null sender)
  SpfVerdict spf_helo;       // HELO identity, informational
  DkimVerifyResult dkim;
  DmarcVerdict dmarc;
  ArcVerdict arc;
  std::string authentication_results;  // the header field to prepend, CRLF-terminated
  std::string message;       // the input with forged Authentication-Results for our id removed
  size_t removed_forged_headers = 0;
};

InboundVerdict authenticate_inbound(DnsLookup& dns, const InboundInput& in, const InboundOptions& options = {},
                                    const PublicSuffixList& psl = PublicSuffixList::system());
// The same, taking in.message over (InboundVerdict::message is built from it
// without a copy when there is nothing to remove): smtpd's path, per message.
InboundVerdict authenticate_inbound(DnsLookup& dns, InboundInput&& in, const InboundOptions& options = {},
                                    const PublicSuffixList& psl = PublicSuffixList::system());

}  // namespace postline::mailauth
