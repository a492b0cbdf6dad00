// What the server sends (RFC 5804 4): strings, capability lines and the
// OK/NO/BYE responses with their optional response code and text.
// Sans-I/O: each function returns complete bytes, CRLF included.
#pragma once

#include <string>
#include <string_view>

namespace postline::managesieve {

// A string as the server sends it: quoted when it is valid UTF-8 of at most
// 1024 octets without NUL, CR or LF ('"' and '\' escaped), else a literal
// "{N}" CRLF octets (RFC 5804's literal-s2c).
std::string string_arg(std::string_view s);

enum class Status { kOk, kNo, kBye };

// `code` is the response code without its parentheses, already rendered
// ("QUOTA/MAXSIZE", "TAG " + string_arg(tag)); `text` the human-readable
// string (left out when empty).
std::string response(Status status, std::string_view code, std::string_view text);
inline std::string ok(std::string_view text, std::string_view code = {}) { return response(Status::kOk, code, text); }
inline std::string no(std::string_view text, std::string_view code = {}) { return response(Status::kNo, code, text); }
inline std::string bye(std::string_view text, std::string_view code = {}) { return response(Status::kBye, code, text); }

// One capability line: `"NAME"` or `"NAME" "value"`.
std::string capability_line(std::string_view name, std::string_view value = {}, bool has_value = false);

}  // namespace postline::managesieve
