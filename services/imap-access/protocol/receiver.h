// Command framing for IMAP (RFC 9051 2.2, 4.3; RFC 7888 LITERAL+/LITERAL-),
// sans-I/O: bytes in, complete commands out. A command is one line, or several
// lines joined by literals; the receiver returns it whole, literals inline
// ("{5}\r\nhello"), so the Reader can parse it in one pass. It enforces the
// line and literal limits itself and tells the session when to send a
// continuation request for a synchronising literal.
#pragma once

#include "common/net/byte_budget.h"

#include <cstdint>
#include <string>
#include <string_view>

namespace postline::imap {

struct ReceiverLimits {
  size_t max_line = 65536;            // command text, literals excluded
  uint64_t max_literal = 50u << 20;   // one literal (APPENDLIMIT)
  // Literal bytes all connections may buffer at once (imap.max_inflight_literals);
  // null = no ceiling. Shared, so it outlives every receiver.
  net::ByteBudget* budget = nullptr;
  // One command's line text and literals together; 0 = only the other limits.
  // Before login it is small (imap.max_unauthenticated_command): LOGIN and
  // AUTHENTICATE need a few hundred bytes, and a stranger must not make the
  // server hold megabytes.
  uint64_t max_command = 0;
  // Budget bytes charged per literal byte: a command holds its literal more
  // than once while it runs (the command text, the parsed argument, the
  // stored form, the database client's buffers), so the budget is charged
  // for all of them up front and bounds the memory, not one copy of it.
  uint64_t cost_factor = 1;
};

class Receiver {
 public:
  enum class Kind {
    kNeedMore,      // feed more bytes
    kCommand,       // `text` is one complete command, without the final CRLF
    kContinue,      // send "+ ..." now: a synchronising literal was accepted
    kLineTooLong,   // the line was discarded; `text` holds its tag if one was seen
    kLiteralTooBig, // synchronising literal refused (no bytes will follow); `text` = tag
    kFatal,         // non-synchronising literal over the limit: say BYE and close
    kBusy,          // refused for now, the shared literal budget is full: answer NO [UNAVAILABLE]
                    // to `text` (the tag); the command is over (its bytes were not kept)
  };
  struct Event {
    Kind kind = Kind::kNeedMore;
    std::string text;
    uint64_t literal_size = 0;  // for kLiteralTooBig/kFatal
  };

  explicit Receiver(ReceiverLimits limits = {}) : limits_(limits), lease_(limits.budget) {}
  void feed(std::string_view bytes) { buffer_.append(bytes); }
  Event next();
  // Drops everything buffered (after STARTTLS: plaintext bytes sent before the
  // handshake must never be processed as if they came over TLS).
  void reset();
  size_t buffered() const { return buffer_.size() - pos_; }
  // Hands over the bytes not yet consumed and resets the framing: after
  // COMPRESS (RFC 4978) whatever followed the command's CRLF is part of the
  // compressed stream, so it goes to the inflater rather than being parsed.
  std::string take_buffered();
  const ReceiverLimits& limits() const { return limits_; }
  // New limits from the next command on (after login; after UNAUTHENTICATE);
  // the shared budget stays the one given at construction.
  void set_limits(const ReceiverLimits& limits) {
    limits_.max_line = limits.max_line;
    limits_.max_literal = limits.max_literal;
    limits_.max_command = limits.max_command;
    limits_.cost_factor = limits.cost_factor;
  }
  // The last kCommand has been handled: its literal bytes leave the budget.
  void command_done() { lease_.reset(); }

 private:
  void compact();
  ReceiverLimits limits_;
  net::ByteLease lease_;     // the literal bytes of the command being assembled or handled
  // The budget ran out while a literal's bytes were arriving: the rest of the
  // command is consumed without being kept, then answered kBusy with this tag.
  bool busy_ = false;
  std::string busy_tag_;
  void go_busy();
  std::string buffer_;
  size_t pos_ = 0;           // consumed up to here
  std::string command_;      // the command assembled so far
  size_t line_bytes_ = 0;    // non-literal bytes in command_
  uint64_t literal_left_ = 0;
  bool in_literal_ = false;
  bool discarding_ = false;  // skipping the rest of an over-long line
};

// The tag of a (possibly partial) command line, if it starts with a valid one.
std::string extract_tag(std::string_view line);

}  // namespace postline::imap
