#include "common/db/url_check.h"

#include <libpq-fe.h>

#include <algorithm>
#include <cerrno>
#include <memory>

namespace postline::db {

std::optional<std::string> url_problem(const std::string& url) {
  if (url.empty()) return "is empty";
  char* error = nullptr;
  std::unique_ptr<PQconninfoOption, decltype(&PQconninfoFree)> options(PQconninfoParse(url.c_str(), &error),
                                                                        &PQconninfoFree);
  if (!options) {
    std::string why = error ? error : "not a libpq connection string or URI";
    if (error) PQfreemem(error);
    while (!why.empty() && (why.back() == '\n' || why.back() == ' ')) why.pop_back();
    return "is not a valid libpq connection URI: " + why;
  }
  std::string hosts, hostaddrs, attrs;
  for (PQconninfoOption* o = options.get(); o->keyword; ++o) {
    if (!o->val) continue;
    const std::string keyword = o->keyword;
    if (keyword == "host") hosts = o->val;
    if (keyword == "hostaddr") hostaddrs = o->val;
    if (keyword == "target_session_attrs") attrs = o->val;
  }
  const std::string& list = hosts.empty() ? hostaddrs : hosts;
  const size_t servers = list.empty() ? 1 : 1 + static_cast<size_t>(std::count(list.begin(), list.end(), ','));
  if (servers > 1 && attrs != "read-write" && attrs != "primary")
    return "names " + std::to_string(servers) +
           " servers but not target_session_attrs=read-write: libpq would use the first that answers, even a "
           "standby, where every write fails";
  static const char* kKnown[] = {"", "any", "read-write", "read-only", "primary", "standby", "prefer-standby"};
  bool known = false;
  for (const char* k : kKnown) known = known || attrs == k;
  if (!known) return "target_session_attrs=" + attrs + " is not one libpq knows (read-write, primary, any, ...)";
  if (attrs == "read-only" || attrs == "standby" || attrs == "prefer-standby")
    return "target_session_attrs=" + attrs + " would connect to a standby: Postline writes, it needs read-write";
  return std::nullopt;
}

std::string with_program_name(const std::string& url, const std::string& program) {
  const std::string name = program.empty() ? std::string(program_invocation_short_name) : program;
  if (url.find("application_name") != std::string::npos) return url;
  const bool uri = url.rfind("postgresql://", 0) == 0 || url.rfind("postgres://", 0) == 0;
  // Our program names are [a-z0-9-]: nothing to percent-encode or quote.
  if (uri) return url + (url.find('?') == std::string::npos ? "?" : "&") + "fallback_application_name=" + name;
  return url + (url.empty() ? "" : " ") + "fallback_application_name=" + name;
}

}  // namespace postline::db
