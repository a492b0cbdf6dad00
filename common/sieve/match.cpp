// Comparators (RFC 4790: i;octet, i;ascii-casemap, i;ascii-numeric), match types
// (RFC 5228 2.7.1, RFC 5231), and RFC 5260 dates. No I/O, no locale.
#include <cctype>
#include <cstdio>
#include <cstring>

#include "common/mime/mime.h"
#include "common/sieve/internal.h"

namespace postline::sieve::detail {

namespace {
char lower_char(char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }
bool eq_char(Comparator c, char a, char b) {
  return c == Comparator::kAsciiCasemap ? lower_char(a) == lower_char(b) : a == b;
}
}  // namespace

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = lower_char(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower_char(a[i]) != lower_char(b[i])) return false;
  return true;
}

bool plausible_address(std::string_view a) {
  auto at = a.rfind('@');
  if (at == std::string_view::npos || at == 0 || at + 1 >= a.size()) return false;
  for (char c : a)
    if (static_cast<unsigned char>(c) <= ' ' || c == '<' || c == '>' || c == ',') return false;
  return true;
}

bool valid_variable_name(std::string_view n) {
  // identifier, optionally namespaced with '.' (RFC 5229 3); digits alone are match
  // variables and cannot be set.
  if (n.empty()) return false;
  bool start = true;
  for (char c : n) {
    if (c == '.') {
      if (start) return false;
      start = true;
      continue;
    }
    bool alpha = std::isalpha(static_cast<unsigned char>(c)) || c == '_';
    bool digit = std::isdigit(static_cast<unsigned char>(c));
    if (start && !alpha) return false;
    if (!alpha && !digit) return false;
    start = false;
  }
  return !start;
}

bool valid_header_name(std::string_view n) {
  if (n.empty() || n.size() > 997) return false;
  for (char c : n)
    if (static_cast<unsigned char>(c) <= 32 || static_cast<unsigned char>(c) >= 127 || c == ':') return false;
  return true;
}

namespace {

// The inside of one ${...}: hex-pair-seq or unicode-hex-seq (RFC 5228 2.4.2.4), at least
// one value, blanks around and between. nullopt: not an encoded character (kept as text).
std::optional<std::string> decode_one(std::string_view body, bool hex, std::string* error) {
  std::string out;
  std::size_t i = 0, values = 0;
  while (true) {
    while (i < body.size() && (body[i] == ' ' || body[i] == '\t')) ++i;
    if (i == body.size()) break;
    std::size_t j = i;
    while (j < body.size() && std::isxdigit(static_cast<unsigned char>(body[j]))) ++j;
    if (j == i || j - i > (hex ? 2u : 6u)) return std::nullopt;
    if (j < body.size() && body[j] != ' ' && body[j] != '\t') return std::nullopt;
    unsigned long v = std::stoul(std::string(body.substr(i, j - i)), nullptr, 16);
    if (hex) {
      out += static_cast<char>(v);
    } else {
      if (v > 0x10FFFF || (v >= 0xD800 && v <= 0xDFFF)) {
        *error = "${unicode:" + std::string(body) + "} is not a Unicode scalar value";
        return std::nullopt;
      }
      postline::mime::append_utf8(out, static_cast<std::uint32_t>(v));
    }
    ++values;
    i = j;
  }
  if (values == 0) return std::nullopt;
  return out;
}
}  // namespace

std::optional<std::string> decode_encoded_characters(std::string_view in, std::string* error) {
  std::string out;
  std::size_t i = 0;
  while (i < in.size()) {
    if (in[i] == '$' && i + 1 < in.size() && in[i + 1] == '{') {
      std::size_t close = in.find('}', i + 2);
      if (close != std::string_view::npos) {
        std::string_view inner = in.substr(i + 2, close - i - 2);
        std::string lower = ascii_lower(inner.substr(0, 8));
        bool hex = lower.rfind("hex:", 0) == 0, uni = lower.rfind("unicode:", 0) == 0;
        if (hex || uni) {
          auto v = decode_one(inner.substr(hex ? 4 : 8), hex, error);
          if (!error->empty()) return std::nullopt;
          if (v) {
            out += *v;
            i = close + 1;
            continue;
          }
        }
      }
    }
    out += in[i++];
  }
  return out;
}

std::optional<Comparator> comparator_named(std::string_view name) {
  if (name == "i;octet") return Comparator::kOctet;
  if (name == "i;ascii-casemap") return Comparator::kAsciiCasemap;
  if (name == "i;ascii-numeric") return Comparator::kAsciiNumeric;
  return std::nullopt;
}

std::optional<Relation> relation_named(std::string_view name) {
  std::string n = ascii_lower(name);
  if (n == "gt") return Relation::kGt;
  if (n == "ge") return Relation::kGe;
  if (n == "lt") return Relation::kLt;
  if (n == "le") return Relation::kLe;
  if (n == "eq") return Relation::kEq;
  if (n == "ne") return Relation::kNe;
  return std::nullopt;
}

int compare(Comparator c, std::string_view a, std::string_view b) {
  if (c == Comparator::kAsciiNumeric) {
    auto digits = [](std::string_view s) {
      std::size_t n = 0;
      while (n < s.size() && std::isdigit(static_cast<unsigned char>(s[n]))) ++n;
      std::string_view d = s.substr(0, n);
      while (d.size() > 1 && d[0] == '0') d.remove_prefix(1);
      return std::pair<bool, std::string_view>(n > 0, d);
    };
    auto [ha, da] = digits(a);
    auto [hb, db] = digits(b);
    if (!ha || !hb) return (ha ? 0 : 1) - (hb ? 0 : 1);  // no digits = +infinity
    if (da.size() != db.size()) return da.size() < db.size() ? -1 : 1;
    int r = da.compare(db);
    return r < 0 ? -1 : (r > 0 ? 1 : 0);
  }
  std::size_t n = std::min(a.size(), b.size());
  for (std::size_t i = 0; i < n; ++i) {
    unsigned char x = static_cast<unsigned char>(c == Comparator::kAsciiCasemap ? lower_char(a[i]) : a[i]);
    unsigned char y = static_cast<unsigned char>(c == Comparator::kAsciiCasemap ? lower_char(b[i]) : b[i]);
    if (x != y) return x < y ? -1 : 1;
  }
  if (a.size() == b.size()) return 0;
  return a.size() < b.size() ? -1 : 1;
}

bool relation_holds(Relation r, int cmp) {
  switch (r) {
    case Relation::kGt: return cmp > 0;
    case Relation::kGe: return cmp >= 0;
    case Relation::kLt: return cmp < 0;
    case Relation::kLe: return cmp <= 0;
    case Relation::kEq: return cmp == 0;
    case Relation::kNe: return cmp != 0;
  }
  return false;
}

bool contains(Comparator c, std::string_view value, std::string_view key) {
  if (c == Comparator::kAsciiNumeric) return false;
  if (key.empty()) return true;
  if (key.size() > value.size()) return false;
  for (std::size_t i = 0; i + key.size() <= value.size(); ++i) {
    std::size_t k = 0;
    while (k < key.size() && eq_char(c, value[i + k], key[k])) ++k;
    if (k == key.size()) return true;
  }
  return false;
}

namespace {

struct Piece {
  enum Kind { kLiteral, kStar, kQuestion } kind;
  std::string text;
};

std::vector<Piece> compile_glob(std::string_view p) {
  std::vector<Piece> out;
  for (std::size_t i = 0; i < p.size(); ++i) {
    char c = p[i];
    if (c == '*') {
      out.push_back({Piece::kStar, {}});
    } else if (c == '?') {
      out.push_back({Piece::kQuestion, {}});
    } else {
      if (c == '\\' && i + 1 < p.size()) c = p[++i];
      if (out.empty() || out.back().kind != Piece::kLiteral) out.push_back({Piece::kLiteral, {}});
      out.back().text += c;
    }
  }
  return out;
}

// What "?" matches (RFC 5228 2.7.1: "a single character"): the comparators here are
// defined on octets (RFC 4790: i;octet, i;ascii-casemap, i;ascii-numeric), so one octet, as
// in Pigeonhole; "caf?" does not match "café" (five octets), "caf??" does.
std::size_t char_len(std::string_view, std::size_t) { return 1; }

bool literal_at(Comparator c, std::string_view v, std::size_t i, std::string_view lit) {
  if (i + lit.size() > v.size()) return false;
  for (std::size_t k = 0; k < lit.size(); ++k)
    if (!eq_char(c, v[i + k], lit[k])) return false;
  return true;
}

// Greedy-free backtracking over the pieces; the leftmost-shortest assignment for each "*"
// (what RFC 5229 3.2 asks for ${1}: "the shortest match ... scanning left to right").
// Iterative per star with memoless backtracking is exponential in the worst case, so the
// number of steps is bounded (a pathological pattern simply fails to match).
bool match_from(Comparator c, std::string_view v, std::size_t vi, const std::vector<Piece>& ps, std::size_t pi,
                std::vector<std::string>* caps, std::uint64_t& budget) {
  if (budget == 0) return false;
  --budget;
  if (pi == ps.size()) return vi == v.size();
  const Piece& p = ps[pi];
  switch (p.kind) {
    case Piece::kLiteral:
      if (!literal_at(c, v, vi, p.text)) return false;
      return match_from(c, v, vi + p.text.size(), ps, pi + 1, caps, budget);
    case Piece::kQuestion: {
      if (vi >= v.size()) return false;
      std::size_t n = char_len(v, vi);
      if (caps) caps->push_back(std::string(v.substr(vi, n)));
      if (match_from(c, v, vi + n, ps, pi + 1, caps, budget)) return true;
      if (caps) caps->pop_back();
      return false;
    }
    case Piece::kStar: {
      // A final star takes the rest. A star followed by a literal only needs to try the
      // places where that literal occurs, so "*word*" over a long body costs one scan
      // rather than a call per octet.
      if (pi + 1 == ps.size()) {
        if (caps) caps->push_back(std::string(v.substr(vi)));
        return true;
      }
      if (ps[pi + 1].kind == Piece::kLiteral) {
        const std::string& lit = ps[pi + 1].text;
        for (std::size_t at = vi; at + lit.size() <= v.size(); ++at) {
          if (!literal_at(c, v, at, lit)) continue;
          if (budget == 0) return false;
          if (caps) caps->push_back(std::string(v.substr(vi, at - vi)));
          if (match_from(c, v, at, ps, pi + 1, caps, budget)) return true;
          if (caps) caps->pop_back();
        }
        return false;
      }
      for (std::size_t end = vi; end <= v.size(); end += (end < v.size() ? char_len(v, end) : 1)) {
        if (caps) caps->push_back(std::string(v.substr(vi, end - vi)));
        if (match_from(c, v, end, ps, pi + 1, caps, budget)) return true;
        if (caps) caps->pop_back();
        if (end == v.size()) break;
      }
      return false;
    }
  }
  return false;
}

}  // namespace

bool glob_match(Comparator c, std::string_view value, std::string_view pattern, std::vector<std::string>* captures) {
  if (c == Comparator::kAsciiNumeric) return compare(c, value, pattern) == 0;
  std::vector<Piece> ps = compile_glob(pattern);
  std::uint64_t budget = 1000000;
  std::vector<std::string> caps;
  bool ok = match_from(c, value, 0, ps, 0, captures ? &caps : nullptr, budget);
  if (ok && captures) *captures = std::move(caps);
  return ok;
}

std::string quote_wildcards(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == '*' || c == '?' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// ---- dates ----

namespace {

std::int64_t days_from_civil(std::int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const std::int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<std::int64_t>(doe) - 719468;
}

void civil_from_days(std::int64_t z, std::int64_t& y, unsigned& m, unsigned& d) {
  z += 719468;
  const std::int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  y = static_cast<std::int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  d = doy - (153 * mp + 2) / 5 + 1;
  m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
}

const char* kMonths[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
const char* kMonthNames[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
const char* kDayNames[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};

}  // namespace

std::optional<int> parse_zone(std::string_view s) {
  if (s.size() != 5 || (s[0] != '+' && s[0] != '-')) return std::nullopt;
  for (std::size_t i = 1; i < 5; ++i)
    if (!std::isdigit(static_cast<unsigned char>(s[i]))) return std::nullopt;
  int hh = (s[1] - '0') * 10 + (s[2] - '0');
  int mm = (s[3] - '0') * 10 + (s[4] - '0');
  if (mm > 59) return std::nullopt;
  int v = hh * 60 + mm;
  return s[0] == '-' ? -v : v;
}

std::optional<DateTime> parse_rfc5322_date(std::string_view in) {
  // Tokenise on whitespace and commas, dropping comments.
  std::string s;
  int depth = 0;
  for (char c : in) {
    if (c == '(') { ++depth; continue; }
    if (c == ')') { if (depth) --depth; continue; }
    if (depth) continue;
    s += (c == ',' || c == '\r' || c == '\n' || c == '\t') ? ' ' : c;
  }
  std::vector<std::string> t;
  for (std::size_t i = 0; i < s.size();) {
    while (i < s.size() && s[i] == ' ') ++i;
    std::size_t j = i;
    while (j < s.size() && s[j] != ' ') ++j;
    if (j > i) t.emplace_back(s.substr(i, j - i));
    i = j;
  }
  std::size_t k = 0;
  if (k < t.size() && !t[k].empty() && std::isalpha(static_cast<unsigned char>(t[k][0]))) ++k;  // day name
  if (t.size() < k + 4) return std::nullopt;
  auto num = [](const std::string& x, int& out) {
    if (x.empty() || x.size() > 4) return false;
    out = 0;
    for (char c : x) {
      if (!std::isdigit(static_cast<unsigned char>(c))) return false;
      out = out * 10 + (c - '0');
    }
    return true;
  };
  int day, year;
  if (!num(t[k], day) || day < 1 || day > 31) return std::nullopt;
  std::string mon = ascii_lower(t[k + 1]);
  int month = 0;
  for (int i = 0; i < 12; ++i)
    if (mon.rfind(kMonths[i], 0) == 0) month = i + 1;
  if (!month) return std::nullopt;
  if (!num(t[k + 2], year)) return std::nullopt;
  if (t[k + 2].size() <= 2) year += year < 50 ? 2000 : 1900;  // RFC 5322 4.3
  else if (t[k + 2].size() == 3) year += 1900;
  int hh = 0, mi = 0, ss = 0;
  const std::string& tm = t[k + 3];
  int parts[3] = {0, 0, 0};
  int n = 0;
  std::size_t p = 0;
  while (p <= tm.size() && n < 3) {
    std::size_t q = tm.find(':', p);
    if (q == std::string::npos) q = tm.size();
    if (!num(tm.substr(p, q - p), parts[n])) return std::nullopt;
    ++n;
    p = q + 1;
    if (q == tm.size()) break;
  }
  if (n < 2) return std::nullopt;
  hh = parts[0], mi = parts[1], ss = parts[2];
  if (hh > 23 || mi > 59 || ss > 60) return std::nullopt;
  // A leap second (RFC 5322 3.3 allows 60) has no place in epoch seconds: it stays in its
  // minute as :59 rather than rolling the date over (Pigeonhole does the same).
  if (ss == 60) ss = 59;
  int zone = 0;
  if (t.size() > k + 4) {
    const std::string& z = t[k + 4];
    if (auto zm = parse_zone(z)) {
      zone = *zm;
    } else {
      static const std::pair<const char*, int> names[] = {
          {"ut", 0}, {"gmt", 0}, {"z", 0}, {"est", -300}, {"edt", -240}, {"cst", -360},
          {"cdt", -300}, {"mst", -420}, {"mdt", -360}, {"pst", -480}, {"pdt", -420}};
      std::string lz = ascii_lower(z);
      for (auto& [nm, v] : names)
        if (lz == nm) zone = v;
    }
  }
  std::int64_t days = days_from_civil(year, static_cast<unsigned>(month), static_cast<unsigned>(day));
  DateTime dt;
  dt.utc = days * 86400 + hh * 3600 + mi * 60 + ss - static_cast<std::int64_t>(zone) * 60;
  dt.zone_minutes = zone;
  return dt;
}

std::optional<std::string> date_part(const DateTime& dt, std::string_view part_in) {
  std::string part = ascii_lower(part_in);
  std::int64_t local = dt.utc + static_cast<std::int64_t>(dt.zone_minutes) * 60;
  std::int64_t days = local >= 0 ? local / 86400 : -((-local + 86399) / 86400);
  std::int64_t secs = local - days * 86400;
  std::int64_t y;
  unsigned m, d;
  civil_from_days(days, y, m, d);
  int hh = static_cast<int>(secs / 3600), mi = static_cast<int>(secs / 60 % 60), ss = static_cast<int>(secs % 60);
  int wd = static_cast<int>(((days % 7) + 11) % 7);  // 1970-01-01 was a Thursday (4)
  int za = dt.zone_minutes < 0 ? -dt.zone_minutes : dt.zone_minutes;
  char zone[16];
  std::snprintf(zone, sizeof zone, "%c%02d%02d", dt.zone_minutes < 0 ? '-' : '+', za / 60, za % 60);
  char buf[64];
  if (part == "year") std::snprintf(buf, sizeof buf, "%04lld", static_cast<long long>(y));
  else if (part == "month") std::snprintf(buf, sizeof buf, "%02u", m);
  else if (part == "day") std::snprintf(buf, sizeof buf, "%02u", d);
  else if (part == "date") std::snprintf(buf, sizeof buf, "%04lld-%02u-%02u", static_cast<long long>(y), m, d);
  else if (part == "julian") std::snprintf(buf, sizeof buf, "%lld", static_cast<long long>(days + 40587));
  else if (part == "hour") std::snprintf(buf, sizeof buf, "%02d", hh);
  else if (part == "minute") std::snprintf(buf, sizeof buf, "%02d", mi);
  else if (part == "second") std::snprintf(buf, sizeof buf, "%02d", ss);
  else if (part == "time") std::snprintf(buf, sizeof buf, "%02d:%02d:%02d", hh, mi, ss);
  else if (part == "iso8601" && dt.zone_minutes == 0)
    // RFC 3339 5.6 time-offset "Z" for UTC (Pigeonhole writes it so too).
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02dZ", static_cast<long long>(y), m, d, hh, mi, ss);
  else if (part == "iso8601")
    std::snprintf(buf, sizeof buf, "%04lld-%02u-%02uT%02d:%02d:%02d%c%02d:%02d", static_cast<long long>(y), m, d, hh,
                  mi, ss, dt.zone_minutes < 0 ? '-' : '+', za / 60, za % 60);
  else if (part == "std11")
    std::snprintf(buf, sizeof buf, "%s, %02u %s %04lld %02d:%02d:%02d %s", kDayNames[wd], d, kMonthNames[m - 1],
                  static_cast<long long>(y), hh, mi, ss, zone);
  else if (part == "zone") std::snprintf(buf, sizeof buf, "%s", zone);
  else if (part == "weekday") std::snprintf(buf, sizeof buf, "%d", wd);
  else return std::nullopt;
  return std::string(buf);
}

}  // namespace postline::sieve::detail
