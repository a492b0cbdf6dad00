// Thunderbird's autoconfig document, clientConfig version 1.1
// (https://wiki.mozilla.org/Thunderbird:Autoconfiguration:ConfigFileFormat).
// There is no official schema; services/web/schemas/autoconfig-v1.1.xsd is
// ours, written from that page, and the e2e tests validate against it.
#pragma once

#include "services/web/core/client_settings.h"
#include "services/web/core/email_address.h"

#include <optional>
#include <string>

namespace postline::web {

// `address` absent: the username is Thunderbird's placeholder %EMAILADDRESS%
// (a request to autoconfig.<domain> without ?emailaddress=).
std::string autoconfig_xml(const ClientSettings& settings, const std::string& domain,
                           const std::optional<EmailAddress>& address);

}  // namespace postline::web
