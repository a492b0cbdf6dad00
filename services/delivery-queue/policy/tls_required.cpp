#include "services/delivery-queue/policy/tls_required.h"

#include <algorithm>
#include <cctype>
#include <string>

namespace postline::queue {
namespace {
bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}
}  // namespace

bool tls_required_no(std::string_view message) {
  constexpr size_t kMaxHeader = 256 * 1024;
  message = message.substr(0, kMaxHeader);
  size_t pos = 0;
  while (pos < message.size()) {
    size_t eol = message.find('\n', pos);
    if (eol == std::string_view::npos) eol = message.size();
    std::string_view line = message.substr(pos, eol - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) return false;  // the end of the header block
    const size_t next = eol + 1;
    const auto colon = line.find(':');
    if (colon != std::string_view::npos && line.front() != ' ' && line.front() != '\t') {
      std::string_view name = line.substr(0, colon);
      while (!name.empty() && (name.back() == ' ' || name.back() == '\t')) name.remove_suffix(1);
      if (iequals(name, "TLS-Required")) {
        // The value with its continuation lines, unfolded.
        std::string value(line.substr(colon + 1));
        size_t p = next;
        while (p < message.size() && (message[p] == ' ' || message[p] == '\t')) {
          size_t e = message.find('\n', p);
          if (e == std::string_view::npos) e = message.size();
          value += message.substr(p, e - p);
          p = e + 1;
        }
        std::string trimmed;
        for (char c : value)
          if (c != ' ' && c != '\t' && c != '\r') trimmed += c;
        if (iequals(trimmed, "No")) return true;
      }
    }
    pos = next;
  }
  return false;
}

}  // namespace postline::queue
