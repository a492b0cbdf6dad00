#include "common/imapclient/mutf7.h"

#include <cstdint>
#include <vector>

namespace postline::imapclient {

namespace {

constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";

int b64_value(char c) {
  if (c >= 'A' && c <= 'Z') return c - 'A';
  if (c >= 'a' && c <= 'z') return c - 'a' + 26;
  if (c >= '0' && c <= '9') return c - '0' + 52;
  if (c == '+') return 62;
  if (c == ',') return 63;
  return -1;
}

void append_utf8(std::string& out, uint32_t cp) {
  if (cp < 0x80) {
    out += static_cast<char>(cp);
  } else if (cp < 0x800) {
    out += static_cast<char>(0xc0 | (cp >> 6));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else if (cp < 0x10000) {
    out += static_cast<char>(0xe0 | (cp >> 12));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  } else {
    out += static_cast<char>(0xf0 | (cp >> 18));
    out += static_cast<char>(0x80 | ((cp >> 12) & 0x3f));
    out += static_cast<char>(0x80 | ((cp >> 6) & 0x3f));
    out += static_cast<char>(0x80 | (cp & 0x3f));
  }
}

// The next code point of UTF-8 text, or U+FFFD for an invalid sequence.
uint32_t next_code_point(std::string_view s, size_t& i) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (len == 0 || i + len > s.size()) {
    ++i;
    return 0xfffd;
  }
  uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
  for (size_t k = 1; k < len; ++k) {
    const unsigned char cc = static_cast<unsigned char>(s[i + k]);
    if ((cc >> 6) != 2) {
      ++i;
      return 0xfffd;
    }
    cp = (cp << 6) | (cc & 0x3f);
  }
  i += len;
  if (cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) return 0xfffd;
  return cp;
}

}  // namespace

std::optional<std::string> decode_mutf7(std::string_view name) {
  std::string out;
  size_t i = 0;
  while (i < name.size()) {
    const char c = name[i];
    if (static_cast<unsigned char>(c) >= 0x80) return std::nullopt;  // 8-bit: not modified UTF-7
    if (c != '&') {
      out += c;
      ++i;
      continue;
    }
    const size_t end = name.find('-', i + 1);
    if (end == std::string_view::npos) return std::nullopt;
    if (end == i + 1) {  // "&-" is '&'
      out += '&';
      i = end + 1;
      continue;
    }
    // Modified base64 of UTF-16BE.
    uint32_t bits = 0;
    int nbits = 0;
    std::vector<uint16_t> units;
    for (size_t k = i + 1; k < end; ++k) {
      const int v = b64_value(name[k]);
      if (v < 0) return std::nullopt;
      bits = (bits << 6) | static_cast<uint32_t>(v);
      nbits += 6;
      if (nbits >= 16) {
        nbits -= 16;
        units.push_back(static_cast<uint16_t>((bits >> nbits) & 0xffff));
      }
    }
    if (nbits >= 6 || (bits & ((1u << nbits) - 1)) != 0 || units.empty()) return std::nullopt;
    for (size_t k = 0; k < units.size(); ++k) {
      uint32_t u = units[k];
      if (u >= 0xd800 && u <= 0xdbff) {
        if (k + 1 >= units.size() || units[k + 1] < 0xdc00 || units[k + 1] > 0xdfff) return std::nullopt;
        u = 0x10000 + ((u - 0xd800) << 10) + (units[k + 1] - 0xdc00);
        ++k;
      } else if (u >= 0xdc00 && u <= 0xdfff) {
        return std::nullopt;
      } else if (u >= 0x20 && u <= 0x7e) {
        return std::nullopt;  // printable ASCII must not be encoded
      }
      append_utf8(out, u);
    }
    i = end + 1;
  }
  return out;
}

std::string encode_mutf7(std::string_view utf8) {
  std::string out;
  size_t i = 0;
  while (i < utf8.size()) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c >= 0x20 && c <= 0x7e) {
      out += c == '&' ? "&-" : std::string(1, static_cast<char>(c));
      ++i;
      continue;
    }
    std::vector<uint16_t> units;
    while (i < utf8.size()) {
      const unsigned char d = static_cast<unsigned char>(utf8[i]);
      if (d >= 0x20 && d <= 0x7e) break;
      uint32_t cp = next_code_point(utf8, i);
      if (cp >= 0x10000) {
        cp -= 0x10000;
        units.push_back(static_cast<uint16_t>(0xd800 + (cp >> 10)));
        units.push_back(static_cast<uint16_t>(0xdc00 + (cp & 0x3ff)));
      } else {
        units.push_back(static_cast<uint16_t>(cp));
      }
    }
    out += '&';
    uint32_t bits = 0;
    int nbits = 0;
    for (uint16_t u : units) {
      bits = (bits << 16) | u;
      nbits += 16;
      while (nbits >= 6) {
        nbits -= 6;
        out += kAlphabet[(bits >> nbits) & 0x3f];
      }
    }
    if (nbits > 0) out += kAlphabet[(bits << (6 - nbits)) & 0x3f];
    out += '-';
  }
  return out;
}

}  // namespace postline::imapclient
