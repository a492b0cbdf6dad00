#include "services/smtp-ingress/protocol/data_reader.h"

#include <algorithm>
#include <cstring>

namespace postline::smtp {

void DataReader::reset(uint64_t max_size, uint64_t expected, size_t headroom) {
  message_.clear();
  if (expected) message_.reserve(static_cast<size_t>(std::min({expected, max_size, kMaxReserve})) + headroom);
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
  const char* p = in.data();
  const size_t n = in.size();
  // The next CR / LF at or after a position, found with memchr and remembered:
  // positions only grow within one call, so every byte is scanned at most once
  // per character (no quadratic rescans however the CRs and LFs are placed).
  size_t cr_at = 0, lf_at = 0;
  bool cr_known = false, lf_known = false;
  auto next = [p, n](char ch, size_t from, size_t& at, bool& known) {
    if (!known || at < from) {
      const void* hit = std::memchr(p + from, ch, n - from);
      at = hit ? static_cast<size_t>(static_cast<const char*>(hit) - p) : n;
      known = true;
    }
    return at;
  };
  size_t i = 0;
  while (i < n && !done_) {
    if (!cr_pending_ && state_ != State::kDotAtLineStart && !(state_ == State::kLineStart && p[i] == '.')) {
      // Fast path: whole CRLF lines with no bare CR or LF inside, none of the
      // following ones starting with a dot, stored as one block.
      size_t j = i;
      for (;;) {
        const size_t cr = next('\r', j, cr_at, cr_known);
        if (cr + 1 >= n || p[cr + 1] != '\n') break;
        if (next('\n', j, lf_at, lf_known) < cr) break;  // a bare LF before the CR
        j = cr + 2;
        if (j >= n || p[j] == '.') break;
      }
      if (j > i) {
        put(in.substr(i, j - i));
        i = j;
        state_ = State::kLineStart;
        continue;
      }
      // Then the rest of a line up to its next CR or LF.
      const size_t end = std::min(next('\r', i, cr_at, cr_known), next('\n', i, lf_at, lf_known));
      if (end > i) {
        put(in.substr(i, end - i));
        i = end;
        state_ = State::kInLine;
        continue;
      }
    }
    // One octet at a time: CR, LF and a dot at the start of a line.
    const char c = p[i++];
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
