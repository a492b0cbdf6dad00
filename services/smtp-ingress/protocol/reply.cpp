#include "services/smtp-ingress/protocol/reply.h"

#include <fmt/format.h>

namespace postline::smtp {

namespace {
std::string one_line(int code, char sep, std::string_view enhanced, std::string_view text) {
  if (enhanced.empty()) return fmt::format("{}{}{}\r\n", code, sep, text);
  return fmt::format("{}{}{} {}\r\n", code, sep, enhanced, text);
}
}  // namespace

std::string format_reply(int code, std::string_view enhanced, std::string_view text) {
  return one_line(code, ' ', enhanced, text);
}

std::string format_multiline(int code, std::string_view enhanced, const std::vector<std::string>& lines) {
  std::string out;
  for (size_t i = 0; i < lines.size(); ++i) out += one_line(code, i + 1 == lines.size() ? ' ' : '-', enhanced, lines[i]);
  return out;
}

}  // namespace postline::smtp
