// Text from peers and scripts (remote replies, host names, exception
// messages, Sieve reasons and addresses) on its way into `text` columns:
// PostgreSQL refuses invalid UTF-8 and NUL, and a refused UPDATE after a
// remote 250 would roll the batch back and deliver again. So: invalid bytes
// become '?', control characters spaces, and the length is cut on a
// character boundary.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postline::queue {

inline std::string safe_text(std::string_view s, size_t n = 400) {
  std::string out;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    bool valid = len > 0 && i + len <= s.size();
    for (size_t k = 1; valid && k < len; ++k) valid = (static_cast<unsigned char>(s[i + k]) & 0xc0) == 0x80;
    if (!valid) len = 1;
    if (out.size() + (valid ? len : 1) > n) break;
    if (!valid) out += '?';
    else if (len == 1 && (c < 0x20 || c == 0x7f)) out += ' ';
    else out.append(s.substr(i, len));
    i += len;
  }
  return out;
}

}  // namespace postline::queue
