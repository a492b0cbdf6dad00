// libFuzzer entry point for webd's autodiscover request reader
// (core/autodiscover.h): the body of POST /autodiscover/autodiscover.xml, the
// one request body a stranger sends webd. Invariants, not only "no crash":
//   - parse_autodiscover_request never throws; a refusal always says why;
//   - an accepted EMailAddress is at most AutodiscoverLimits::max_value octets;
//   - round trip: that address, XML-escaped into a minimal request, reads back
//     unchanged (when it is text XML may hold);
//   - route() on the body as a POST never throws, and when it yields an
//     address the response holds the address only escaped: none of & < > " '
//     from it appear raw.
#include "services/web/core/autodiscover.h"
#include "services/web/core/site.h"
#include "services/web/core/xml.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace postline::web;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view body(reinterpret_cast<const char*>(data), size);
  std::string why;
  const AutodiscoverLimits limits;
  auto parsed = parse_autodiscover_request(body, &why, limits);
  if (!parsed) {
    if (why.empty()) std::abort();
  } else {
    if (parsed->email.size() > limits.max_value) std::abort();
    if (xml_safe_text(parsed->email)) {
      const std::string again =
          "<Autodiscover><Request><EMailAddress>" + xml_escape(parsed->email) + "</EMailAddress></Request></Autodiscover>";
      std::string why2;
      auto round = parse_autodiscover_request(again, &why2, limits);
      if (!round || round->email != parsed->email) std::abort();
    }
  }
  const Routed routed = route(RequestView{"POST", "/autodiscover/autodiscover.xml", "autodiscover.example.org", body});
  if (routed.answer.has_value() == routed.query.has_value()) std::abort();  // exactly one
  if (routed.query) {
    ClientSettings settings;
    settings.imap.push_back({"imap.example.org", 993, Security::kImplicitTls});
    settings.smtp.push_back({"smtp.example.org", 587, Security::kStartTls});
    const Site site(settings, nullptr);
    const std::string xml = site.render(*routed.query).body;
    const std::string& address = routed.query->address->address;
    if (xml.find(xml_escape(address)) == std::string::npos) std::abort();
    if (address.find_first_of("&<>\"'") != std::string::npos && xml.find(address) != std::string::npos) std::abort();
  }
  return 0;
}
