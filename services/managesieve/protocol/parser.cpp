#include "services/managesieve/protocol/parser.h"

#include <algorithm>

namespace postline::managesieve {

namespace {

bool atom_char(unsigned char c) {
  // Printable US-ASCII except what starts or delimits another token.
  return c > 0x20 && c < 0x7f && c != '"' && c != '{' && c != '}' && c != '(' && c != ')' && c != '\\';
}

bool all_digits(std::string_view s) {
  return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return c >= '0' && c <= '9'; });
}

}  // namespace

void Parser::set_limits(const ParserLimits& limits) {
  limits_ = limits;
  limits_.max_discard = std::max(limits_.max_discard, limits_.max_literal);
}

void Parser::reset() {
  buffer_.clear();
  pos_ = 0;
  Event discarded = finish();
  (void)discarded;
}

void Parser::compact() {
  if (pos_ == buffer_.size()) {
    buffer_.clear();
    pos_ = 0;
  } else if (pos_ > 64 * 1024) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
}

void Parser::count_line_octet() {
  ++line_octets_;
  ++command_octets_;
  if (line_octets_ > limits_.max_line || (limits_.max_command && command_octets_ > limits_.max_command))
    too_long_ = true;
}

void Parser::push(Token t) {
  if (seen_tokens_++ == 0 && t.kind == Token::Kind::kAtom) name_ = t;
  if (poisoned()) return;
  if (tokens_.size() >= kMaxTokens) {
    fail("too many arguments");
    return;
  }
  tokens_.push_back(std::move(t));
}

void Parser::end_atom() {
  if (!current_kept_) {
    current_.clear();
    current_kept_ = true;
    skip_token();
    return;
  }
  Token t;
  t.kind = all_digits(current_) ? Token::Kind::kNumber : Token::Kind::kAtom;
  t.text = std::move(current_);
  current_.clear();
  if (t.kind == Token::Kind::kNumber) {
    uint64_t v = 0;
    const bool over = t.text.size() > 10;
    if (!over)
      for (char c : t.text) v = v * 10 + static_cast<uint64_t>(c - '0');
    if (over || v > kMaxNumber) fail("number out of range");
  }
  push(std::move(t));
}

Parser::Event Parser::finish() {
  Event ev;
  if (too_long_) {
    ev.kind = Kind::kLineTooLong;
  } else if (literal_too_big_) {
    ev.kind = Kind::kLiteralTooBig;
    ev.literal_size = dropped_literal_;
  } else if (!error_.empty()) {
    ev.kind = Kind::kSyntaxError;
    ev.error = error_;
  } else if (seen_tokens_ == 0) {
    ev.kind = Kind::kNeedMore;  // an empty line: ignored
  } else {
    ev.kind = Kind::kCommand;
  }
  if (ev.kind == Kind::kCommand) ev.tokens = std::move(tokens_);
  else if (ev.kind != Kind::kNeedMore && !name_.text.empty()) ev.tokens.push_back(std::move(name_));
  tokens_.clear();
  current_.clear();
  current_kept_ = true;
  quoted_octets_ = 0;
  literal_size_ = literal_left_ = 0;
  literal_digits_ = 0;
  literal_plus_ = literal_kept_ = false;
  line_octets_ = 0;
  command_octets_ = 0;
  too_long_ = literal_too_big_ = false;
  dropped_literal_ = 0;
  seen_tokens_ = 0;
  need_space_ = false;
  name_ = Token{};
  error_.clear();
  state_ = State::kStart;
  return ev;
}

void Parser::end_literal() {
  if (literal_kept_) {
    Token t;
    t.kind = Token::Kind::kString;
    t.literal = true;
    t.text = std::move(current_);
    push(std::move(t));
  } else {
    skip_token();
  }
  current_.clear();
  state_ = State::kStart;
  need_space_ = true;
}

Parser::Event Parser::next() {
  while (pos_ < buffer_.size()) {
    if (state_ == State::kLiteralData) {
      const size_t n = static_cast<size_t>(std::min<uint64_t>(literal_left_, buffer_.size() - pos_));
      if (literal_kept_) current_.append(buffer_, pos_, n);
      pos_ += n;
      literal_left_ -= n;
      if (literal_left_ == 0) end_literal();
      continue;
    }
    const unsigned char c = static_cast<unsigned char>(buffer_[pos_]);
    // Outside quotes, CR is only ever the first half of a line end: look at
    // the byte after it (a quoted string handles its own CR below).
    if (c == '\r' && state_ != State::kQuoted && state_ != State::kQuotedEscape) {
      if (pos_ + 1 >= buffer_.size()) break;  // wait for it
      if (buffer_[pos_ + 1] == '\n') {
        ++pos_;  // the LF is handled next, in the state the line ended in
        continue;
      }
      count_line_octet();
      ++pos_;
      fail("CR without LF");
      if (state_ == State::kAtom) end_atom();
      state_ = State::kStart;
      continue;
    }
    switch (state_) {
      case State::kStart:
        if (c == '\n') {
          ++pos_;
          Event ev = finish();
          if (ev.kind == Kind::kNeedMore) continue;  // an empty line
          compact();
          return ev;
        }
        count_line_octet();
        ++pos_;
        if (c == ' ') {
          if (seen_tokens_ == 0) fail("space before the command name");
          need_space_ = false;
          break;
        }
        if (need_space_) fail("missing space between arguments");
        need_space_ = false;
        if (c == '"') {
          state_ = State::kQuoted;
          current_.clear();
          current_kept_ = !poisoned();
          quoted_octets_ = 0;
        } else if (c == '{') {
          state_ = State::kLiteralOpen;
          literal_size_ = 0;
          literal_digits_ = 0;
          literal_plus_ = false;
        } else if (atom_char(c)) {
          state_ = State::kAtom;
          current_.assign(1, static_cast<char>(c));
          current_kept_ = !poisoned();
        } else {
          fail("unexpected character outside a string");
        }
        break;
      case State::kAtom:
        if (!atom_char(c)) {
          end_atom();
          state_ = State::kStart;
          need_space_ = true;
          continue;  // the same byte again, in kStart
        }
        count_line_octet();
        ++pos_;
        if (current_kept_) {
          if (current_.size() >= kMaxAtomOctets) {
            fail("atom too long");
            current_kept_ = false;
          } else {
            current_ += static_cast<char>(c);
          }
        }
        break;
      case State::kQuoted:
      case State::kQuotedEscape:
        if (c == '\n' || c == '\r') {
          // A quoted string ends on its line; this line ends here, the string never did.
          fail("unterminated quoted string");
          current_.clear();
          current_kept_ = true;
          skip_token();
          state_ = State::kStart;
          continue;  // the line end again, in kStart
        }
        count_line_octet();
        ++pos_;
        if (state_ == State::kQuoted && c == '"') {
          if (current_kept_ && !poisoned()) {
            Token t;
            t.kind = Token::Kind::kString;
            t.text = std::move(current_);
            push(std::move(t));
          } else {
            skip_token();
          }
          current_.clear();
          current_kept_ = true;
          state_ = State::kStart;
          need_space_ = true;
          break;
        }
        if (++quoted_octets_ > kMaxQuotedOctets && current_kept_) {
          fail("quoted string longer than 1024 octets");
          current_kept_ = false;
        }
        if (state_ == State::kQuotedEscape) {
          state_ = State::kQuoted;
          if (c != '"' && c != '\\') fail("invalid escape in quoted string");
          else if (current_kept_) current_ += static_cast<char>(c);
        } else if (c == '\\') {
          state_ = State::kQuotedEscape;
        } else if (c == 0) {
          fail("NUL in quoted string");
        } else if (current_kept_) {
          current_ += static_cast<char>(c);
        }
        break;
      case State::kLiteralOpen:
        if (c >= '0' && c <= '9' && !literal_plus_) {
          count_line_octet();
          ++pos_;
          if (++literal_digits_ <= 11) literal_size_ = literal_size_ * 10 + (c - '0');
          break;
        }
        if (c == '+' && literal_digits_ > 0 && !literal_plus_) {
          count_line_octet();
          ++pos_;
          literal_plus_ = true;
          break;
        }
        if (c == '}' && literal_digits_ > 0) {
          count_line_octet();
          ++pos_;
          state_ = State::kLiteralClose;
          break;
        }
        fail("malformed literal");
        skip_token();
        state_ = State::kStart;
        continue;
      case State::kLiteralClose: {
        if (c != '\n') {
          fail("a literal's length must end its line");
          skip_token();
          state_ = State::kStart;
          continue;
        }
        ++pos_;
        const bool overflow = literal_digits_ > 10 || literal_size_ > kMaxNumber;
        if (overflow || literal_size_ > limits_.max_discard) {
          Event ev;
          ev.kind = Kind::kFatal;
          ev.literal_size = overflow ? UINT64_MAX : literal_size_;
          reset();
          return ev;
        }
        const bool over = literal_size_ > limits_.max_literal ||
                          (limits_.max_command && command_octets_ + literal_size_ > limits_.max_command);
        if (over && !poisoned()) {
          literal_too_big_ = true;
          dropped_literal_ = literal_size_;
        }
        if (!poisoned() && tokens_.size() >= kMaxTokens) fail("too many arguments");
        literal_kept_ = !poisoned();
        if (literal_kept_) {
          command_octets_ += literal_size_;
          current_.clear();
          current_.reserve(static_cast<size_t>(literal_size_));
        }
        literal_left_ = literal_size_;
        state_ = State::kLiteralData;
        if (literal_left_ == 0) end_literal();
        break;
      }
      case State::kLiteralData: break;  // handled before the switch
    }
  }
  compact();
  return Event{};
}

}  // namespace postline::managesieve
