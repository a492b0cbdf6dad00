#include "common/mailauth/dmarc.h"

#include "common/mailauth/tag_list.h"
#include "common/mailauth/text_util.h"

namespace postline::mailauth {

const char* to_string(DmarcPolicy p) {
  switch (p) {
    case DmarcPolicy::kNone: return "none";
    case DmarcPolicy::kQuarantine: return "quarantine";
    case DmarcPolicy::kReject: return "reject";
  }
  return "?";
}

const char* to_string(DmarcResult r) {
  switch (r) {
    case DmarcResult::kNone: return "none";
    case DmarcResult::kPass: return "pass";
    case DmarcResult::kFail: return "fail";
    case DmarcResult::kTempError: return "temperror";
    case DmarcResult::kPermError: return "permerror";
  }
  return "?";
}

static std::optional<DmarcPolicy> parse_policy(std::string_view v) {
  if (iequals(v, "none")) return DmarcPolicy::kNone;
  if (iequals(v, "quarantine")) return DmarcPolicy::kQuarantine;
  if (iequals(v, "reject")) return DmarcPolicy::kReject;
  return std::nullopt;
}

std::optional<DmarcRecord> parse_dmarc_record(std::string_view text, std::string* error) {
  TagListLimits limits;
  limits.max_bytes = 4096;
  auto tags = TagList::parse(text, error, limits);
  if (!tags) return std::nullopt;
  if (tags->tags().empty() || tags->tags()[0].name != "v" || tags->tags()[0].value != "DMARC1") {
    if (error) *error = "v=DMARC1 must come first";
    return std::nullopt;
  }
  DmarcRecord rec;
  const auto* p = tags->get("p");
  auto policy = p ? parse_policy(*p) : std::nullopt;
  if (!policy) {
    // RFC 7489 6.6.3: a record with a bad or missing p= but a valid rua is treated as
    // p=none; without rua it is not a DMARC record.
    if (tags->get("rua")) {
      policy = DmarcPolicy::kNone;
    } else {
      if (error) *error = "missing or invalid p=";
      return std::nullopt;
    }
  }
  rec.p = *policy;
  if (const auto* sp = tags->get("sp")) rec.sp = parse_policy(*sp);
  if (const auto* pct = tags->get("pct")) {
    auto v = parse_uint(*pct, 3);
    if (v && *v <= 100) rec.pct = int(*v);
  }
  if (const auto* a = tags->get("adkim"); a && *a == "s") rec.adkim = Alignment::kStrict;
  if (const auto* a = tags->get("aspf"); a && *a == "s") rec.aspf = Alignment::kStrict;
  if (const auto* r = tags->get("rua")) rec.rua = *r;
  if (const auto* r = tags->get("ruf")) rec.ruf = *r;
  if (const auto* f = tags->get("fo")) rec.fo = std::string(trim_fws(*f)).substr(0, 16);
  return rec;
}

bool domains_aligned(std::string_view a, std::string_view b, Alignment mode, const PublicSuffixList& psl) {
  auto na = normalize_domain(a), nb = normalize_domain(b);
  if (!na || !nb) return false;
  if (*na == *nb) return true;
  if (mode == Alignment::kStrict) return false;
  return psl.organizational_domain(*na) == psl.organizational_domain(*nb);
}

namespace {

enum class Lookup { kFound, kNone, kTempFail };

Lookup find_record(DnsLookup& dns, const std::string& domain, DmarcRecord* out) {
  auto txt = dns.txt("_dmarc." + domain);
  if (txt.status == DnsStatus::kTempFail) return Lookup::kTempFail;
  std::vector<const std::string*> candidates;
  for (const auto& r : txt.records)
    if (istarts_with(trim_fws(r), "v=DMARC1")) candidates.push_back(&r);
  // RFC 7489 6.6.3: more than one record means no policy at all.
  if (candidates.size() != 1) return Lookup::kNone;
  auto rec = parse_dmarc_record(*candidates[0]);
  if (!rec) return Lookup::kNone;
  *out = *rec;
  return Lookup::kFound;
}

DmarcPolicy weaker(DmarcPolicy p) {
  return p == DmarcPolicy::kReject ? DmarcPolicy::kQuarantine : DmarcPolicy::kNone;
}

}  // namespace

DmarcVerdict dmarc_evaluate(DnsLookup& dns, const DmarcInput& in, const PublicSuffixList& psl) {
  DmarcVerdict v;
  auto from = normalize_domain(in.from_domain);
  if (!from) {
    v.result = DmarcResult::kPermError;
    v.reason = "no usable From domain";
    return v;
  }
  v.from_domain = *from;
  std::string org = psl.organizational_domain(*from);
  DmarcRecord rec;
  Lookup l = find_record(dns, *from, &rec);
  v.policy_domain = *from;
  if (l == Lookup::kNone && org != *from) {
    l = find_record(dns, org, &rec);
    v.policy_domain = org;
  }
  if (l == Lookup::kTempFail) {
    v.result = DmarcResult::kTempError;
    v.reason = "DNS failure looking up the DMARC record";
    return v;
  }
  if (l == Lookup::kNone) {
    v.result = DmarcResult::kNone;
    v.reason = "no DMARC record";
    v.policy_domain.clear();
    return v;
  }
  v.record = rec;
  // sp= applies when the record came from the organisational domain for a subdomain.
  v.published = (v.policy_domain != *from && rec.sp) ? *rec.sp : rec.p;

  for (const auto& sig : in.dkim) {
    if (sig.result == AuthResult::kPass && domains_aligned(sig.domain, *from, rec.adkim, psl)) {
      v.dkim_aligned = true;
      break;
    }
  }
  v.spf_aligned = in.spf == SpfResult::kPass && domains_aligned(in.spf_domain, *from, rec.aspf, psl);
  if (v.dkim_aligned || v.spf_aligned) {
    v.result = DmarcResult::kPass;
    v.reason = v.dkim_aligned ? "aligned DKIM pass" : "aligned SPF pass";
    v.apply = DmarcPolicy::kNone;
    return v;
  }
  v.result = DmarcResult::kFail;
  v.reason = "no aligned DKIM or SPF pass";
  v.apply = v.published;
  if (in.pct_roll >= rec.pct) {
    // Not sampled: the next weaker policy applies (RFC 7489 6.6.4).
    v.apply = weaker(v.published);
    v.reason += "; outside pct sample";
  }
  return v;
}

std::optional<std::string> from_header_domain(std::string_view value) {
  if (value.size() > 8192) return std::nullopt;
  // Drop comments (non-nested is enough for a domain extraction) and quoted strings,
  // then find the addresses: text in <...> or bare addr-specs separated by commas.
  std::string cleaned;
  int depth = 0;
  bool quoted = false;
  for (size_t i = 0; i < value.size(); ++i) {
    char c = value[i];
    if (quoted) {
      if (c == '\\') ++i;
      else if (c == '"') quoted = false;
      continue;
    }
    if (depth > 0) {
      if (c == '\\') ++i;
      else if (c == '(') ++depth;
      else if (c == ')') --depth;
      continue;
    }
    if (c == '"') quoted = true;
    else if (c == '(') depth = 1;
    else cleaned.push_back(c);
  }
  std::vector<std::string> domains;
  for (auto part : split(cleaned, ',')) {
    std::string_view addr = trim_fws(part);
    if (addr.empty()) continue;
    size_t lt = addr.find('<');
    if (lt != std::string_view::npos) {
      size_t gt = addr.find('>', lt);
      if (gt == std::string_view::npos) return std::nullopt;
      addr = addr.substr(lt + 1, gt - lt - 1);
    }
    // Group syntax "name: a@b;" — take what follows the colon.
    size_t colon = addr.find(':');
    if (colon != std::string_view::npos) addr = addr.substr(colon + 1);
    while (!addr.empty() && (addr.back() == ';' || is_wsp(addr.back()))) addr.remove_suffix(1);
    size_t at = addr.rfind('@');
    if (at == std::string_view::npos) return std::nullopt;
    auto d = normalize_domain(trim_fws(addr.substr(at + 1)));
    if (!d) return std::nullopt;
    domains.push_back(*d);
  }
  if (domains.size() != 1) return std::nullopt;
  return domains[0];
}

}  // namespace postline::mailauth
