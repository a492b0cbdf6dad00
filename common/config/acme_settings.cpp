#include "common/config/acme_settings.h"

#include <algorithm>
#include <cctype>
#include <fstream>

namespace postline::config {

bool is_acme_host_name(const std::string& name) {
  if (name.empty() || name.size() > 253) return false;
  size_t labels = 0, start = 0;
  while (start <= name.size()) {
    size_t end = name.find('.', start);
    if (end == std::string::npos) end = name.size();
    const size_t len = end - start;
    if (len == 0 || len > 63) return false;
    for (size_t i = start; i < end; ++i) {
      const unsigned char c = static_cast<unsigned char>(name[i]);
      if (!(std::isalnum(c) || c == '-')) return false;
    }
    if (name[start] == '-' || name[end - 1] == '-') return false;
    ++labels;
    start = end + 1;
  }
  return labels >= 2;
}

AcmeSettings acme_settings(const Config& cfg) {
  AcmeSettings s;
  s.enabled = cfg.boolean("acme", "enabled");
  if (!s.enabled) return s;
  s.directory_url = cfg.str("acme", "directory_url");
  if (s.directory_url.rfind("https://", 0) != 0 || s.directory_url.size() <= 8)
    throw ConfigError("acme.directory_url: \"" + s.directory_url + "\" must be an https:// URL (the ACME server's directory)");
  s.contact_email = cfg.str("acme", "contact_email");
  if (!s.contact_email.empty()) {
    const auto at = s.contact_email.find('@');
    const bool bad_char = std::any_of(s.contact_email.begin(), s.contact_email.end(), [](unsigned char c) {
      return c <= ' ' || c == 0x7f || c == ',' || c == '"' || c == '<' || c == '>';
    });
    if (at == std::string::npos || at == 0 || at + 1 == s.contact_email.size() || bad_char)
      throw ConfigError("acme.contact_email: \"" + s.contact_email + "\" is not an address (local@domain)");
  }
  std::vector<std::string> wanted = cfg.list("acme", "names");
  const bool defaulted = wanted.empty();
  if (defaulted) {
    wanted.push_back(cfg.str("smtp", "hostname"));
    for (const char* key : {"imap_hostname", "smtp_hostname"})
      if (auto h = cfg.str("web", key); !h.empty()) wanted.push_back(h);
  }
  for (std::string name : wanted) {
    std::transform(name.begin(), name.end(), name.begin(), [](unsigned char c) { return std::tolower(c); });
    if (!name.empty() && name.back() == '.') name.pop_back();
    const std::string key = defaulted ? "acme.names (empty: smtp.hostname, web.imap_hostname, web.smtp_hostname)"
                                      : "acme.names";
    if (name.rfind("*.", 0) == 0)
      throw ConfigError(key + ": \"" + name + "\" is a wildcard; those need the dns-01 challenge, which Postline does not do");
    if (!is_acme_host_name(name))
      throw ConfigError(key + ": \"" + name + "\" is not a host name a CA can validate (letters, digits, '-', at least two labels)");
    if (std::find(s.names.begin(), s.names.end(), name) == s.names.end()) s.names.push_back(name);
  }
  s.account_key_file = cfg.str("acme", "account_key_file");
  if (s.account_key_file.empty())
    throw ConfigError("acme.account_key_file: required with acme.enabled (created with a new P-256 key if missing)");
  s.ca_file = cfg.str("acme", "ca_file");
  if (!s.ca_file.empty() && !std::ifstream(s.ca_file).good())
    throw ConfigError("acme.ca_file: cannot read " + s.ca_file);
  s.cert_file = cfg.str("tls", "cert_file");
  s.key_file = cfg.str("tls", "key_file");
  if (s.cert_file.empty() || s.key_file.empty())
    throw ConfigError("tls.cert_file, tls.key_file: acme.enabled needs both (the issued certificate and key are written there)");
  s.web_cert_file = cfg.str("web", "cert_file");
  s.web_key_file = cfg.str("web", "key_file");
  s.challenge_port = cfg.port("web", "http_redirect_port");
  if (s.challenge_port == 0)
    throw ConfigError("web.http_redirect_port: acme.enabled needs it (http-01 challenges are answered there; port 80 in front of it)");
  s.renew_before = cfg.duration("acme", "renew_before");
  s.check_interval = cfg.duration("acme", "check_interval");
  s.request_timeout = cfg.duration("acme", "request_timeout");
  s.order_timeout = cfg.duration("acme", "order_timeout");
  return s;
}

}  // namespace postline::config
