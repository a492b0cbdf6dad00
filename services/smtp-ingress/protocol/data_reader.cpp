#include "services/smtp-ingress/protocol/data_reader.h"

#include <cstring>

namespace postline::smtp {

void DataReader::reset(uint64_t max_size) {
  message_.clear();
  max_size_ = max_size;
  size_ = 0;
  state_ = State::kLineStart;
  cr_pending_ = false;
  done_ = false;
  discard_ = false;
  bare_newline_ = false;
}

void DataReader::put(char c) {
  ++size_;
  if (size_ <= max_size_ && !discard_) message_.push_back(c);
}

void DataReader::put(std::string_view s) {
  if (size_ < max_size_ && !discard_) message_.append(s.substr(0, static_cast<size_t>(max_size_ - size_)));
  size_ += s.size();
}

size_t DataReader::feed(std::string_view in) {
  size_t i = 0;
  while (i < in.size() && !done_) {
    // Fast path: the middle of a line up to the next CR or LF.
    if (state_ == State::kInLine && !cr_pending_) {
      size_t j = i;
      while (j < in.size() && in[j] != '\r' && in[j] != '\n') ++j;
      if (j > i) {
        put(in.substr(i, j - i));
        i = j;
        continue;
      }
    }
    const char c = in[i++];
    if (cr_pending_) {
      cr_pending_ = false;
      if (c == '\n') {
        if (state_ == State::kDotAtLineStart) {
          done_ = true;  // <CRLF>.<CRLF>
          break;
        }
        put(std::string_view("\r\n"));
        state_ = State::kLineStart;
        continue;
      }
      // A CR not followed by LF: keep it as data, never as a line end.
      bare_newline_ = true;
      put('\r');
      state_ = State::kInLine;
    }
    if (c == '\r') {
      cr_pending_ = true;
    } else if (c == '\n') {
      bare_newline_ = true;  // an LF without CR: data, not a line end
      put('\n');
      state_ = State::kInLine;
    } else if (state_ == State::kLineStart && c == '.') {
      state_ = State::kDotAtLineStart;  // the stuffed (or final) dot is dropped
    } else {
      put(c);
      state_ = State::kInLine;
    }
  }
  return i;
}

}  // namespace postline::smtp
