#include "common/mailstore/message_meta.h"

#include <algorithm>
#include <cctype>
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

namespace {
SortKeys sort_keys_from(const mime::ParsedMessage& parsed);  // with the other SORT code below
}  // namespace

namespace {
MessageMeta analyse_parsed(const mime::ParsedMessage& parsed, std::string_view message) {
  MessageMeta meta;
  meta.size = message.size();
  meta.header_size = parsed.root.body_start;
  meta.structure = mime::serialize_structure(parsed);
  meta.preview = valid_utf8(make_preview(parsed, message));
  if (parsed.root.envelope && parsed.root.envelope->date) meta.sent_day = rfc5322_day(*parsed.root.envelope->date);
  meta.sort = sort_keys_from(parsed);
  return meta;
}

SearchIndex search_index_parsed(const mime::ParsedMessage& parsed, std::string_view message) {
  SearchIndex out;
  mime::Limits limits;
  limits.max_search_text = kMaxSearchText;
  // Decoded headers and text bodies; fold() collapses whitespace and strips
  // controls (NUL cannot go into a text column), valid_utf8 guards the column.
  mime::SearchSections sections = mime::search_sections(parsed, message, limits);
  out.text = valid_utf8(fold(sections.text, kMaxSearchText));
  if (!sections.part_headers.empty()) {
    out.text += '\n';
    out.text += kSearchPartsMarker;
    out.text += '\n';
    out.text += valid_utf8(fold(sections.part_headers, kMaxSearchText / 4));
  }
  out.words = search_words_of(out.text);
  return out;
}
}  // namespace

MessageMeta analyse(std::string_view message) { return analyse_parsed(mime::parse(message), message); }

SearchIndex search_index_of(std::string_view message) { return search_index_parsed(mime::parse(message), message); }

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

namespace {
// Whitespace runs (tabs, folding) to one space, no leading or trailing space.
std::string collapse_spaces(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  bool space = false;
  for (char c : s) {
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

}  // namespace

// The search text's own form: folded, whitespace runs as one space.
std::string fold_search_key(const std::string& s) { return collapse_spaces(mime::fold_case(s)); }


// ---- SORT and THREAD keys ----------------------------------------------------

namespace {

bool ascii_ieq(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if ((a[i] | 0x20) != (b[i] | 0x20) && a[i] != b[i]) return false;
  return true;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (char& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c + 32);
  return out;
}

// subj-blob = "[" *BLOBCHAR "]" *WSP at `p`; the length matched, 0 if none.
size_t match_blob(std::string_view s, size_t p) {
  if (p >= s.size() || s[p] != '[') return 0;
  size_t i = p + 1;
  while (i < s.size() && s[i] != '[' && s[i] != ']') ++i;
  if (i >= s.size() || s[i] != ']') return 0;
  ++i;
  while (i < s.size() && s[i] == ' ') ++i;
  return i - p;
}

// subj-leader's first form: *subj-blob subj-refwd, where subj-refwd =
// ("re" / ("fw" ["d"])) *WSP [subj-blob] ":". Greedy is exact here: after a
// blob comes "[" or the refwd, never both. The length matched, 0 if none.
size_t match_refwd_leader(std::string_view s) {
  size_t p = 0;
  while (size_t n = match_blob(s, p)) p += n;
  if (s.substr(p, 2) == "re") p += 2;
  else if (s.substr(p, 3) == "fwd") p += 3;
  else if (s.substr(p, 2) == "fw") p += 2;
  else return 0;
  while (p < s.size() && s[p] == ' ') ++p;
  p += match_blob(s, p);
  if (p >= s.size() || s[p] != ':') return 0;
  return p + 1;
}

}  // namespace

std::string base_subject(std::string_view folded_subject, bool* reply_or_forward) {
  // (1) The caller decoded RFC 2047 and folded case; tabs and continuations
  // become spaces, runs of spaces one.
  std::string s = collapse_spaces(folded_subject);
  bool marked = false;
  for (;;) {
    // (2) subj-trailer = "(fwd)" / WSP, repeatedly.
    for (;;) {
      if (!s.empty() && s.back() == ' ') {
        s.pop_back();
      } else if (s.size() >= 5 && s.compare(s.size() - 5, 5, "(fwd)") == 0) {
        s.resize(s.size() - 5);
        marked = true;
      } else {
        break;
      }
    }
    // (3)-(5): subj-leader, then a subj-blob that leaves a non-empty base,
    // until neither matches.
    for (;;) {
      const size_t before = s.size();
      for (;;) {
        if (!s.empty() && s.front() == ' ') {
          s.erase(0, 1);
        } else if (size_t n = match_refwd_leader(s)) {
          s.erase(0, n);
          marked = true;
        } else {
          break;
        }
      }
      if (size_t n = match_blob(s, 0); n && n < s.size()) s.erase(0, n);
      if (s.size() == before) break;
    }
    // (6) "[fwd:" ... "]" around the whole rest: unwrap and start again at (2).
    if (s.size() >= 6 && s.compare(0, 5, "[fwd:") == 0 && s.back() == ']') {
      s = s.substr(5, s.size() - 6);
      marked = true;
      continue;
    }
    break;
  }
  if (reply_or_forward) *reply_or_forward = marked;
  return s;
}

std::vector<std::string> message_ids(std::string_view v, size_t max) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < v.size() && out.size() < max) {
    const char c = v[i];
    if (c == '(') {
      // A comment (nested), which may contain '<' that is no msg-id.
      int depth = 0;
      for (; i < v.size(); ++i) {
        if (v[i] == '\\') { ++i; continue; }
        if (v[i] == '(') ++depth;
        else if (v[i] == ')' && --depth == 0) break;
      }
      ++i;
      continue;
    }
    if (c != '<') {
      ++i;
      continue;
    }
    const size_t close = v.find('>', i + 1);
    if (close == std::string_view::npos) break;
    std::string id;
    for (size_t k = i + 1; k < close; ++k)
      if (v[k] != ' ' && v[k] != '\t' && v[k] != '\r' && v[k] != '\n' && v[k] != '<') id += v[k];
    i = close + 1;
    // Control bytes cannot go into a text column; such an id is no id.
    if (id.empty() || id.size() > kMaxMessageIdOctets ||
        std::any_of(id.begin(), id.end(), [](char ch) { return static_cast<unsigned char>(ch) < 0x20 || ch == 0x7f; }))
      continue;
    out.push_back(std::move(id));
  }
  return out;
}

std::optional<int64_t> rfc5322_time(std::string_view s) {
  size_t i = 0;
  auto skip_ws = [&] {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r' || s[i] == '\n')) ++i;
  };
  auto digits = [&](int max, int& value) {
    int n = 0;
    value = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9' && n < max) value = value * 10 + (s[i++] - '0'), ++n;
    return n;
  };
  skip_ws();
  if (auto comma = s.find(','); comma != std::string_view::npos && comma < 12) {
    i = comma + 1;
    skip_ws();
  }
  int day = 0, year = 0, hour = 0, minute = 0, second = 0;
  if (!digits(2, day)) return std::nullopt;
  skip_ws();
  static const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"};
  if (i + 3 > s.size()) return std::nullopt;
  int month = -1;
  for (int m = 0; m < 12; ++m)
    if (ascii_ieq(s.substr(i, 3), months[m])) month = m;
  if (month < 0) return std::nullopt;
  i += 3;
  skip_ws();
  const int year_digits = digits(4, year);
  if (year_digits == 2) year += year < 50 ? 2000 : 1900;  // RFC 5322 4.3
  else if (year_digits == 3) year += 1900;
  else if (year_digits != 4) return std::nullopt;
  skip_ws();
  if (digits(2, hour) == 0 || i >= s.size() || s[i] != ':') return std::nullopt;
  ++i;
  if (digits(2, minute) != 2) return std::nullopt;
  if (i < s.size() && s[i] == ':') {
    ++i;
    if (digits(2, second) != 2) return std::nullopt;
  }
  if (day < 1 || day > 31 || hour > 23 || minute > 59 || second > 60) return std::nullopt;
  skip_ws();
  int offset = 0;  // minutes east of UTC
  if (i < s.size() && (s[i] == '+' || s[i] == '-')) {
    const int sign = s[i++] == '-' ? -1 : 1;
    int hhmm = 0;
    if (digits(4, hhmm) != 4) return std::nullopt;
    offset = sign * ((hhmm / 100) * 60 + hhmm % 100);
  } else {
    size_t e = i;
    while (e < s.size() && std::isalpha(static_cast<unsigned char>(s[e]))) ++e;
    const std::string_view zone = s.substr(i, e - i);
    static const std::pair<const char*, int> zones[] = {{"est", -5}, {"edt", -4}, {"cst", -6}, {"cdt", -5},
                                                        {"mst", -7}, {"mdt", -6}, {"pst", -8}, {"pdt", -7}};
    for (auto [name, hours] : zones)
      if (ascii_ieq(zone, name)) offset = hours * 60;
    // UT, GMT, military zones and no zone at all: +0000 (RFC 5322 4.3 says
    // military zones are to be taken as -0000, "unknown").
  }
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  tm.tm_hour = hour;
  tm.tm_min = minute;
  tm.tm_sec = second;
  return static_cast<int64_t>(timegm(&tm)) - offset * 60;
}

namespace {

// A text column cannot hold NUL, and other controls (which RFC 2047 words
// and literal8 APPENDs can carry) mean nothing to a sort: whitespace ones
// become spaces (collapsed later), the rest go; invalid UTF-8 is repaired.
std::string text_column(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c == '\t' || c == '\r' || c == '\n') out += ' ';
    else if (c >= 0x20 && c != 0x7f) out += static_cast<char>(c);
  }
  return valid_utf8(std::move(out));
}

// The first real address of a list: group markers (no host) are skipped.
const mime::Address* first_address(const std::vector<mime::Address>& list) {
  for (const auto& a : list)
    if (a.host && a.mailbox) return &a;
  return nullptr;
}

std::string addr_mailbox(const std::vector<mime::Address>& list) {
  const mime::Address* a = first_address(list);
  return a ? text_column(ascii_lower(*a->mailbox)) : "";
}

// RFC 5957: the display name when it is there and not blank, else the addr-spec.
std::string display_of(const std::vector<mime::Address>& list) {
  const mime::Address* a = first_address(list);
  if (!a) return "";
  if (a->name) {
    std::string name = collapse_spaces(text_column(mime::fold_case(mime::decode_header_value(*a->name))));
    if (!name.empty()) return name;
  }
  return text_column(mime::fold_case(*a->mailbox + "@" + *a->host));
}

SortKeys sort_keys_from(const mime::ParsedMessage& parsed) {
  SortKeys k;
  if (!parsed.root.envelope) return k;
  const mime::Envelope& env = *parsed.root.envelope;
  if (env.subject) {
    k.subject = base_subject(text_column(mime::fold_case(mime::decode_header_value(mime::unfold(*env.subject)))),
                             &k.reply_or_forward);
    // Bounded like a header line; a cut may not split a UTF-8 sequence.
    if (k.subject.size() > 1024) k.subject = valid_utf8(fold(k.subject, 1024));
  }
  k.from = addr_mailbox(env.from);
  k.to = addr_mailbox(env.to);
  k.cc = addr_mailbox(env.cc);
  k.display_from = display_of(env.from);
  k.display_to = display_of(env.to);
  for (std::string* f : {&k.from, &k.to, &k.cc, &k.display_from, &k.display_to})
    if (f->size() > 1024) *f = valid_utf8(fold(*f, 1024));
  if (env.date) k.sent = rfc5322_time(*env.date);
  if (env.message_id) {
    auto ids = message_ids(*env.message_id, 1);
    if (!ids.empty()) k.message_id = valid_utf8(std::move(ids[0]));
  }
  for (const auto& f : parsed.root.fields) {
    if (!ascii_ieq(f.name, "references")) continue;
    // The first and the last ids: the thread's root and the nearest parents.
    std::vector<std::string> all = message_ids(f.value, 100000);
    if (all.size() > kMaxReferences) {
      all.erase(all.begin() + 1, all.end() - static_cast<std::ptrdiff_t>(kMaxReferences - 1));
    }
    for (auto& id : all) k.references.push_back(valid_utf8(std::move(id)));
    break;
  }
  if (k.references.empty() && env.in_reply_to) {
    auto ids = message_ids(*env.in_reply_to, 1);
    if (!ids.empty()) k.references.push_back(valid_utf8(std::move(ids[0])));
  }
  return k;
}

}  // namespace

SortKeys sort_keys_of(std::string_view message) { return sort_keys_from(mime::parse(message)); }

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

std::optional<std::string> thread_id_of(const SortKeys& keys) {
  const std::string& root = keys.references.empty() ? keys.message_id : keys.references.front();
  if (root.empty()) return std::nullopt;
  return "T" + to_hex(sha256("thread:" + root)).substr(0, 24);
}

namespace {
PreparedMessage prepare_body(std::string&& body, bool with_search) {
  PreparedMessage p;
  p.body = std::move(body);
  const mime::ParsedMessage parsed = mime::parse(p.body);
  p.meta = analyse_parsed(parsed, p.body);
  if (with_search) p.search = search_index_parsed(parsed, p.body);
  p.key = sha256(p.body);
  p.email_id = "M" + to_hex(p.key).substr(0, 24);
  if (p.meta.header_size <= kMaxCachedHeader) p.header = p.body.substr(0, p.meta.header_size);
  return p;
}
}  // namespace

PreparedMessage prepare_message(std::string_view message, bool binary, bool with_search) {
  return prepare_body(binary ? std::string(message) : canonicalize_line_endings(message), with_search);
}

PreparedMessage prepare_owned_message(std::string&& message, bool binary, bool with_search) {
  if (binary || is_crlf_canonical(message)) return prepare_body(std::move(message), with_search);
  return prepare_body(canonicalize_line_endings(message), with_search);
}

}  // namespace postline::mailstore
