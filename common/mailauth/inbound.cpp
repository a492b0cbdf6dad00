#include "common/mailauth/inbound.h"

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

InboundVerdict authenticate_inbound(DnsLookup& uncached_dns, const InboundInput& in, const InboundOptions& options,
                                    const PublicSuffixList& psl) {
  InboundVerdict v;
  CachingDnsLookup dns(uncached_dns);
  // Forged copies of our header go first, so nothing downstream can mistake them for
  // our verdict (RFC 8601 5).
  v.message = remove_own_authentication_results(in.message, in.authserv_id, &v.removed_forged_headers);

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

}  // namespace postline::mailauth
