#include "common/mailauth/message.h"

#include "common/mailauth/text_util.h"

#include <cstring>

namespace postline::mailauth {

std::string_view HeaderField::value() const {
  std::string_view r = raw;
  size_t colon = r.find(':');
  if (colon == std::string_view::npos) return {};
  r.remove_prefix(colon + 1);
  if (r.size() >= 2 && r.substr(r.size() - 2) == "\r\n") r.remove_suffix(2);
  return r;
}

std::string to_crlf(std::string_view text) {
  // Line by line (memchr), not byte by byte: mail from smtpd is CRLF already,
  // and this runs over every inbound message (4 % of smtpd's CPU as a loop).
  std::string out;
  out.reserve(text.size() + text.size() / 32);
  size_t i = 0;
  while (i < text.size()) {
    const void* hit = std::memchr(text.data() + i, '\n', text.size() - i);
    if (!hit) {
      out.append(text.substr(i));
      break;
    }
    const size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - text.data());
    out.append(text.substr(i, lf - i));
    if (lf == 0 || text[lf - 1] != '\r') out.push_back('\r');
    out.push_back('\n');
    i = lf + 1;
  }
  return out;
}

// Whether some LF is not preceded by a CR (to_crlf would change the text).
static bool has_bare_lf(std::string_view text) {
  size_t i = 0;
  while (i < text.size()) {
    const void* hit = std::memchr(text.data() + i, '\n', text.size() - i);
    if (!hit) return false;
    const size_t lf = static_cast<size_t>(static_cast<const char*>(hit) - text.data());
    if (lf == 0 || text[lf - 1] != '\r') return true;
    i = lf + 1;
  }
  return false;
}

static bool fail(std::string* error, const char* msg) {
  if (error) *error = msg;
  return false;
}

std::optional<ParsedMessage> parse_message(std::string_view message, std::string* error,
                                           const MessageLimits& limits) {
  if (message.size() > limits.max_message_bytes) {
    fail(error, "message too large");
    return std::nullopt;
  }
  // Mail from smtpd is CRLF already: then the header fields and the body are
  // copied out of the input directly, not out of a converted copy of all of it.
  std::string converted;
  std::string_view text = message;
  if (has_bare_lf(message)) {
    converted = to_crlf(message);
    text = converted;
  }
  ParsedMessage out;
  size_t pos = 0;
  size_t header_bytes = 0;
  HeaderField* current = nullptr;
  while (pos < text.size()) {
    size_t eol = text.find("\r\n", pos);
    size_t line_end = eol == std::string::npos ? text.size() : eol + 2;
    std::string_view line(text.data() + pos, line_end - pos);
    if (line == "\r\n") {  // end of header block
      pos = line_end;
      break;
    }
    header_bytes += line.size();
    if (header_bytes > limits.max_header_bytes) {
      fail(error, "header block too large");
      return std::nullopt;
    }
    if (is_wsp(line[0])) {  // continuation
      // A continuation of a dropped line (or of nothing) is dropped with it.
      if (current) {
        current->raw.append(line);
        if (current->raw.size() > limits.max_field_bytes) {
          fail(error, "header field too large");
          return std::nullopt;
        }
      }
    } else {
      size_t colon = line.find(':');
      if (colon == std::string_view::npos || colon == 0) {
        current = nullptr;
      } else {
        std::string_view name = line.substr(0, colon);
        while (!name.empty() && is_wsp(name.back())) name.remove_suffix(1);
        if (out.headers.size() >= limits.max_header_fields) {
          fail(error, "too many header fields");
          return std::nullopt;
        }
        out.headers.push_back({std::string(name), std::string(line)});
        current = &out.headers.back();
      }
    }
    pos = line_end;
  }
  // A final header line without CRLF (message with no body at all): make the raw
  // field end in CRLF so canonicalisation sees a complete line.
  if (!out.headers.empty()) {
    auto& last = out.headers.back().raw;
    if (last.size() < 2 || last.compare(last.size() - 2, 2, "\r\n") != 0) last += "\r\n";
  }
  if (pos < text.size()) {
    if (converted.empty()) {
      out.body.assign(text.substr(pos));
    } else {
      // Reuse the converted buffer for the body instead of copying it again.
      converted.erase(0, pos);
      out.body = std::move(converted);
    }
  }
  return out;
}

}  // namespace postline::mailauth
