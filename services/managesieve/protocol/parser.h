// Command framing and tokens for ManageSieve (RFC 5804 4), sans-I/O: bytes in,
// complete commands out. A command is a name and arguments separated by
// spaces and ended by CRLF; an argument is a number, a quoted string (at most
// 1024 octets between the quotes, `\"` and `\\` the only escapes) or a
// literal, `{N+}` CRLF and N octets (the client-to-server form). `{N}` without
// the plus (older drafts; some clients still send it) is read the same way:
// ManageSieve has no continuation request, so the octets follow at once.
//
// The parser enforces its limits itself. A command that breaks one is still
// read to its end (quotes and literals tracked, nothing kept) so the next
// command starts where the client thinks it does, and is then reported as one
// event: kLineTooLong, kLiteralTooBig (its literal octets were read and
// dropped) or kSyntaxError. Only a literal too big even to skip is fatal.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace postline::managesieve {

struct Token {
  enum class Kind { kAtom, kNumber, kString };
  Kind kind = Kind::kAtom;
  std::string text;      // the atom as sent, the digits, or the string's value (unescaped / literal octets)
  bool literal = false;  // kString sent as a literal
};

// RFC 5804 4: quoted strings are limited to 1024 octets between the quotes.
inline constexpr std::size_t kMaxQuotedOctets = 1024;
// No command has more than a name and three arguments; a few more are read
// (and refused by the command's own parser) so the error can say so.
inline constexpr std::size_t kMaxTokens = 8;
// The longest atom kept as a command name (longer: syntax error).
inline constexpr std::size_t kMaxAtomOctets = 64;
// RFC 5804 4: number < 4294967296.
inline constexpr std::uint64_t kMaxNumber = 4294967295u;

struct ParserLimits {
  std::size_t max_line = 8192;           // octets of one command outside its literals
  std::uint64_t max_literal = 1u << 20;  // octets of one literal that are kept
  // A larger literal of at most this many octets is read and dropped, and the
  // command gets its refusal (NO (QUOTA/MAXSIZE) for a script); a larger one
  // still is kFatal. Never below max_literal.
  std::uint64_t max_discard = 4u << 20;
  // Line octets and kept literal octets of one command together (0 = only the
  // limits above). Before login it is small: AUTHENTICATE needs a few hundred
  // octets and a stranger must not make the server hold megabytes.
  std::uint64_t max_command = 0;
};

class Parser {
 public:
  enum class Kind {
    kNeedMore,        // feed more bytes
    kCommand,         // `tokens`: a complete command, the name first
    kSyntaxError,     // the command was read to its end; `error` says what was wrong
    kLineTooLong,     // over max_line (or max_command); read to its end, nothing kept
    kLiteralTooBig,   // a literal over max_literal was read and dropped; `literal_size`
    kFatal,           // a literal over max_discard announced: say BYE and close
  };
  struct Event {
    Kind kind = Kind::kNeedMore;
    std::vector<Token> tokens;  // kCommand: all; errors: the name when one was read whole
    std::string error;          // kSyntaxError
    std::uint64_t literal_size = 0;  // kLiteralTooBig / kFatal
  };

  explicit Parser(ParserLimits limits = {}) { set_limits(limits); }
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  Event next();
  // Drops everything buffered and any command in progress (after STARTTLS:
  // what a client sent before the handshake is never executed after it).
  void reset();
  // New limits from the next command on (after login, after UNAUTHENTICATE).
  void set_limits(const ParserLimits& limits);
  const ParserLimits& limits() const { return limits_; }
  std::size_t buffered() const { return buffer_.size() - pos_; }
  // True between commands: nothing of a command has been read yet.
  bool idle() const { return state_ == State::kStart && seen_tokens_ == 0 && line_octets_ == 0 && !poisoned(); }

 private:
  enum class State {
    kStart,          // before a token (or at the start of the command)
    kAtom,           // inside an atom or number
    kQuoted,         // inside a quoted string
    kQuotedEscape,   // after a backslash inside a quoted string
    kLiteralOpen,    // after '{': digits, then an optional '+', then '}'
    kLiteralClose,   // after '}': the line must end (CRLF or LF)
    kLiteralData,    // the literal's octets
  };
  bool poisoned() const { return too_long_ || literal_too_big_ || !error_.empty(); }
  void fail(std::string why) {
    if (error_.empty()) error_ = std::move(why);
  }
  void push(Token t);
  void skip_token() { ++seen_tokens_; }
  void end_atom();
  void end_literal();
  Event finish();  // end of line outside a literal: the command is complete
  void count_line_octet();
  void compact();

  ParserLimits limits_;
  std::string buffer_;
  std::size_t pos_ = 0;
  State state_ = State::kStart;
  std::vector<Token> tokens_;
  std::string current_;            // the token being read
  bool current_kept_ = true;       // false: the token is read but not kept (poisoned or over a limit)
  std::size_t quoted_octets_ = 0;
  std::uint64_t literal_size_ = 0;
  std::uint64_t literal_left_ = 0;
  std::size_t literal_digits_ = 0;
  bool literal_plus_ = false;
  bool literal_kept_ = false;
  std::size_t line_octets_ = 0;
  std::uint64_t command_octets_ = 0;
  bool too_long_ = false;
  bool literal_too_big_ = false;
  std::uint64_t dropped_literal_ = 0;
  std::size_t seen_tokens_ = 0;  // tokens of this command read so far, kept or not
  bool need_space_ = false;      // a token just ended: SP or the end of the line must follow
  Token name_;                   // the first token when it is an atom (for error events)
  std::string error_;
};

}  // namespace postline::managesieve
