// The address a mail client asks settings for (Thunderbird's emailaddress,
// Outlook's EMailAddress, our mobileconfig's email). It only ever goes back to
// the same client inside an XML document and, as postmaster@<domain>, to
// authd, so the check is for what would break those: not the full RFC 5321
// grammar (authd has that), but a bounded, printable, valid-UTF-8 local@domain
// whose domain is a host name.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace postline::web {

struct EmailAddress {
  std::string address;  // as given (local part kept as it is, domain lower-cased)
  std::string local;
  std::string domain;   // lower-cased ASCII letters; U-labels kept as UTF-8
};

// nullopt and `why` set when `text` is not such an address. Limits: 64 octets
// of local part, 253 of domain (RFC 5321 4.5.3.1).
std::optional<EmailAddress> parse_email_address(std::string_view text, std::string* why);

// A host name: dot-separated labels of letters, digits, '-' or UTF-8 (IDN),
// each 1-63 octets, at most 253 in all, no leading or trailing dot. Lower-cases
// ASCII letters. nullopt otherwise.
std::optional<std::string> normalise_domain(std::string_view text);

}  // namespace postline::web
