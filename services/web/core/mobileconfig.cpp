#include "services/web/core/mobileconfig.h"

#include "services/web/core/xml.h"

#include <openssl/sha.h>

#include <algorithm>
#include <cstdio>
#include <vector>

namespace postline::web {

namespace {

// Our own namespace UUID for profile identifiers (a fixed random value).
constexpr unsigned char kNamespace[16] = {0x6b, 0x1d, 0x2e, 0x5a, 0x93, 0x0c, 0x4f, 0x61,
                                          0x8a, 0x27, 0xd4, 0x0e, 0x51, 0xc9, 0x3b, 0x7f};

std::string reversed_domain(const std::string& domain) {
  std::vector<std::string> labels;
  size_t start = 0;
  for (;;) {
    const auto dot = domain.find('.', start);
    labels.push_back(domain.substr(start, dot == std::string::npos ? std::string::npos : dot - start));
    if (dot == std::string::npos) break;
    start = dot + 1;
  }
  std::string out;
  for (auto it = labels.rbegin(); it != labels.rend(); ++it) {
    if (!out.empty()) out += '.';
    out += *it;
  }
  return out;
}

void key(std::string& out, const char* indent, const char* k) {
  out += indent;
  out += "<key>";
  out += k;
  out += "</key>\n";
}
void string_value(std::string& out, const char* indent, const char* k, const std::string& escaped) {
  key(out, indent, k);
  out += indent;
  out += "<string>" + escaped + "</string>\n";
}
void integer_value(std::string& out, const char* indent, const char* k, long v) {
  key(out, indent, k);
  out += indent;
  out += "<integer>" + std::to_string(v) + "</integer>\n";
}
void bool_value(std::string& out, const char* indent, const char* k, bool v) {
  key(out, indent, k);
  out += indent;
  out += v ? "<true/>\n" : "<false/>\n";
}

}  // namespace

std::string name_uuid(const std::string& name) {
  std::string input(reinterpret_cast<const char*>(kNamespace), sizeof kNamespace);
  input += name;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  digest[6] = static_cast<unsigned char>((digest[6] & 0x0f) | 0x50);  // version 5
  digest[8] = static_cast<unsigned char>((digest[8] & 0x3f) | 0x80);  // RFC 4122 variant
  char out[37];
  std::snprintf(out, sizeof out, "%02X%02X%02X%02X-%02X%02X-%02X%02X-%02X%02X-%02X%02X%02X%02X%02X%02X", digest[0],
                digest[1], digest[2], digest[3], digest[4], digest[5], digest[6], digest[7], digest[8], digest[9],
                digest[10], digest[11], digest[12], digest[13], digest[14], digest[15]);
  return out;
}

std::string mobileconfig_plist(const ClientSettings& settings, const EmailAddress& address) {
  const Endpoint& in = settings.imap.front();
  const Endpoint& outgoing = settings.smtp.front();
  const std::string addr = xml_escape(address.address);
  // PayloadIdentifier: reverse-DNS of the domain; the address goes in as its
  // UUID, so the identifier stays within the characters Apple expects.
  const std::string base = xml_escape(reversed_domain(address.domain)) + ".postline.mail";
  const std::string profile_uuid = name_uuid("profile:" + address.address);
  const std::string account_uuid = name_uuid("account:" + address.address);
  std::string out =
      "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"
      "<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n"
      "<plist version=\"1.0\">\n<dict>\n";
  const char* i1 = "  ";
  const char* i3 = "      ";
  key(out, i1, "PayloadContent");
  out += "  <array>\n    <dict>\n";
  string_value(out, i3, "EmailAccountDescription", addr);
  string_value(out, i3, "EmailAccountType", "EmailTypeIMAP");
  string_value(out, i3, "EmailAddress", addr);
  string_value(out, i3, "IncomingMailServerAuthentication", "EmailAuthPassword");
  string_value(out, i3, "IncomingMailServerHostName", xml_escape(in.hostname));
  integer_value(out, i3, "IncomingMailServerPortNumber", in.port);
  // UseSSL: TLS from the first byte on an implicit-TLS port, STARTTLS
  // required on the others; plaintext is never offered.
  bool_value(out, i3, "IncomingMailServerUseSSL", true);
  string_value(out, i3, "IncomingMailServerUsername", addr);
  string_value(out, i3, "OutgoingMailServerAuthentication", "EmailAuthPassword");
  string_value(out, i3, "OutgoingMailServerHostName", xml_escape(outgoing.hostname));
  integer_value(out, i3, "OutgoingMailServerPortNumber", outgoing.port);
  bool_value(out, i3, "OutgoingMailServerUseSSL", true);
  string_value(out, i3, "OutgoingMailServerUsername", addr);
  bool_value(out, i3, "OutgoingPasswordSameAsIncomingPassword", true);
  string_value(out, i3, "PayloadDescription", "Email account " + addr);
  string_value(out, i3, "PayloadDisplayName", addr);
  string_value(out, i3, "PayloadIdentifier", base + ".account." + account_uuid);
  string_value(out, i3, "PayloadType", "com.apple.mail.managed");
  string_value(out, i3, "PayloadUUID", account_uuid);
  integer_value(out, i3, "PayloadVersion", 1);
  bool_value(out, i3, "PreventAppSheet", false);
  bool_value(out, i3, "PreventMove", false);
  bool_value(out, i3, "SMIMEEnabled", false);
  out += "    </dict>\n  </array>\n";
  string_value(out, i1, "PayloadDescription", "Mail settings for " + addr);
  string_value(out, i1, "PayloadDisplayName", "Mail: " + addr);
  string_value(out, i1, "PayloadIdentifier", base + "." + profile_uuid);
  string_value(out, i1, "PayloadOrganization", xml_escape(address.domain));
  bool_value(out, i1, "PayloadRemovalDisallowed", false);
  string_value(out, i1, "PayloadType", "Configuration");
  string_value(out, i1, "PayloadUUID", profile_uuid);
  integer_value(out, i1, "PayloadVersion", 1);
  out += "</dict>\n</plist>\n";
  return out;
}

}  // namespace postline::web
