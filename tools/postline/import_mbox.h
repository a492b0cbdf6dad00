// Reading an mbox file for `postline import mbox`: messages start at a
// "From " line at the start of the file or after an empty line (the From_
// line itself is not part of the message); the empty line before the next
// From_ line belongs to the file, not the message. Quoted From_ lines are
// un-quoted: mboxrd (default) removes one '>' from every line matching
// ^>+From , mboxo only turns ">From " into "From ". The From_ line's date
// (asctime, "Thu Dec  3 15:16:36 2026", UTC unless a numeric zone follows)
// becomes the INTERNALDATE; mutt/Pine-style Status:/X-Status:/X-Keywords:
// headers become flags. The reader streams: memory follows one message.
#pragma once

#include <cstdint>
#include <istream>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::cli::import {

enum class MboxFormat { kMboxrd, kMboxo };

struct MboxMessage {
  std::string bytes;                   // un-quoted, line endings as in the file
  std::optional<int64_t> from_time;    // the From_ line's date, when it parses
  std::vector<std::string> flags;      // IMAP flag names from Status:/X-Status:/X-Keywords:
  uint64_t line = 0;                   // line number of the From_ line (1-based)
  bool too_large = false;              // cut: over max_message bytes (bytes is empty)
};

class MboxReader {
 public:
  MboxReader(std::istream& in, MboxFormat format, size_t max_message);
  // The next message; false at the end. Throws std::runtime_error when the
  // file does not start like an mbox (naming the line).
  bool next(MboxMessage& out);

 private:
  bool read_line(std::string& line);
  std::istream& in_;
  MboxFormat format_;
  size_t max_message_;
  uint64_t line_no_ = 0;
  std::optional<std::string> pending_from_;  // a From_ line read ahead
  uint64_t pending_line_ = 0;
  bool started_ = false;
};

// The date of a From_ line ("From sender Thu Dec  3 15:16:36 2026"), as Unix
// seconds; nullopt when there is none.
std::optional<int64_t> parse_from_line_time(std::string_view from_line);
// Flags from the header section of a message (mbox conventions).
std::vector<std::string> mbox_header_flags(std::string_view message);

}  // namespace postline::cli::import
