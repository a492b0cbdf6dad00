// Header blocks (RFC 5322 §2.2) and MIME parameter values (RFC 2045 §5.1, RFC 2231).
#include <algorithm>
#include <cstring>
#include <map>

#include "common/mime/internal.h"

namespace postline::mime {

namespace detail {

std::string lower(std::string_view s) {
  std::string out(s);
  for (char& c : out) c = ascii_lower(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (ascii_lower(a[i]) != ascii_lower(b[i])) return false;
  return true;
}

std::string_view trim(std::string_view s) {
  auto ws = [](char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; };
  while (!s.empty() && ws(s.front())) s.remove_prefix(1);
  while (!s.empty() && ws(s.back())) s.remove_suffix(1);
  return s;
}

namespace {

// Fields IMAP needs from every header (ENVELOPE, BODYSTRUCTURE). They get their own budget,
// so a header stuffed with thousands of Received lines still yields its From and Subject.
bool important_field(std::string_view name) {
  static constexpr std::string_view kNames[] = {
      "from", "sender", "reply-to", "to", "cc", "bcc", "subject", "date", "message-id",
      "in-reply-to", "content-type", "content-transfer-encoding", "content-disposition",
      "content-id", "content-description", "content-md5", "content-language",
      "content-location", "mime-version"};
  for (std::string_view n : kNames)
    if (iequals(n, name)) return true;
  return false;
}

// RFC 5322 ftext is %d33-57 / %d59-126. We also accept 8-bit bytes in names (seen in the wild,
// harmless) but not whitespace inside a name: that is how an mbox "From " line or a stray body
// line is told apart from a field.
bool valid_field_name(std::string_view name) {
  if (name.empty()) return false;
  for (unsigned char c : name)
    if (c <= 32 || c == 127 || c == ':') return false;
  return true;
}

}  // namespace

std::uint64_t parse_header_block(std::string_view raw, std::uint64_t start, std::uint64_t end,
                                 const Limits& limits, std::vector<HeaderField>* fields,
                                 bool* truncated) {
  const std::size_t first = fields->size();
  // Two budgets of limits.max_header_* each: fields IMAP needs, and all others.
  std::size_t stored_bytes[2] = {0, 0};
  std::size_t stored_count[2] = {0, 0};
  int budget = 0;  // the budget the current field is charged to
  bool in_field = false;  // the last line began a field we kept: continuations extend it
  std::uint64_t pos = start;
  std::uint64_t body_start = end;
  while (pos < end) {
    const char* base = raw.data() + pos;
    const void* nl = std::memchr(base, '\n', end - pos);
    std::uint64_t line_end = nl ? std::uint64_t(static_cast<const char*>(nl) - raw.data()) : end;
    std::uint64_t next = nl ? line_end + 1 : end;
    std::uint64_t content_end = line_end;
    if (nl && content_end > pos && raw[content_end - 1] == '\r') --content_end;
    if (content_end == pos && nl) {  // the blank line: the body follows it
      body_start = next;
      break;
    }
    std::string_view line = raw.substr(pos, content_end - pos);
    if (is_wsp(line.front())) {
      if (in_field) {
        HeaderField& f = fields->back();
        std::size_t add = next - f.end;
        if (stored_bytes[budget] + add <= limits.max_header_bytes) {
          f.end = next;  // the value is cut out once the field's extent is known
          stored_bytes[budget] += add;
        } else {
          // Too long: drop the whole field rather than keep a silently cut value.
          stored_bytes[budget] -= f.end - f.start;
          --stored_count[budget];
          fields->pop_back();
          *truncated = true;
          in_field = false;
        }
      }
    } else {
      in_field = false;
      std::size_t colon = line.find(':');
      if (colon != std::string_view::npos) {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);  // obs-optional
        if (valid_field_name(name)) {
          budget = important_field(name) ? 1 : 0;
          if (stored_count[budget] < limits.max_header_fields &&
              stored_bytes[budget] + (next - pos) <= limits.max_header_bytes) {
            HeaderField f;
            f.name = std::string(name);
            f.start = pos;
            f.end = next;
            fields->push_back(std::move(f));
            stored_bytes[budget] += next - pos;
            ++stored_count[budget];
            in_field = true;
          } else {
            *truncated = true;
          }
        }
      }
    }
    pos = next;
  }
  // Values are cut out once the extent of each field is known: from after the colon to the
  // field's final line terminator (exclusive), folding kept byte for byte.
  for (std::size_t k = first; k < fields->size(); ++k) {
    HeaderField& f = (*fields)[k];
    std::string_view whole = raw.substr(f.start, f.end - f.start);
    std::size_t colon = whole.find(':');
    std::string_view v = whole.substr(colon + 1);
    if (!v.empty() && v.back() == '\n') v.remove_suffix(1);
    if (!v.empty() && v.back() == '\r') v.remove_suffix(1);
    f.value = std::string(v);
  }
  return body_start;
}

// ---- structured field lexer (RFC 2045 tokens, quoted strings, comments) ----
namespace {

bool is_tspecial(char c) { return std::strchr("()<>@,;:\\\"/[]?=", c) != nullptr && c != 0; }

struct Lexer {
  std::string_view s;
  std::size_t i = 0;
  void skip_cfws() {
    for (;;) {
      while (i < s.size() && (is_wsp(s[i]) || s[i] == '\r' || s[i] == '\n')) ++i;
      if (i < s.size() && s[i] == '(') {
        // Comments nest (RFC 5322 §3.2.2); bounded by the field length, no recursion.
        int depth = 0;
        while (i < s.size()) {
          char c = s[i++];
          if (c == '\\' && i < s.size()) { ++i; continue; }
          if (c == '(') ++depth;
          if (c == ')' && --depth == 0) break;
        }
        continue;
      }
      return;
    }
  }
  bool at_end() { skip_cfws(); return i >= s.size(); }
  std::string token() {
    skip_cfws();
    std::size_t b = i;
    while (i < s.size()) {
      unsigned char c = s[i];
      if (c <= 32 || c == 127 || is_tspecial(char(c))) break;
      ++i;
    }
    return std::string(s.substr(b, i - b));
  }
  std::string quoted() {  // at '"'
    std::string out;
    ++i;
    while (i < s.size() && s[i] != '"') {
      if (s[i] == '\\' && i + 1 < s.size()) ++i;
      if (s[i] != '\r' && s[i] != '\n') out.push_back(s[i]);
      ++i;
    }
    if (i < s.size()) ++i;
    return out;
  }
};

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

std::string percent_decode(std::string_view v) {
  std::string out;
  for (std::size_t i = 0; i < v.size(); ++i) {
    if (v[i] == '%' && i + 2 < v.size()) {
      int h = hexval(v[i + 1]), l = hexval(v[i + 2]);
      if (h >= 0 && l >= 0) {
        out.push_back(char(h * 16 + l));
        i += 2;
        continue;
      }
    }
    out.push_back(v[i]);
  }
  return out;
}

struct RawParam {
  std::string name;  // lowercased, as written incl. "*n*"
  std::string value;
};

}  // namespace

ContentValue parse_content_value(std::string_view value, std::size_t max_params) {
  ContentValue cv;
  Lexer lx{value};
  std::string t = lx.token();
  lx.skip_cfws();
  if (lx.i < value.size() && value[lx.i] == '/') {
    ++lx.i;
    std::string sub = lx.token();
    t = t + "/" + sub;
  }
  cv.token = lower(t);

  std::vector<RawParam> raw;
  while (lx.i < value.size()) {
    lx.skip_cfws();
    if (lx.i >= value.size()) break;
    if (value[lx.i] != ';') {
      // Junk between parameters: skip to the next ';' rather than give up on the rest.
      while (lx.i < value.size() && value[lx.i] != ';') ++lx.i;
      continue;
    }
    ++lx.i;
    std::string name = lower(lx.token());
    lx.skip_cfws();
    if (name.empty() || lx.i >= value.size() || value[lx.i] != '=') continue;
    ++lx.i;
    lx.skip_cfws();
    std::string v;
    if (lx.i < value.size() && value[lx.i] == '"') {
      v = lx.quoted();
    } else {
      std::size_t b = lx.i;
      v = lx.token();
      lx.skip_cfws();
      if (lx.i < value.size() && value[lx.i] != ';') {
        // Not a clean token (name=My File.pdf, 8-bit bytes, stray tspecials): take
        // everything up to the next ';', trimmed, rather than lose the parameter.
        while (lx.i < value.size() && value[lx.i] != ';') ++lx.i;
        std::string_view tv = trim(value.substr(b, lx.i - b));
        v.clear();
        for (char c : tv)
          if (c != '\r' && c != '\n') v.push_back(c);
      }
    }
    if (raw.size() < max_params * 4) raw.push_back({std::move(name), std::move(v)});
  }

  // RFC 2231: name*0, name*1*, name* ... grouped by base name. Sections must be contiguous
  // from 0; the first (if extended) carries charset'language'.
  struct Sect { bool ext; std::string v; };
  std::vector<std::string> order;
  std::map<std::string, std::map<unsigned, Sect>> multi;
  std::map<std::string, std::string> plain;
  for (RawParam& p : raw) {
    std::string n = p.name;
    bool ext = false;
    if (!n.empty() && n.back() == '*') { ext = true; n.pop_back(); }
    std::size_t star = n.rfind('*');
    bool sectioned = false;
    unsigned num = 0;
    if (star != std::string::npos && star + 1 < n.size() && n.size() - star <= 4 &&
        std::all_of(n.begin() + star + 1, n.end(), [](char c) { return c >= '0' && c <= '9'; })) {
      num = unsigned(std::stoul(n.substr(star + 1)));
      sectioned = true;
      n.resize(star);
    }
    if (n.empty()) continue;
    if (std::find(order.begin(), order.end(), n) == order.end()) order.push_back(n);
    if (sectioned || ext) {
      auto& m = multi[n];
      if (!m.count(num)) m[num] = Sect{ext, std::move(p.value)};
    } else if (!plain.count(n)) {
      plain[n] = std::move(p.value);
    }
  }
  for (const std::string& n : order) {
    if (cv.params.size() >= max_params) break;
    std::string out;
    auto it = multi.find(n);
    if (it != multi.end() && it->second.count(0)) {
      std::string charset;
      std::string bytes;
      bool any_ext = false;
      for (unsigned k = 0; it->second.count(k); ++k) {
        const Sect& s = it->second.at(k);
        std::string_view v = s.v;
        if (s.ext) {
          any_ext = true;
          if (k == 0) {
            std::size_t q1 = v.find('\'');
            std::size_t q2 = q1 == std::string_view::npos ? q1 : v.find('\'', q1 + 1);
            if (q2 != std::string_view::npos) {
              charset = std::string(v.substr(0, q1));
              v = v.substr(q2 + 1);
            }
          }
          bytes += percent_decode(v);
        } else {
          bytes += v;
        }
      }
      out = any_ext && !charset.empty() ? to_utf8(bytes, charset) : to_utf8(bytes, "utf-8");
    } else if (plain.count(n)) {
      out = to_utf8(plain[n], "utf-8");  // 8-bit raw values: UTF-8 if valid, else cp1252
    } else {
      continue;
    }
    cv.params.push_back({n, std::move(out)});
  }
  return cv;
}

}  // namespace detail

std::string unfold(std::string_view value) {
  std::string out;
  out.reserve(value.size());
  for (char c : value)
    if (c != '\r' && c != '\n') out.push_back(c);
  return std::string(detail::trim(out));
}

}  // namespace postline::mime
