#include "services/imap-access/protocol/mailbox_name.h"

#include <algorithm>
#include <vector>

namespace postline::imap {

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
