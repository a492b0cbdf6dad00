// The DATA phase reader (RFC 5321 §4.1.1.4, §4.5.2): dot-unstuffing and the
// end-of-data marker, fed in arbitrary pieces.
//
// Only <CRLF>.<CRLF> ends a message. A bare CR or bare LF anywhere in the data
// is remembered (bare_newline()) and never treated as a line end, so "\n.\n"
// or "\r\n.\r" can neither end nor split a message (SMTP smuggling); the
// session then rejects the whole message. Storage stops at max_size; the rest
// is still consumed so the session stays in step with the client.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace postline::smtp {

class DataReader {
 public:
  // `expected`: how big the client said the message is (SIZE=), 0 = unknown;
  // the buffer is sized for it (and `headroom` more for the header fields
  // put above it at the end), up to kMaxReserve: a hint is not a promise,
  // and what is stored is what counts against the memory budget.
  void reset(uint64_t max_size, uint64_t expected = 0, size_t headroom = 0);
  static constexpr uint64_t kMaxReserve = 1024 * 1024;
  // Consumes bytes up to and including the end marker; returns how many.
  size_t feed(std::string_view in);
  bool done() const { return done_; }
  bool bare_newline() const { return bare_newline_; }
  bool too_big() const { return size_ > max_size_; }
  uint64_t size() const { return size_; }  // unstuffed octets seen, stored or not
  std::string take_message() { return std::move(message_); }
  size_t stored() const { return message_.size(); }
  // Stops storing (the rest is still consumed, like past max_size) and frees
  // what was stored: the session ran out of its share of memory.
  void discard() {
    discard_ = true;
    std::string().swap(message_);
  }

 private:
  enum class State { kLineStart, kDotAtLineStart, kInLine };
  void put(char c);
  void put(std::string_view s);
  std::string message_;
  uint64_t max_size_ = 0;
  uint64_t size_ = 0;
  State state_ = State::kLineStart;
  bool cr_pending_ = false;
  bool done_ = false;
  bool bare_newline_ = false;
  bool discard_ = false;
};

}  // namespace postline::smtp
