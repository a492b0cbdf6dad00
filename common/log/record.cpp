#include "common/log/record.h"

#include "common/log/printable.h"

namespace postline::log {
namespace {

bool value_char(unsigned char c) { return c > 0x20 && c != 0x7f; }

// Length of a valid UTF-8 sequence starting at s[i], 0 if it is not one
// (overlong forms, surrogates and code points past U+10FFFF are not).
size_t utf8_length(std::string_view s, size_t i) {
  const auto b = [&](size_t k) { return static_cast<unsigned char>(s[i + k]); };
  const unsigned char c = b(0);
  size_t n = 0;
  uint32_t cp = 0;
  if (c >= 0xc2 && c <= 0xdf) n = 2, cp = c & 0x1f;
  else if (c >= 0xe0 && c <= 0xef) n = 3, cp = c & 0x0f;
  else if (c >= 0xf0 && c <= 0xf4) n = 4, cp = c & 0x07;
  else return 0;
  if (i + n > s.size()) return 0;
  for (size_t k = 1; k < n; ++k) {
    if ((b(k) & 0xc0) != 0x80) return 0;
    cp = (cp << 6) | (b(k) & 0x3f);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && cp < 0x10000) || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
    return 0;
  return n;
}

}  // namespace

Fields lift_fields(std::string_view payload) {
  Fields f;
  std::string_view rest = payload;
  for (;;) {
    if (rest.size() < 5 || rest[0] != '[' || rest[2] != ':') break;
    std::string_view* slot = nullptr;
    switch (rest[1]) {
      case 's': slot = &f.session; break;
      case 'q': slot = &f.queue_id; break;
      case 't': slot = &f.trace_id; break;
      case 'c': slot = &f.client; break;
      case 'u': slot = &f.user; break;
      default: break;
    }
    if (!slot || !slot->empty()) break;  // unknown key, or a key given twice
    size_t end = std::string_view::npos;
    for (size_t i = 3; i < rest.size(); ++i) {
      if (!value_char(static_cast<unsigned char>(rest[i]))) break;
      if (rest[i] == ']' && i > 3 && (i + 1 == rest.size() || rest[i + 1] == ' ')) {
        end = i;
        break;
      }
    }
    if (end == std::string_view::npos) break;
    *slot = rest.substr(3, end - 3);
    rest.remove_prefix(std::min(rest.size(), end + 2));
  }
  f.msg = rest;
  return f;
}

void append_json_string(std::string& out, std::string_view s) {
  static constexpr char kHex[] = "0123456789abcdef";
  for (size_t i = 0; i < s.size(); ++i) {
    const auto c = static_cast<unsigned char>(s[i]);
    switch (c) {
      case '"': out += "\\\""; continue;
      case '\\': out += "\\\\"; continue;
      case '\n': out += "\\n"; continue;
      case '\r': out += "\\r"; continue;
      case '\t': out += "\\t"; continue;
      default: break;
    }
    if (c < 0x20 || c == 0x7f) {
      out += "\\u00";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    } else if (c < 0x80) {
      out += static_cast<char>(c);
    } else if (size_t n = utf8_length(s, i)) {
      out.append(s.substr(i, n));
      i += n - 1;
    } else {
      out += "\\\\x";
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
}

std::string json_fields(std::string_view payload) {
  const Fields f = lift_fields(payload);
  std::string out;
  out.reserve(payload.size() + 64);
  auto field = [&](const char* name, std::string_view value) {
    if (value.empty()) return;
    out += ",\"";
    out += name;
    out += "\":\"";
    append_json_string(out, value);
    out += '"';
  };
  out += "\"msg\":\"";
  append_json_string(out, f.msg);
  out += '"';
  field("session", f.session);
  field("queue_id", f.queue_id);
  field("trace_id", f.trace_id.empty() ? f.queue_id : f.trace_id);
  field("client", f.client);
  field("user", f.user);
  return out;
}

}  // namespace postline::log
