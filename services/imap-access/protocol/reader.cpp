#include "services/imap-access/protocol/reader.h"

namespace postline::imap {

bool is_atom_char(char c) {
  unsigned char u = c;
  if (u <= 0x20 || u >= 0x7f) return false;
  switch (c) {
    case '(': case ')': case '{': case '%': case '*': case '"': case '\\': case ']':
      return false;
    default:
      return true;
  }
}

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'a' && c <= 'z') c -= 32;
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'a' && x <= 'z') x -= 32;
    if (y >= 'a' && y <= 'z') y -= 32;
    if (x != y) return false;
  }
  return true;
}

void Reader::fail(const std::string& why) const { throw SyntaxError(why); }

void Reader::sp() {
  if (peek() != ' ') fail(at_end() ? "missing argument" : "expected a space");
  ++pos_;
}

bool Reader::try_sp() {
  if (peek() != ' ') return false;
  ++pos_;
  return true;
}

void Reader::expect(char c) {
  if (peek() != c) fail(std::string("expected '") + c + "'");
  ++pos_;
}

bool Reader::try_char(char c) {
  if (peek() != c) return false;
  ++pos_;
  return true;
}

void Reader::end() {
  if (!at_end()) fail("unexpected characters after the command");
}

std::string Reader::tag() {
  size_t start = pos_;
  while (!at_end() && is_atom_char(peek()) && peek() != '+') ++pos_;
  if (pos_ == start) fail("missing or invalid tag");
  return std::string(s_.substr(start, pos_ - start));
}

std::string Reader::atom() {
  size_t start = pos_;
  while (!at_end() && is_atom_char(peek())) ++pos_;
  if (pos_ == start) fail("expected an atom");
  return std::string(s_.substr(start, pos_ - start));
}

std::string Reader::fetch_att_atom() {
  size_t start = pos_;
  while (!at_end() && (is_atom_char(peek()) || peek() == ']')) ++pos_;
  if (pos_ == start) fail("expected a fetch attribute");
  return std::string(s_.substr(start, pos_ - start));
}

std::string Reader::quoted() {
  expect('"');
  std::string out;
  for (;;) {
    if (at_end()) fail("unterminated quoted string");
    char c = s_[pos_++];
    if (c == '"') return out;
    if (c == '\r' || c == '\n') fail("CR or LF in a quoted string");
    if (c == '\\') {
      if (at_end()) fail("unterminated quoted string");
      char e = s_[pos_++];
      if (e != '"' && e != '\\') fail("invalid escape in a quoted string");
      out += e;
    } else {
      out += c;
    }
  }
}

std::string Reader::literal() {
  expect('{');
  uint64_t n = 0;
  size_t digits = 0;
  while (peek() >= '0' && peek() <= '9') {
    n = n * 10 + (s_[pos_++] - '0');
    if (++digits > 19) fail("literal size too large");
  }
  if (digits == 0) fail("invalid literal size");
  if (peek() == '+' || peek() == '-') ++pos_;
  expect('}');
  if (s_.substr(pos_, 2) != "\r\n") fail("literal size must end the line");
  pos_ += 2;
  if (s_.size() - pos_ < n) fail("literal shorter than announced");
  std::string out(s_.substr(pos_, n));
  pos_ += n;
  return out;
}

std::string Reader::string() {
  if (peek() == '"') return quoted();
  if (peek() == '{') return literal();
  fail("expected a string");
}

std::string Reader::astring() {
  if (peek() == '"' || peek() == '{') return string();
  size_t start = pos_;
  // ASTRING-CHAR = ATOM-CHAR / resp-specials (']')
  while (!at_end() && (is_atom_char(peek()) || peek() == ']')) ++pos_;
  if (pos_ == start) fail("expected a string or atom");
  return std::string(s_.substr(start, pos_ - start));
}

std::string Reader::list_mailbox() {
  if (peek() == '"' || peek() == '{') return string();
  size_t start = pos_;
  while (!at_end() && (is_atom_char(peek()) || peek() == ']' || peek() == '%' || peek() == '*')) ++pos_;
  if (pos_ == start) fail("expected a mailbox pattern");
  return std::string(s_.substr(start, pos_ - start));
}

std::optional<std::string> Reader::nstring() {
  if (iequals(s_.substr(pos_, 3), "NIL") && (pos_ + 3 == s_.size() || !is_atom_char(s_[pos_ + 3]))) {
    pos_ += 3;
    return std::nullopt;
  }
  return string();
}

uint64_t Reader::number64() {
  // RFC 9051 9: number64 is 63-bit (0 <= n <= 2^63-1), and so are what is
  // built on it (mod-sequence-value, partial offsets, LARGER, quota limits):
  // callers keep these in int64 fields.
  constexpr uint64_t kMax = 0x7fffffffffffffffu;
  size_t start = pos_;
  uint64_t n = 0;
  while (peek() >= '0' && peek() <= '9') {
    const unsigned d = static_cast<unsigned>(s_[pos_++] - '0');
    if (n > (kMax - d) / 10) fail("number too large");
    n = n * 10 + d;
  }
  if (pos_ == start) fail("expected a number");
  return n;
}

uint32_t Reader::number() {
  uint64_t n = number64();
  if (n > 0xffffffffu) fail("number too large");
  return static_cast<uint32_t>(n);
}

uint32_t Reader::nz_number() {
  uint32_t n = number();
  if (n == 0) fail("zero is not allowed here");
  return n;
}

std::string Reader::sequence_set_text() {
  size_t start = pos_;
  while (!at_end()) {
    char c = peek();
    if ((c >= '0' && c <= '9') || c == ':' || c == '*' || c == ',' || c == '$') ++pos_;
    else break;
  }
  if (pos_ == start) fail("expected a sequence set");
  return std::string(s_.substr(start, pos_ - start));
}

std::string Reader::flag() {
  if (peek() == '\\') {
    ++pos_;
    if (peek() == '*') {
      ++pos_;
      return "\\*";
    }
    return "\\" + atom();
  }
  return atom();
}

std::vector<std::string> Reader::flag_list() {
  expect('(');
  std::vector<std::string> out;
  if (try_char(')')) return out;
  for (;;) {
    out.push_back(flag());
    if (try_char(')')) return out;
    sp();
  }
}

}  // namespace postline::imap
