#include "common/mailauth/inbound.h"

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

namespace {

// Whether the header section has any Authentication-Results field (whoever's):
// without one there is nothing to remove and the message is kept as it is.
bool has_authentication_results(std::string_view message) {
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (line.empty() || line == "\r") return false;
    if (!is_wsp(line[0])) {
      if (size_t colon = line.find(':'); colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
        if (iequals(name, "Authentication-Results")) return true;
      }
    }
    pos = eol + 1;
  }
  return false;
}

InboundVerdict authenticate(DnsLookup& uncached_dns, const InboundInput& in, std::string message,
                            const InboundOptions& options, const PublicSuffixList& psl);

}  // namespace

InboundVerdict authenticate_inbound(DnsLookup& dns, const InboundInput& in, const InboundOptions& options,
                                    const PublicSuffixList& psl) {
  return authenticate(dns, in, in.message, options, psl);
}

InboundVerdict authenticate_inbound(DnsLookup& dns, InboundInput&& in, const InboundOptions& options,
                                    const PublicSuffixList& psl) {
  std::string message = std::move(in.message);
  return authenticate(dns, in, std::move(message), options, psl);
}

namespace {

InboundVerdict authenticate(DnsLookup& uncached_dns, const InboundInput& in, std::string message,
                            const InboundOptions& options, const PublicSuffixList& psl) {
  InboundVerdict v;
  CachingDnsLookup dns(uncached_dns);
  // Forged copies of our header go first, so nothing downstream can mistake them for
  // our verdict (RFC 8601 5). Mail without any such field is used as it came.
  if (has_authentication_results(message))
    v.message = remove_own_authentication_results(message, in.authserv_id, &v.removed_forged_headers);
  else
    v.message = std::move(message);

  SpfOptions spf_opts = options.spf;
  if (in.now) spf_opts.now = in.now;
  v.spf = spf_check_mail_from(dns, in.client_ip, in.mail_from, in.helo, spf_opts);
  v.spf_helo = spf_check_helo(dns, in.client_ip, in.helo, spf_opts);

  DkimVerifyOptions dkim_opts = options.dkim;
  if (in.now) dkim_opts.now = in.now;
  std::string err;
  auto parsed = parse_message(v.message, &err, dkim_opts.limits);
  DmarcInput dm;
  dm.spf = v.spf.result;
  dm.spf_domain = v.spf.domain;
  dm.pct_roll = in.pct_roll;
  if (parsed) {
    v.dkim = dkim_verify(*parsed, dns, dkim_opts);
    ArcVerifyOptions arc_opts = options.arc;
    if (in.now) arc_opts.now = in.now;
    v.arc = arc_verify(*parsed, dns, arc_opts);
    // DMARC needs exactly one From field with exactly one address (RFC 7489 6.6.1).
    const HeaderField* from = nullptr;
    int from_count = 0;
    for (const auto& h : parsed->headers)
      if (iequals(h.name, "From")) {
        from = &h;
        ++from_count;
      }
    if (from_count == 1) {
      if (auto d = from_header_domain(from->value())) dm.from_domain = *d;
    }
  } else {
    DkimSignatureResult r;
    r.result = AuthResult::kPermError;
    r.reason = "message rejected: " + err;
    v.dkim.signatures.push_back(r);
  }
  dm.dkim = v.dkim.signatures;
  if (dm.from_domain.empty()) {
    v.dmarc.result = DmarcResult::kPermError;
    v.dmarc.reason = "no single From address";
  } else {
    v.dmarc = dmarc_evaluate(dns, dm, psl);
  }
  // RFC 8617 7.2: local policy may let a validated chain from a sealer it
  // trusts stand in for the authentication that forwarding broke.
  if (v.dmarc.result == DmarcResult::kFail && v.arc.result == ArcResult::kPass && v.dmarc.apply != DmarcPolicy::kNone) {
    const std::string sealer = v.arc.latest_sealer();
    for (const auto& trusted : options.arc_trusted_sealers)
      if (iequals(trusted, sealer)) {
        v.dmarc.arc_override = true;
        v.dmarc.arc_override_sealer = sealer;
        v.dmarc.apply = DmarcPolicy::kNone;
        v.dmarc.reason += "; not enforced: ARC chain sealed by trusted " + sealer;
        break;
      }
  }

  auto entries = auth_results_entries(v.dkim);
  entries.push_back(auth_results_entry(v.spf, in.mail_from, in.helo));
  entries.push_back(auth_results_entry(v.dmarc));
  if (v.arc.result != ArcResult::kNone) entries.push_back(auth_results_entry(v.arc));
  v.authentication_results = render_authentication_results(in.authserv_id, entries);
  return v;
}

}  // namespace

}  // namespace postline::mailauth
