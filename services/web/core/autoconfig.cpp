#include "services/web/core/autoconfig.h"

#include "services/web/core/xml.h"

namespace postline::web {

namespace {

void server(std::string& out, const char* element, const char* type, const Endpoint& e, const std::string& user) {
  out += "    <";
  out += element;
  out += " type=\"";
  out += type;
  out += "\">\n      <hostname>" + xml_escape(e.hostname) + "</hostname>\n";
  out += "      <port>" + std::to_string(e.port) + "</port>\n";
  out += std::string("      <socketType>") + (e.security == Security::kImplicitTls ? "SSL" : "STARTTLS") +
         "</socketType>\n";
  out += "      <authentication>password-cleartext</authentication>\n";
  out += "      <username>" + user + "</username>\n";
  out += "    </";
  out += element;
  out += ">\n";
}

}  // namespace

std::string autoconfig_xml(const ClientSettings& settings, const std::string& domain,
                           const std::optional<EmailAddress>& address) {
  const std::string d = xml_escape(domain);
  const std::string user = address ? xml_escape(address->address) : std::string("%EMAILADDRESS%");
  std::string out = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<clientConfig version=\"1.1\">\n";
  out += "  <emailProvider id=\"" + d + "\">\n";
  out += "    <domain>" + d + "</domain>\n";
  out += "    <displayName>" + d + "</displayName>\n";
  out += "    <displayShortName>" + d + "</displayShortName>\n";
  for (const auto& e : settings.imap) server(out, "incomingServer", "imap", e, user);
  for (const auto& e : settings.smtp) server(out, "outgoingServer", "smtp", e, user);
  out += "  </emailProvider>\n</clientConfig>\n";
  return out;
}

}  // namespace postline::web
