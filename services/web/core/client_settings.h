// What webd tells mail clients: the public IMAP and submission servers, in the
// order clients should prefer them (implicit TLS first, RFC 8314 3.3). The
// username is always the full address; the password is the account's (or an
// app password), sent as PLAIN/LOGIN inside TLS.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace postline::web {

enum class Security { kImplicitTls, kStartTls };

struct Endpoint {
  std::string hostname;
  uint16_t port = 0;
  Security security = Security::kImplicitTls;
};

struct ClientSettings {
  std::vector<Endpoint> imap;  // preferred first; never empty once configured
  std::vector<Endpoint> smtp;
};

}  // namespace postline::web
