// A minimal, bounded RFC 5322 splitter for authentication purposes: header fields
// exactly as received (DKIM "simple" needs the raw bytes) and the body. It is not a
// MIME parser (that is common/mime); it only needs to be exact and safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mailauth {

struct MessageLimits {
  size_t max_message_bytes = 64 * 1024 * 1024;
  size_t max_header_bytes = 1024 * 1024;
  size_t max_header_fields = 1000;
  size_t max_field_bytes = 64 * 1024;
};

struct HeaderField {
  std::string name;  // as written, without trailing whitespace before ':'
  std::string raw;   // the whole field: name, ':', value, continuation lines, final CRLF
  // The value: everything after the ':' up to (not including) the final CRLF.
  std::string_view value() const;
};

struct ParsedMessage {
  std::vector<HeaderField> headers;  // in order, top first
  std::string body;                  // bytes after the empty line, CRLF line ends
};

// Bare LF line ends (common when mail was stored by Unix tools) are converted to
// CRLF first, as DKIM canonicalisation is defined on CRLF. Lines in the header block
// without a colon are dropped: they cannot be signed meaningfully and dropping them
// matches what a strict receiver would see. Returns nullopt with *error on a limit.
std::optional<ParsedMessage> parse_message(std::string_view message, std::string* error = nullptr,
                                           const MessageLimits& limits = {});

std::string to_crlf(std::string_view text);

}  // namespace postline::mailauth
