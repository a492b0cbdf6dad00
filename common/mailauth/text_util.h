// Small ASCII string helpers shared by the mailauth parsers. Mail authentication
// protocols are defined over US-ASCII and compare names case-insensitively, so
// everything here is deliberately locale-free.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mailauth {

inline bool is_wsp(char c) { return c == ' ' || c == '\t'; }
inline char ascii_lower(char c) { return (c >= 'A' && c <= 'Z') ? char(c + 32) : c; }
inline bool is_alpha(char c) { return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z'); }
inline bool is_digit(char c) { return c >= '0' && c <= '9'; }
inline bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }

std::string to_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool istarts_with(std::string_view s, std::string_view prefix);
bool iends_with(std::string_view s, std::string_view suffix);
// Trims spaces, tabs, CR and LF (folding whitespace) from both ends.
std::string_view trim_fws(std::string_view s);
// Removes every space, tab, CR and LF (used for base64 values that may be folded).
std::string strip_fws(std::string_view s);
std::vector<std::string_view> split(std::string_view s, char sep);

std::string base64_encode(std::string_view data);
// Strict decoder: whitespace is ignored, any other non-alphabet byte or bad padding fails.
std::optional<std::string> base64_decode(std::string_view text);

// Parses a non-negative decimal with at most max_digits digits (no sign, no spaces).
std::optional<uint64_t> parse_uint(std::string_view s, size_t max_digits = 19);

// Lower-cases and removes one trailing dot. Returns nullopt when the name is not a
// syntactically acceptable DNS name for our purposes (labels 1..63 bytes of
// letters, digits, '-', '_', total <= 253). Used before any name reaches DNS so
// hostile input cannot make us query arbitrary byte strings.
std::optional<std::string> normalize_domain(std::string_view name);

}  // namespace postline::mailauth
