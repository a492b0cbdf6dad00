#include "services/imap-access/protocol/mailbox_name.h"

#include <algorithm>
#include <cstdint>
#include <vector>

namespace postline::imap {

namespace {
// Decodes one UTF-8 code point; returns false on invalid input.
bool next_code_point(std::string_view s, size_t& i, uint32_t& cp) {
  unsigned char c = s[i];
  size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return false;
  cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (size_t k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d & 0xC0) != 0x80) return false;
    cp = (cp << 6) | (d & 0x3F);
  }
  i += n;
  return true;
}
}  // namespace

bool valid_utf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t at = i;
    uint32_t cp = 0;
    if (!next_code_point(s, i, cp)) return false;
    const size_t n = i - at;
    if ((n == 2 && cp < 0x80) || (n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000)) return false;  // overlong
    if ((cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF) return false;
  }
  return true;
}

bool list_match(std::string_view p, std::string_view n, char delim) {
  // The pattern as a small NFA: live[i] means "the first i pattern octets can have
  // matched the name so far". Backtracking to the last wildcard only is wrong when
  // '*' and '%' mix ("*%" must match "a/b": '*' takes "a/", '%' takes "b"), so every
  // position is tracked; O(pattern x name), no recursion.
  std::vector<char> live(p.size() + 1, 0), next(p.size() + 1, 0);
  auto close = [&](std::vector<char>& set) {  // a wildcard also matches nothing
    for (size_t i = 0; i < p.size(); ++i)
      if (set[i] && (p[i] == '*' || p[i] == '%')) set[i + 1] = 1;
  };
  live[0] = 1;
  close(live);
  for (char c : n) {
    std::fill(next.begin(), next.end(), 0);
    bool any = false;
    for (size_t i = 0; i < p.size(); ++i) {
      if (!live[i]) continue;
      if (p[i] == '*' || (p[i] == '%' && c != delim)) next[i] = any = true;
      else if (p[i] == c && p[i] != '%' && p[i] != '*') next[i + 1] = any = true;
    }
    if (!any) return false;
    close(next);
    live.swap(next);
  }
  return live[p.size()];
}

}  // namespace postline::imap
