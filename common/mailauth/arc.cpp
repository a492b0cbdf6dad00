#include "common/mailauth/arc.h"

#include <algorithm>
#include <map>

#include "common/mailauth/auth_results.h"
#include "common/mailauth/tag_list.h"
#include "common/mailauth/text_util.h"

namespace postline::mailauth {

using namespace detail;

const char* to_string(ArcResult r) {
  switch (r) {
    case ArcResult::kNone: return "none";
    case ArcResult::kPass: return "pass";
    case ArcResult::kFail: return "fail";
  }
  return "none";
}

namespace {

constexpr size_t kMaxArcFields = 3 * 50 + 8;

struct ArcSet {
  const HeaderField* aar = nullptr;
  const HeaderField* ams = nullptr;
  const HeaderField* as = nullptr;
};

// i= of an ARC-Authentication-Results value: "i=N;" before the payload.
std::optional<int> aar_instance(std::string_view v) {
  v = trim_fws(v);
  if (v.size() < 3 || v[0] != 'i') return std::nullopt;
  v.remove_prefix(1);
  v = trim_fws(v);
  if (v.empty() || v[0] != '=') return std::nullopt;
  v.remove_prefix(1);
  v = trim_fws(v);
  size_t n = 0;
  while (n < v.size() && is_digit(v[n])) ++n;
  auto i = parse_uint(v.substr(0, n), 3);
  if (!i) return std::nullopt;
  std::string_view rest = trim_fws(v.substr(n));
  if (rest.empty() || rest[0] != ';') return std::nullopt;
  return static_cast<int>(*i);
}

std::optional<int> tag_instance(std::string_view v) {
  auto tags = TagList::parse(v);
  if (!tags) return std::nullopt;
  const std::string* i = tags->get("i");
  if (!i) return std::nullopt;
  auto n = parse_uint(*i, 3);
  if (!n) return std::nullopt;
  return static_cast<int>(*n);
}

// The ARC sets by instance; an error string when the structure is broken.
std::string collect(const ParsedMessage& msg, std::map<int, ArcSet>& sets, size_t max_instances) {
  size_t fields = 0;
  for (const auto& h : msg.headers) {
    const HeaderField** slot = nullptr;
    std::optional<int> i;
    bool aar = iequals(h.name, "ARC-Authentication-Results");
    bool ams = iequals(h.name, "ARC-Message-Signature");
    bool as = iequals(h.name, "ARC-Seal");
    if (!aar && !ams && !as) continue;
    if (++fields > kMaxArcFields) return "too many ARC header fields";
    i = aar ? aar_instance(h.value()) : tag_instance(h.value());
    if (!i) return std::string("bad instance in ") + h.name;
    if (*i < 1 || size_t(*i) > max_instances) return "instance " + std::to_string(*i) + " out of range";
    ArcSet& set = sets[*i];
    slot = aar ? &set.aar : ams ? &set.ams : &set.as;
    if (*slot) return "two " + h.name + " fields for instance " + std::to_string(*i);
    *slot = &h;
  }
  if (sets.empty()) return "";
  int n = sets.rbegin()->first;
  for (int i = 1; i <= n; ++i) {
    auto it = sets.find(i);
    if (it == sets.end() || !it->second.aar || !it->second.ams || !it->second.as)
      return "ARC set " + std::to_string(i) + " incomplete";
  }
  return "";
}

bool algorithm(const std::string& a, KeyType* type) {
  if (a == "rsa-sha256") *type = KeyType::kRsa;
  else if (a == "ed25519-sha256") *type = KeyType::kEd25519;
  else return false;
  return true;
}

// AMS(i): a DKIM signature over the message, i= being the instance.
std::string verify_ams(const ParsedMessage& msg, const HeaderField& ams, DnsLookup& dns, const ArcVerifyOptions& o) {
  std::string err;
  auto tags = TagList::parse(ams.value(), &err);
  if (!tags) return "AMS syntax: " + err;
  for (const char* req : {"a", "b", "bh", "d", "h", "s"})
    if (!tags->get(req)) return std::string("AMS missing ") + req + "=";
  KeyType type;
  if (!algorithm(to_lower(*tags->get("a")), &type)) return "AMS algorithm not supported";
  auto d = normalize_domain(*tags->get("d"));
  auto s = normalize_domain(*tags->get("s"));
  if (!d || !s) return "AMS bad d= or s=";
  Canon hc = Canon::kSimple, bc = Canon::kSimple;
  if (const auto* c = tags->get("c")) {
    if (!parse_canonicalization(*c, &hc, &bc)) return "AMS unknown canonicalization";
  }
  std::vector<std::string> names;
  for (auto n : split(*tags->get("h"), ':')) {
    auto name = trim_fws(n);
    if (name.empty()) return "AMS empty name in h=";
    if (iequals(name, "arc-seal")) return "AMS signs ARC-Seal";
    names.emplace_back(name);
    if (names.size() > 128) return "AMS too many names in h=";
  }
  auto bh = base64_decode(*tags->get("bh"));
  auto b = base64_decode(*tags->get("b"));
  if (!bh || !b || b->empty()) return "AMS bad base64";
  std::optional<uint64_t> l;
  if (const auto* v = tags->get("l")) {
    l = parse_uint(*v, 18);
    if (!l) return "AMS bad l=";
  }
  BodyHash body = body_hash(msg.body, bc, HashAlg::kSha256, l);
  if (!equal_ct(body.digest, *bh)) return "AMS body hash did not verify";
  KeyLookup key = lookup_key(dns, *s, *d, type, HashAlg::kSha256, o.min_rsa_bits);
  if (key.result != AuthResult::kPass) return "AMS key: " + key.reason;
  if (!verify_field_signature(msg.headers, names, hc, ams, key.key.get(), type, HashAlg::kSha256, *b))
    return "AMS signature did not verify";
  return "";
}

// The ARC-Seal hash input for instance `upto` (RFC 8617 5.1.1): every ARC
// set 1..upto in order, AAR, AMS, AS, relaxed; the last AS without b=.
std::string seal_input(const std::map<int, ArcSet>& sets, int upto, const std::string* new_aar,
                       const std::string* new_ams, const std::string* new_as_without_b) {
  std::string input;
  for (int i = 1; i <= upto; ++i) {
    auto it = sets.find(i);
    if (it != sets.end()) {
      input += canonicalize_header(it->second.aar->raw, Canon::kRelaxed);
      input += canonicalize_header(it->second.ams->raw, Canon::kRelaxed);
      if (i < upto || new_as_without_b) input += canonicalize_header(it->second.as->raw, Canon::kRelaxed);
      else input += sig_header_input(remove_b_value(it->second.as->raw), Canon::kRelaxed);
    }
  }
  if (new_as_without_b) {
    input += canonicalize_header(*new_aar, Canon::kRelaxed);
    input += canonicalize_header(*new_ams, Canon::kRelaxed);
    input += sig_header_input(*new_as_without_b, Canon::kRelaxed);
  }
  return input;
}

std::string verify_as(const std::map<int, ArcSet>& sets, int i, DnsLookup& dns, const ArcVerifyOptions& o,
                      std::string* domain, std::string* cv) {
  const HeaderField& as = *sets.at(i).as;
  std::string err;
  auto tags = TagList::parse(as.value(), &err);
  if (!tags) return "AS syntax: " + err;
  for (const char* req : {"a", "b", "cv", "d", "s"})
    if (!tags->get(req)) return std::string("AS missing ") + req + "=";
  if (tags->get("h")) return "AS has h=";
  *cv = to_lower(*tags->get("cv"));
  auto d = normalize_domain(*tags->get("d"));
  auto s = normalize_domain(*tags->get("s"));
  if (!d || !s) return "AS bad d= or s=";
  *domain = *d;
  KeyType type;
  if (!algorithm(to_lower(*tags->get("a")), &type)) return "AS algorithm not supported";
  if (o.now)
    if (const auto* t = tags->get("t"); t)
      if (auto ts = parse_uint(*t, 12); ts && *ts > o.now + 300) return "AS timestamp in the future";
  auto b = base64_decode(*tags->get("b"));
  if (!b || b->empty()) return "AS bad base64";
  KeyLookup key = lookup_key(dns, *s, *d, type, HashAlg::kSha256, o.min_rsa_bits);
  if (key.result != AuthResult::kPass) return "AS key: " + key.reason;
  std::string input = seal_input(sets, i, nullptr, nullptr, nullptr);
  if (!postline::mailauth::dkim_verify(key.key.get(), type, HashAlg::kSha256, input, *b))
    return "AS " + std::to_string(i) + " signature did not verify";
  return "";
}

std::string latest_cv(const std::map<int, ArcSet>& sets) {
  if (sets.empty()) return "";
  auto tags = TagList::parse(sets.rbegin()->second.as->value());
  if (!tags || !tags->get("cv")) return "";
  return to_lower(*tags->get("cv"));
}

}  // namespace

ArcVerdict arc_verify(const ParsedMessage& msg, DnsLookup& dns, const ArcVerifyOptions& o) {
  ArcVerdict v;
  auto fail = [&](std::string why) {
    v.result = ArcResult::kFail;
    v.reason = std::move(why);
    return v;
  };
  std::map<int, ArcSet> sets;
  if (auto err = collect(msg, sets, o.max_instances); !err.empty()) return fail(err);
  if (sets.empty()) return v;  // none
  v.instances = sets.rbegin()->first;
  // The newest seal said the chain was already broken: nothing to check.
  if (latest_cv(sets) == "fail") return fail("the chain was failed by instance " + std::to_string(v.instances));
  // The newest AMS must validate.
  if (auto err = verify_ams(msg, *sets.at(v.instances).ams, dns, o); !err.empty()) return fail(err);
  v.oldest_pass = v.instances;
  // Each seal, newest first; cv= must be none for 1 and pass above.
  std::vector<std::string> sealers(static_cast<size_t>(v.instances));
  for (int i = v.instances; i >= 1; --i) {
    std::string domain, cv;
    if (auto err = verify_as(sets, i, dns, o, &domain, &cv); !err.empty()) return fail(err);
    if ((i == 1 && cv != "none") || (i > 1 && cv != "pass"))
      return fail("ARC-Seal " + std::to_string(i) + " has cv=" + cv);
    sealers[size_t(i - 1)] = domain;
  }
  // Older AMSs: informational (header.oldest-pass); a forwarder that
  // modified the message breaks the older ones, which is what ARC is for.
  for (int i = v.instances - 1; i >= 1; --i) {
    if (!verify_ams(msg, *sets.at(i).ams, dns, o).empty()) break;
    v.oldest_pass = i;
  }
  if (v.oldest_pass == 1) v.oldest_pass = 0;  // RFC 8617 10.2.1: 0 when every AMS passed
  v.sealers = std::move(sealers);
  v.result = ArcResult::kPass;
  v.reason = "chain of " + std::to_string(v.instances) + " validated";
  return v;
}

ArcVerdict arc_verify(std::string_view message, DnsLookup& dns, const ArcVerifyOptions& o) {
  std::string err;
  auto parsed = parse_message(message, &err, o.limits);
  if (!parsed) {
    ArcVerdict v;
    v.result = ArcResult::kFail;
    v.reason = "message rejected: " + err;
    return v;
  }
  return arc_verify(*parsed, dns, o);
}

ArcSealResult arc_seal(std::string_view message, const PrivateKey& key, const ArcSealOptions& o, DnsLookup* dns,
                       const MessageLimits& limits) {
  ArcSealResult r;
  auto start = start_signing(message, o.domain, o.selector, limits, "sealing", &r.error);
  if (!start) return r;
  const ParsedMessage* msg = &start->msg;
  const std::string* domain = &start->domain;
  const std::string* selector = &start->selector;
  std::map<int, ArcSet> sets;
  std::string structure = collect(*msg, sets, 50);
  ArcResult cv;
  if (!structure.empty()) {
    // A broken structure cannot be extended by instance number; give up.
    r.error = "existing ARC sets are broken: " + structure;
    return r;
  }
  if (!sets.empty() && latest_cv(sets) == "fail") {
    r.error = "the chain was already failed by an earlier sealer";
    return r;
  }
  const int n = sets.empty() ? 0 : sets.rbegin()->first;
  if (n >= 50) {
    r.error = "the chain has 50 instances already";
    return r;
  }
  if (o.chain) {
    cv = *o.chain;
  } else if (dns) {
    cv = arc_verify(*msg, *dns).result;
  } else {
    r.error = "no chain state and no DNS to verify it";
    return r;
  }
  if (n == 0) cv = ArcResult::kNone;
  else if (cv == ArcResult::kNone) cv = ArcResult::kFail;  // sets exist: none is not a state they can have
  const int i = n + 1;

  // AAR: our Authentication-Results, topmost first.
  const HeaderField* ours = nullptr;
  for (const auto& h : msg->headers)
    if (iequals(h.name, "Authentication-Results") && iequals(authserv_id_of(h.value()), o.authserv_id)) {
      ours = &h;
      break;
    }
  if (!ours) {
    r.error = "no Authentication-Results of " + o.authserv_id + " to seal";
    return r;
  }
  std::string payload(trim_fws(ours->value()));
  std::string aar = "ARC-Authentication-Results: i=" + std::to_string(i) + "; " + payload + "\r\n";

  const char* alg = signing_algorithm(key);
  // AMS over the message as it is (the new AAR is not signed).
  std::vector<std::string> names;
  for (const auto& want : o.headers) {
    size_t c = size_t(std::count_if(msg->headers.begin(), msg->headers.end(),
                                    [&](const HeaderField& f) { return iequals(f.name, want); }));
    for (size_t k = 0; k < c; ++k) names.push_back(to_lower(want));
  }
  if (std::none_of(names.begin(), names.end(), [](const auto& n) { return n == "from"; })) names.insert(names.begin(), "from");
  BodyHash body = body_hash(msg->body, Canon::kRelaxed, HashAlg::kSha256);
  std::vector<std::string> tags = {"i=" + std::to_string(i), std::string("a=") + alg, "c=relaxed/relaxed",
                                   "d=" + *domain, "s=" + *selector};
  if (o.timestamp) tags.push_back("t=" + std::to_string(*o.timestamp));
  tags.push_back(h_tag(names));
  tags.push_back("bh=" + base64_encode(body.digest));
  std::string ams = fold_signature_header("ARC-Message-Signature", tags);
  std::string input = hash_input_headers(msg->headers, names, Canon::kRelaxed, nullptr);
  input += sig_header_input(ams + "\r\n", Canon::kRelaxed);
  if (!append_signature(ams, key, HashAlg::kSha256, input)) {
    r.error = "signing failed";
    return r;
  }

  // AS over every ARC set, the new one last.
  std::vector<std::string> stags = {"i=" + std::to_string(i), std::string("a=") + alg,
                                    std::string("cv=") + to_string(cv), "d=" + *domain, "s=" + *selector};
  if (o.timestamp) stags.push_back("t=" + std::to_string(*o.timestamp));
  std::string as = fold_signature_header("ARC-Seal", stags);
  const std::string as_unsigned = as + "\r\n";
  // A failed chain is not extended: the seal covers only its own set
  // (RFC 8617 5.1.1), like dkimpy's.
  static const std::map<int, ArcSet> kNoSets;
  std::string sinput = seal_input(cv == ArcResult::kFail ? kNoSets : sets, cv == ArcResult::kFail ? 0 : n, &aar,
                                  &ams, &as_unsigned);
  if (!append_signature(as, key, HashAlg::kSha256, sinput)) {
    r.error = "signing failed";
    return r;
  }
  r.ok = true;
  r.instance = i;
  r.cv = cv;
  r.headers = as + ams + aar;
  return r;
}

std::string arc_result_in_auth_results(std::string_view v) {
  // Result entries are ";"-separated "method=result ..." after the authserv-id.
  for (auto part : split(v, ';')) {
    std::string_view p = trim_fws(part);
    if (istarts_with(p, "arc=")) {
      std::string_view rest = p.substr(4);
      size_t end = 0;
      while (end < rest.size() && is_alpha(rest[end])) ++end;
      return to_lower(rest.substr(0, end));
    }
  }
  return "";
}

}  // namespace postline::mailauth
