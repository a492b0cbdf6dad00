#include "services/auth/core/address.h"

#include <idn2.h>

#include <cctype>

namespace postline::auth {
namespace {

constexpr size_t kMaxLocal = 64;    // RFC 5321 4.5.3.1.1
constexpr size_t kMaxDomain = 253;  // RFC 1035, without the trailing dot
constexpr size_t kMaxLabel = 63;

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

std::string ascii_lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return out;
}

bool is_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c >= 0x80) return false;
  return true;
}

std::string check_ldh(const std::string& domain) {
  if (domain.empty()) return "empty domain";
  if (domain.size() > kMaxDomain) return "domain longer than 253 characters";
  size_t start = 0;
  while (start <= domain.size()) {
    size_t end = domain.find('.', start);
    if (end == std::string::npos) end = domain.size();
    std::string_view label(domain.data() + start, end - start);
    if (label.empty()) return "empty label in domain '" + domain + "'";
    if (label.size() > kMaxLabel) return "label longer than 63 characters in domain '" + domain + "'";
    if (label.front() == '-' || label.back() == '-')
      return "label starts or ends with '-' in domain '" + domain + "'";
    for (char c : label)
      if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '-' || c == '_'))
        return "invalid character in domain '" + domain + "'";
    start = end + 1;
  }
  return {};
}

}  // namespace

Parsed<std::string> normalise_domain(std::string_view input) {
  Parsed<std::string> out;
  std::string_view d = trim(input);
  if (!d.empty() && d.back() == '.') d.remove_suffix(1);
  if (d.empty()) {
    out.error = "empty domain";
    return out;
  }
  if (d.front() == '[') {
    // Address literals ([192.0.2.1]) are not domains we can host.
    out.error = "address literals are not supported as domains";
    return out;
  }
  std::string domain;
  if (is_ascii(d)) {
    domain = ascii_lower(d);
  } else {
    char* ascii = nullptr;
    std::string in(d);
    int rc = idn2_to_ascii_8z(in.c_str(), &ascii, IDN2_NFC_INPUT | IDN2_NONTRANSITIONAL);
    if (rc != IDN2_OK) {
      out.error = std::string("invalid internationalised domain: ") + idn2_strerror(rc);
      return out;
    }
    domain = ascii_lower(ascii);
    idn2_free(ascii);
  }
  out.error = check_ldh(domain);
  if (out.ok()) out.value = std::move(domain);
  return out;
}

Parsed<Address> normalise_address(std::string_view input, const AddressPolicy& policy) {
  Parsed<Address> out;
  std::string_view a = trim(input);
  if (a.size() >= 2 && a.front() == '<' && a.back() == '>') a = a.substr(1, a.size() - 2);
  const size_t at = a.rfind('@');
  if (at == std::string_view::npos) {
    out.error = "address '" + std::string(a) + "' has no '@domain'";
    return out;
  }
  std::string_view local = a.substr(0, at);
  if (local.empty()) {
    out.error = "address '" + std::string(a) + "' has an empty local part";
    return out;
  }
  if (local.size() > kMaxLocal) {
    out.error = "local part longer than 64 characters";
    return out;
  }
  for (unsigned char c : local) {
    if (c < 0x21 || c == 0x7f || c == '"' || c == '@' || c == '\\' || c == '<' || c == '>' || c == ',' ||
        c == ';' || c == ':' || c == '(' || c == ')' || c == '[' || c == ']') {
      out.error = "invalid character in local part of '" + std::string(a) + "'";
      return out;
    }
  }
  if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
    out.error = "misplaced '.' in local part of '" + std::string(a) + "'";
    return out;
  }
  auto domain = normalise_domain(a.substr(at + 1));
  if (!domain.ok()) {
    out.error = domain.error;
    return out;
  }
  out.value.local = policy.local_part_case_sensitive ? std::string(local) : ascii_lower(local);
  out.value.domain = std::move(domain.value);
  return out;
}

std::string base_local_part(std::string_view local, std::string_view delimiters) {
  if (delimiters.empty()) return std::string(local);
  const size_t pos = local.find_first_of(delimiters);
  if (pos == std::string_view::npos || pos == 0) return std::string(local);
  return std::string(local.substr(0, pos));
}

}  // namespace postline::auth
