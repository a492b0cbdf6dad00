// Apple's configuration profile (a property list served as
// application/x-apple-aspen-config) with one com.apple.mail.managed payload:
// the first IMAP and the first SMTP endpoint we offer (the profile holds one
// of each), username = the address, password asked on the device.
//
// PayloadUUIDs are derived from the address (name-based, SHA-1, RFC 4122 5),
// so installing a fresh profile for the same address replaces the old one
// instead of adding a second account.
#pragma once

#include "services/web/core/client_settings.h"
#include "services/web/core/email_address.h"

#include <string>

namespace postline::web {

std::string mobileconfig_plist(const ClientSettings& settings, const EmailAddress& address);

// The name-based UUID (version 5 layout, SHA-1) of `name`, upper-case hex.
std::string name_uuid(const std::string& name);

}  // namespace postline::web
