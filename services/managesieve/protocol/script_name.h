// Script names (RFC 5804 1.6): UTF-8 (RFC 5198's Net-Unicode) without the
// control characters U+0000-001F and U+007F-009F and without U+2028/U+2029,
// at least 1 and (RFC 5804: servers must allow up to 128) at most 128
// characters; names are compared octet for octet (no normalisation).
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace postline::managesieve {

inline constexpr std::size_t kMaxScriptNameChars = 128;

// Why `name` is not a valid script name, or nullopt when it is.
std::optional<std::string> script_name_error(std::string_view name);

}  // namespace postline::managesieve
