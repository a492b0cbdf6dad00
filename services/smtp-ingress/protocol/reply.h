// SMTP reply formatting (RFC 5321 §4.2). Kept apart from the session so every
// reply, single or multi-line, is built the same way: "CODE[-| ]ENH text\r\n".
#pragma once

#include <string>
#include <string_view>
#include <vector>

namespace postline::smtp {

// One-line reply. `enhanced` (RFC 3463, e.g. "5.5.2") may be empty for the
// greeting and the HELO/EHLO replies, which RFC 2034 leaves without one.
std::string format_reply(int code, std::string_view enhanced, std::string_view text);

// Multi-line reply: every line but the last uses "CODE-".
std::string format_multiline(int code, std::string_view enhanced, const std::vector<std::string>& lines);

}  // namespace postline::smtp
