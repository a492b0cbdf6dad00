// The acme.* keys read and checked together, for postline-webd's ACME client
// and for `postline config check` (the same function, so the check refuses
// exactly what webd would). Only read when acme.enabled is true.
#pragma once

#include "common/config/config.h"

#include <chrono>
#include <cstdint>
#include <string>
#include <vector>

namespace postline::config {

struct AcmeSettings {
  bool enabled = false;
  std::string directory_url;     // https://...
  std::string contact_email;     // "" = none
  std::vector<std::string> names;  // lower-case host names, de-duplicated, in config order
  std::string account_key_file;
  std::string ca_file;           // "" = system trust store
  // Where the issued key and chain go: tls.cert_file / tls.key_file, and
  // web.cert_file / web.key_file too when those are set.
  std::string cert_file, key_file, web_cert_file, web_key_file;
  uint16_t challenge_port = 0;   // web.http_redirect_port, answers http-01
  std::chrono::seconds renew_before{30 * 86400}, check_interval{3600}, request_timeout{30}, order_timeout{300};
};

// Throws ConfigError naming the key when acme.enabled is true and a key is
// missing or wrong (directory_url not https, a name that is not a host name or
// is a wildcard, no place to write the certificate, no challenge port, an
// unreadable acme.ca_file). With acme.enabled false, returns {enabled = false}.
AcmeSettings acme_settings(const Config& cfg);

// True for a host name http-01 can validate: 1-63 octet labels of letters,
// digits and '-' (not at either end), at least two labels, at most 253 octets.
bool is_acme_host_name(const std::string& name);

}  // namespace postline::config
