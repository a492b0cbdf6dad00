#include "common/mailauth/dkim.h"

#include <algorithm>
#include <map>
#include <tuple>

#include "common/mailauth/tag_list.h"
#include "common/mailauth/text_util.h"

namespace postline::mailauth {

namespace {
constexpr size_t kMaxSignedHeaderNames = 128;
constexpr size_t kMaxKeyRecordBytes = 8 * 1024;
constexpr size_t kMaxKeyRecordsTried = 4;
}  // namespace

namespace detail {

bool is_b64_char(char c) { return is_alnum(c) || c == '+' || c == '/' || c == '='; }

// Returns the raw field with the value of its b= tag removed (RFC 6376 3.7): only the
// base64 characters and the folding whitespace between them go; whitespace after the
// value stays, as in OpenDKIM and dkimpy, so both sides hash identical bytes.
std::string remove_b_value(std::string_view raw) {
  size_t colon = raw.find(':');
  if (colon == std::string_view::npos) return std::string(raw);
  size_t pos = colon + 1;
  auto skip_fws = [&](size_t p) {
    while (p < raw.size() && (is_wsp(raw[p]) || raw[p] == '\r' || raw[p] == '\n')) ++p;
    return p;
  };
  while (pos < raw.size()) {
    size_t p = skip_fws(pos);
    size_t name_start = p;
    while (p < raw.size() && (is_alnum(raw[p]) || raw[p] == '_')) ++p;
    std::string_view name = raw.substr(name_start, p - name_start);
    p = skip_fws(p);
    if (name == "b" && p < raw.size() && raw[p] == '=') {
      size_t value_start = p + 1;
      size_t end = value_start;
      for (;;) {
        size_t q = skip_fws(end);
        if (q < raw.size() && is_b64_char(raw[q])) {
          end = q + 1;
        } else {
          break;
        }
      }
      std::string out(raw.substr(0, value_start));
      out.append(raw.substr(end));
      return out;
    }
    size_t semi = raw.find(';', p);
    if (semi == std::string_view::npos) break;
    pos = semi + 1;
  }
  return std::string(raw);
}

// Selects header instances for h= bottom-up (RFC 6376 5.4.2): the n-th occurrence of
// a name in h= takes the n-th instance from the bottom; names with no instance left
// contribute nothing (which is what makes oversigning work).
std::string hash_input_headers(const std::vector<HeaderField>& headers, const std::vector<std::string>& names,
                               Canon canon, const HeaderField* exclude) {
  std::vector<bool> used(headers.size(), false);
  for (size_t i = 0; i < headers.size(); ++i)
    if (&headers[i] == exclude) used[i] = true;
  std::string out;
  for (const auto& name : names) {
    for (size_t i = headers.size(); i-- > 0;) {
      if (used[i] || !iequals(headers[i].name, name)) continue;
      used[i] = true;
      out += canonicalize_header(headers[i].raw, canon);
      break;
    }
  }
  return out;
}

std::string sig_header_input(std::string_view raw_without_b, Canon canon) {
  std::string c = canonicalize_header(raw_without_b, canon);
  if (c.size() >= 2 && c.compare(c.size() - 2, 2, "\r\n") == 0) c.resize(c.size() - 2);
  return c;
}

std::string fold_value(std::string_view v, size_t first_room, size_t width) {
  std::string out;
  size_t room = first_room;
  while (v.size() > room) {
    out.append(v.substr(0, room));
    out += "\r\n\t";
    v.remove_prefix(room);
    room = width;
  }
  out.append(v);
  return out;
}

std::optional<SigningStart> start_signing(std::string_view message, const std::string& domain,
                                          const std::string& selector, const MessageLimits& limits,
                                          std::string_view what, std::string* error) {
  std::string err;
  auto msg = parse_message(message, &err, limits);
  if (!msg) {
    *error = err;
    return std::nullopt;
  }
  auto d = normalize_domain(domain);
  auto s = normalize_domain(selector);
  if (!d || !s) {
    *error = "bad " + std::string(what) + " domain or selector";
    return std::nullopt;
  }
  return SigningStart{std::move(*msg), std::move(*d), std::move(*s)};
}

const char* signing_algorithm(const PrivateKey& key) {
  return key.type() == KeyType::kEd25519 ? "ed25519-sha256" : "rsa-sha256";
}

std::string h_tag(const std::vector<std::string>& names) {
  std::string h = "h=";
  for (size_t i = 0; i < names.size(); ++i) h += (i ? ":" : "") + names[i];
  return h;
}

bool append_signature(std::string& header, const PrivateKey& key, HashAlg hash, std::string_view input) {
  auto sig = postline::mailauth::dkim_sign(key, hash, input);
  if (!sig) return false;
  header += fold_value(base64_encode(*sig), 74, 75);
  header += "\r\n";
  return true;
}

bool parse_canonicalization(std::string_view c, Canon* header, Canon* body) {
  auto parts = split(c, '/');
  auto parse_c = [](std::string_view v, Canon* out) {
    v = trim_fws(v);
    if (v == "simple") *out = Canon::kSimple;
    else if (v == "relaxed") *out = Canon::kRelaxed;
    else return false;
    return true;
  };
  return parts.size() <= 2 && parse_c(parts[0], header) && (parts.size() < 2 || parse_c(parts[1], body));
}

bool verify_field_signature(const std::vector<HeaderField>& headers, const std::vector<std::string>& names,
                            Canon canon, const HeaderField& field, EVP_PKEY* key, KeyType type, HashAlg hash,
                            std::string_view b) {
  std::string input = hash_input_headers(headers, names, canon, &field);
  input += sig_header_input(remove_b_value(field.raw), canon);
  return postline::mailauth::dkim_verify(key, type, hash, input, b);
}

bool domain_is_or_under(std::string_view sub, std::string_view parent) {
  if (iequals(sub, parent)) return true;
  return sub.size() > parent.size() && iends_with(sub, parent) && sub[sub.size() - parent.size() - 1] == '.';
}

// Folds "Name: tag; tag; ...\r\n\tb=" between tags (and inside h= at colons)
// to keep lines under ~78 octets; the folds are part of what is signed, which
// is fine for both canonicalisations. The caller appends the b= value.
std::string fold_signature_header(std::string_view field_name, const std::vector<std::string>& tags) {
  std::string header = std::string(field_name) + ":";
  size_t line_len = header.size();
  for (const auto& t : tags) {
    std::string piece = " " + t + ";";
    if (line_len + piece.size() > 78 && line_len > 1) {
      header += "\r\n\t";
      line_len = 1;
      piece = t + ";";
      if (t.rfind("h=", 0) == 0 && piece.size() > 76) {
        // Break the header list at colons: FWS is allowed around ':' in h=.
        std::string folded;
        size_t cur = 1;
        for (auto part : split(std::string_view(piece), ':')) {
          std::string seg = std::string(part);
          if (!folded.empty()) {
            if (cur + seg.size() + 1 > 76) {
              folded += ":\r\n\t";
              cur = 1;
            } else {
              folded += ":";
              ++cur;
            }
          }
          folded += seg;
          cur += seg.size();
        }
        header += folded;
        line_len = cur;
        continue;
      }
    }
    header += piece;
    line_len += piece.size();
  }
  header += "\r\n\tb=";

  return header;
}

KeyLookup lookup_key(DnsLookup& dns, const std::string& selector, const std::string& domain, KeyType ktype,
                     HashAlg hash, int min_rsa_bits) {
  KeyLookup out;
  auto done = [&](AuthResult r, std::string reason) {
    out.result = r;
    out.reason = std::move(reason);
    return std::move(out);
  };
  auto txt = dns.txt(selector + "._domainkey." + domain);
  if (txt.status == DnsStatus::kTempFail) return done(AuthResult::kTempError, "key lookup failed temporarily");
  if (txt.status != DnsStatus::kOk || txt.records.empty()) return done(AuthResult::kPermError, "no key for signature");
  std::optional<DkimKeyRecord> key;
  std::string key_err;
  for (size_t i = 0; i < txt.records.size() && i < kMaxKeyRecordsTried && !key; ++i)
    key = parse_dkim_key_record(txt.records[i], &key_err);
  if (!key) return done(AuthResult::kPermError, "bad key record: " + key_err);
  out.testing = key->testing;
  out.strict_identity = key->strict_identity;
  if (key->revoked()) return done(AuthResult::kPermError, "key revoked");
  if (key->key_type != ktype) return done(AuthResult::kPermError, "key type does not match a=");
  if (!key->hashes.empty()) {
    std::string hname = hash == HashAlg::kSha1 ? "sha1" : "sha256";
    if (std::find(key->hashes.begin(), key->hashes.end(), hname) == key->hashes.end())
      return done(AuthResult::kPermError, "hash algorithm not allowed by key");
  }
  auto pkey = public_key_from_dkim(ktype, key->public_key, &key_err);
  if (!pkey) return done(AuthResult::kPermError, key_err);
  out.bits = public_key_bits(pkey->get());
  if (ktype == KeyType::kRsa && out.bits < min_rsa_bits) return done(AuthResult::kPermError, "RSA key too short");
  out.key = std::move(*pkey);
  return done(AuthResult::kPass, "");
}

}  // namespace detail

using namespace detail;

// ------------------------------------------------------------------ key record

std::optional<DkimKeyRecord> parse_dkim_key_record(std::string_view text, std::string* error) {
  if (text.size() > kMaxKeyRecordBytes) {
    if (error) *error = "key record too long";
    return std::nullopt;
  }
  auto tags = TagList::parse(text, error);
  if (!tags) return std::nullopt;
  DkimKeyRecord rec;
  if (!tags->tags().empty() && tags->tags()[0].name == "v") {
    if (tags->tags()[0].value != "DKIM1") {
      if (error) *error = "key record v= is not DKIM1";
      return std::nullopt;
    }
  } else if (tags->get("v")) {
    if (error) *error = "key record v= not first";
    return std::nullopt;
  }
  if (const auto* k = tags->get("k")) {
    if (*k == "rsa") {
      rec.key_type = KeyType::kRsa;
    } else if (*k == "ed25519") {
      rec.key_type = KeyType::kEd25519;
    } else {
      if (error) *error = "unknown key type k=" + *k;
      return std::nullopt;
    }
  }
  if (const auto* h = tags->get("h")) {
    for (auto part : split(*h, ':')) {
      auto name = to_lower(trim_fws(part));
      if (!name.empty()) rec.hashes.push_back(name);
    }
  }
  if (const auto* s = tags->get("s")) {
    bool email = false;
    for (auto part : split(*s, ':')) {
      auto t = trim_fws(part);
      if (t == "*" || iequals(t, "email")) email = true;
    }
    if (!email) {
      if (error) *error = "key not for email service";
      return std::nullopt;
    }
  }
  if (const auto* t = tags->get("t")) {
    for (auto part : split(*t, ':')) {
      auto f = trim_fws(part);
      if (f == "y") rec.testing = true;
      if (f == "s") rec.strict_identity = true;
    }
  }
  const auto* p = tags->get("p");
  if (!p) {
    if (error) *error = "key record without p=";
    return std::nullopt;
  }
  auto decoded = base64_decode(*p);
  if (!decoded) {
    if (error) *error = "key record p= is not base64";
    return std::nullopt;
  }
  rec.public_key = std::move(*decoded);
  return rec;
}

// ------------------------------------------------------------------ signing

DkimSignResult dkim_sign(std::string_view message, const PrivateKey& key, const DkimSignOptions& o,
                         const MessageLimits& limits) {
  DkimSignResult r;
  auto start = start_signing(message, o.domain, o.selector, limits, "signing", &r.error);
  if (!start) return r;
  const ParsedMessage* msg = &start->msg;
  const std::string* domain = &start->domain;
  const std::string* selector = &start->selector;
  if (key.type() == KeyType::kRsa && key.bits() < 1024) {
    r.error = "RSA key shorter than 1024 bits";
    return r;
  }
  // Header list: every configured name once per instance present, plus one more for
  // oversigned names (From always).
  std::vector<std::string> names;
  auto count_of = [&](std::string_view n) {
    return size_t(std::count_if(msg->headers.begin(), msg->headers.end(),
                                [&](const HeaderField& f) { return iequals(f.name, n); }));
  };
  bool from_listed = false;
  std::vector<std::string> wanted = o.headers;
  if (std::none_of(wanted.begin(), wanted.end(), [](const auto& n) { return iequals(n, "from"); }))
    wanted.insert(wanted.begin(), "From");
  for (const auto& n : wanted) {
    if (std::any_of(names.begin(), names.end(), [&](const auto& x) { return iequals(x, n); })) continue;
    size_t c = count_of(n);
    bool over = iequals(n, "from") ||
                std::any_of(o.oversign.begin(), o.oversign.end(), [&](const auto& x) { return iequals(x, n); });
    if (c == 0 && !over) continue;
    for (size_t i = 0; i < c + (over ? 1 : 0); ++i) names.push_back(to_lower(n));
    if (iequals(n, "from")) from_listed = true;
  }
  if (!from_listed || count_of("from") == 0) {
    r.error = "message has no From header field";
    return r;
  }
  if (names.size() > kMaxSignedHeaderNames) {
    r.error = "too many header fields to sign";
    return r;
  }

  HashAlg hash = HashAlg::kSha256;
  BodyHash body = body_hash(msg->body, o.body_canon, hash);
  std::string bh = base64_encode(body.digest);
  const char* alg = signing_algorithm(key);

  std::vector<std::string> tags;
  tags.push_back("v=1");
  tags.push_back(std::string("a=") + alg);
  tags.push_back(std::string("c=") + to_string(o.header_canon) + "/" + to_string(o.body_canon));
  tags.push_back("d=" + *domain);
  tags.push_back("s=" + *selector);
  if (!o.identity.empty()) {
    size_t at = o.identity.rfind('@');
    if (at == std::string::npos || !domain_is_or_under(o.identity.substr(at + 1), *domain)) {
      r.error = "i= must be in the d= domain";
      return r;
    }
    tags.push_back("i=" + o.identity);
  }
  if (o.timestamp) tags.push_back("t=" + std::to_string(*o.timestamp));
  if (o.expiration) tags.push_back("x=" + std::to_string(*o.expiration));
  if (o.body_length_tag) tags.push_back("l=" + std::to_string(body.canonical_length));
  tags.push_back(h_tag(names));
  tags.push_back("bh=" + bh);

  std::string header = fold_signature_header("DKIM-Signature", tags);

  std::string input = hash_input_headers(msg->headers, names, o.header_canon, nullptr);
  input += sig_header_input(header + "\r\n", o.header_canon);
  if (!append_signature(header, key, hash, input)) {
    r.error = "signing failed";
    return r;
  }
  r.ok = true;
  r.header = std::move(header);
  return r;
}

// ------------------------------------------------------------------ verification

const char* to_string(AuthResult r) {
  switch (r) {
    case AuthResult::kNone: return "none";
    case AuthResult::kPass: return "pass";
    case AuthResult::kFail: return "fail";
    case AuthResult::kPolicy: return "policy";
    case AuthResult::kNeutral: return "neutral";
    case AuthResult::kTempError: return "temperror";
    case AuthResult::kPermError: return "permerror";
  }
  return "?";
}

AuthResult DkimVerifyResult::overall() const {
  if (signatures.empty()) return AuthResult::kNone;
  for (const auto& s : signatures)
    if (s.result == AuthResult::kPass) return AuthResult::kPass;
  return signatures.front().result;
}

namespace {

class Verifier {
 public:
  Verifier(const ParsedMessage& msg, DnsLookup& dns, const DkimVerifyOptions& o) : msg_(msg), dns_(dns), o_(o) {}

  DkimSignatureResult verify(const HeaderField& field) {
    DkimSignatureResult r;
    auto done = [&](AuthResult res, std::string reason) {
      r.result = res;
      r.reason = std::move(reason);
      return r;
    };
    std::string err;
    auto tags = TagList::parse(field.value(), &err);
    if (!tags) return done(AuthResult::kPermError, "signature syntax: " + err);
    auto get = [&](const char* n) { return tags->get(n); };
    for (const char* req : {"v", "a", "b", "bh", "d", "h", "s"})
      if (!get(req)) return done(AuthResult::kPermError, std::string("signature missing ") + req + "=");
    if (*get("v") != "1") return done(AuthResult::kPermError, "unsupported signature version");

    auto d = normalize_domain(*get("d"));
    auto s = normalize_domain(*get("s"));
    if (!d || !s) return done(AuthResult::kPermError, "bad d= or s=");
    r.domain = *d;
    r.selector = *s;
    std::string b_clean = strip_fws(*get("b"));
    r.b_prefix = b_clean.substr(0, 12);
    r.algorithm = to_lower(*get("a"));

    KeyType ktype;
    HashAlg hash;
    if (r.algorithm == "rsa-sha256") {
      ktype = KeyType::kRsa;
      hash = HashAlg::kSha256;
    } else if (r.algorithm == "rsa-sha1") {
      if (!o_.allow_sha1) return done(AuthResult::kPermError, "rsa-sha1 not accepted");
      ktype = KeyType::kRsa;
      hash = HashAlg::kSha1;
      r.weak = true;
    } else if (r.algorithm == "ed25519-sha256") {
      ktype = KeyType::kEd25519;
      hash = HashAlg::kSha256;
    } else {
      return done(AuthResult::kPermError, "unsupported algorithm " + r.algorithm);
    }

    Canon hc = Canon::kSimple, bc = Canon::kSimple;
    if (const auto* c = get("c")) {
      if (split(*c, '/').size() > 2) return done(AuthResult::kPermError, "bad c=");
      if (!parse_canonicalization(*c, &hc, &bc)) return done(AuthResult::kPermError, "unknown canonicalization");
    }

    if (const auto* q = get("q")) {
      bool dns_txt = false;
      for (auto m : split(*q, ':'))
        if (trim_fws(m) == "dns/txt") dns_txt = true;
      if (!dns_txt) return done(AuthResult::kPermError, "unsupported query method");
    }

    std::string i_domain = r.domain;
    if (const auto* i = get("i")) {
      size_t at = i->rfind('@');
      if (at == std::string::npos) return done(AuthResult::kPermError, "bad i=");
      i_domain = to_lower(i->substr(at + 1));
      if (!domain_is_or_under(i_domain, r.domain)) return done(AuthResult::kPermError, "i= not within d=");
      r.identity = *i;
    } else {
      r.identity = "@" + r.domain;
    }

    std::vector<std::string> names;
    bool has_from = false;
    for (auto n : split(*get("h"), ':')) {
      auto name = trim_fws(n);
      if (name.empty()) return done(AuthResult::kPermError, "empty name in h=");
      if (iequals(name, "from")) has_from = true;
      names.emplace_back(name);
    }
    if (!has_from) return done(AuthResult::kPermError, "From not signed");
    if (names.size() > kMaxSignedHeaderNames) return done(AuthResult::kPermError, "too many names in h=");

    std::optional<uint64_t> l, t, x;
    if (const auto* v = get("l")) {
      l = parse_uint(*v, 18);
      if (!l) return done(AuthResult::kPermError, "bad l=");
      r.body_length = *l;
    }
    if (const auto* v = get("t")) {
      t = parse_uint(*v, 12);
      if (!t) return done(AuthResult::kPermError, "bad t=");
    }
    if (const auto* v = get("x")) {
      x = parse_uint(*v, 12);
      if (!x) return done(AuthResult::kPermError, "bad x=");
    }
    if (t && x && *x < *t) return done(AuthResult::kPermError, "x= before t=");
    if (o_.now) {
      if (x && *x < o_.now) return done(AuthResult::kFail, "signature expired");
      if (t && *t > o_.now + o_.clock_skew) return done(AuthResult::kPermError, "signature timestamp in the future");
    }

    auto bh = base64_decode(*get("bh"));
    auto b = base64_decode(*get("b"));
    if (!bh || !b || b->empty()) return done(AuthResult::kPermError, "bad base64 in b= or bh=");

    // Body first: it needs no DNS, so a broken message costs no queries.
    const BodyHash& body = canonical_body_hash(bc, hash, l);
    if (l) {
      if (*l > body.canonical_length) return done(AuthResult::kFail, "l= longer than the body");
      if (*l < body.canonical_length) {
        r.body_length_partial = true;
        r.unsigned_body_bytes = body.canonical_length - *l;
      }
    }
    if (!equal_ct(body.digest, *bh)) return done(AuthResult::kFail, "body hash did not verify");

    // Key.
    KeyLookup key = lookup_key(dns_, r.selector, r.domain, ktype, hash, o_.min_rsa_bits);
    r.testing = key.testing;
    r.key_bits = key.bits;
    if (key.result != AuthResult::kPass) return done(key.result, key.reason);
    if (key.strict_identity && !iequals(i_domain, r.domain))
      return done(AuthResult::kPermError, "key requires i= domain equal to d=");
    if (ktype == KeyType::kRsa && r.key_bits < 2048) r.weak = true;
    auto& pkey = key.key;

    if (!verify_field_signature(msg_.headers, names, hc, field, pkey.get(), ktype, hash, *b))
      return done(AuthResult::kFail, "signature did not verify");

    if (r.body_length_partial && !o_.accept_partial_body)
      return done(AuthResult::kPolicy, "l= leaves " + std::to_string(r.unsigned_body_bytes) +
                                           " body bytes unsigned");
    std::string reason = "signature verified";
    if (hash == HashAlg::kSha1) reason += "; weak rsa-sha1";
    if (r.testing) reason += "; key in testing mode";
    return done(AuthResult::kPass, reason);
  }

 private:
  // Several signatures usually share canonicalisation and hash; hash the body once per
  // distinct (c=, a=, l=).
  const BodyHash& canonical_body_hash(Canon c, HashAlg alg, std::optional<uint64_t> l) {
    auto key = std::make_tuple(c, alg, l ? int64_t(*l) : int64_t(-1));
    auto it = bodies_.find(key);
    if (it == bodies_.end()) it = bodies_.emplace(key, body_hash(msg_.body, c, alg, l)).first;
    return it->second;
  }

  const ParsedMessage& msg_;
  DnsLookup& dns_;
  const DkimVerifyOptions& o_;
  std::map<std::tuple<Canon, HashAlg, int64_t>, BodyHash> bodies_;
};

}  // namespace

DkimVerifyResult dkim_verify(const ParsedMessage& message, DnsLookup& dns, const DkimVerifyOptions& options) {
  DkimVerifyResult out;
  Verifier v(message, dns, options);
  size_t seen = 0;
  for (const auto& field : message.headers) {
    if (!iequals(field.name, "DKIM-Signature")) continue;
    if (++seen > options.max_signatures) {
      DkimSignatureResult r;
      r.result = AuthResult::kNeutral;
      r.reason = "not evaluated: too many signatures";
      out.signatures.push_back(std::move(r));
      continue;
    }
    out.signatures.push_back(v.verify(field));
  }
  return out;
}

DkimVerifyResult dkim_verify(std::string_view message, DnsLookup& dns, const DkimVerifyOptions& options) {
  std::string err;
  auto parsed = parse_message(message, &err, options.limits);
  if (!parsed) {
    DkimVerifyResult out;
    DkimSignatureResult r;
    r.result = AuthResult::kPermError;
    r.reason = "message rejected: " + err;
    out.signatures.push_back(std::move(r));
    return out;
  }
  return dkim_verify(*parsed, dns, options);
}

}  // namespace postline::mailauth
