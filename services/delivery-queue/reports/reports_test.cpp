// The sans-I/O reporting code: DMARC XML (built, parsed, hostile), rua URIs
// with size limits, TLS-RPT JSON and records, gzip/zip with bomb limits, the
// report messages and their extraction, the TLS outcome counters.
// Schema validation of generated reports: tests/reports/test_report_schemas.py.
#include <gtest/gtest.h>
#include <zlib.h>

#include "services/delivery-queue/reports/compression.h"
#include "services/delivery-queue/reports/dmarc_report.h"
#include "services/delivery-queue/reports/report_mail.h"
#include "services/delivery-queue/reports/tls_outcomes.h"
#include "services/delivery-queue/reports/tlsrpt_report.h"
#include "services/delivery-queue/reports/xml.h"
#include "common/mailauth/text_util.h"

namespace postline::queue::reports {
namespace {

DmarcAggregate sample() {
  DmarcAggregate r;
  r.org_name = "mx.postline.test";
  r.email = "dmarc-reports@postline.test";
  r.report_id = "1764806400.abc";
  r.begin = 1764806400;
  r.end = 1764892799;
  r.policy.domain = "bank.example";
  r.policy.p = "reject";
  r.policy.sp = "quarantine";
  DmarcRow a;
  a.source_ip = "192.0.2.7";
  a.count = 12;
  a.dkim = "pass";
  a.spf = "pass";
  a.header_from = "bank.example";
  a.envelope_from = "bank.example";
  a.envelope_to = "postline.test";
  a.dkim_auth = {{"bank.example", "s1", "pass"}};
  a.spf_domain = "bank.example";
  a.spf_result = "pass";
  DmarcRow b = a;
  b.source_ip = "2001:db8::1";
  b.count = 3;
  b.dkim = b.spf = "fail";
  b.disposition = "reject";
  b.dkim_auth.clear();
  b.spf_result = "fail";
  b.header_from = "bank.example & <co>";
  r.rows = {a, b};
  return r;
}

TEST(Xml, ParsesElementsEntitiesCdataAndNamespaces) {
  std::string err;
  auto n = parse_xml("<?xml version=\"1.0\"?><!-- c --><a:feedback xmlns:a=\"x\"><b x='1'>A &amp; B &#x41;&#66;</b>"
                     "<c><![CDATA[<raw>]]></c><d/></a:feedback>",
                     &err);
  ASSERT_TRUE(n) << err;
  EXPECT_EQ(n->name, "feedback");
  EXPECT_EQ(n->child_text("b"), "A & B AB");
  EXPECT_EQ(n->child_text("c"), "<raw>");
  EXPECT_TRUE(n->child("d"));
}

TEST(Xml, RefusesDtdsAndBounds) {
  std::string err;
  EXPECT_FALSE(parse_xml("<!DOCTYPE lolz [<!ENTITY lol \"lol\">]><a>&lol;</a>", &err));
  EXPECT_NE(err.find("DOCTYPE"), std::string::npos);
  EXPECT_FALSE(parse_xml("<a>&lol;</a>", &err));
  EXPECT_FALSE(parse_xml("<a><b></a></b>", &err));
  EXPECT_FALSE(parse_xml("<a>", &err));
  EXPECT_FALSE(parse_xml("<a></a><b></b>", &err));
  std::string deep;
  for (int i = 0; i < 100; ++i) deep += "<x>";
  EXPECT_FALSE(parse_xml(deep, &err));
  XmlLimits small;
  small.max_nodes = 3;
  EXPECT_FALSE(parse_xml("<a><b/><b/><b/></a>", &err, small));
}

TEST(DmarcXml, BuildsAndParsesBack) {
  const std::string xml = build_dmarc_xml(sample());
  EXPECT_NE(xml.find("<feedback xmlns=\"http://dmarc.org/dmarc-xml/0.1\">"), std::string::npos);
  EXPECT_NE(xml.find("<source_ip>2001:db8:0:0:0:0:0:1</source_ip>"), std::string::npos) << xml;
  EXPECT_NE(xml.find("bank.example &amp; &lt;co&gt;"), std::string::npos);
  std::string err;
  auto r = parse_dmarc_xml(xml, &err);
  ASSERT_TRUE(r) << err;
  EXPECT_EQ(r->policy.domain, "bank.example");
  EXPECT_EQ(r->policy.p, "reject");
  ASSERT_EQ(r->rows.size(), 2u);
  EXPECT_EQ(r->rows[1].header_from, "bank.example & <co>");
  EXPECT_EQ(r->total_messages(), 15);
  EXPECT_EQ(r->failed_messages(), 3);
  EXPECT_EQ(r->begin, 1764806400);
}

TEST(DmarcXml, ReadsReportsWithoutNamespaceAndRejectsJunk) {
  std::string google =
      "<?xml version=\"1.0\" encoding=\"UTF-8\" ?>\n<feedback><report_metadata><org_name>google.com</org_name>"
      "<email>noreply-dmarc-support@google.com</email><report_id>123</report_id><date_range><begin>1</begin>"
      "<end>2</end></date_range></report_metadata><policy_published><domain>Postline.TEST</domain><p>none</p>"
      "<sp>none</sp><pct>100</pct></policy_published><record><row><source_ip>192.0.2.1</source_ip><count>2</count>"
      "<policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>fail</spf></policy_evaluated></row>"
      "<identifiers><header_from>postline.test</header_from></identifiers><auth_results><spf><domain>x</domain>"
      "<result>fail</result></spf></auth_results></record></feedback>";
  std::string err;
  auto r = parse_dmarc_xml(google, &err);
  ASSERT_TRUE(r) << err;
  EXPECT_EQ(r->policy.domain, "postline.test");
  EXPECT_EQ(r->total_messages(), 2);
  EXPECT_FALSE(parse_dmarc_xml("<other/>", &err));
  EXPECT_FALSE(parse_dmarc_xml("<feedback><report_metadata/></feedback>", &err));
  std::string bad_count = google;
  bad_count.replace(bad_count.find("<count>2"), 8, "<count>-2");
  EXPECT_FALSE(parse_dmarc_xml(bad_count, &err));
}

TEST(ReportUris, SizeLimitsAndSchemes) {
  auto u = parse_report_uris("mailto:dmarc@example.org!10m, mailto:a%40b@x.example!500k ,https://r.example/x, bogus,"
                             "mailto:noat, mailto:x@y.example!0");
  ASSERT_EQ(u.size(), 3u);
  EXPECT_EQ(u[0].address, "dmarc@example.org");
  EXPECT_EQ(u[0].max_bytes, 10u << 20);
  EXPECT_EQ(u[1].address, "a@b@x.example");
  EXPECT_EQ(u[1].max_bytes, 500u << 10);
  EXPECT_EQ(u[2].scheme, "https");
  EXPECT_EQ(parse_report_uris("mailto:a@b.example,mailto:c@d.example,mailto:e@f.example", 2).size(), 2u);
}

TEST(ReportUris, ExternalVerification) {
  EXPECT_EQ(external_verification_name("Bank.Example", "reports.vendor.example"),
            "bank.example._report._dmarc.reports.vendor.example");
  EXPECT_TRUE(external_verification_ok({"v=DMARC1"}));
  EXPECT_TRUE(external_verification_ok({"other", "v=DMARC1; "}));
  EXPECT_FALSE(external_verification_ok({"v=DMARC10"}));
  EXPECT_FALSE(external_verification_ok({}));
  EXPECT_EQ(dmarc_report_filename("postline.test", "bank.example", 1, 2), "postline.test!bank.example!1!2.xml.gz");
}

TEST(TlsRpt, BuildsAndParsesBack) {
  TlsReport r;
  r.organization_name = "Postline";
  r.contact_info = "tls-reports@postline.test";
  r.report_id = "42";
  r.start = 1764806400;
  r.end = 1764892800;
  TlsPolicyReport p;
  p.policy_domain = "remote.example";
  p.successful = 10;
  p.failed = 2;
  p.failures.push_back({"starttls-not-supported", "", "mx.remote.example", "", "192.0.2.9", 2, "", ""});
  r.policies.push_back(p);
  std::string json = build_tlsrpt_json(r);
  EXPECT_NE(json.find("\"start-datetime\": \"2025-12-04T00:00:00Z\""), std::string::npos) << json;
  std::string err;
  auto back = parse_tlsrpt_json(json, &err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(back->start, r.start);
  EXPECT_EQ(back->total_failed(), 2);
  EXPECT_EQ(back->policies[0].failures[0].receiving_ip, "192.0.2.9");
  EXPECT_FALSE(parse_tlsrpt_json("[]", &err));
  EXPECT_FALSE(parse_tlsrpt_json("{\"organization-name\":\"x\"}", &err));
  std::string deep(100, '[');
  EXPECT_FALSE(parse_tlsrpt_json(deep, &err));
  EXPECT_EQ(parse_rfc3339("2016-04-01T00:00:00+02:00"), 1459461600);
  EXPECT_FALSE(parse_rfc3339("2016-13-01T00:00:00Z"));
}

TEST(TlsRpt, Records) {
  auto u = parse_tlsrpt_record("v=TLSRPTv1; rua=mailto:tls@example.org,https://r.example/v1");
  ASSERT_TRUE(u);
  ASSERT_EQ(u->size(), 2u);
  EXPECT_EQ((*u)[0].address, "tls@example.org");
  EXPECT_FALSE(parse_tlsrpt_record("rua=mailto:a@b.example; v=TLSRPTv1"));
  EXPECT_FALSE(parse_tlsrpt_record("v=TLSRPTv1;"));
  EXPECT_FALSE(parse_tlsrpt_record("v=TLSRPTv2; rua=mailto:a@b.example"));
}

TEST(Compression, GzipRoundTripAndBombLimit) {
  std::string data(1 << 20, 'a');
  std::string gz = gzip_compress(data);
  EXPECT_LT(gz.size(), 4096u);  // a million 'a's: a bomb in miniature
  std::string err;
  auto back = gzip_decompress(gz, 2 << 20, &err);
  ASSERT_TRUE(back) << err;
  EXPECT_EQ(*back, data);
  EXPECT_FALSE(gzip_decompress(gz, 100000, &err));
  EXPECT_NE(err.find("limit"), std::string::npos);
  EXPECT_FALSE(gzip_decompress(gz.substr(0, gz.size() / 2), 2 << 20, &err));
  EXPECT_FALSE(gzip_decompress("not gzip at all, really not", 100, &err));
}

// A zip archive with one deflated entry, written the way zip(1) does.
std::string make_zip(const std::string& name, const std::string& content, uint32_t claimed_size = 0) {
  z_stream z{};
  deflateInit2(&z, 9, Z_DEFLATED, -15, 8, Z_DEFAULT_STRATEGY);
  std::string raw(deflateBound(&z, content.size()) + 16, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(content.data()));
  z.avail_in = static_cast<uInt>(content.size());
  z.next_out = reinterpret_cast<Bytef*>(raw.data());
  z.avail_out = static_cast<uInt>(raw.size());
  deflate(&z, Z_FINISH);
  raw.resize(z.total_out);
  deflateEnd(&z);
  const uint32_t crc = static_cast<uint32_t>(crc32(0, reinterpret_cast<const Bytef*>(content.data()),
                                                   static_cast<uInt>(content.size())));
  auto le16 = [](std::string& s, uint16_t v) { s += char(v & 0xff), s += char(v >> 8); };
  auto le32 = [&](std::string& s, uint32_t v) { le16(s, uint16_t(v & 0xffff)), le16(s, uint16_t(v >> 16)); };
  const uint32_t usize = claimed_size ? claimed_size : static_cast<uint32_t>(content.size());
  std::string z_out;
  le32(z_out, 0x04034b50);
  le16(z_out, 20), le16(z_out, 0), le16(z_out, 8), le16(z_out, 0), le16(z_out, 0);
  le32(z_out, crc), le32(z_out, uint32_t(raw.size())), le32(z_out, usize);
  le16(z_out, uint16_t(name.size())), le16(z_out, 0);
  z_out += name + raw;
  const uint32_t cd = static_cast<uint32_t>(z_out.size());
  le32(z_out, 0x02014b50);
  le16(z_out, 20), le16(z_out, 20), le16(z_out, 0), le16(z_out, 8), le16(z_out, 0), le16(z_out, 0);
  le32(z_out, crc), le32(z_out, uint32_t(raw.size())), le32(z_out, usize);
  le16(z_out, uint16_t(name.size())), le16(z_out, 0), le16(z_out, 0), le16(z_out, 0), le16(z_out, 0);
  le32(z_out, 0), le32(z_out, 0);
  z_out += name;
  const uint32_t cd_size = static_cast<uint32_t>(z_out.size()) - cd;
  le32(z_out, 0x06054b50);
  le16(z_out, 0), le16(z_out, 0), le16(z_out, 1), le16(z_out, 1);
  le32(z_out, cd_size), le32(z_out, cd);
  le16(z_out, 0);
  return z_out;
}

TEST(Compression, ZipEntriesAndBombs) {
  std::string err;
  auto x = zip_extract(make_zip("report.xml", "<feedback/>"), 1000, &err);
  ASSERT_TRUE(x) << err;
  EXPECT_EQ(*x, "<feedback/>");
  EXPECT_FALSE(zip_extract(make_zip("readme.txt", "hi"), 1000, &err));
  // The declared size lies (small); inflating stops at the limit all the same.
  std::string bomb(5 << 20, 'x');
  EXPECT_FALSE(zip_extract(make_zip("bomb.xml", bomb, 10), 1 << 20, &err));
  EXPECT_NE(err.find("limit"), std::string::npos) << err;
  EXPECT_FALSE(zip_extract(make_zip("bomb.xml", bomb), 1 << 20, &err));  // honest size over the limit
  EXPECT_FALSE(zip_extract("PK\x05\x06 short", 1000, &err));
  std::string truncated = make_zip("report.xml", "<feedback/>");
  EXPECT_FALSE(zip_extract(truncated.substr(0, truncated.size() - 30), 1000, &err));
}

TEST(ReportMail, DmarcMessageRoundTrip) {
  const std::string gz = gzip_compress(build_dmarc_xml(sample()));
  ReportEnvelope e{"dmarc-reports@postline.test", "rua@bank.example", "postline.test", "bank.example",
                   "1764806400.abc", "postline.test!bank.example!1!2.xml.gz", "Thu, 04 Dec 2025 00:00:00 +0000"};
  std::string m = dmarc_report_message(e, gz);
  EXPECT_NE(m.find("Subject: Report Domain: bank.example Submitter: postline.test Report-ID: <1764806400.abc>"),
            std::string::npos);
  EXPECT_NE(m.find("Content-Type: application/gzip"), std::string::npos);
  EXPECT_TRUE(looks_like_report(m));
  std::vector<std::string> errors;
  auto found = extract_reports(m, {}, &errors);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, FoundReport::Kind::kDmarc);
  EXPECT_TRUE(parse_dmarc_xml(found[0].document, nullptr));
  EXPECT_TRUE(errors.empty());
}

TEST(ReportMail, TlsRptMessageRoundTripAndHeaders) {
  TlsReport r;
  r.organization_name = "Postline";
  r.contact_info = "x@postline.test";
  r.report_id = "1";
  r.policies.push_back({});
  r.policies[0].policy_domain = "remote.example";
  ReportEnvelope e{"tls-reports@postline.test", "tls@remote.example", "postline.test", "remote.example", "1",
                   "postline.test!remote.example!0!1!x.json.gz", "Thu, 04 Dec 2025 00:00:00 +0000"};
  std::string m = tlsrpt_report_message(e, gzip_compress(build_tlsrpt_json(r)));
  EXPECT_NE(m.find("TLS-Report-Domain: remote.example\r\n"), std::string::npos);
  EXPECT_NE(m.find("TLS-Report-Submitter: postline.test\r\n"), std::string::npos);
  EXPECT_NE(m.find("multipart/report; report-type=\"tlsrpt\""), std::string::npos);
  EXPECT_NE(m.find("Content-Type: application/tlsrpt+gzip"), std::string::npos);
  auto found = extract_reports(m, {}, nullptr);
  ASSERT_EQ(found.size(), 1u);
  EXPECT_EQ(found[0].kind, FoundReport::Kind::kTlsRpt);
}

TEST(ReportMail, ExtractionLimitsAndJunk) {
  EXPECT_FALSE(looks_like_report("Subject: hello\r\nFrom: a@b\r\n\r\nReport Domain: in the body\r\n"));
  std::string bomb_gz = gzip_compress(std::string(4 << 20, '<'));
  std::string m =
      "Subject: Report Domain: x.example\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\n"
      "Content-Type: application/gzip\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
      mailauth::base64_encode(bomb_gz) +
      "\r\n--b\r\nContent-Type: text/xml\r\n\r\n<notfeedback/>\r\n--b--\r\n";
  ExtractLimits limits;
  limits.max_decompressed = 1 << 20;
  std::vector<std::string> errors;
  auto found = extract_reports(m, limits, &errors);
  EXPECT_TRUE(found.empty());
  ASSERT_EQ(errors.size(), 2u);
  EXPECT_NE(errors[0].find("limit"), std::string::npos) << errors[0];
}

TEST(TlsOutcomes, CountsPerPeriodAndRow) {
  TlsOutcomeBuffer b(86400, 3);
  static int64_t now = 1764806400 + 100;
  b.set_clock([] { return now; });
  b.record("remote.example", TlsPolicyType::kNoPolicyFound, {}, "mx.remote.example", "192.0.2.1", "", true);
  b.record("remote.example", TlsPolicyType::kNoPolicyFound, {}, "mx.remote.example", "192.0.2.2", "", true);
  b.record("remote.example", TlsPolicyType::kNoPolicyFound, {}, "mx.remote.example", "192.0.2.1",
           "starttls-not-supported", false);
  b.record("other.example", TlsPolicyType::kSts, {"version: STSv1", "mode: enforce"}, "mx.other.example",
           "192.0.2.3", "", true);
  b.record("full.example", TlsPolicyType::kNoPolicyFound, {}, "mx", "192.0.2.4", "", true);  // over max rows
  auto rows = b.take();
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(b.dropped(), 1);
  int64_t sessions = 0;
  for (const auto& r : rows) {
    EXPECT_EQ(r.period_start, 1764806400);
    sessions += r.sessions;
    if (r.policy_type == "sts") EXPECT_EQ(r.policy_strings, "version: STSv1\nmode: enforce");
  }
  EXPECT_EQ(sessions, 4);  // the two successes share a row (the IP matters only for failures)
  EXPECT_TRUE(b.take().empty());
}

}  // namespace
}  // namespace postline::queue::reports
