#include "common/mailauth/spf.h"

#include <algorithm>
#include <optional>
#include <vector>

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

const char* to_string(SpfResult r) {
  switch (r) {
    case SpfResult::kNone: return "none";
    case SpfResult::kNeutral: return "neutral";
    case SpfResult::kPass: return "pass";
    case SpfResult::kFail: return "fail";
    case SpfResult::kSoftFail: return "softfail";
    case SpfResult::kTempError: return "temperror";
    case SpfResult::kPermError: return "permerror";
  }
  return "?";
}

namespace {

constexpr size_t kMaxExpansionBytes = 4096;
constexpr int kMaxDepth = 12;  // the lookup limit bounds recursion too; this is a backstop

enum class Mech { kAll, kInclude, kA, kMx, kPtr, kIp4, kIp6, kExists };

struct Term {
  SpfResult qualifier = SpfResult::kPass;
  Mech mech = Mech::kAll;
  std::string domain_spec;  // macro-string, may be empty (a, mx, ptr default to <domain>)
  IpAddress network;        // ip4/ip6
  unsigned cidr4 = 32, cidr6 = 128;
  std::string text;  // as written, for reasons
};

struct Record {
  std::vector<Term> terms;
  std::optional<std::string> redirect;
  std::optional<std::string> exp;
};

// Outcome of evaluating one record or mechanism: either a final result or "no match".
struct Eval {
  SpfResult result;
  std::string reason;
  std::string explanation;
};


// Checks macro-string syntax without expanding it (RFC 7208 7.1); syntax errors
// anywhere in a record make the whole record permerror before anything is evaluated.
bool macro_syntax_ok(std::string_view s, bool exp) {
  for (size_t i = 0; i < s.size(); ++i) {
    char c = s[i];
    if (c != '%') {
      if (!exp && (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e)) return false;
      continue;
    }
    if (++i >= s.size()) return false;
    char n = s[i];
    if (n == '%' || n == '_' || n == '-') continue;
    if (n != '{') return false;
    size_t close = s.find('}', i);
    if (close == std::string_view::npos) return false;
    std::string_view body = s.substr(i + 1, close - i - 1);
    if (body.empty()) return false;
    char letter = ascii_lower(body[0]);
    if (std::string_view("slodiphv").find(letter) == std::string_view::npos &&
        !(exp && std::string_view("crt").find(letter) != std::string_view::npos))
      return false;
    size_t k = 1;
    while (k < body.size() && is_digit(body[k])) ++k;
    if (k > 1 && !parse_uint(body.substr(1, k - 1), 3)) return false;
    if (k > 1 && *parse_uint(body.substr(1, k - 1), 3) == 0) return false;
    if (k < body.size() && ascii_lower(body[k]) == 'r') ++k;
    for (; k < body.size(); ++k)
      if (std::string_view(".-+,/_=").find(body[k]) == std::string_view::npos) return false;
    i = close;
  }
  return true;
}

// RFC 7208 7.1 toplabel: letters, digits and inner hyphens, not all digits.
bool toplabel_ok(std::string_view t) {
  if (t.empty() || t.size() > 63 || t.front() == '-' || t.back() == '-') return false;
  bool alpha = false;
  for (char c : t) {
    if (!is_alnum(c) && c != '-') return false;
    if (is_alpha(c)) alpha = true;
  }
  return alpha || t.find('-') != std::string_view::npos;
}

// A literal (macro-free) domain-spec: any visible characters in the inner labels
// (the grammar's macro-literal allows them, and the test suite checks it), ending in
// "." toplabel.
bool literal_domain_ok(std::string_view s) {
  if (s.find('%') != std::string_view::npos) return true;  // checked after expansion
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  size_t dot = s.rfind('.');
  if (dot == std::string_view::npos || dot == 0) return false;
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x21 || static_cast<unsigned char>(c) > 0x7e) return false;
  return toplabel_ok(s.substr(dot + 1));
}

// The name a mechanism queries, after macro expansion. DNS labels may hold any octet;
// we allow printable ASCII (macros can legitimately produce spaces, e.g. %_), enforce
// the label and name lengths, and never pass control bytes to the resolver.
std::optional<std::string> query_name(std::string_view s) {
  if (!s.empty() && s.back() == '.') s.remove_suffix(1);
  if (s.empty() || s.size() > 253) return std::nullopt;
  size_t label = 0;
  for (char c : s) {
    unsigned char u = static_cast<unsigned char>(c);
    if (u < 0x20 || u > 0x7e) return std::nullopt;
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
    } else if (++label > 63) {
      return std::nullopt;
    }
  }
  return to_lower(s);
}

bool parse_cidr(std::string_view digits, unsigned max, unsigned* out) {
  if (digits.empty() || digits.size() > 3) return false;
  if (digits.size() > 1 && digits[0] == '0') return false;
  auto v = parse_uint(digits, 3);
  if (!v || *v > max) return false;
  *out = unsigned(*v);
  return true;
}

// Splits "[:domain-spec][/cidr4][//cidr6]" from the end (the domain-spec may itself
// contain '/' inside macro literals).
bool parse_dual_cidr(std::string_view rest, Term* t, bool allow_cidr) {
  size_t dd = rest.rfind("//");
  if (dd != std::string_view::npos && dd + 2 <= rest.size() &&
      std::all_of(rest.begin() + long(dd) + 2, rest.end(), is_digit)) {
    if (!allow_cidr || !parse_cidr(rest.substr(dd + 2), 128, &t->cidr6)) return false;
    rest = rest.substr(0, dd);
  }
  size_t sl = rest.rfind('/');
  if (sl != std::string_view::npos && std::all_of(rest.begin() + long(sl) + 1, rest.end(), is_digit)) {
    if (!allow_cidr || !parse_cidr(rest.substr(sl + 1), 32, &t->cidr4)) return false;
    rest = rest.substr(0, sl);
  }
  if (rest.empty()) return true;
  if (rest[0] != ':') return false;
  rest.remove_prefix(1);
  if (rest.empty() || !macro_syntax_ok(rest, false) || !literal_domain_ok(rest)) return false;
  t->domain_spec = std::string(rest);
  return true;
}

std::optional<Record> parse_record(std::string_view text, const SpfOptions& o, std::string* error) {
  Record rec;
  auto bad = [&](std::string msg) {
    *error = std::move(msg);
    return std::nullopt;
  };
  text.remove_prefix(6);  // "v=spf1"
  size_t count = 0;
  for (auto raw : split(text, ' ')) {
    if (raw.empty()) continue;
    if (++count > o.max_terms) return bad("too many terms");
    std::string_view term = raw;
    Term t;
    t.text = std::string(raw);
    bool has_qualifier = true;
    switch (term[0]) {
      case '+': t.qualifier = SpfResult::kPass; break;
      case '-': t.qualifier = SpfResult::kFail; break;
      case '~': t.qualifier = SpfResult::kSoftFail; break;
      case '?': t.qualifier = SpfResult::kNeutral; break;
      default: has_qualifier = false;
    }
    if (has_qualifier) term.remove_prefix(1);
    size_t name_end = 0;
    while (name_end < term.size() && (is_alnum(term[name_end]) || term[name_end] == '-' ||
                                      term[name_end] == '_' || term[name_end] == '.'))
      ++name_end;
    std::string name = to_lower(term.substr(0, name_end));
    std::string_view rest = term.substr(name_end);
    if (!has_qualifier && !rest.empty() && rest[0] == '=') {
      // Modifier.
      if (name.empty() || !is_alpha(name[0])) return bad("bad modifier name");
      std::string_view value = rest.substr(1);
      if (!macro_syntax_ok(value, false)) return bad("bad macro in " + name);
      if (name == "redirect" || name == "exp") {
        auto& slot = name == "redirect" ? rec.redirect : rec.exp;
        if (slot) return bad("duplicate " + name + "=");
        if (value.empty() || !literal_domain_ok(value)) return bad("bad domain in " + name + "=");
        slot = std::string(value);
      }
      continue;  // unknown modifiers are ignored (RFC 7208 6)
    }
    if (name == "all") {
      if (!rest.empty()) return bad("bad all");
      t.mech = Mech::kAll;
    } else if (name == "include" || name == "exists") {
      t.mech = name == "include" ? Mech::kInclude : Mech::kExists;
      if (rest.size() < 2 || rest[0] != ':') return bad(name + " needs a domain");
      rest.remove_prefix(1);
      if (!macro_syntax_ok(rest, false) || !literal_domain_ok(rest)) return bad("bad domain in " + name);
      t.domain_spec = std::string(rest);
    } else if (name == "a" || name == "mx") {
      t.mech = name == "a" ? Mech::kA : Mech::kMx;
      if (!parse_dual_cidr(rest, &t, true)) return bad("bad " + name + " mechanism");
    } else if (name == "ptr") {
      t.mech = Mech::kPtr;
      if (!parse_dual_cidr(rest, &t, false)) return bad("bad ptr mechanism");
    } else if (name == "ip4" || name == "ip6") {
      bool v6 = name == "ip6";
      t.mech = v6 ? Mech::kIp6 : Mech::kIp4;
      if (rest.size() < 2 || rest[0] != ':') return bad(name + " needs an address");
      rest.remove_prefix(1);
      unsigned* cidr = v6 ? &t.cidr6 : &t.cidr4;
      size_t sl = rest.find('/');
      if (sl != std::string_view::npos) {
        if (!parse_cidr(rest.substr(sl + 1), v6 ? 128 : 32, cidr)) return bad("bad prefix length");
        rest = rest.substr(0, sl);
      }
      auto ip = IpAddress::parse(rest);
      if (!ip || ip->v6 != v6) return bad("bad address in " + name);
      t.network = *ip;
    } else {
      return bad("unknown mechanism " + name);
    }
    rec.terms.push_back(std::move(t));
  }
  return rec;
}

std::string url_escape(std::string_view s) {
  static const char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (char c : s) {
    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out.push_back(c);
    } else {
      out.push_back('%');
      out.push_back(kHex[static_cast<unsigned char>(c) >> 4]);
      out.push_back(kHex[static_cast<unsigned char>(c) & 15]);
    }
  }
  return out;
}

class Evaluator {
 public:
  Evaluator(DnsLookup& dns, const IpAddress& ip, std::string_view sender, std::string_view helo,
            const SpfOptions& o)
      : dns_(dns), ip_(ip.unmapped()), sender_(sender), helo_(helo), o_(o) {
    size_t at = sender_.rfind('@');
    local_ = at == std::string::npos ? "postmaster" : sender_.substr(0, at);
    if (local_.empty()) local_ = "postmaster";
    sender_domain_ = at == std::string::npos ? sender_ : sender_.substr(at + 1);
    sender_ = local_ + "@" + sender_domain_;
  }

  int dns_mechanisms() const { return dns_mechanisms_; }
  int voids() const { return voids_; }

  Eval check_host(std::string_view domain_in) {
    auto domain = query_name(domain_in);
    if (!domain || domain->find('.') == std::string::npos) return {SpfResult::kNone, "no valid domain", {}};
    if (stack_.size() >= kMaxDepth) return {SpfResult::kPermError, "recursion too deep", {}};
    if (std::find(stack_.begin(), stack_.end(), *domain) != stack_.end())
      return {SpfResult::kPermError, "include loop at " + *domain, {}};
    stack_.push_back(*domain);
    Eval e = check_record(*domain);
    stack_.pop_back();
    return e;
  }

 private:
  // Counts a DNS-querying term; false once the RFC limit is exceeded.
  bool count_mechanism() { return ++dns_mechanisms_ <= o_.max_dns_mechanisms; }
  // Counts an empty answer; false once the void limit is exceeded.
  bool count_void(DnsStatus s) {
    if (s != DnsStatus::kNxDomain && s != DnsStatus::kNoData) return true;
    return ++voids_ <= o_.max_void_lookups;
  }

  Eval check_record(const std::string& domain) {
    auto txt = dns_.txt(domain);
    if (txt.status == DnsStatus::kTempFail) return {SpfResult::kTempError, "DNS failure for " + domain, {}};
    std::vector<const std::string*> spf;
    for (const auto& r : txt.records) {
      if (istarts_with(r, "v=spf1") && (r.size() == 6 || r[6] == ' ')) spf.push_back(&r);
    }
    if (spf.empty()) return {SpfResult::kNone, "no SPF record at " + domain, {}};
    if (spf.size() > 1) return {SpfResult::kPermError, "multiple SPF records at " + domain, {}};
    if (spf[0]->size() > o_.max_record_bytes) return {SpfResult::kPermError, "SPF record too long", {}};
    std::string err;
    auto rec = parse_record(*spf[0], o_, &err);
    if (!rec) return {SpfResult::kPermError, "syntax error at " + domain + ": " + err, {}};

    for (const auto& t : rec->terms) {
      std::optional<Eval> m = match(t, domain);
      if (!m) continue;
      if (m->result != SpfResult::kPass) return *m;  // temperror / permerror from the mechanism
      Eval out{t.qualifier, "matched " + t.text + " at " + domain, {}};
      if (out.result == SpfResult::kFail && rec->exp && o_.fetch_explanation)
        out.explanation = explanation(*rec->exp, domain);
      return out;
    }
    if (rec->redirect) {
      if (!count_mechanism()) return {SpfResult::kPermError, "too many DNS lookups", {}};
      auto target = expand(*rec->redirect, domain, false);
      if (!target) return {SpfResult::kPermError, "bad macro in redirect", {}};
      Eval e = check_host(*target);
      if (e.result == SpfResult::kNone) return {SpfResult::kPermError, "redirect to " + *target + " has no SPF record", {}};
      return e;
    }
    return {SpfResult::kNeutral, "no mechanism matched at " + domain, {}};
  }

  // nullopt: no match. Eval with kPass: match. Other results: error to propagate.
  std::optional<Eval> match(const Term& t, const std::string& domain) {
    auto err = [](SpfResult r, std::string why) { return std::optional<Eval>(Eval{r, std::move(why), {}}); };
    const Eval yes{SpfResult::kPass, {}, {}};
    switch (t.mech) {
      case Mech::kAll: return yes;
      case Mech::kIp4:
      case Mech::kIp6:
        if (ip_.in_network(t.network, ip_.v6 ? t.cidr6 : t.cidr4)) return yes;
        return std::nullopt;
      default: break;
    }
    if (!count_mechanism()) return err(SpfResult::kPermError, "too many DNS lookups");
    std::string target = domain;
    if (!t.domain_spec.empty()) {
      auto e = expand(t.domain_spec, domain, false);
      if (!e) return err(SpfResult::kPermError, "bad macro in " + t.text);
      auto n = query_name(*e);
      if (!n) return std::nullopt;  // an expansion that is not a name cannot match
      target = *n;
    }
    switch (t.mech) {
      case Mech::kInclude: {
        Eval e = check_host(target);
        switch (e.result) {
          case SpfResult::kPass: return yes;
          case SpfResult::kFail:
          case SpfResult::kSoftFail:
          case SpfResult::kNeutral: return std::nullopt;
          case SpfResult::kTempError: return e;
          case SpfResult::kPermError: return e;
          case SpfResult::kNone: return err(SpfResult::kPermError, "include of " + target + " has no SPF record");
        }
        return std::nullopt;
      }
      case Mech::kA: {
        auto r = address_lookup(target, ip_.v6);
        if (r.status == DnsStatus::kTempFail) return err(SpfResult::kTempError, "DNS failure for " + target);
        if (!count_void(r.status)) return err(SpfResult::kPermError, "too many void lookups");
        for (const auto& a : r.addresses)
          if (ip_.in_network(a, ip_.v6 ? t.cidr6 : t.cidr4)) return yes;
        return std::nullopt;
      }
      case Mech::kMx: {
        auto mx = dns_.mx(target);
        if (mx.status == DnsStatus::kTempFail) return err(SpfResult::kTempError, "DNS failure for " + target);
        if (!count_void(mx.status)) return err(SpfResult::kPermError, "too many void lookups");
        if (int(mx.records.size()) > o_.max_mx_names) return err(SpfResult::kPermError, "too many MX records");
        for (const auto& m : mx.records) {
          if (m.exchange.empty()) continue;  // null MX
          auto r = address_lookup(m.exchange, ip_.v6);
          if (r.status == DnsStatus::kTempFail) return err(SpfResult::kTempError, "DNS failure for " + m.exchange);
          for (const auto& a : r.addresses)
            if (ip_.in_network(a, ip_.v6 ? t.cidr6 : t.cidr4)) return yes;
        }
        return std::nullopt;
      }
      case Mech::kPtr: {
        if (!o_.evaluate_ptr) return std::nullopt;
        for (const auto& name : validated_names()) {
          if (iequals(name, target) || (name.size() > target.size() && iends_with(name, "." + target)))
            return yes;
        }
        return std::nullopt;
      }
      case Mech::kExists: {
        auto r = dns_.a(target);  // always A, whatever the client's family (RFC 7208 5.7)
        if (r.status == DnsStatus::kTempFail) return err(SpfResult::kTempError, "DNS failure for " + target);
        if (!count_void(r.status)) return err(SpfResult::kPermError, "too many void lookups");
        if (!r.addresses.empty()) return yes;
        return std::nullopt;
      }
      default: return std::nullopt;
    }
  }

  AddrResult address_lookup(const std::string& name, bool v6) { return v6 ? dns_.aaaa(name) : dns_.a(name); }

  // Forward-confirmed reverse names of the client (RFC 7208 5.5), at most max_ptr_names.
  std::vector<std::string> validated_names() {
    if (validated_) return *validated_;
    validated_.emplace();
    auto p = dns_.ptr(ip_);
    if (p.status != DnsStatus::kOk) return *validated_;
    int n = 0;
    for (const auto& name : p.names) {
      if (++n > o_.max_ptr_names) break;
      auto norm = normalize_domain(name);
      if (!norm) continue;
      auto r = address_lookup(*norm, ip_.v6);
      if (std::find(r.addresses.begin(), r.addresses.end(), ip_) != r.addresses.end())
        validated_->push_back(*norm);
    }
    return *validated_;
  }

  std::optional<std::string> macro_value(char letter, const std::string& domain) {
    switch (letter) {
      case 's': return sender_;
      case 'l': return local_;
      case 'o': return sender_domain_;
      case 'd': return domain;
      case 'i': return ip_.spf_dotted();
      case 'p': {
        if (!o_.evaluate_ptr) return std::string("unknown");
        auto names = validated_names();
        for (const auto& n : names)
          if (iequals(n, domain) || iends_with(n, "." + domain)) return n;
        return names.empty() ? std::string("unknown") : names.front();
      }
      case 'v': return std::string(ip_.v6 ? "ip6" : "in-addr");
      case 'h': return helo_;
      case 'c': return ip_.to_string();
      case 'r': return o_.receiving_host;
      case 't': return std::to_string(o_.now);
    }
    return std::nullopt;
  }

  std::optional<std::string> expand(std::string_view s, const std::string& domain, bool exp) {
    if (!macro_syntax_ok(s, exp)) return std::nullopt;
    std::string out;
    for (size_t i = 0; i < s.size(); ++i) {
      if (out.size() > kMaxExpansionBytes) return std::nullopt;
      if (s[i] != '%') {
        out.push_back(s[i]);
        continue;
      }
      char n = s[++i];
      if (n == '%') { out.push_back('%'); continue; }
      if (n == '_') { out.push_back(' '); continue; }
      if (n == '-') { out += "%20"; continue; }
      size_t close = s.find('}', i);
      std::string_view body = s.substr(i + 1, close - i - 1);
      i = close;
      char letter = body[0];
      bool upper = letter >= 'A' && letter <= 'Z';
      auto value = macro_value(ascii_lower(letter), domain);
      if (!value) return std::nullopt;
      size_t k = 1;
      while (k < body.size() && is_digit(body[k])) ++k;
      size_t keep = k > 1 ? size_t(*parse_uint(body.substr(1, k - 1), 3)) : 0;
      bool reverse = false;
      if (k < body.size() && ascii_lower(body[k]) == 'r') {
        reverse = true;
        ++k;
      }
      std::string_view delims = k < body.size() ? body.substr(k) : std::string_view(".");
      std::vector<std::string> parts;
      std::string cur;
      for (char c : *value) {
        if (delims.find(c) != std::string_view::npos) {
          parts.push_back(std::move(cur));
          cur.clear();
        } else {
          cur.push_back(c);
        }
      }
      parts.push_back(std::move(cur));
      if (reverse) std::reverse(parts.begin(), parts.end());
      if (keep && keep < parts.size()) parts.erase(parts.begin(), parts.end() - long(keep));
      std::string joined;
      for (size_t j = 0; j < parts.size(); ++j) joined += (j ? "." : "") + parts[j];
      out += upper ? url_escape(joined) : joined;
    }
    if (!exp) {
      // RFC 7208 4.8: drop labels from the left until the name fits in 253 octets.
      while (out.size() > 253) {
        size_t dot = out.find('.');
        if (dot == std::string::npos) return std::nullopt;
        out.erase(0, dot + 1);
      }
    }
    return out;
  }

  std::string explanation(const std::string& exp_spec, const std::string& domain) {
    // Failures here are never fatal: the result stays fail, only the text is lost.
    auto target = expand(exp_spec, domain, false);
    if (!target) return {};
    auto name = query_name(*target);
    if (!name) return {};
    auto txt = dns_.txt(*name);
    if (txt.status != DnsStatus::kOk || txt.records.size() != 1) return {};
    // RFC 7208 6.2: explanation text is US-ASCII; anything else discards it.
    for (char c : txt.records[0])
      if (static_cast<unsigned char>(c) < 0x20 || static_cast<unsigned char>(c) > 0x7e) return {};
    auto text = expand(txt.records[0], domain, true);
    if (!text) return {};
    // Only printable ASCII reaches the SMTP reply.
    std::string clean;
    for (char c : *text)
      if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f) clean.push_back(c);
    return clean.substr(0, 512);
  }

  DnsLookup& dns_;
  IpAddress ip_;
  std::string sender_, local_, sender_domain_, helo_;
  const SpfOptions& o_;
  int dns_mechanisms_ = 0;
  int voids_ = 0;
  std::vector<std::string> stack_;
  std::optional<std::vector<std::string>> validated_;
};

}  // namespace

SpfVerdict spf_check_host(DnsLookup& dns, const IpAddress& ip, std::string_view domain, std::string_view sender,
                          std::string_view helo, const SpfOptions& options) {
  Evaluator ev(dns, ip, sender, helo, options);
  // The identity itself must be an ordinary host name (RFC 7208 4.3): "none" otherwise.
  // Names reached through include/redirect may use the wider domain-spec alphabet.
  Eval e = normalize_domain(domain) ? ev.check_host(domain) : Eval{SpfResult::kNone, "no valid domain", {}};
  SpfVerdict v;
  v.result = e.result;
  v.reason = std::move(e.reason);
  v.explanation = std::move(e.explanation);
  v.domain = to_lower(domain);
  v.dns_mechanisms = ev.dns_mechanisms();
  v.void_lookups = ev.voids();
  return v;
}

SpfVerdict spf_check_mail_from(DnsLookup& dns, const IpAddress& ip, std::string_view mail_from,
                               std::string_view helo, const SpfOptions& options) {
  if (mail_from.empty()) return spf_check_helo(dns, ip, helo, options);
  size_t at = mail_from.rfind('@');
  std::string_view domain = at == std::string_view::npos ? mail_from : mail_from.substr(at + 1);
  return spf_check_host(dns, ip, domain, mail_from, helo, options);
}

SpfVerdict spf_check_helo(DnsLookup& dns, const IpAddress& ip, std::string_view helo, const SpfOptions& options) {
  auto d = normalize_domain(helo);
  if (!d || d->find('.') == std::string::npos) {
    SpfVerdict v;
    v.result = SpfResult::kNone;
    v.domain = std::string(helo);
    v.reason = "HELO is not a domain name";
    return v;
  }
  return spf_check_host(dns, ip, *d, "postmaster@" + *d, helo, options);
}

}  // namespace postline::mailauth
