// Mailbox names on the wire: modified UTF-7 (RFC 3501 5.1.3) for IMAP4rev1
// clients, UTF-8 once UTF8=ACCEPT/IMAP4rev2 is enabled. The store keeps UTF-8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::imap {

// nullopt when `s` is not valid modified UTF-7 (RFC 3501 5.1.3), strictly: an 8-bit
// octet, "&" without "-", a base64 run that is empty, encodes a printable US-ASCII
// character, leaves non-zero or 6+ bits over, or holds an unpaired surrogate.
std::optional<std::string> mutf7_decode(std::string_view s);
// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or > U+10FFFF).
bool valid_utf8(std::string_view s);
std::string mutf7_encode(std::string_view utf8);

// LIST pattern matching: '*' matches anything, '%' anything but the delimiter.
bool list_match(std::string_view pattern, std::string_view name, char delimiter = '/');

}  // namespace postline::imap
