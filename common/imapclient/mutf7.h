// Modified UTF-7 (RFC 3501 5.1.3), the encoding of IMAP mailbox names on
// servers without UTF8=ACCEPT, and of Dovecot's Maildir++ folder names.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::imapclient {

// To UTF-8. nullopt when `name` is not valid modified UTF-7 (an unclosed or
// badly padded "&...-" run, an invalid UTF-16 sequence, or a printable ASCII
// character that should not have been encoded); callers then keep the name
// as it was sent.
std::optional<std::string> decode_mutf7(std::string_view name);
// From UTF-8 (for tests and for naming a folder to a server). Invalid UTF-8
// bytes are passed through as U+FFFD.
std::string encode_mutf7(std::string_view utf8);

}  // namespace postline::imapclient
