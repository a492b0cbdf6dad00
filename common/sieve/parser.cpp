// The lexer and parser for RFC 5228 section 8's grammar. The grammar is generic (every
// command is `identifier arguments (";" / block)`), so the parser knows no command names;
// check() gives them meaning. Recursion is bounded by Limits::max_nesting, so hostile
// input cannot overflow the stack.
#include <cctype>
#include <cstdio>
#include <charconv>
#include <string>

#include "common/sieve/sieve.h"

namespace postline::sieve {

std::string Error::text() const { return "line " + std::to_string(pos.line) + ": " + message; }

namespace {

enum class Tok {
  kEnd, kIdentifier, kTag, kNumber, kString, kLBracket, kRBracket, kLParen, kRParen,
  kLBrace, kRBrace, kComma, kSemicolon, kError
};

struct Token {
  Tok kind = Tok::kEnd;
  Position pos;
  std::string text;         // identifier/tag (lowercased), string value, error message
  std::uint64_t number = 0;
};

class Lexer {
 public:
  explicit Lexer(std::string_view s) : s_(s) {}

  Token next() {
    skip_space();
    Token t;
    t.pos = {line_, col()};
    if (!error_.empty()) {
      t.kind = Tok::kError;
      t.text = error_;
      t.pos = error_pos_;
      return t;
    }
    if (i_ >= s_.size()) return t;
    char c = s_[i_];
    auto single = [&](Tok k) { ++i_; t.kind = k; return t; };
    switch (c) {
      case '[': return single(Tok::kLBracket);
      case ']': return single(Tok::kRBracket);
      case '(': return single(Tok::kLParen);
      case ')': return single(Tok::kRParen);
      case '{': return single(Tok::kLBrace);
      case '}': return single(Tok::kRBrace);
      case ',': return single(Tok::kComma);
      case ';': return single(Tok::kSemicolon);
      case '"': return quoted(t);
      case ':': {
        ++i_;
        if (i_ >= s_.size() || !ident_start(s_[i_])) return fail(t, "':' must be followed by a tag name");
        t.kind = Tok::kTag;
        t.text = identifier();
        return t;
      }
      default: break;
    }
    if (std::isdigit(static_cast<unsigned char>(c))) return number(t);
    if (ident_start(c)) {
      std::string id = identifier();
      if (id == "text" && i_ < s_.size() && s_[i_] == ':') {
        ++i_;
        return multiline(t);
      }
      t.kind = Tok::kIdentifier;
      t.text = std::move(id);
      return t;
    }
    return fail(t, std::string("unexpected character '") + printable(c) + "'");
  }

 private:
  static bool ident_start(char c) { return std::isalpha(static_cast<unsigned char>(c)) || c == '_'; }
  static bool ident_char(char c) { return ident_start(c) || std::isdigit(static_cast<unsigned char>(c)); }
  static std::string printable(char c) {
    if (static_cast<unsigned char>(c) >= 0x20 && static_cast<unsigned char>(c) < 0x7f) return std::string(1, c);
    char buf[8];
    std::snprintf(buf, sizeof buf, "\\x%02x", static_cast<unsigned char>(c));
    return buf;
  }
  int col() const { return static_cast<int>(i_ - line_start_) + 1; }
  void newline_at(std::size_t pos_after) { ++line_; line_start_ = pos_after; }

  Token fail(Token& t, std::string msg) {
    t.kind = Tok::kError;
    t.text = std::move(msg);
    error_ = t.text;
    error_pos_ = t.pos;
    return t;
  }

  void skip_space() {
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '\n') { ++i_; newline_at(i_); continue; }
      if (c == ' ' || c == '\t' || c == '\r') { ++i_; continue; }
      if (c == '#') {
        while (i_ < s_.size() && s_[i_] != '\n') ++i_;
        continue;
      }
      if (c == '/' && i_ + 1 < s_.size() && s_[i_ + 1] == '*') {
        Position start{line_, col()};
        i_ += 2;
        bool closed = false;
        while (i_ < s_.size()) {
          if (s_[i_] == '*' && i_ + 1 < s_.size() && s_[i_ + 1] == '/') { i_ += 2; closed = true; break; }
          if (s_[i_] == '\n') { ++i_; newline_at(i_); continue; }
          ++i_;
        }
        if (!closed && error_.empty()) { error_ = "unterminated /* comment */"; error_pos_ = start; }
        continue;
      }
      break;
    }
  }

  std::string identifier() {
    std::string out;
    while (i_ < s_.size() && ident_char(s_[i_])) out += static_cast<char>(std::tolower(static_cast<unsigned char>(s_[i_++])));
    return out;
  }

  Token number(Token& t) {
    std::size_t start = i_;
    while (i_ < s_.size() && std::isdigit(static_cast<unsigned char>(s_[i_]))) ++i_;
    std::uint64_t v = 0;
    auto [p, ec] = std::from_chars(s_.data() + start, s_.data() + i_, v);
    if (ec != std::errc()) return fail(t, "number too large");
    std::uint64_t mult = 1;
    if (i_ < s_.size()) {
      char q = static_cast<char>(std::toupper(static_cast<unsigned char>(s_[i_])));
      if (q == 'K') mult = 1024ull;
      else if (q == 'M') mult = 1024ull * 1024;
      else if (q == 'G') mult = 1024ull * 1024 * 1024;
      if (mult != 1) ++i_;
    }
    if (v > UINT64_MAX / mult) return fail(t, "number too large");
    if (i_ < s_.size() && ident_char(s_[i_])) return fail(t, "a number must not be followed by letters");
    t.kind = Tok::kNumber;
    t.number = v * mult;
    return t;
  }

  Token quoted(Token& t) {
    ++i_;
    std::string out;
    while (i_ < s_.size()) {
      char c = s_[i_];
      if (c == '"') {
        ++i_;
        t.kind = Tok::kString;
        t.text = std::move(out);
        return t;
      }
      if (c == '\\' && i_ + 1 < s_.size()) {
        // RFC 5228 2.4.2: \\ and \" are the escapes; for any other character the backslash
        // is dropped ("undefined", and what Pigeonhole does).
        out += s_[i_ + 1];
        if (s_[i_ + 1] == '\n') newline_at(i_ + 2);
        i_ += 2;
        continue;
      }
      if (c == '\n') newline_at(i_ + 1);
      out += c;
      ++i_;
    }
    return fail(t, "unterminated quoted string");
  }

  // "text:" *(SP / HTAB) (hash-comment / CRLF) *(multiline-literal / multiline-dotstart) "." CRLF
  Token multiline(Token& t) {
    while (i_ < s_.size() && (s_[i_] == ' ' || s_[i_] == '\t')) ++i_;
    if (i_ < s_.size() && s_[i_] == '#') while (i_ < s_.size() && s_[i_] != '\n') ++i_;
    if (i_ < s_.size() && s_[i_] == '\r') ++i_;
    if (i_ >= s_.size() || s_[i_] != '\n') return fail(t, "text: must be followed by a line end");
    ++i_;
    newline_at(i_);
    std::string out;
    while (i_ < s_.size()) {
      std::size_t eol = s_.find('\n', i_);
      if (eol == std::string_view::npos) break;
      std::string_view line = s_.substr(i_, eol - i_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      i_ = eol + 1;
      newline_at(i_);
      if (line == ".") {
        t.kind = Tok::kString;
        t.text = std::move(out);
        return t;
      }
      if (line.size() >= 2 && line[0] == '.' && line[1] == '.') line.remove_prefix(1);
      out.append(line);
      out += "\r\n";
    }
    return fail(t, "unterminated text: (a line with a single '.' ends it)");
  }

  std::string_view s_;
  std::size_t i_ = 0;
  int line_ = 1;
  std::size_t line_start_ = 0;
  std::string error_;
  Position error_pos_;
};

class Parser {
 public:
  Parser(std::string_view text, const Limits& limits) : lex_(text), limits_(limits) { advance(); }

  ParseResult run() {
    ParseResult r;
    auto script = std::make_unique<Script>();
    while (ok() && cur_.kind != Tok::kEnd) {
      Command c;
      if (!command(c, 0)) break;
      script->commands.push_back(std::move(c));
    }
    if (!ok()) {
      r.errors.push_back(error_);
      return r;
    }
    r.script = std::move(script);
    return r;
  }

 private:
  bool ok() const { return error_.message.empty(); }
  void advance() {
    cur_ = lex_.next();
    if (cur_.kind == Tok::kError && ok()) error_ = {cur_.pos, cur_.text};
  }
  bool fail(const std::string& msg) {
    if (ok()) error_ = {cur_.pos, msg};
    return false;
  }
  static std::string describe(const Token& t) {
    switch (t.kind) {
      case Tok::kEnd: return "end of script";
      case Tok::kIdentifier: return "'" + t.text + "'";
      case Tok::kTag: return "':" + t.text + "'";
      case Tok::kNumber: return "a number";
      case Tok::kString: return "a string";
      case Tok::kLBracket: return "'['";
      case Tok::kRBracket: return "']'";
      case Tok::kLParen: return "'('";
      case Tok::kRParen: return "')'";
      case Tok::kLBrace: return "'{'";
      case Tok::kRBrace: return "'}'";
      case Tok::kComma: return "','";
      case Tok::kSemicolon: return "';'";
      case Tok::kError: return "an error";
    }
    return "?";
  }

  bool command(Command& c, std::size_t depth) {
    if (depth > limits_.max_nesting) return fail("blocks and tests nested deeper than " + std::to_string(limits_.max_nesting) + " levels");
    if (cur_.kind != Tok::kIdentifier) return fail("expected a command name, found " + describe(cur_));
    c.name = cur_.text;
    c.pos = cur_.pos;
    advance();
    if (!arguments(c.args)) return false;
    if (cur_.kind == Tok::kIdentifier) {
      Test t;
      if (!test(t, depth + 1)) return false;
      c.test = std::move(t);
    } else if (cur_.kind == Tok::kLParen) {
      if (!test_list(c.test_list, depth + 1)) return false;
    }
    if (cur_.kind == Tok::kSemicolon) {
      advance();
      return ok();
    }
    if (cur_.kind == Tok::kLBrace) {
      c.has_block = true;
      advance();
      while (ok() && cur_.kind != Tok::kRBrace) {
        if (cur_.kind == Tok::kEnd) return fail("missing '}' for the block of '" + c.name + "' at line " + std::to_string(c.pos.line));
        Command inner;
        if (!command(inner, depth + 1)) return false;
        c.block.push_back(std::move(inner));
      }
      if (!ok()) return false;
      advance();
      return ok();
    }
    return fail("expected ';' or '{' after '" + c.name + "', found " + describe(cur_));
  }

  bool test(Test& t, std::size_t depth) {
    if (depth > limits_.max_nesting) return fail("blocks and tests nested deeper than " + std::to_string(limits_.max_nesting) + " levels");
    if (cur_.kind != Tok::kIdentifier) return fail("expected a test, found " + describe(cur_));
    t.name = cur_.text;
    t.pos = cur_.pos;
    advance();
    if (!arguments(t.args)) return false;
    if (cur_.kind == Tok::kIdentifier) {
      Test inner;
      if (!test(inner, depth + 1)) return false;
      t.tests.push_back(std::move(inner));
    } else if (cur_.kind == Tok::kLParen) {
      if (!test_list(t.tests, depth + 1)) return false;
    }
    return ok();
  }

  bool test_list(std::vector<Test>& out, std::size_t depth) {
    advance();  // '('
    while (true) {
      Test t;
      if (!test(t, depth)) return false;
      out.push_back(std::move(t));
      if (cur_.kind == Tok::kComma) { advance(); continue; }
      if (cur_.kind == Tok::kRParen) { advance(); return ok(); }
      return fail("expected ',' or ')' in a test list, found " + describe(cur_));
    }
  }

  bool arguments(std::vector<Argument>& args) {
    while (ok()) {
      Argument a;
      a.pos = cur_.pos;
      switch (cur_.kind) {
        case Tok::kTag:
          a.kind = Argument::Kind::kTag;
          a.tag = cur_.text;
          break;
        case Tok::kNumber:
          a.kind = Argument::Kind::kNumber;
          a.number = cur_.number;
          break;
        case Tok::kString:
          a.kind = Argument::Kind::kString;
          a.strings.push_back(cur_.text);
          break;
        case Tok::kLBracket: {
          a.kind = Argument::Kind::kStringList;
          advance();
          while (true) {
            if (cur_.kind != Tok::kString) return fail("expected a string in a string list, found " + describe(cur_));
            a.strings.push_back(cur_.text);
            advance();
            if (cur_.kind == Tok::kComma) { advance(); continue; }
            if (cur_.kind == Tok::kRBracket) break;
            return fail("expected ',' or ']' in a string list, found " + describe(cur_));
          }
          break;
        }
        default:
          return ok();
      }
      args.push_back(std::move(a));
      advance();
    }
    return false;
  }

  Lexer lex_;
  const Limits& limits_;
  Token cur_;
  Error error_;
};

}  // namespace

ParseResult parse(std::string_view text, const Limits& limits) {
  if (text.size() > limits.max_script_size) {
    ParseResult r;
    r.errors.push_back({{1, 1}, "script is " + std::to_string(text.size()) + " bytes, more than the limit of " +
                                    std::to_string(limits.max_script_size)});
    return r;
  }
  return Parser(text, limits).run();
}

}  // namespace postline::sieve
