// What the portal reads from a request besides the path: the form body of a
// POST (application/x-www-form-urlencoded) and the Cookie header. Both are
// bounded: a browser never sends more than a handful of fields or cookies to
// these pages, so anything larger is refused with a reason rather than stored.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <string_view>

namespace postline::web::portal {

inline constexpr size_t kMaxFormFields = 64;  // the filters page: 8 rules of 5 fields, the vacation's 4
inline constexpr size_t kMaxFormValue = 4096;   // a password or a label; octets after decoding
inline constexpr size_t kMaxCookies = 32;
inline constexpr size_t kMaxCookieHeader = 4096;

using Fields = std::map<std::string, std::string>;

// The fields of a form body; nullopt with `why` ("too many fields", "field
// 'x': malformed %-escape", ...) when it is not one. A repeated name keeps the
// first value. Names are at most 64 octets of [A-Za-z0-9_-].
std::optional<Fields> parse_form(std::string_view body, std::string* why);

// The value of cookie `name` in a Cookie header (RFC 6265 5.4 "name=value;
// name=value"); nullopt when absent, when the header is over the limits above,
// or malformed around that cookie. Values are returned as sent (no decoding).
std::optional<std::string> find_cookie(std::string_view header, std::string_view name);

}  // namespace postline::web::portal
