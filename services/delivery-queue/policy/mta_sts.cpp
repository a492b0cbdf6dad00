#include "services/delivery-queue/policy/mta_sts.h"

#include <algorithm>
#include <cctype>

namespace postline::queue::sts {
namespace {

bool is_alnum(char c) { return std::isalnum(static_cast<unsigned char>(c)) != 0; }
bool is_wsp(char c) { return c == ' ' || c == '\t'; }

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

bool iequals(std::string_view a, std::string_view b) { return a.size() == b.size() && lower(a) == lower(b); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_wsp(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_wsp(s.back())) s.remove_suffix(1);
  return s;
}

// A host name: labels of letters, digits and '-' (not at either end), 1-63
// octets each, at most 253 in all. A-labels only: policies are ASCII.
bool valid_host(std::string_view h) {
  if (h.empty() || h.size() > 253) return false;
  size_t start = 0;
  while (true) {
    size_t dot = h.find('.', start);
    std::string_view label = h.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63 || label.front() == '-' || label.back() == '-') return false;
    for (char c : label)
      if (!is_alnum(c) && c != '-') return false;
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

}  // namespace

const char* mode_name(Mode m) {
  switch (m) {
    case Mode::kEnforce: return "enforce";
    case Mode::kTesting: return "testing";
    case Mode::kNone: break;
  }
  return "none";
}

std::optional<TxtRecord> parse_txt(std::string_view txt, std::string* why) {
  auto fail = [&](const char* reason) -> std::optional<TxtRecord> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (txt.size() > 1024) return fail("TXT record too long");
  // sts-text-record = sts-version 1*(*WSP ";" *WSP sts-field) [";"]; v= first.
  TxtRecord out;
  bool first = true, have_id = false;
  size_t pos = 0;
  while (pos <= txt.size()) {
    size_t semi = txt.find(';', pos);
    std::string_view field = trim(txt.substr(pos, semi == std::string_view::npos ? std::string_view::npos : semi - pos));
    pos = semi == std::string_view::npos ? txt.size() + 1 : semi + 1;
    if (field.empty()) {
      if (first) return fail("the record does not start with v=STSv1");
      // Only a final ';' (or one with spaces after it) may leave an empty field.
      if (pos <= txt.size() && !trim(txt.substr(pos)).empty()) return fail("empty field in the record");
      break;
    }
    auto eq = field.find('=');
    if (eq == std::string_view::npos || eq == 0) return fail("a field without name=value");
    std::string_view name = field.substr(0, eq), value = field.substr(eq + 1);
    if (first) {
      if (name != "v" || value != "STSv1") return fail("the record does not start with v=STSv1");
      first = false;
      continue;
    }
    if (name == "id") {
      if (have_id) return fail("more than one id");
      if (value.empty() || value.size() > kMaxIdLength || !std::all_of(value.begin(), value.end(), is_alnum))
        return fail("the id is not 1-32 letters and digits");
      out.id = std::string(value);
      have_id = true;
      continue;
    }
    // sts-ext-name = (ALPHA / DIGIT) 0*31(ALPHA / DIGIT / "_" / "-" / ".")
    if (name.size() > 32 || !is_alnum(name.front())) return fail("a malformed extension field");
    for (char c : name)
      if (!is_alnum(c) && c != '_' && c != '-' && c != '.') return fail("a malformed extension field");
    if (value.empty()) return fail("an extension field without a value");
    for (unsigned char c : value)
      if (c < 0x21 || c > 0x7e || c == ';' || c == '=') return fail("an extension field with a bad value");
  }
  if (!have_id) return fail("no id= field");
  return out;
}

TxtAnswer evaluate_txt(const std::vector<std::string>& records) {
  TxtAnswer out;
  std::vector<const std::string*> sts;
  for (const auto& r : records)
    if (r.rfind("v=STSv1", 0) == 0) sts.push_back(&r);
  if (sts.empty()) {
    out.status = TxtStatus::kAbsent;
    return out;
  }
  if (sts.size() > 1) {
    out.status = TxtStatus::kInvalid;
    out.error = "more than one v=STSv1 TXT record";
    return out;
  }
  std::string why;
  auto parsed = parse_txt(*sts.front(), &why);
  if (!parsed) {
    out.status = TxtStatus::kInvalid;
    out.error = why;
    return out;
  }
  out.status = TxtStatus::kFound;
  out.id = parsed->id;
  return out;
}

bool valid_pattern(std::string_view pattern) {
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") return valid_host(pattern.substr(2));
  return valid_host(pattern);
}

std::optional<Policy> parse_policy(std::string_view text, std::string* why) {
  auto fail = [&](std::string reason) -> std::optional<Policy> {
    if (why) *why = std::move(reason);
    return std::nullopt;
  };
  if (text.size() > kMaxPolicyBytes) return fail("the policy is larger than 64 KiB");
  Policy p;
  bool have_version = false, have_mode = false, have_max_age = false;
  size_t pos = 0, line_no = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    std::string_view line = text.substr(pos, eol == std::string_view::npos ? std::string_view::npos : eol - pos);
    pos = eol == std::string_view::npos ? text.size() : eol + 1;
    ++line_no;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.size() > kMaxLine) return fail("line " + std::to_string(line_no) + " is longer than 1024 octets");
    for (unsigned char c : line)
      if ((c < 0x20 && c != '\t') || c == 0x7f) return fail("line " + std::to_string(line_no) + " has a control character");
    if (p.lines.size() < kMaxMxPatterns + 16) p.lines.emplace_back(line);
    if (trim(line).empty()) continue;  // blank lines (a final one is common)
    auto colon = line.find(':');
    if (colon == std::string_view::npos) return fail("line " + std::to_string(line_no) + " is not key: value");
    const std::string key = lower(line.substr(0, colon));
    const std::string_view value = trim(line.substr(colon + 1));
    if (key == "version") {
      if (have_version) return fail("version is given twice");
      if (!iequals(value, "STSv1")) return fail("version is not STSv1");
      have_version = true;
    } else if (key == "mode") {
      if (have_mode) return fail("mode is given twice");
      if (iequals(value, "enforce")) p.mode = Mode::kEnforce;
      else if (iequals(value, "testing")) p.mode = Mode::kTesting;
      else if (iequals(value, "none")) p.mode = Mode::kNone;
      else return fail("mode is not enforce, testing or none");
      have_mode = true;
    } else if (key == "max_age") {
      if (have_max_age) return fail("max_age is given twice");
      if (value.empty() || value.size() > 10 || !std::all_of(value.begin(), value.end(), [](char c) {
            return c >= '0' && c <= '9';
          }))
        return fail("max_age is not 1-10 digits");
      p.max_age = std::min<int64_t>(std::stoll(std::string(value)), kMaxMaxAge);
      have_max_age = true;
    } else if (key == "mx") {
      std::string pattern = lower(value);
      if (!pattern.empty() && pattern.back() == '.') pattern.pop_back();
      if (!valid_pattern(pattern)) return fail("mx '" + pattern.substr(0, 100) + "' is not a host name or *.domain");
      if (p.mx.size() >= kMaxMxPatterns) return fail("more than 256 mx lines");
      p.mx.push_back(std::move(pattern));
    }
    // Unknown keys are ignored (RFC 8461 3.2).
  }
  if (!have_version) return fail("no version: STSv1 line");
  if (!have_mode) return fail("no mode line");
  if (!have_max_age) return fail("no max_age line");
  if (p.mode != Mode::kNone && p.mx.empty()) return fail("no mx line");
  while (!p.lines.empty() && trim(p.lines.back()).empty()) p.lines.pop_back();
  return p;
}

bool mx_matches(std::string_view pattern, std::string_view host) {
  if (!host.empty() && host.back() == '.') host.remove_suffix(1);
  if (pattern.size() > 2 && pattern.substr(0, 2) == "*.") {
    const std::string_view suffix = pattern.substr(1);  // ".example.net"
    if (host.size() <= suffix.size()) return false;
    const std::string_view head = host.substr(0, host.size() - suffix.size());
    // Exactly one label in place of the '*'.
    return head.find('.') == std::string_view::npos && iequals(host.substr(head.size()), suffix);
  }
  return iequals(pattern, host);
}

bool policy_allows(const Policy& policy, std::string_view host) {
  return std::any_of(policy.mx.begin(), policy.mx.end(), [&](const std::string& p) { return mx_matches(p, host); });
}

Step next_step(const TxtAnswer& txt, const std::optional<Cached>& cached) {
  const bool fresh = cached && cached->fresh;
  switch (txt.status) {
    case TxtStatus::kFound:
      // A changed id means a new policy; the same id with a fresh copy needs no fetch.
      if (fresh && cached->id == txt.id) return Step::kUseCached;
      return Step::kFetch;
    case TxtStatus::kAbsent:
    case TxtStatus::kInvalid:
    case TxtStatus::kTemporary:
      // RFC 8461 3.3/5.1: a cached policy stays valid for its max_age, TXT or
      // not; without one there is no policy (the record is the only signal).
      return fresh ? Step::kUseCached : Step::kNoPolicy;
  }
  return Step::kNoPolicy;
}

bool use_cached_after_fetch_failure(const std::optional<Cached>& cached) { return cached && cached->fresh; }

}  // namespace postline::queue::sts
