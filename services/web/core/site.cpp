#include "services/web/core/site.h"

#include "services/web/core/autoconfig.h"
#include "services/web/core/autodiscover.h"
#include "services/web/core/mobileconfig.h"
#include "services/web/core/query.h"

#include "common/dnsrecords/records.h"

#include <algorithm>
#include <cctype>

namespace postline::web {

namespace {

constexpr const char* kXml = "text/xml; charset=utf-8";

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
           return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
         });
}

Answer plain(unsigned status, std::string text) {
  Answer a;
  a.status = status;
  a.body = std::move(text) + "\n";
  return a;
}

Answer method_not_allowed(const char* allow) {
  Answer a = plain(405, "method not allowed");
  a.headers.emplace_back("Allow", allow);
  return a;
}

// The Host header without its port ("autoconfig.example.org:8443").
std::string_view host_name(std::string_view host) {
  if (!host.empty() && host.front() == '[') return host;  // an IPv6 literal is never a mail domain
  return host.substr(0, host.find(':'));
}

Routed setup_for_address(PathClass cls, Document doc, std::optional<std::string> text, const char* param) {
  Routed r;
  r.path_class = cls;
  if (!text) {
    r.answer = plain(400, std::string("the ") + param + " parameter is required");
    return r;
  }
  std::string why;
  auto address = parse_email_address(*text, &why);
  if (!address) {
    r.answer = plain(400, std::string(param) + ": " + why);
    return r;
  }
  SetupQuery q;
  q.document = doc;
  q.domain = address->domain;
  q.address = std::move(address);
  r.query = std::move(q);
  return r;
}

}  // namespace

const char* path_class_name(PathClass c) {
  switch (c) {
    case PathClass::kAutoconfig: return "autoconfig";
    case PathClass::kAutodiscover: return "autodiscover";
    case PathClass::kMobileconfig: return "mobileconfig";
    case PathClass::kMtaSts: return "mta-sts";
    case PathClass::kOther: break;
  }
  return "other";
}

std::optional<std::string> https_location(std::string_view host, std::string_view target, uint16_t https_port) {
  const auto name = host_name(host);
  // Host names and IPv4 literals only: normalise_domain accepts both (digits
  // and dots), and refuses everything that could bend a Location header.
  auto domain = normalise_domain(name);
  if (!domain) return std::nullopt;
  std::string location = "https://" + *domain;
  if (https_port != 443) location += ":" + std::to_string(https_port);
  // Origin-form targets only; an absolute-form one ("http://x/") starts over at "/".
  const bool printable_ascii =
      std::all_of(target.begin(), target.end(), [](char c) { return c > 0x20 && c < 0x7f; });
  if (target.empty() || target.front() != '/' || !printable_ascii) {
    location += "/";
  } else {
    location += target;
  }
  return location;
}

Answer not_found() { return plain(404, "not found"); }
Answer unavailable() {
  Answer a = plain(503, "cannot check the domain now; try again later");
  a.headers.emplace_back("Retry-After", "30");
  return a;
}

Routed route(const RequestView& req) {
  const std::string_view path = target_path(req.target);
  const bool get = req.method == "GET" || req.method == "HEAD";
  if (path == kWellKnownAutoconfigPath || path == kAutoconfigPath) {
    if (!get) return {PathClass::kAutoconfig, method_not_allowed("GET, HEAD"), std::nullopt};
    auto email = query_param(req.target, "emailaddress");
    if (email && !email->empty())
      return setup_for_address(PathClass::kAutoconfig, Document::kAutoconfig, email, "emailaddress");
    // No address: Thunderbird asked autoconfig.<domain> itself; the domain is the Host's rest.
    const auto host = host_name(req.host);
    constexpr std::string_view prefix = "autoconfig.";
    if (host.size() > prefix.size() && iequals(host.substr(0, prefix.size()), prefix)) {
      if (auto domain = normalise_domain(host.substr(prefix.size()))) {
        Routed r;
        r.path_class = PathClass::kAutoconfig;
        r.query = SetupQuery{Document::kAutoconfig, *domain, std::nullopt};
        return r;
      }
    }
    return {PathClass::kAutoconfig, plain(400, "the emailaddress parameter is required"), std::nullopt};
  }
  if (iequals(path, kAutodiscoverPath)) {
    if (req.method == "POST") {
      std::string why;
      auto parsed = parse_autodiscover_request(req.body, &why);
      if (!parsed) return {PathClass::kAutodiscover, plain(400, "autodiscover request: " + why), std::nullopt};
      // Only the POX "outlook" schema: a mobilesync (ActiveSync) client
      // cannot use IMAP settings, and a 404 sends it on to manual set-up.
      if (!parsed->schema.empty() && parsed->schema != kOutlookResponseSchema) {
        Routed r;
        r.path_class = PathClass::kAutodiscover;
        r.answer = plain(404, "only the response schema " + std::string(kOutlookResponseSchema) + " is served");
        return r;
      }
      return setup_for_address(PathClass::kAutodiscover, Document::kAutodiscover, std::move(parsed->email),
                               "EMailAddress");
    }
    if (get) {
      auto email = query_param(req.target, "email");
      if (!email) email = query_param(req.target, "emailaddress");
      return setup_for_address(PathClass::kAutodiscover, Document::kAutodiscover, std::move(email), "email");
    }
    return {PathClass::kAutodiscover, method_not_allowed("GET, HEAD, POST"), std::nullopt};
  }
  if (path == kMobileconfigPath) {
    if (!get) return {PathClass::kMobileconfig, method_not_allowed("GET, HEAD"), std::nullopt};
    auto email = query_param(req.target, "email");
    if (!email) email = query_param(req.target, "emailaddress");
    return setup_for_address(PathClass::kMobileconfig, Document::kMobileconfig, std::move(email), "email");
  }
  if (path == kMtaStsPath) {
    if (!get) return {PathClass::kMtaSts, method_not_allowed("GET, HEAD"), std::nullopt};
    // Only as https://mta-sts.<domain>/ (RFC 8461 3.3): the domain is the Host's rest.
    const auto host = host_name(req.host);
    constexpr std::string_view prefix = "mta-sts.";
    if (host.size() > prefix.size() && iequals(host.substr(0, prefix.size()), prefix))
      if (auto domain = normalise_domain(host.substr(prefix.size()))) {
        Routed r;
        r.path_class = PathClass::kMtaSts;
        r.query = SetupQuery{Document::kMtaSts, *domain, std::nullopt};
        return r;
      }
    return {PathClass::kMtaSts, not_found(), std::nullopt};
  }
  return {PathClass::kOther, not_found(), std::nullopt};
}

Answer Site::render(const SetupQuery& q) const {
  Answer a;
  a.headers.emplace_back("Cache-Control", "no-store");
  switch (q.document) {
    case Document::kAutoconfig:
      a.content_type = kXml;
      a.body = autoconfig_xml(settings_, q.domain, q.address);
      break;
    case Document::kAutodiscover:
      a.content_type = kXml;
      a.body = autodiscover_response_xml(settings_, *q.address);
      break;
    case Document::kMtaSts: {
      if (mta_sts_.mx_host.empty()) return not_found();
      dnsrecords::DomainSetup setup;
      setup.domain = q.domain;
      setup.host = mta_sts_.mx_host;
      setup.mta_sts_mode = mta_sts_.mode;
      setup.mta_sts_max_age = mta_sts_.max_age;
      a.content_type = "text/plain";  // RFC 8461 3.2
      a.body = dnsrecords::mta_sts_policy(setup);
      a.headers.clear();
      // Senders cache by max_age themselves; caches in between may keep it an hour.
      a.headers.emplace_back("Cache-Control", "max-age=3600");
      break;
    }
    case Document::kMobileconfig: {
      a.content_type = "application/x-apple-aspen-config";
      const std::string plist = mobileconfig_plist(settings_, *q.address);
      a.body = signer_ ? signer_->sign(plist) : plist;
      a.headers.emplace_back("Content-Disposition", "attachment; filename=\"mail.mobileconfig\"");
      break;
    }
  }
  return a;
}

}  // namespace postline::web
