#include "services/web/core/email_address.h"

#include "services/web/core/xml.h"

namespace postline::web {

std::optional<std::string> normalise_domain(std::string_view text) {
  if (text.empty() || text.size() > 253) return std::nullopt;
  if (!xml_safe_text(text)) return std::nullopt;
  std::string out;
  out.reserve(text.size());
  size_t label = 0;
  for (char ch : text) {
    const auto c = static_cast<unsigned char>(ch);
    if (c == '.') {
      if (label == 0) return std::nullopt;
      label = 0;
      out += '.';
      continue;
    }
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' ||
                    c >= 0x80;
    if (!ok) return std::nullopt;
    if (++label > 63) return std::nullopt;
    out += (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : static_cast<char>(c);
  }
  if (label == 0) return std::nullopt;  // trailing dot
  return out;
}

std::optional<EmailAddress> parse_email_address(std::string_view text, std::string* why) {
  auto fail = [why](const char* reason) -> std::optional<EmailAddress> {
    if (why) *why = reason;
    return std::nullopt;
  };
  if (text.empty()) return fail("the address is empty");
  if (!xml_safe_text(text)) return fail("the address is not printable UTF-8");
  const auto at = text.rfind('@');
  if (at == std::string_view::npos) return fail("the address has no @");
  const auto local = text.substr(0, at);
  if (local.empty()) return fail("the address has no local part");
  if (local.size() > 64) return fail("the local part is longer than 64 octets");
  auto domain = normalise_domain(text.substr(at + 1));
  if (!domain) return fail("the domain is not a host name");
  EmailAddress out;
  out.local = std::string(local);
  out.domain = std::move(*domain);
  out.address = out.local + "@" + out.domain;
  return out;
}

}  // namespace postline::web
