#include "services/web/portal/http_input.h"

#include "services/web/core/query.h"

#include <algorithm>

namespace postline::web::portal {

namespace {

bool field_name_ok(std::string_view name) {
  return !name.empty() && name.size() <= 64 && std::all_of(name.begin(), name.end(), [](char c) {
           return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
         });
}

std::string_view trim(std::string_view s) {
  while (!s.empty() && (s.front() == ' ' || s.front() == '\t')) s.remove_prefix(1);
  while (!s.empty() && (s.back() == ' ' || s.back() == '\t')) s.remove_suffix(1);
  return s;
}

}  // namespace

std::optional<Fields> parse_form(std::string_view body, std::string* why) {
  Fields out;
  size_t count = 0;
  while (!body.empty()) {
    const auto amp = body.find('&');
    const std::string_view pair = body.substr(0, amp);
    body = amp == std::string_view::npos ? std::string_view{} : body.substr(amp + 1);
    if (pair.empty()) continue;
    if (++count > kMaxFormFields) {
      if (why) *why = "too many form fields (at most " + std::to_string(kMaxFormFields) + ")";
      return std::nullopt;
    }
    const auto eq = pair.find('=');
    auto name = form_decode(pair.substr(0, eq));
    if (!name || !field_name_ok(*name)) {
      if (why) *why = "malformed form field name";
      return std::nullopt;
    }
    auto value = form_decode(eq == std::string_view::npos ? std::string_view{} : pair.substr(eq + 1));
    if (!value) {
      if (why) *why = "form field '" + *name + "': malformed %-escape";
      return std::nullopt;
    }
    if (value->size() > kMaxFormValue) {
      if (why) *why = "form field '" + *name + "': longer than " + std::to_string(kMaxFormValue) + " octets";
      return std::nullopt;
    }
    out.emplace(std::move(*name), std::move(*value));
  }
  return out;
}

std::optional<std::string> find_cookie(std::string_view header, std::string_view name) {
  if (header.size() > kMaxCookieHeader) return std::nullopt;
  size_t count = 0;
  while (!header.empty()) {
    const auto semi = header.find(';');
    const std::string_view pair = trim(header.substr(0, semi));
    header = semi == std::string_view::npos ? std::string_view{} : header.substr(semi + 1);
    if (pair.empty()) continue;
    if (++count > kMaxCookies) return std::nullopt;
    const auto eq = pair.find('=');
    if (eq == std::string_view::npos) continue;  // not a name=value pair: ignored (RFC 6265 5.2)
    if (trim(pair.substr(0, eq)) != name) continue;
    std::string_view value = trim(pair.substr(eq + 1));
    if (value.size() >= 2 && value.front() == '"' && value.back() == '"') value = value.substr(1, value.size() - 2);
    return std::string(value);
  }
  return std::nullopt;
}

}  // namespace postline::web::portal
