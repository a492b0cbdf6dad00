#include "services/imap-access/protocol/encoder.h"

#include "services/imap-access/protocol/reader.h"

#include <charconv>
#include <cstring>
#include <cstdio>
#include <ctime>

namespace postline::imap {

void append_literal(std::string& out, std::string_view bytes, bool binary) {
  // to_chars, not snprintf: this runs once per FETCHed item.
  char head[32];
  char* p = head;
  if (binary) *p++ = '~';
  *p++ = '{';
  p = std::to_chars(p, head + sizeof head - 3, bytes.size()).ptr;
  *p++ = '}';
  *p++ = '\r';
  *p++ = '\n';
  // No exact reserve() here: it would defeat the string's geometric growth
  // when many literals go into one response buffer.
  out.append(head, static_cast<size_t>(p - head));
  const size_t at = out.size();
  out.append(bytes);
  if (!binary) replace_nul(out.data() + at, bytes.size());
}

void replace_nul(char* bytes, size_t size) {
  // CHAR8 excludes NUL, so a {n} literal cannot carry one (RFC 9051 4.3); the
  // exact octets stay available through BINARY (literal8). 0x80 keeps every
  // size (RFC822.SIZE, BODYSTRUCTURE, partial offsets) true; Dovecot's
  // non-binary FETCH replaces NUL the same way.
  char* end = bytes + size;
  while (bytes < end) {
    void* nul = std::memchr(bytes, '\0', static_cast<size_t>(end - bytes));
    if (!nul) return;
    *static_cast<char*>(nul) = static_cast<char>(0x80);
    bytes = static_cast<char*>(nul) + 1;
  }
}

std::string literal(std::string_view bytes) {
  std::string out;
  append_literal(out, bytes);
  return out;
}

void append_string(std::string& out, std::string_view s) {
  // NUL is in neither a quoted string nor a literal (CHAR8 excludes it), and a
  // client can do nothing with an unsendable value: it is dropped.
  std::string cleaned;
  if (s.find('\0') != std::string_view::npos) {
    cleaned.reserve(s.size());
    for (char c : s)
      if (c != 0) cleaned.push_back(c);
    s = cleaned;
  }
  // Long strings go as literals: quoted strings that long are legal but make
  // clients' line-based readers struggle, and a literal needs no escaping.
  bool quotable = s.size() <= kMaxQuoted;
  for (size_t i = 0; quotable && i < s.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(s[i]);
    if (c == '\r' || c == '\n' || c >= 0x80) quotable = false;
  }
  if (!quotable) {
    append_literal(out, s);
    return;
  }
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
}

void append_nstring(std::string& out, const std::optional<std::string>& s) {
  if (s) {
    append_string(out, *s);
  } else {
    out += "NIL";
  }
}

std::string quoted_or_literal(std::string_view s) {
  std::string out;
  append_string(out, s);
  return out;
}

std::string astring(std::string_view s) {
  if (s.empty() || iequals(s, "NIL")) return quoted_or_literal(s);
  for (char c : s)
    if (!is_atom_char(c)) return quoted_or_literal(s);
  return std::string(s);
}

std::string nstring(const std::optional<std::string>& s) {
  std::string out;
  append_nstring(out, s);
  return out;
}

std::string flag_list(const std::vector<std::string>& flags) {
  std::string out = "(";
  for (size_t i = 0; i < flags.size(); ++i) {
    if (i) out += ' ';
    out += flags[i];
  }
  out += ')';
  return out;
}

namespace {
const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
}

std::string imap_datetime(int64_t t) {
  std::time_t tt = static_cast<std::time_t>(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[64];
  std::snprintf(buf, sizeof buf, "%02d-%s-%04d %02d:%02d:%02d +0000", tm.tm_mday, kMonths[tm.tm_mon],
                tm.tm_year + 1900, tm.tm_hour, tm.tm_min, tm.tm_sec);
  return buf;
}

std::optional<int64_t> parse_imap_datetime(std::string_view s) {
  // date-day-fixed "-" date-month "-" date-year SP time SP zone
  if (s.size() != 26) return std::nullopt;
  auto digit = [&](size_t i) { return s[i] >= '0' && s[i] <= '9'; };
  auto num = [&](size_t i, size_t n) {
    int v = 0;
    for (size_t k = 0; k < n; ++k) v = v * 10 + (s[i + k] - '0');
    return v;
  };
  if (!(s[0] == ' ' || digit(0)) || !digit(1) || s[2] != '-' || s[6] != '-' || s[11] != ' ' || s[14] != ':' ||
      s[17] != ':' || s[20] != ' ' || (s[21] != '+' && s[21] != '-'))
    return std::nullopt;
  for (size_t i : {7, 8, 9, 10, 12, 13, 15, 16, 18, 19, 22, 23, 24, 25})
    if (!digit(i)) return std::nullopt;
  int day = s[0] == ' ' ? s[1] - '0' : num(0, 2);
  int month = -1;
  for (int m = 0; m < 12; ++m)
    if (iequals(s.substr(3, 3), kMonths[m])) month = m;
  if (month < 0 || day < 1 || day > 31) return std::nullopt;
  int hh = num(12, 2), mm = num(15, 2), ss = num(18, 2);
  if (hh > 23 || mm > 59 || ss > 60) return std::nullopt;
  std::tm tm{};
  tm.tm_year = num(7, 4) - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hh;
  tm.tm_min = mm;
  tm.tm_sec = ss;
  int64_t t = timegm(&tm);
  int zone = num(22, 2) * 3600 + num(24, 2) * 60;
  return s[21] == '+' ? t - zone : t + zone;
}

std::string tagged(std::string_view tag, Status status, std::string_view code, std::string_view text) {
  std::string out(tag);
  out += status == Status::kOk ? " OK " : status == Status::kNo ? " NO " : " BAD ";
  if (!code.empty()) {
    out += '[';
    out.append(code);
    out += "] ";
  }
  out.append(text);
  out += "\r\n";
  return out;
}

std::string untagged(std::string_view text) {
  std::string out = "* ";
  out.append(text);
  out += "\r\n";
  return out;
}

}  // namespace postline::imap
