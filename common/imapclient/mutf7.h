// Modified UTF-7 (RFC 3501 5.1.3), the encoding of IMAP mailbox names on
// servers without UTF8=ACCEPT, and of Dovecot's Maildir++ folder names.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::imapclient {

// To UTF-8. nullopt when `name` is not valid modified UTF-7, strictly: an 8-bit
// octet, "&" without "-", a base64 run that is empty, encodes a printable US-ASCII
// character, leaves non-zero or 6+ bits over, or holds an unpaired surrogate.
// The import then keeps the name as it was sent; imapd answers BAD.
std::optional<std::string> decode_mutf7(std::string_view name);
// From UTF-8 (imapd's mailbox names to IMAP4rev1 clients, naming a folder to a
// server). Invalid UTF-8 octets are encoded as U+FFFD.
std::string encode_mutf7(std::string_view utf8);

// Whether `s` is well-formed UTF-8 (no overlong forms, surrogates or > U+10FFFF):
// imapd checks UTF-8 mailbox names with it (UTF8=ACCEPT, IMAP4rev2).
bool valid_utf8(std::string_view s);

}  // namespace postline::imapclient
