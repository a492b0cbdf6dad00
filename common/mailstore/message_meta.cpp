#include "common/mailstore/message_meta.h"

#include <algorithm>
#include <cstring>
#include <vector>

#include "common/mime/mime.h"

#include <openssl/evp.h>

#include <ctime>
#include <stdexcept>

namespace postline::mailstore {

namespace {
// Line by line with memchr (memory speed; the byte loop this replaces was a
// tenth of a 128 KiB APPEND): each LF has a CR right before it, and no other
// CR is inside the line or after the last LF.
bool is_crlf_canonical(std::string_view m) {
  size_t i = 0;
  while (i < m.size()) {
    const void* hit = std::memchr(m.data() + i, '\n', m.size() - i);
    const size_t lf = hit ? static_cast<size_t>(static_cast<const char*>(hit) - m.data()) : m.size();
    if (hit && (lf == i || m[lf - 1] != '\r')) return false;
    const size_t body_end = hit ? lf - 1 : m.size();  // the line without its CR
    if (body_end > i && std::memchr(m.data() + i, '\r', body_end - i)) return false;
    i = lf + 1;
  }
  return true;
}
}  // namespace

std::string canonicalize_line_endings(std::string_view m) {
  if (is_crlf_canonical(m)) return std::string(m);
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
  // Written through a pointer into a buffer sized up front: the output is
  // never longer than the input (a run of blanks becomes at most one space).
  std::string out(std::min(text.size(), limit), '\0');
  char* const begin = out.data();
  char* const stop = begin + out.size();
  char* w = begin;
  bool space = false;
  for (unsigned char c : text) {
    if (w == stop) break;
    if (c == '\n') {
      // Lines stay: SEARCH HEADER matches within one "name: value" line and
      // BODY after the blank line (common/mime's search text layout).
      *w++ = '\n';
      space = false;
      continue;
    }
    if (c == '\r' || c == '\t' || c == ' ') {
      space = true;
      continue;
    }
    if (c < 0x20 || c == 0x7f) continue;  // NUL and controls cannot go into a text column
    if (space && w != begin && w[-1] != '\n') {
      *w++ = ' ';
      if (w == stop) break;
    }
    space = false;
    *w++ = (c >= 'A' && c <= 'Z') ? static_cast<char>(c + 32) : static_cast<char>(c);
  }
  out.resize(static_cast<size_t>(w - begin));
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
  // Mostly ASCII, and nearly always valid: check first, copy only to repair.
  size_t i = 0;
  while (i < s.size()) {
    if (i + 8 <= s.size()) {
      uint64_t word;
      std::memcpy(&word, s.data() + i, 8);
      if ((word & 0x8080808080808080ULL) == 0) {
        i += 8;
        continue;
      }
    }
    unsigned char c = s[i];
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    bool ok = n > 0 && i + n <= s.size();
    for (size_t k = 1; ok && k < n; ++k) ok = (static_cast<unsigned char>(s[i + k]) & 0xC0) == 0x80;
    if (!ok) break;
    i += n;
  }
  if (i == s.size()) return s;
  std::string out;
  out.reserve(s.size());
  out.append(s, 0, i);
  for (; i < s.size();) {
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

std::optional<int64_t> rfc5322_day(std::string_view s) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  };
  skip_ws();
  if (auto comma = s.find(','); comma != std::string_view::npos && comma < 12) {
    i = comma + 1;
    skip_ws();
  }
  int day = 0, digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 2) day = day * 10 + (s[i++] - '0'), ++digits;
  if (!digits) return std::nullopt;
  skip_ws();
  static const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (i + 3 > s.size()) return std::nullopt;
  int month = -1;
  for (int m = 0; m < 12; ++m) {
    bool eq = true;
    for (int k = 0; k < 3; ++k) eq = eq && (s[i + k] | 0x20) == months[m][k];
    if (eq) month = m;
  }
  if (month < 0) return std::nullopt;
  i += 3;
  skip_ws();
  int year = 0;
  digits = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && digits < 4) year = year * 10 + (s[i++] - '0'), ++digits;
  if (digits == 2) year += year < 50 ? 2000 : 1900;  // RFC 5322 4.3 obsolete two-digit years
  else if (digits == 3) year += 1900;
  else if (digits != 4) return std::nullopt;
  if (day < 1 || day > 31) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  return static_cast<int64_t>(timegm(&tm)) / 86400;
}

namespace {

// RFC 8970 PREVIEW: the start of the first text/plain part (text/html would
// need tag stripping; such messages get none), decoded, whitespace collapsed,
// at most 200 characters.
std::string make_preview(const mime::ParsedMessage& parsed, std::string_view raw) {
  const mime::Part* found = nullptr;
  std::vector<const mime::Part*> stack{&parsed.root};
  while (!stack.empty() && !found) {
    const mime::Part* p = stack.back();
    stack.pop_back();
    if (p->type == "text" && p->subtype == "plain" && p->disposition.value_or("inline") != "attachment") {
      found = p;
      break;
    }
    if (p->is_multipart())
      for (auto it = p->children.rbegin(); it != p->children.rend(); ++it) stack.push_back(&*it);
  }
  if (!found || found->body_start > raw.size()) return "";
  std::string_view body = raw.substr(found->body_start, std::min<uint64_t>(found->size(), 16384));
  const std::string* charset = found->param("charset");
  std::string text = mime::to_utf8(mime::decode_transfer(body, found->encoding), charset ? *charset : "us-ascii");
  std::string out;
  size_t chars = 0;
  bool space = false;
  for (size_t i = 0; i < text.size() && chars < 200;) {
    unsigned char c = text[i];
    if (c <= 0x20 || c == 0x7f) {
      space = !out.empty();
      ++i;
      continue;
    }
    size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : 4;
    if (i + n > text.size()) break;
    if (space) {
      out += ' ';
      ++chars;
      space = false;
    }
    out.append(text, i, n);
    i += n;
    ++chars;
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
  meta.preview = valid_utf8(make_preview(parsed, message));
  if (parsed.root.envelope && parsed.root.envelope->date) meta.sent_day = rfc5322_day(*parsed.root.envelope->date);
  mime::Limits limits;
  limits.max_search_text = kMaxSearchText;
  // Decoded headers and text bodies; fold() collapses whitespace and strips
  // controls (NUL cannot go into a text column), valid_utf8 guards the column.
  mime::SearchSections sections = mime::search_sections(parsed, message, limits);
  meta.search_text = valid_utf8(fold(sections.text, kMaxSearchText));
  if (!sections.part_headers.empty()) {
    meta.search_text += '\n';
    meta.search_text += kSearchPartsMarker;
    meta.search_text += '\n';
    meta.search_text += valid_utf8(fold(sections.part_headers, kMaxSearchText / 4));
  }
  meta.search_words = search_words_of(meta.search_text);
  return meta;
}

namespace {
// The distinct words seen so far: open addressing over (hash, view) slots,
// which beat std::unordered_set's nodes by half on a 128 KiB text (most
// words repeat, so nearly every probe is a hit on a short word).
class WordSet {
 public:
  WordSet() : slots_(1024) {}
  // True if `w` was not there (and is now).
  bool insert(std::string_view w) {
    uint64_t h = 1469598103934665603ULL;  // FNV-1a: words are short
    for (unsigned char c : w) h = (h ^ c) * 1099511628211ULL;
    h ^= h >> 29;
    if (h == 0) h = 1;  // 0 marks an empty slot
    for (size_t i = h & (slots_.size() - 1);; i = (i + 1) & (slots_.size() - 1)) {
      Slot& s = slots_[i];
      if (s.hash == 0) {
        s = {h, w};
        if (++used_ * 2 > slots_.size()) grow();
        return true;
      }
      if (s.hash == h && s.word == w) return false;
    }
  }

 private:
  struct Slot {
    uint64_t hash = 0;
    std::string_view word;
  };
  void grow() {
    std::vector<Slot> old(slots_.size() * 2);
    old.swap(slots_);
    for (const Slot& s : old) {
      if (s.hash == 0) continue;
      size_t i = s.hash & (slots_.size() - 1);
      while (slots_[i].hash != 0) i = (i + 1) & (slots_.size() - 1);
      slots_[i] = s;
    }
  }
  std::vector<Slot> slots_;
  size_t used_ = 0;
};
}  // namespace

std::string search_words_of(std::string_view text) {
  auto is_space = [](char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; };
  WordSet seen;
  std::string out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && is_space(text[i])) ++i;
    const size_t start = i;
    while (i < text.size() && !is_space(text[i])) ++i;
    if (i == start) break;
    const std::string_view word = text.substr(start, i - start);
    if (!seen.insert(word)) continue;
    out += ' ';
    out.append(word);
  }
  if (!out.empty()) out += ' ';
  return out;
}

std::string fold_search_key(const std::string& s) {
  std::string f = mime::fold_case(s), out;
  bool space = false;
  for (char c : f) {
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      space = true;
      continue;
    }
    if (space && !out.empty()) out += ' ';
    space = false;
    out += c;
  }
  return out;
}

std::string sha256(std::string_view data) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(data.data(), data.size(), out, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed");
  return std::string(reinterpret_cast<const char*>(out), len);
}

std::string to_hex(std::string_view bytes) {
  static const char* digits = "0123456789abcdef";
  std::string out;
  out.reserve(bytes.size() * 2);
  for (unsigned char c : bytes) {
    out += digits[c >> 4];
    out += digits[c & 15];
  }
  return out;
}

PreparedMessage prepare_message(std::string_view message, bool binary) {
  PreparedMessage p;
  p.body = binary ? std::string(message) : canonicalize_line_endings(message);
  p.meta = analyse(p.body);
  p.key = sha256(p.body);
  p.email_id = "M" + to_hex(p.key).substr(0, 24);
  if (p.meta.header_size <= kMaxCachedHeader) p.header = p.body.substr(0, p.meta.header_size);
  return p;
}

}  // namespace postline::mailstore
