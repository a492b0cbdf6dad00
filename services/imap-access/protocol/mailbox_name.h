// Mailbox names on the wire: modified UTF-7 (RFC 3501 5.1.3) for IMAP4rev1
// clients, UTF-8 once UTF8=ACCEPT/IMAP4rev2 is enabled. The store keeps UTF-8.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include "common/imapclient/mutf7.h"

namespace postline::imap {

// nullopt when `s` is not valid modified UTF-7 (RFC 3501 5.1.3), strictly: an 8-bit
// octet, "&" without "-", a base64 run that is empty, encodes a printable US-ASCII
// character, leaves non-zero or 6+ bits over, or holds an unpaired surrogate.
inline std::optional<std::string> mutf7_decode(std::string_view s) { return imapclient::decode_mutf7(s); }
// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or > U+10FFFF).
inline bool valid_utf8(std::string_view s) { return imapclient::valid_utf8(s); }
// Invalid UTF-8 octets are encoded as U+FFFD. Both are common/imapclient/mutf7.h,
// the one codec (the import reads folder names with it too).
inline std::string mutf7_encode(std::string_view utf8) { return imapclient::encode_mutf7(utf8); }

// LIST pattern matching: '*' matches anything, '%' anything but the delimiter.
bool list_match(std::string_view pattern, std::string_view name, char delimiter = '/');

}  // namespace postline::imap
