// libFuzzer entry point for what the portal reads from a stranger before any
// session exists: the form body (portal/http_input.h parse_form), the Cookie
// header (find_cookie) and the session token in it (SessionCodec::decode).
// The input is split at the first NUL octet: before it the body, after it the
// Cookie header. Invariants, not only "no crash":
//   - parse_form never throws; a refusal always says why; an accepted form
//     has at most kMaxFormFields fields, names of [A-Za-z0-9_-]{1,64}, values
//     of at most kMaxFormValue octets;
//   - find_cookie never throws and returns nothing for a header over the limit;
//   - a token that is not one this key signed is never accepted, and one the
//     codec itself issued is accepted and reads back the same session;
//   - the users page's limits (portal/quota_input.h), for the body and every
//     accepted field value: parse_message_limit accepts only "" or at most
//     kMaxMessageLimitDigits digits, with their value; parse_quota_size gives
//     a size in [0, INT64_MAX]; both refuse with a reason naming the field,
//     and what the form shows again (message_limit_text, quota_size_text)
//     parses back to the same number;
//   - the filters page (portal/sieve_filters.h): an accepted form has at most
//     kMaxFilterRules rules within the text limits, its script reads back to
//     the same fields, and reading the body as a stored script never throws.
#include "services/web/portal/http_input.h"
#include "services/web/portal/sieve_filters.h"
#include "services/web/portal/quota_input.h"
#include "services/web/portal/session.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace postline::web::portal;

namespace {
const SessionCodec& codec() {
  static const SessionCodec c(std::string(32, 'k'), SessionTimes{});
  return c;
}

void check_limits(std::string_view value) {
  std::string why;
  if (auto n = parse_message_limit(value, &why)) {
    if (!why.empty() || value.size() > kMaxMessageLimitDigits || *n < 0 || *n > kMaxMessageLimit) std::abort();
    int64_t expect = 0;
    for (char c : value) {
      if (c < '0' || c > '9') std::abort();
      expect = expect * 10 + (c - '0');
    }
    if (*n != expect || parse_message_limit(message_limit_text(*n), nullptr) != *n) std::abort();
  } else if (why.rfind("messages: ", 0) != 0) {
    std::abort();
  }
  why.clear();
  if (auto bytes = parse_quota_size(value, &why)) {
    if (!why.empty() || *bytes < 0 || parse_quota_size(quota_size_text(*bytes), nullptr) != *bytes) std::abort();
    if (value.empty() && *bytes != 0) std::abort();
  } else if (why.rfind("quota: ", 0) != 0) {
    std::abort();
  }
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string_view body = input.substr(0, nul);
  const std::string_view cookie = nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);

  std::string why;
  auto form = parse_form(body, &why);
  if (!form) {
    if (why.empty()) std::abort();
  } else {
    if (form->size() > kMaxFormFields) std::abort();
    for (const auto& [name, value] : *form) {
      if (name.empty() || name.size() > 64 || value.size() > kMaxFormValue) std::abort();
      for (char c : name)
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-'))
          std::abort();
      check_limits(value);
    }
    std::string filters_why;
    if (auto f = filters_from_form(*form, &filters_why)) {
      if (f->rules.size() > kMaxFilterRules || f->vacation.body.size() > kMaxVacationBody) std::abort();
      for (const auto& r : f->rules)
        if (r.value.empty() || r.value.size() > kMaxFilterText || r.folder.size() > kMaxFilterText) std::abort();
      auto back = filters_from_script(filters_to_script(*f));
      if (!back || filters_to_fields(*back) != filters_to_fields(*f)) std::abort();
    } else if (filters_why.empty()) {
      std::abort();
    }
  }
  check_limits(body);
  (void)filters_from_script(body);

  auto token = find_cookie(cookie, kSessionCookie);
  if (token && cookie.size() > kMaxCookieHeader) std::abort();
  const int64_t now = 2000000000;
  if (token) {
    // Random input does not carry our MAC: a decoded session here means a forgery passed.
    if (auto s = codec().decode(*token, now)) {
      if (codec().encode(*s) != *token) std::abort();
    }
  }
  // The body as an e-mail address in a session issued by the codec: it round-trips.
  if (!body.empty() && body.size() <= 320) {
    Session s = codec().start(7, std::string(body), body.size() % 2, now);
    auto back = codec().decode(codec().encode(s), now);
    if (!back || back->email != body || back->user_id != 7 || back->nonce != s.nonce) std::abort();
    auto found = find_cookie("a=b; " + std::string(kSessionCookie) + "=" + codec().encode(s), kSessionCookie);
    if (!found || *found != codec().encode(s)) std::abort();
  }
  return 0;
}
