// A cursor over one complete command (as returned by Receiver) with the IMAP
// grammar's building blocks: atoms, quoted strings, literals, numbers, lists.
// Syntax errors throw SyntaxError, which the session turns into a tagged BAD
// with the reason; the exception never leaves the protocol layer.
#pragma once

#include <cstdint>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imap {

class SyntaxError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

class Reader {
 public:
  explicit Reader(std::string_view text) : s_(text) {}

  bool at_end() const { return pos_ >= s_.size(); }
  char peek() const { return at_end() ? '\0' : s_[pos_]; }
  size_t position() const { return pos_; }
  std::string_view rest() const { return s_.substr(pos_); }

  void sp();                       // exactly one space
  bool try_sp();
  void expect(char c);
  bool try_char(char c);
  void end();                      // nothing may follow

  std::string tag();
  std::string atom();              // 1*ATOM-CHAR
  std::string astring();           // atom / quoted / literal
  std::optional<std::string> nstring();  // NIL / string
  std::string string();            // quoted / literal
  std::string quoted();
  std::string literal();           // {n}\r\n<n bytes> (also {n+} / {n-})
  uint32_t number();               // 32-bit unsigned
  uint32_t nz_number();
  uint64_t number64();             // 63-bit (RFC 9051 number64)
  // A token of the given extra-allowed chars, e.g. list-mailbox wildcards.
  std::string list_mailbox();      // astring with '%' and '*' allowed
  std::string sequence_set_text(); // [0-9:*,$]+
  std::string flag();              // \Atom or atom
  std::vector<std::string> flag_list();  // "(" [flag *(SP flag)] ")"
  // An atom with ']' allowed too (FETCH attributes, section specs).
  std::string fetch_att_atom();
  bool is_literal_start() const { return peek() == '{'; }

  [[noreturn]] void fail(const std::string& why) const;

 private:
  std::string_view s_;
  size_t pos_ = 0;
};

bool is_atom_char(char c);
std::string to_upper(std::string_view s);
bool iequals(std::string_view a, std::string_view b);

}  // namespace postline::imap
