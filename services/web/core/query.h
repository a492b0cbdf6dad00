// The query string of a request target, decoded as
// application/x-www-form-urlencoded ('+' is a space, %XX an octet), which is
// how Thunderbird and browsers send ?emailaddress=a%2Bb%40example.org.
// common/urlauth's percent_decode is for IMAP URL parts (no '+', a closed set
// of literal characters) and does not fit here.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::web {

// One application/x-www-form-urlencoded component decoded: '+' is a space,
// %XX an octet; nullopt for a malformed escape or a NUL octet.
std::optional<std::string> form_decode(std::string_view s);

// The path part of `target` (before '?').
std::string_view target_path(std::string_view target);

// The decoded value of the first `name` parameter; nullopt when absent or
// when its value has a malformed %XX escape or decodes to a NUL octet.
std::optional<std::string> query_param(std::string_view target, std::string_view name);

// The other way round: a query-string component with the unreserved
// characters (RFC 3986 2.3) as they are and every other octet as %XX.
std::string url_encode(std::string_view s);

}  // namespace postline::web
