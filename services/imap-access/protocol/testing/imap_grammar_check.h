// Test-only: a strict checker of the RFC 3501 §9 grammar for `body` and `envelope`, written
// independently of structure.cpp and encoder.cpp so the renderer's output is checked against
// the ABNF rather than against itself. Returns an empty string when the text conforms, else
// what is wrong. Used by structure_test.cpp and ../fuzz/structure_fuzz.cpp.
#pragma once

#include <cctype>
#include <string>
#include <string_view>

namespace postline::imap::testing {

class GrammarCheck {
 public:
  explicit GrammarCheck(std::string_view s) : s_(s) {}

  std::string body(bool extended) {
    parse_body(extended, 0);
    if (err_.empty() && i_ != s_.size()) fail("trailing bytes");
    return err_;
  }
  std::string envelope() {
    parse_envelope();
    if (err_.empty() && i_ != s_.size()) fail("trailing bytes");
    return err_;
  }

 private:
  std::string_view s_;
  std::size_t i_ = 0;
  std::string err_;

  bool ok() const { return err_.empty(); }
  void fail(const std::string& what) {
    if (err_.empty()) err_ = what + " at offset " + std::to_string(i_);
  }
  bool peek(char c) const { return i_ < s_.size() && s_[i_] == c; }
  void expect(char c) {
    if (!ok()) return;
    if (!peek(c)) return fail(std::string("expected '") + c + "'");
    ++i_;
  }
  void sp() { expect(' '); }
  bool nil() {
    if (s_.substr(i_, 3) == "NIL") {
      i_ += 3;
      return true;
    }
    return false;
  }
  // string = quoted / literal; returns the content.
  std::string string() {
    if (!ok()) return {};
    std::string out;
    if (peek('"')) {
      ++i_;
      while (i_ < s_.size() && s_[i_] != '"') {
        unsigned char c = s_[i_];
        if (c == '\r' || c == '\n' || c == 0 || c >= 0x80) {
          fail("bad char in quoted string");
          return {};
        }
        if (c == '\\') {
          if (i_ + 1 >= s_.size() || (s_[i_ + 1] != '"' && s_[i_ + 1] != '\\')) {
            fail("bad escape");
            return {};
          }
          ++i_;
        }
        out.push_back(s_[i_++]);
      }
      expect('"');
      return out;
    }
    if (peek('{')) {
      ++i_;
      std::size_t n = 0, digits = 0;
      while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) {
        n = n * 10 + std::size_t(s_[i_++] - '0');
        ++digits;
      }
      if (digits == 0) fail("literal without length");
      expect('}');
      expect('\r');
      expect('\n');
      if (!ok()) return {};
      if (s_.size() - i_ < n) {
        fail("short literal");
        return {};
      }
      out = std::string(s_.substr(i_, n));
      if (out.find('\0') != std::string::npos) fail("NUL in literal");
      i_ += n;
      return out;
    }
    fail("expected string");
    return {};
  }
  void nstring() {
    if (!nil()) string();
  }
  void number() {
    std::size_t b = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    if (i_ == b) fail("expected number");
  }
  void params() {
    if (nil()) return;
    expect('(');
    string();
    sp();
    string();
    while (ok() && peek(' ')) {
      sp();
      string();
      sp();
      string();
    }
    expect(')');
  }
  void dsp() {
    if (nil()) return;
    expect('(');
    string();
    sp();
    params();
    expect(')');
  }
  void lang() {
    if (peek('(')) {
      ++i_;
      string();
      while (ok() && peek(' ')) {
        sp();
        string();
      }
      expect(')');
    } else {
      nstring();
    }
  }
  // [SP dsp [SP lang [SP loc *(SP body-extension)]]] — we never emit body-extension.
  void ext_tail() {
    if (!peek(' ')) return;
    sp();
    dsp();
    if (!peek(' ')) return;
    sp();
    lang();
    if (!peek(' ')) return;
    sp();
    nstring();
  }
  void address_list() {
    if (nil()) return;
    expect('(');
    int n = 0;
    while (ok() && peek('(')) {
      ++i_;
      nstring();
      sp();
      nstring();
      sp();
      nstring();
      sp();
      nstring();
      expect(')');
      ++n;
    }
    if (n == 0) fail("empty address list");
    expect(')');
  }
  void parse_envelope() {
    expect('(');
    nstring();  // date
    sp();
    nstring();  // subject
    for (int k = 0; k < 6; ++k) {
      sp();
      address_list();
    }
    sp();
    nstring();
    sp();
    nstring();
    expect(')');
  }
  static bool ieq(const std::string& a, std::string_view b) {
    if (a.size() != b.size()) return false;
    for (std::size_t k = 0; k < a.size(); ++k)
      if (std::tolower(static_cast<unsigned char>(a[k])) != b[k]) return false;
    return true;
  }
  void parse_body(bool extended, int depth) {
    if (depth > 200) return fail("too deep");
    expect('(');
    if (!ok()) return;
    if (peek('(')) {  // body-type-mpart = 1*body SP media-subtype [SP body-ext-mpart]
      while (ok() && peek('(')) parse_body(extended, depth + 1);
      sp();
      string();
      if (extended) {
        sp();  // we always send extension data in BODYSTRUCTURE
        params();
        ext_tail();
      } else if (peek(' ')) {
        fail("extension data in BODY");
      }
      expect(')');
      return;
    }
    std::string type = string();
    sp();
    std::string subtype = string();
    sp();
    params();
    sp();
    nstring();  // id
    sp();
    nstring();  // description
    sp();
    string();  // encoding
    sp();
    number();  // octets
    if (ieq(type, "message") && ieq(subtype, "rfc822")) {
      sp();
      parse_envelope();
      sp();
      parse_body(extended, depth + 1);
      sp();
      number();
    } else if (ieq(type, "text")) {
      sp();
      number();
    }
    if (extended) {
      sp();
      nstring();  // md5
      ext_tail();
    } else if (peek(' ')) {
      fail("extension data in BODY");
    }
    expect(')');
  }
};

}  // namespace postline::imap::testing
