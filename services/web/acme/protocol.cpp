#include "services/web/acme/protocol.h"

#include "services/web/acme/errors.h"
#include "services/web/acme/jws.h"

#include <nlohmann/json.hpp>

#include <algorithm>
#include <cctype>
#include <ctime>

namespace postline::web::acme {

using nlohmann::json;

namespace {

// Every reader goes through these, so a member of the wrong type is an
// AcmeError naming it instead of nlohmann's type_error.
json parse_object(std::string_view body, const char* what) {
  json j = json::parse(body.begin(), body.end(), nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) throw AcmeError(std::string(what) + ": the server's answer is not JSON");
  if (!j.is_object()) throw AcmeError(std::string(what) + ": the server's answer is not a JSON object");
  return j;
}

std::string string_member(const json& j, const char* key, const char* what, bool required = true) {
  const auto it = j.find(key);
  if (it == j.end() || it->is_null()) {
    if (required) throw AcmeError(std::string(what) + ": \"" + key + "\" is missing");
    return {};
  }
  if (!it->is_string()) throw AcmeError(std::string(what) + ": \"" + key + "\" is not a string");
  return it->get<std::string>();
}

std::string url_member(const json& j, const char* key, const char* what, bool required = true) {
  std::string url = string_member(j, key, what, required);
  if (!url.empty() && url.rfind("https://", 0) != 0 && url.rfind("http://", 0) != 0)
    throw AcmeError(std::string(what) + ": \"" + key + "\" is not an http(s) URL");
  return url;
}

std::string error_detail(const json& j) {
  const auto it = j.find("error");
  if (it == j.end() || !it->is_object()) return {};
  std::string out;
  if (auto t = it->find("type"); t != it->end() && t->is_string()) out = t->get<std::string>();
  if (auto d = it->find("detail"); d != it->end() && d->is_string())
    out += (out.empty() ? "" : ": ") + d->get<std::string>();
  return out;
}

const std::vector<std::string> kOrderStates = {"pending", "ready", "processing", "valid", "invalid"};
const std::vector<std::string> kAuthzStates = {"pending", "valid", "invalid", "deactivated", "expired", "revoked"};

std::string status_member(const json& j, const char* what, const std::vector<std::string>& allowed) {
  std::string s = string_member(j, "status", what);
  if (std::find(allowed.begin(), allowed.end(), s) == allowed.end())
    throw AcmeError(std::string(what) + ": unknown status \"" + s.substr(0, 40) + "\"");
  return s;
}

}  // namespace

Directory parse_directory(std::string_view body) {
  const json j = parse_object(body, "directory");
  Directory d;
  d.new_nonce = url_member(j, "newNonce", "directory");
  d.new_account = url_member(j, "newAccount", "directory");
  d.new_order = url_member(j, "newOrder", "directory");
  return d;
}

std::optional<Problem> parse_problem(std::string_view body) {
  json j = json::parse(body.begin(), body.end(), nullptr, false);
  if (j.is_discarded() || !j.is_object()) return std::nullopt;
  const auto type = j.find("type");
  if (type == j.end() || !type->is_string()) return std::nullopt;
  Problem p;
  p.type = type->get<std::string>();
  if (auto d = j.find("detail"); d != j.end() && d->is_string()) p.detail = d->get<std::string>();
  if (auto subs = j.find("subproblems"); subs != j.end() && subs->is_array()) {
    for (const auto& sub : *subs) {
      if (!sub.is_object()) continue;
      std::string line;
      if (auto id = sub.find("identifier"); id != sub.end() && id->is_object())
        if (auto v = id->find("value"); v != id->end() && v->is_string()) line = v->get<std::string>() + ": ";
      if (auto d = sub.find("detail"); d != sub.end() && d->is_string()) line += d->get<std::string>();
      p.subproblems.push_back(line);
    }
  }
  return p;
}

bool is_bad_nonce(unsigned status, std::string_view body) {
  if (status != 400) return false;
  const auto p = parse_problem(body);
  return p && p->type == "urn:ietf:params:acme:error:badNonce";
}

std::string describe_failure(unsigned status, std::string_view body) {
  std::string out = std::to_string(status);
  if (const auto p = parse_problem(body)) {
    out += " " + p->type;
    if (!p->detail.empty()) out += ": " + p->detail;
    for (const auto& s : p->subproblems) out += "; " + s;
  }
  // Printable and bounded: it goes into a log line.
  for (char& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  if (out.size() > 500) out = out.substr(0, 500) + "...";
  return out;
}

const Challenge* Authorization::http01() const {
  for (const auto& c : challenges)
    if (c.type == "http-01") return &c;
  return nullptr;
}

Authorization parse_authorization(std::string_view body) {
  const json j = parse_object(body, "authorization");
  Authorization a;
  a.status = status_member(j, "authorization", kAuthzStates);
  const auto id = j.find("identifier");
  if (id == j.end() || !id->is_object()) throw AcmeError("authorization: \"identifier\" is missing");
  if (string_member(*id, "type", "authorization identifier") != "dns")
    throw AcmeError("authorization: identifier type is not dns");
  a.identifier = string_member(*id, "value", "authorization identifier");
  if (auto w = j.find("wildcard"); w != j.end() && w->is_boolean()) a.wildcard = w->get<bool>();
  const auto chs = j.find("challenges");
  if (chs == j.end() || !chs->is_array()) throw AcmeError("authorization: \"challenges\" is missing");
  for (const auto& c : *chs) {
    if (!c.is_object()) throw AcmeError("authorization: a challenge is not an object");
    Challenge ch;
    ch.type = string_member(c, "type", "challenge");
    ch.url = url_member(c, "url", "challenge");
    ch.status = string_member(c, "status", "challenge");
    ch.token = string_member(c, "token", "challenge", /*required=*/false);
    ch.error = error_detail(c);
    if (ch.type == "http-01" && !is_token(ch.token)) throw AcmeError("challenge: http-01 token is not base64url");
    a.challenges.push_back(std::move(ch));
  }
  return a;
}

Order parse_order(std::string_view body) {
  const json j = parse_object(body, "order");
  Order o;
  o.status = status_member(j, "order", kOrderStates);
  if (auto ids = j.find("identifiers"); ids != j.end() && ids->is_array())
    for (const auto& id : *ids)
      if (id.is_object()) o.identifiers.push_back(string_member(id, "value", "order identifier"));
  const auto authz = j.find("authorizations");
  if (authz == j.end() || !authz->is_array()) throw AcmeError("order: \"authorizations\" is missing");
  for (const auto& a : *authz) {
    if (!a.is_string()) throw AcmeError("order: an authorization URL is not a string");
    o.authorizations.push_back(a.get<std::string>());
  }
  o.finalize = url_member(j, "finalize", "order");
  o.certificate = url_member(j, "certificate", "order", /*required=*/false);
  if (o.status == "valid" && o.certificate.empty()) throw AcmeError("order: valid but no \"certificate\" URL");
  o.error = error_detail(j);
  return o;
}

std::string new_account_payload(const std::string& contact_email) {
  json j = {{"termsOfServiceAgreed", true}};
  if (!contact_email.empty()) j["contact"] = json::array({"mailto:" + contact_email});
  return j.dump();
}

std::string new_order_payload(const std::vector<std::string>& names) {
  json ids = json::array();
  for (const auto& n : names) ids.push_back({{"type", "dns"}, {"value", n}});
  return json{{"identifiers", ids}}.dump();
}

std::string finalize_payload(const std::string& csr_der) { return json{{"csr", base64url(csr_der)}}.dump(); }

bool is_token(std::string_view token) {
  if (token.empty() || token.size() > 256) return false;
  return std::all_of(token.begin(), token.end(), [](unsigned char c) { return std::isalnum(c) || c == '-' || c == '_'; });
}

std::string key_authorization(const std::string& token, const std::string& thumbprint) {
  if (!is_token(token)) throw AcmeError("challenge: token is not base64url");
  return token + "." + thumbprint;
}

std::chrono::seconds retry_after(std::string_view header, std::chrono::seconds fallback, std::chrono::seconds cap,
                                 std::chrono::system_clock::time_point now) {
  auto clamp = [&](std::chrono::seconds s) { return std::clamp(s, std::chrono::seconds(1), std::max(cap, std::chrono::seconds(1))); };
  while (!header.empty() && header.front() == ' ') header.remove_prefix(1);
  while (!header.empty() && header.back() == ' ') header.remove_suffix(1);
  if (header.empty()) return clamp(fallback);
  if (std::all_of(header.begin(), header.end(), [](unsigned char c) { return std::isdigit(c); })) {
    if (header.size() > 9) return clamp(cap);
    return clamp(std::chrono::seconds(std::stol(std::string(header))));
  }
  // IMF-fixdate: "Sun, 06 Nov 1994 08:49:37 GMT".
  std::tm tm{};
  const std::string text(header);
  const char* end = strptime(text.c_str(), "%a, %d %b %Y %H:%M:%S GMT", &tm);
  if (!end || *end != '\0') return clamp(fallback);
  // In whole seconds of time_t: a date centuries away does not fit the clock's
  // nanoseconds (web_acme_response_fuzz found "Sun, 06 Nov 1494 ...").
  const long long when = static_cast<long long>(timegm(&tm));
  const long long diff = when - static_cast<long long>(std::chrono::system_clock::to_time_t(now));
  if (diff > cap.count()) return clamp(cap);
  return clamp(std::chrono::seconds(diff));
}

}  // namespace postline::web::acme
