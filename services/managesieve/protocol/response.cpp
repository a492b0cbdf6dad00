#include "services/managesieve/protocol/response.h"

#include "common/imapclient/mutf7.h"
#include "services/managesieve/protocol/parser.h"

namespace postline::managesieve {

std::string string_arg(std::string_view s) {
  bool quotable = s.size() <= kMaxQuotedOctets && imapclient::valid_utf8(s);
  if (quotable)
    for (char c : s)
      if (c == '\0' || c == '\r' || c == '\n') {
        quotable = false;
        break;
      }
  std::string out;
  if (!quotable) {
    out = "{" + std::to_string(s.size()) + "}\r\n";
    out.append(s);
    return out;
  }
  out.reserve(s.size() + 2);
  out += '"';
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

std::string response(Status status, std::string_view code, std::string_view text) {
  std::string out = status == Status::kOk ? "OK" : status == Status::kNo ? "NO" : "BYE";
  if (!code.empty()) {
    out += " (";
    out.append(code);
    out += ')';
  }
  if (!text.empty()) {
    out += ' ';
    out += string_arg(text);
  }
  out += "\r\n";
  return out;
}

std::string capability_line(std::string_view name, std::string_view value, bool has_value) {
  std::string out = string_arg(name);
  if (has_value || !value.empty()) {
    out += ' ';
    out += string_arg(value);
  }
  out += "\r\n";
  return out;
}

}  // namespace postline::managesieve
