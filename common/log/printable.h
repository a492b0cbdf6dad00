// Text from a peer (or about its bytes) made safe for one log line: control
// characters, DEL, '"' and '\' become \xNN, so a line cannot be split or
// forged, and it is cut at `max` characters ("..." marks the cut). Header-only
// so a sans-I/O library can use it without linking spdlog. authd's audit lines
// use it too (services/auth/server/context.h printable() forwards here).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postline::log {

inline std::string printable(std::string_view s, size_t max = 128) {
  static constexpr char kHex[] = "0123456789abcdef";
  std::string out;
  for (unsigned char c : s) {
    if (out.size() >= max) {
      out += "...";
      break;
    }
    if (c < 0x20 || c == 0x7f || c == '"' || c == '\\') {
      out += "\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else {
      out += static_cast<char>(c);
    }
  }
  return out;
}

// A value for a log tag ("[u:...]", common/log/record.h) made from a string a
// peer chose: printable() with ' ', '[' and ']' escaped as \xNN too, so the
// value cannot end its tag early and forge the next one. Never empty ("-").
inline std::string tag_value(std::string_view s, size_t max = 128) {
  std::string out;
  for (char c : printable(s, max)) {
    if (c == ' ') out += "\\x20";
    else if (c == '[') out += "\\x5b";
    else if (c == ']') out += "\\x5d";
    else out += c;
  }
  return out.empty() ? std::string("-") : out;
}

}  // namespace postline::log
