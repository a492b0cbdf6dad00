// What webd answers on HTTPS, without sockets: route() turns a request into
// either a final answer (a 400, 404, 405) or a SetupQuery for a domain; the
// server then asks authd whether that domain is hosted here and, if it is,
// Site::render() writes the document. Unhosted domains get the same 404 as
// unknown paths, so webd tells nobody anything about domains it does not serve.
#pragma once

#include "services/web/core/client_settings.h"
#include "services/web/core/email_address.h"
#include "services/web/core/profile_signer.h"

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postline::web {

// The `path` label of postline_webd_requests_total.
enum class PathClass { kAutoconfig, kAutodiscover, kMobileconfig, kMtaSts, kOther };
const char* path_class_name(PathClass c);

// Paths (docs/web.md).
inline constexpr std::string_view kWellKnownAutoconfigPath = "/.well-known/autoconfig/mail/config-v1.1.xml";
inline constexpr std::string_view kAutoconfigPath = "/mail/config-v1.1.xml";
inline constexpr std::string_view kAutodiscoverPath = "/autodiscover/autodiscover.xml";  // any case
inline constexpr std::string_view kMobileconfigPath = "/apple/mobileconfig";
// RFC 8461 3.2, on the host mta-sts.<domain> only.
inline constexpr std::string_view kMtaStsPath = "/.well-known/mta-sts.txt";

struct Answer {
  unsigned status = 200;
  std::string content_type = "text/plain; charset=utf-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

enum class Document { kAutoconfig, kAutodiscover, kMobileconfig, kMtaSts };

// The MTA-STS policy webd publishes for every hosted domain (web.mta_sts_mode,
// web.mta_sts_max_age; the MX is smtp.hostname). The text is
// common/dnsrecords' mta_sts_policy(), the same `postline dns records`
// derives the TXT id from, so the id printed there names what is served here.
struct MtaStsSettings {
  std::string mx_host;          // smtp.hostname; empty = not served (404)
  std::string mode = "testing";  // testing|enforce|none
  int64_t max_age = 604800;
};

struct SetupQuery {
  Document document = Document::kAutoconfig;
  std::string domain;
  std::optional<EmailAddress> address;  // absent only for autoconfig by Host name
};

struct Routed {
  PathClass path_class = PathClass::kOther;
  std::optional<Answer> answer;      // set: send it
  std::optional<SetupQuery> query;   // set: check query->domain, then render
};

struct RequestView {
  std::string_view method;  // "GET", "POST", ...
  std::string_view target;  // origin-form: path and query
  std::string_view host;    // Host header, may carry a port
  std::string_view body;
};

Routed route(const RequestView& request);

// The Location of the redirect for a plain-HTTP request: nullopt when `host`
// is not a host name or IPv4 address we could send anyone to (the answer is then 400).
std::optional<std::string> https_location(std::string_view host, std::string_view target, uint16_t https_port);

Answer not_found();
Answer unavailable();  // authd could not say: 503, the client retries

class Site {
 public:
  // `signer` may be null (profiles unsigned); it must outlive the Site.
  Site(ClientSettings settings, const ProfileSigner* signer, MtaStsSettings mta_sts = {})
      : settings_(std::move(settings)), signer_(signer), mta_sts_(std::move(mta_sts)) {}
  // The document for a domain authd says is ours. Throws std::runtime_error
  // when signing fails (the server answers 500 and logs it).
  Answer render(const SetupQuery& query) const;
  const ClientSettings& settings() const { return settings_; }

 private:
  ClientSettings settings_;
  const ProfileSigner* signer_;
  MtaStsSettings mta_sts_;
};

}  // namespace postline::web
