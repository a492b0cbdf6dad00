#include "common/mailstore/message_meta.h"

#include "common/mime/mime.h"

namespace postline::mailstore {

std::string canonicalize_line_endings(std::string_view m) {
  bool canonical = true;
  for (size_t i = 0; i < m.size() && canonical; ++i) {
    if (m[i] == '\r' && (i + 1 >= m.size() || m[i + 1] != '\n')) canonical = false;
    if (m[i] == '\n' && (i == 0 || m[i - 1] != '\r')) canonical = false;
  }
  if (canonical) return std::string(m);
  std::string out;
  out.reserve(m.size() + m.size() / 32);
  for (size_t i = 0; i < m.size(); ++i) {
    char c = m[i];
    if (c == '\r') {
      out += "\r\n";
      if (i + 1 < m.size() && m[i + 1] == '\n') ++i;
    } else if (c == '\n') {
      out += "\r\n";
    } else {
      out += c;
    }
  }
  return out;
}

uint64_t header_size(std::string_view m) {
  if (m.substr(0, 2) == "\r\n") return 2;  // empty header
  auto pos = m.find("\r\n\r\n");
  if (pos == std::string_view::npos) return m.size();
  return pos + 4;
}

namespace {

// ASCII case folding only: the full Unicode fold (and RFC 2047/QP/base64
// decoding) comes with common/mime; this keeps SEARCH working meanwhile.
std::string fold(std::string_view text, size_t limit) {
  std::string out;
  out.reserve(std::min(text.size(), limit));
  bool space = false;
  for (unsigned char c : text) {
    if (out.size() >= limit) break;
    if (c == '\r' || c == '\n' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (c < 0x20 || c == 0x7f) continue;  // NUL and controls cannot go into a text column
    if (space && !out.empty()) out += ' ';
    space = false;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : static_cast<char>(c);
  }
  // Do not leave a truncated UTF-8 sequence at the end (PostgreSQL rejects it).
  if (out.size() < limit) return out;
  size_t end = out.size();
  size_t i = end;
  while (i > 0 && (static_cast<unsigned char>(out[i - 1]) & 0xC0) == 0x80) --i;
  if (i > 0 && static_cast<unsigned char>(out[i - 1]) >= 0xC0) {
    unsigned char lead = out[i - 1];
    size_t need = lead >= 0xF0 ? 4 : lead >= 0xE0 ? 3 : 2;
    if (end - (i - 1) < need) out.resize(i - 1);
  }
  return out;
}

// Invalid UTF-8 (8-bit Latin-1 headers are common in the wild) would make the
// INSERT fail; replace such bytes rather than lose the message.
std::string valid_utf8(std::string s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (ok) {
      out.append(s, i, n);
      i += n;
    } else {
      out += '?';
      ++i;
    }
  }
  return out;
}

}  // namespace

MessageMeta analyse(std::string_view message) {
  MessageMeta meta;
  meta.size = message.size();
  meta.header_size = header_size(message);
  const mime::ParsedMessage parsed = mime::parse(message);
  meta.header_size = parsed.root.body_start;
  meta.structure = mime::serialize_structure(parsed);
  mime::Limits limits;
  limits.max_search_text = kMaxSearchText;
  // Decoded headers and text bodies; fold() collapses whitespace and strips
  // controls (NUL cannot go into a text column), valid_utf8 guards the column.
  meta.search_text = valid_utf8(fold(mime::search_text(parsed, message, limits), kMaxSearchText));
  return meta;
}

}  // namespace postline::mailstore
