// Helpers shared by the postline_mime translation units; not part of the API.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "common/mime/mime.h"

namespace postline::mime::detail {

inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }
inline bool is_wsp(char c) { return c == ' ' || c == '\t'; }
std::string lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
std::string_view trim(std::string_view s);

// Scans a header block in raw[start, end). Appends fields (within limits) and returns the
// offset where the body starts: just past the blank line, or `end` when there is none.
// Sets *truncated when a limit dropped fields.
std::uint64_t parse_header_block(std::string_view raw, std::uint64_t start, std::uint64_t end,
                                 const Limits& limits, std::vector<HeaderField>* fields,
                                 bool* truncated);

// Content-Type / Content-Disposition style value: a leading token (or type/subtype) and
// ";"-separated parameters, with RFC 2231 continuations/charsets decoded.
struct ContentValue {
  std::string token;     // "text/plain" (lowercased, whitespace/comments removed)
  std::vector<Param> params;
};
ContentValue parse_content_value(std::string_view value, std::size_t max_params);

Envelope build_envelope(const std::vector<HeaderField>& fields);
std::vector<Address> parse_address_list(std::string_view value);

bool valid_utf8(std::string_view s);
// Windows-1252 (a superset of Latin-1 printable range) to UTF-8; the safe fallback.
std::string cp1252_to_utf8(std::string_view s);
using mime::append_utf8;  // public in mime.h

}  // namespace postline::mime::detail
