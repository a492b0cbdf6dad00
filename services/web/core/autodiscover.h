// Outlook's "POX" Autodiscover (the plain-old-XML protocol of Outlook 2007 and
// later, [MS-OXDISCO]): the client POSTs a request naming EMailAddress and the
// AcceptableResponseSchema, and gets back the "outlook" response schema with
// one IMAP and one SMTP <Protocol> per endpoint we offer.
//
// The request parser is a small, bounded XML reader of our own (sans-I/O, the
// fuzz target autodiscover_request_fuzz drives it): elements, attributes,
// character data, CDATA, comments, processing instructions, the five
// predefined entities and character references. A DOCTYPE is refused, so
// there are no external or recursive entities to expand. Namespaces are
// matched by local name: Outlook writes them, other clients vary.
#pragma once

#include "services/web/core/client_settings.h"
#include "services/web/core/email_address.h"

#include <optional>
#include <string>
#include <string_view>

namespace postline::web {

inline constexpr std::string_view kOutlookResponseSchema =
    "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a";

struct AutodiscoverRequest {
  std::string email;   // Request/EMailAddress, entities decoded (not yet checked)
  std::string schema;  // Request/AcceptableResponseSchema; empty when absent
};

struct AutodiscoverLimits {
  size_t max_depth = 16;      // nesting of elements
  size_t max_elements = 256;  // elements in the whole document
  size_t max_value = 1024;    // octets of one element's character data we keep
};

// nullopt and `why` set (a short reason for the 400 answer and the log) when
// the body is not well-formed within the limits, has no
// Autodiscover/Request/EMailAddress, or holds a DOCTYPE.
std::optional<AutodiscoverRequest> parse_autodiscover_request(std::string_view body, std::string* why,
                                                              const AutodiscoverLimits& limits = {});

std::string autodiscover_response_xml(const ClientSettings& settings, const EmailAddress& address);

}  // namespace postline::web
