#include "services/imap-access/protocol/receiver.h"

#include <algorithm>

namespace postline::imap {

namespace {

bool is_tag_char(char c) {
  // tag = 1*<any ASTRING-CHAR except "+">
  unsigned char u = c;
  if (u <= 0x20 || u >= 0x7f) return false;
  return c != '(' && c != ')' && c != '{' && c != '%' && c != '*' && c != '"' && c != '\\' && c != '+';
}

// Recognises a literal announcement "{N}", "{N+}" or "{N-}" at the end of a
// line (CRLF already removed). Returns false if the line does not end in one.
bool literal_suffix(std::string_view line, uint64_t& size, bool& sync, bool& overflow) {
  if (line.empty() || line.back() != '}') return false;
  size_t close = line.size() - 1;
  size_t open = line.rfind('{');
  if (open == std::string_view::npos) return false;
  std::string_view inner = line.substr(open + 1, close - open - 1);
  sync = true;
  if (!inner.empty() && (inner.back() == '+' || inner.back() == '-')) {
    sync = false;
    inner.remove_suffix(1);
  }
  if (inner.empty() || inner.size() > 64) return false;
  size = 0;
  overflow = false;
  for (char c : inner) {
    if (c < '0' || c > '9') return false;
    if (size > (UINT64_MAX - 9) / 10) overflow = true;
    else size = size * 10 + (c - '0');
  }
  return true;
}

}  // namespace

std::string extract_tag(std::string_view line) {
  size_t n = 0;
  while (n < line.size() && n < 64 && is_tag_char(line[n])) ++n;
  if (n == 0 || (n < line.size() && line[n] != ' ')) return "";
  return std::string(line.substr(0, n));
}

void Receiver::reset() {
  buffer_.clear();
  pos_ = 0;
  command_.clear();
  line_bytes_ = 0;
  literal_left_ = 0;
  in_literal_ = false;
  discarding_ = false;
  busy_ = false;
  lease_.reset();
}

std::string Receiver::take_buffered() {
  std::string rest = buffer_.substr(pos_);
  reset();
  return rest;
}

void Receiver::compact() {
  if (pos_ > 0 && (pos_ >= buffer_.size() || pos_ > 65536)) {
    buffer_.erase(0, pos_);
    pos_ = 0;
  }
  // A burst (an APPEND's literal) must not leave an idle connection holding
  // its buffer: imapd keeps thousands of idle connections.
  if (buffer_.empty() && buffer_.capacity() > 4096) std::string().swap(buffer_);
}

void Receiver::go_busy() {
  busy_ = true;
  busy_tag_ = extract_tag(command_);
  std::string().swap(command_);
  lease_.reset();
}

Receiver::Event Receiver::next() {
  for (;;) {
    if (in_literal_) {
      size_t take = static_cast<size_t>(std::min<uint64_t>(literal_left_, buffer_.size() - pos_));
      if (!busy_) {
        command_.append(buffer_, pos_, take);
        // Bytes are charged to the shared budget as they arrive, so a client
        // that announces a literal and sends nothing holds no share.
        if (!lease_.cover(command_.size() * limits_.cost_factor)) go_busy();
      }
      pos_ += take;
      literal_left_ -= take;
      if (literal_left_ > 0) {
        compact();
        return {};
      }
      in_literal_ = false;
      continue;  // the command continues on the line after the literal
    }
    size_t lf = buffer_.find('\n', pos_);
    if (discarding_) {
      if (lf == std::string::npos) {
        pos_ = buffer_.size();
        compact();
        return {};
      }
      pos_ = lf + 1;
      discarding_ = false;
      continue;
    }
    if (lf == std::string::npos) {
      if (line_bytes_ + (buffer_.size() - pos_) > limits_.max_line) {
        Event e{Kind::kLineTooLong, extract_tag(command_.empty() ? std::string_view(buffer_).substr(pos_)
                                                                 : std::string_view(command_))};
        command_.clear();
        lease_.reset();
        busy_ = false;
        line_bytes_ = 0;
        discarding_ = true;
        pos_ = buffer_.size();
        compact();
        return e;
      }
      compact();
      return {};
    }
    // A line: accept CRLF and, leniently, a bare LF.
    size_t end = lf;
    if (end > pos_ && buffer_[end - 1] == '\r') --end;
    std::string_view line(buffer_.data() + pos_, end - pos_);
    if (line_bytes_ + line.size() > limits_.max_line) {
      Event e{Kind::kLineTooLong, extract_tag(command_.empty() ? line : std::string_view(command_))};
      command_.clear();
      lease_.reset();
      busy_ = false;
      line_bytes_ = 0;
      pos_ = lf + 1;
      compact();
      return e;
    }
    uint64_t size = 0;
    bool sync = true, overflow = false;
    if (literal_suffix(line, size, sync, overflow)) {
      if (!busy_) {
        command_.append(line);
        command_ += "\r\n";
      }
      line_bytes_ += line.size() + 2;
      pos_ = lf + 1;
      if (busy_ && sync) {  // the client waits for "+": end the command here instead
        Event e{Kind::kBusy, busy_tag_};
        e.literal_size = size;
        busy_ = false;
        line_bytes_ = 0;
        compact();
        return e;
      }
      const bool command_too_big =
          limits_.max_command > 0 && command_.size() + size > limits_.max_command;
      if (overflow || size > limits_.max_literal || command_too_big) {
        Event e{sync ? Kind::kLiteralTooBig : Kind::kFatal, extract_tag(command_)};
        e.literal_size = overflow ? UINT64_MAX : size;
        command_.clear();
        lease_.reset();
        busy_ = false;
        line_bytes_ = 0;
        compact();
        return e;
      }
      // A synchronising literal is invited ("+") only if it fits now; a
      // non-synchronising one is on its way anyway: if it does not fit, it is
      // consumed and the command answered kBusy at its end.
      if (!busy_ && !lease_.fits((command_.size() + size) * limits_.cost_factor)) {
        if (sync) {
          Event e{Kind::kBusy, extract_tag(command_)};
          e.literal_size = size;
          command_.clear();
          line_bytes_ = 0;
          lease_.reset();
          compact();
          return e;
        }
        go_busy();
      }
      // One allocation for the whole literal (it fits the budget): growing by
      // doubling would hold up to twice its size while it arrives.
      if (!busy_ && size > 0) command_.reserve(command_.size() + size + 64);
      in_literal_ = size > 0;
      literal_left_ = size;
      if (sync) {
        compact();
        return Event{Kind::kContinue, ""};
      }
      continue;
    }
    pos_ = lf + 1;
    if (busy_) {
      Event e{Kind::kBusy, busy_tag_};
      busy_ = false;
      line_bytes_ = 0;
      compact();
      return e;
    }
    command_.append(line);
    Event e{Kind::kCommand, std::move(command_)};
    command_.clear();
    line_bytes_ = 0;
    compact();
    return e;
  }
}

}  // namespace postline::imap
