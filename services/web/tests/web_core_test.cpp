#include "services/web/core/autoconfig.h"
#include "services/web/core/autodiscover.h"
#include "services/web/core/email_address.h"
#include "services/web/core/mobileconfig.h"
#include "services/web/core/query.h"
#include "services/web/core/site.h"
#include "services/web/core/xml.h"

#include <gtest/gtest.h>

#include <vector>

using namespace postline::web;

namespace {

ClientSettings settings() {
  ClientSettings s;
  s.imap = {{"imap.example.org", 993, Security::kImplicitTls}, {"imap.example.org", 143, Security::kStartTls}};
  s.smtp = {{"smtp.example.org", 465, Security::kImplicitTls}, {"smtp.example.org", 587, Security::kStartTls}};
  return s;
}

EmailAddress address(const std::string& text) {
  std::string why;
  auto a = parse_email_address(text, &why);
  EXPECT_TRUE(a) << why;
  return *a;
}

size_t count(const std::string& hay, const std::string& needle) {
  size_t n = 0;
  for (auto p = hay.find(needle); p != std::string::npos; p = hay.find(needle, p + 1)) ++n;
  return n;
}

std::string request(const std::string& email, const std::string& schema = std::string(kOutlookResponseSchema)) {
  return "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n"
         "<Autodiscover xmlns=\"http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006\">\n"
         "  <Request>\n    <EMailAddress>" + email + "</EMailAddress>\n"
         "    <AcceptableResponseSchema>" + schema + "</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n";
}

}  // namespace

TEST(Xml, EscapesTheFiveSpecialCharacters) {
  EXPECT_EQ(xml_escape(R"(a&b<c>"d"'e')"), "a&amp;b&lt;c&gt;&quot;d&quot;&apos;e&apos;");
  EXPECT_EQ(xml_escape("plain@example.org"), "plain@example.org");
}

TEST(Xml, SafeTextIsPrintableUtf8) {
  EXPECT_TRUE(xml_safe_text("åsa@bücher.example"));
  EXPECT_FALSE(xml_safe_text("a\x01@b"));
  EXPECT_FALSE(xml_safe_text("a\x7f"));
  EXPECT_FALSE(xml_safe_text("\xc3"));          // truncated
  EXPECT_FALSE(xml_safe_text("\xc0\xaf"));      // overlong '/'
  EXPECT_FALSE(xml_safe_text("\xed\xa0\x80"));  // surrogate
  EXPECT_FALSE(xml_safe_text("\xef\xbf\xbe"));  // U+FFFE
  EXPECT_FALSE(xml_safe_text("\xc2\x85"));      // C1 control NEL
}

TEST(EmailAddress, SplitsAtTheLastAtAndLowercasesTheDomain) {
  auto a = address("Anna.B@Example.ORG");
  EXPECT_EQ(a.local, "Anna.B");
  EXPECT_EQ(a.domain, "example.org");
  EXPECT_EQ(a.address, "Anna.B@example.org");
  EXPECT_EQ(address("\"a@b\"@example.org").local, "\"a@b\"");
}

TEST(EmailAddress, RefusesWhatCannotBeAnAddressAndSaysWhy) {
  std::string why;
  EXPECT_FALSE(parse_email_address("", &why));
  EXPECT_EQ(why, "the address is empty");
  EXPECT_FALSE(parse_email_address("nobody", &why));
  EXPECT_EQ(why, "the address has no @");
  EXPECT_FALSE(parse_email_address("@example.org", &why));
  EXPECT_EQ(why, "the address has no local part");
  EXPECT_FALSE(parse_email_address(std::string(65, 'a') + "@example.org", &why));
  EXPECT_EQ(why, "the local part is longer than 64 octets");
  for (const char* bad : {"a@", "a@exa mple.org", "a@example..org", "a@.example.org", "a@example.org.", "a@ex<a>.org",
                          "a@ex/ample.org"}) {
    EXPECT_FALSE(parse_email_address(bad, &why)) << bad;
    EXPECT_EQ(why, "the domain is not a host name") << bad;
  }
  EXPECT_FALSE(parse_email_address("a\r\nb@example.org", &why));
  EXPECT_EQ(why, "the address is not printable UTF-8");
  EXPECT_FALSE(parse_email_address("a@" + std::string(64, 'b') + ".org", &why));  // label > 63
}

TEST(Query, DecodesFormEncoding) {
  EXPECT_EQ(query_param("/x?emailaddress=a%2Bb%40example.org", "emailaddress"), "a+b@example.org");
  EXPECT_EQ(query_param("/x?a=1&emailaddress=john+doe@x.org&emailaddress=2", "emailaddress"), "john doe@x.org");
  EXPECT_EQ(query_param("/x?emailaddress=", "emailaddress"), "");
  EXPECT_EQ(query_param("/x?emailaddress", "emailaddress"), "");
  EXPECT_FALSE(query_param("/x", "emailaddress"));
  EXPECT_FALSE(query_param("/x?other=1", "emailaddress"));
  EXPECT_FALSE(query_param("/x?emailaddress=%4", "emailaddress"));
  EXPECT_FALSE(query_param("/x?emailaddress=%zz", "emailaddress"));
  EXPECT_FALSE(query_param("/x?emailaddress=a%00b", "emailaddress"));
  EXPECT_EQ(target_path("/a/b?c=d"), "/a/b");
}

TEST(AutodiscoverRequest, ReadsOutlooksRequest) {
  std::string why;
  auto r = parse_autodiscover_request(request("anna@example.org"), &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->email, "anna@example.org");
  EXPECT_EQ(r->schema, kOutlookResponseSchema);
}

TEST(AutodiscoverRequest, DecodesEntitiesPrefixesCdataAndSkipsCommentsAndPis) {
  std::string why;
  auto r = parse_autodiscover_request(
      "\xef\xbb\xbf<?xml version='1.0'?><!-- hi --><a:Autodiscover xmlns:a='urn:x'><a:Request><?pi x?>"
      "<a:EMailAddress>o&apos;neil&amp;co&#x40;x&#64;<![CDATA[<y>]]>@example.org</a:EMailAddress></a:Request>"
      "</a:Autodiscover>  ",
      &why);
  ASSERT_TRUE(r) << why;
  EXPECT_EQ(r->email, "o'neil&co@x@<y>@example.org");
  EXPECT_EQ(r->schema, "");
}

TEST(AutodiscoverRequest, RefusesMalformedAndDangerousDocuments) {
  struct Case {
    std::string body, why;
  };
  const std::vector<Case> cases = {
      {"", "no root element"},
      {"<!DOCTYPE x [<!ENTITY a \"b\">]><Autodiscover/>", "DOCTYPE and other declarations are not accepted"},
      {"<Autodiscover><Request><EMailAddress>a@b</Request></Autodiscover>", "end tag does not match the open element"},
      {"<Autodiscover><Request><EMailAddress>a@b</EMailAddress></Request>", "the document ends inside an element"},
      {"<Autodiscover/><Autodiscover/>", "more than one root element"},
      {"junk<Autodiscover/>", "text outside the root element"},
      {"<Autodiscover><Request><EMailAddress>&foo;</EMailAddress></Request></Autodiscover>",
       "unknown entity (only the five XML entities are accepted)"},
      {"<Autodiscover><Request><EMailAddress>&#0;</EMailAddress></Request></Autodiscover>", "bad character reference"},
      {"<Autodiscover><Request><EMailAddress>&#xD800;</EMailAddress></Request></Autodiscover>",
       "bad character reference"},
      {"<Autodiscover a=b/>", "unquoted attribute value"},
      {"<Autodiscover><Request></Request></Autodiscover>", "no Autodiscover/Request/EMailAddress element"},
      {"<Other><Request><EMailAddress>a@b.org</EMailAddress></Request></Other>",
       "no Autodiscover/Request/EMailAddress element"},
      {"<Autodiscover><!-- never closed", "unterminated comment"},
      {"<Autodiscover><![CDATA[x", "unterminated CDATA section"},
      {"<Autodiscover", "the document ends inside a tag"},
  };
  for (const auto& c : cases) {
    std::string why;
    EXPECT_FALSE(parse_autodiscover_request(c.body, &why)) << c.body;
    EXPECT_EQ(why, c.why) << c.body;
  }
}

TEST(AutodiscoverRequest, EnforcesDepthElementAndValueLimits) {
  std::string why;
  std::string deep;
  for (int i = 0; i < 40; ++i) deep += "<a>";
  EXPECT_FALSE(parse_autodiscover_request(deep, &why));
  EXPECT_EQ(why, "elements nested too deeply");
  std::string many = "<Autodiscover>";
  for (int i = 0; i < 300; ++i) many += "<x/>";
  EXPECT_FALSE(parse_autodiscover_request(many + "</Autodiscover>", &why));
  EXPECT_EQ(why, "too many elements");
  EXPECT_FALSE(parse_autodiscover_request(request(std::string(2000, 'a') + "@example.org"), &why));
  EXPECT_EQ(why, "EMailAddress is longer than 1024 octets");
}

TEST(Autoconfig, ListsEveryServerInPreferenceOrderWithTheAddressAsUsername) {
  const auto xml = autoconfig_xml(settings(), "example.org", address("anna@example.org"));
  EXPECT_NE(xml.find("<clientConfig version=\"1.1\">"), std::string::npos);
  EXPECT_NE(xml.find("<emailProvider id=\"example.org\">"), std::string::npos);
  EXPECT_EQ(count(xml, "<incomingServer type=\"imap\">"), 2u);
  EXPECT_EQ(count(xml, "<outgoingServer type=\"smtp\">"), 2u);
  EXPECT_LT(xml.find("<port>993</port>"), xml.find("<port>143</port>"));
  EXPECT_LT(xml.find("<port>465</port>"), xml.find("<port>587</port>"));
  EXPECT_EQ(count(xml, "<socketType>SSL</socketType>"), 2u);
  EXPECT_EQ(count(xml, "<socketType>STARTTLS</socketType>"), 2u);
  EXPECT_EQ(count(xml, "<username>anna@example.org</username>"), 4u);
  const auto placeholder = autoconfig_xml(settings(), "example.org", std::nullopt);
  EXPECT_EQ(count(placeholder, "<username>%EMAILADDRESS%</username>"), 4u);
}

TEST(Autoconfig, EscapesTheAddress) {
  const auto xml = autoconfig_xml(settings(), "example.org", address("a&b<c>\"'@example.org"));
  EXPECT_NE(xml.find("<username>a&amp;b&lt;c&gt;&quot;&apos;@example.org</username>"), std::string::npos);
  EXPECT_EQ(xml.find("a&b"), std::string::npos);
}

TEST(Autodiscover, AnswersTheOutlookSchemaWithImapAndSmtp) {
  const auto xml = autodiscover_response_xml(settings(), address("a&b@example.org"));
  EXPECT_NE(xml.find("<Response xmlns=\"" + std::string(kOutlookResponseSchema) + "\">"), std::string::npos);
  EXPECT_EQ(count(xml, "<Type>IMAP</Type>"), 2u);
  EXPECT_EQ(count(xml, "<Type>SMTP</Type>"), 2u);
  EXPECT_EQ(count(xml, "<LoginName>a&amp;b@example.org</LoginName>"), 4u);
  EXPECT_EQ(count(xml, "<Encryption>SSL</Encryption>"), 2u);
  EXPECT_EQ(count(xml, "<Encryption>TLS</Encryption>"), 2u);
  EXPECT_LT(xml.find("<Port>993</Port>"), xml.find("<Port>143</Port>"));
  EXPECT_EQ(xml.find("a&b@"), std::string::npos);
}

TEST(Mobileconfig, OneImapAndOneSmtpPayloadWithStableUuids) {
  const auto a = address("anna@example.org");
  const auto plist = mobileconfig_plist(settings(), a);
  EXPECT_NE(plist.find("<string>com.apple.mail.managed</string>"), std::string::npos);
  EXPECT_NE(plist.find("<key>IncomingMailServerPortNumber</key>\n      <integer>993</integer>"), std::string::npos);
  EXPECT_NE(plist.find("<key>OutgoingMailServerPortNumber</key>\n      <integer>465</integer>"), std::string::npos);
  EXPECT_NE(plist.find("<string>org.example.postline.mail."), std::string::npos);
  EXPECT_EQ(plist, mobileconfig_plist(settings(), a));  // deterministic
  EXPECT_EQ(name_uuid("x"), name_uuid("x"));
  EXPECT_NE(name_uuid("x"), name_uuid("y"));
  const auto u = name_uuid("x");
  ASSERT_EQ(u.size(), 36u);
  EXPECT_EQ(u[14], '5');
  EXPECT_NE(std::string("89AB").find(u[19]), std::string::npos);
  const auto escaped = mobileconfig_plist(settings(), address("<b>@example.org"));
  EXPECT_EQ(escaped.find("<b>@"), std::string::npos);
  EXPECT_NE(escaped.find("&lt;b&gt;@example.org"), std::string::npos);
}

TEST(Route, AutoconfigByAddressOrByHost) {
  auto r = route({"GET", "/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=anna%40Example.org", "h", ""});
  ASSERT_TRUE(r.query);
  EXPECT_EQ(r.path_class, PathClass::kAutoconfig);
  EXPECT_EQ(r.query->domain, "example.org");
  EXPECT_EQ(r.query->address->address, "anna@example.org");
  r = route({"GET", "/mail/config-v1.1.xml", "AutoConfig.Example.org:8443", ""});
  ASSERT_TRUE(r.query);
  EXPECT_EQ(r.query->domain, "example.org");
  EXPECT_FALSE(r.query->address);
  r = route({"GET", "/mail/config-v1.1.xml", "example.org", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 400u);
  EXPECT_EQ(r.answer->body, "the emailaddress parameter is required\n");
  r = route({"GET", "/mail/config-v1.1.xml?emailaddress=nobody", "h", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->body, "emailaddress: the address has no @\n");
  r = route({"POST", "/mail/config-v1.1.xml", "h", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 405u);
}

TEST(Route, AutodiscoverPostGetAndSchemas) {
  auto r = route({"POST", "/Autodiscover/Autodiscover.xml", "h", request("anna@example.org")});
  ASSERT_TRUE(r.query);
  EXPECT_EQ(r.query->document, Document::kAutodiscover);
  EXPECT_EQ(r.query->domain, "example.org");
  r = route({"POST", "/autodiscover/autodiscover.xml", "h",
             request("anna@example.org", "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006")});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 404u);
  r = route({"POST", "/autodiscover/autodiscover.xml", "h", "<Autodiscover"});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 400u);
  EXPECT_EQ(r.answer->body, "autodiscover request: the document ends inside a tag\n");
  r = route({"GET", "/autodiscover/autodiscover.xml?email=anna@example.org", "h", ""});
  ASSERT_TRUE(r.query);
  r = route({"PUT", "/autodiscover/autodiscover.xml", "h", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 405u);
}

TEST(Route, MobileconfigAndUnknownPaths) {
  auto r = route({"GET", "/apple/mobileconfig?email=anna@example.org", "h", ""});
  ASSERT_TRUE(r.query);
  EXPECT_EQ(r.path_class, PathClass::kMobileconfig);
  r = route({"GET", "/apple/mobileconfig", "h", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 400u);
  r = route({"GET", "/", "h", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 404u);
  EXPECT_EQ(r.path_class, PathClass::kOther);
}

TEST(Site, RendersEachDocumentWithItsContentType) {
  const Site site(settings(), nullptr);
  auto a = site.render({Document::kAutoconfig, "example.org", address("anna@example.org")});
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.content_type, "text/xml; charset=utf-8");
  a = site.render({Document::kMobileconfig, "example.org", address("anna@example.org")});
  EXPECT_EQ(a.content_type, "application/x-apple-aspen-config");
  EXPECT_EQ(a.body.rfind("<?xml", 0), 0u);  // unsigned: the plist itself
}

TEST(Redirect, LocationKeepsTheTargetAndNamesThePublicPort) {
  EXPECT_EQ(https_location("mail.example.org", "/mail/config-v1.1.xml?x=1", 443),
            "https://mail.example.org/mail/config-v1.1.xml?x=1");
  EXPECT_EQ(https_location("Mail.Example.org:8080", "/", 8443), "https://mail.example.org:8443/");
  EXPECT_EQ(https_location("127.0.0.1:80", "http://evil.example/x", 443), "https://127.0.0.1/");
  EXPECT_FALSE(https_location("", "/", 443));
  EXPECT_FALSE(https_location("evil.example/x", "/", 443));
  EXPECT_FALSE(https_location("a b", "/", 443));
}

// RFC 8461 3.2: the policy on https://mta-sts.<domain>/.well-known/mta-sts.txt only,
// as text/plain, the very text whose hash `postline dns records` prints as the TXT id.
TEST(Route, MtaStsPolicyOnItsHostOnly) {
  auto r = route(RequestView{"GET", "/.well-known/mta-sts.txt", "mta-sts.Example.ORG:8443", ""});
  ASSERT_TRUE(r.query);
  EXPECT_EQ(r.path_class, PathClass::kMtaSts);
  EXPECT_EQ(r.query->document, Document::kMtaSts);
  EXPECT_EQ(r.query->domain, "example.org");
  r = route(RequestView{"GET", "/.well-known/mta-sts.txt", "example.org", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 404u);
  r = route(RequestView{"POST", "/.well-known/mta-sts.txt", "mta-sts.example.org", ""});
  ASSERT_TRUE(r.answer);
  EXPECT_EQ(r.answer->status, 405u);

  MtaStsSettings sts;
  sts.mx_host = "mail.example.org";
  sts.mode = "enforce";
  sts.max_age = 86400;
  const Site site(ClientSettings{}, nullptr, sts);
  const Answer a = site.render(SetupQuery{Document::kMtaSts, "example.org", std::nullopt});
  EXPECT_EQ(a.status, 200u);
  EXPECT_EQ(a.content_type, "text/plain");
  EXPECT_EQ(a.body, "version: STSv1\nmode: enforce\nmx: mail.example.org\nmax_age: 86400\n");
  // Not configured: nothing to serve.
  const Site none(ClientSettings{}, nullptr);
  EXPECT_EQ(none.render(SetupQuery{Document::kMtaSts, "example.org", std::nullopt}).status, 404u);
}
