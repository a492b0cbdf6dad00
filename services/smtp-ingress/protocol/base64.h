// Strict base64 (RFC 4648 §4) for SASL exchanges: padding required, no
// whitespace, no characters outside the alphabet.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::smtp {

std::optional<std::string> base64_decode(std::string_view in);
std::string base64_encode(std::string_view in);

}  // namespace postline::smtp
