// Response encoding (RFC 9051 7, 9): every string a client sees goes through
// here so it is an atom, a correctly escaped quoted string, or a literal when
// quoting is impossible (CR, LF, 8-bit, or long). NUL is in no IMAP string,
// quoted or literal (CHAR8 excludes it), so strings lose their NULs here.
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imap {

// The one IMAP string encoder (ENVELOPE, BODYSTRUCTURE, mailbox names, quota
// roots, PREVIEW ... all come through here). NULs are dropped; the rest is a
// quoted string when it is at most kMaxQuoted bytes without CR, LF or 8-bit
// bytes, else a {n} literal.
inline constexpr size_t kMaxQuoted = 1000;
void append_string(std::string& out, std::string_view s);
void append_nstring(std::string& out, const std::optional<std::string>& s);  // NIL / string

std::string quoted_or_literal(std::string_view s);            // string
std::string astring(std::string_view s);                      // atom when safe
std::string nstring(const std::optional<std::string>& s);     // NIL / string
// Body bytes as they are (FETCH BODY[]), not strings: nothing is dropped
// (a NUL is sent as 0x80, see replace_nul).
std::string literal(std::string_view bytes);                  // {n}\r\n<bytes>
// Appends {n}\r\n<bytes> (or ~{n}\r\n<bytes>, literal8, when `binary`) to `out`
// without a temporary: FETCH bodies are copied once, into the response.
void append_literal(std::string& out, std::string_view bytes, bool binary = false);
// NUL octets become 0x80 in place: what a {n} literal (not literal8) sends.
void replace_nul(char* bytes, size_t size);
std::string flag_list(const std::vector<std::string>& flags); // (\Seen foo)

// "25-Nov-2026 19:00:00 +0000" (date-time) from seconds since the epoch (UTC).
std::string imap_datetime(int64_t unix_seconds);
// Parses an APPEND date-time ("dd-Mon-yyyy hh:mm:ss +zzzz", day may be space-padded).
std::optional<int64_t> parse_imap_datetime(std::string_view s);

enum class Status { kOk, kNo, kBad };
// "<tag> OK [code] text\r\n"; code without brackets, may be empty.
std::string tagged(std::string_view tag, Status status, std::string_view code, std::string_view text);
std::string untagged(std::string_view text);  // "* text\r\n"

}  // namespace postline::imap
