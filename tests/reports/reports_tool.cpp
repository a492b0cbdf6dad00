// reports_tool: the sans-I/O reporting code from the command line, for the
// schema checks in tests/reports (xmllint with RFC 7489's XSD, jsonschema
// with RFC 8460's report format). Not installed.
//
//   reports_tool dmarc-sample      prints a DMARC aggregate report (XML)
//   reports_tool tlsrpt-sample     prints a TLS report (JSON)
//   reports_tool extract < message prints "<kind> <domain> <total> <failed>" per report found
#include <iostream>
#include <iterator>
#include <string>

#include "services/delivery-queue/reports/dmarc_report.h"
#include "services/delivery-queue/reports/report_mail.h"
#include "services/delivery-queue/reports/tlsrpt_report.h"

using namespace postline::queue::reports;

namespace {

DmarcAggregate dmarc_sample() {
  DmarcAggregate r;
  r.org_name = "mx.postline.test";
  r.email = "dmarc-reports@postline.test";
  r.extra_contact_info = "https://postline.test/dmarc";
  r.report_id = "1764806400.5f0c";
  r.begin = 1764806400;
  r.end = 1764892799;
  r.policy.domain = "bank.example";
  r.policy.p = "reject";
  r.policy.sp = "quarantine";
  r.policy.pct = 50;
  r.policy.adkim = "s";
  DmarcRow pass;
  pass.source_ip = "192.0.2.7";
  pass.count = 12;
  pass.dkim = "pass";
  pass.spf = "pass";
  pass.header_from = pass.envelope_from = "bank.example";
  pass.envelope_to = "postline.test";
  pass.dkim_auth = {{"bank.example", "s1", "pass"}, {"esp.example", "k", "pass"}};
  pass.spf_domain = "bank.example";
  pass.spf_result = "pass";
  DmarcRow forged = pass;
  forged.source_ip = "2001:db8::25";
  forged.count = 3;
  forged.dkim = forged.spf = "fail";
  forged.disposition = "reject";
  forged.dkim_auth = {{"bank.example", "s1", "fail"}};
  forged.spf_result = "softfail";
  DmarcRow sampled = forged;
  sampled.source_ip = "198.51.100.4";
  sampled.count = 2;
  sampled.disposition = "none";
  sampled.reason = "sampled_out";
  sampled.dkim_auth.clear();
  sampled.envelope_from = "mx.spammer.example";
  sampled.spf_scope = "helo";
  sampled.spf_domain = "mx.spammer.example";
  sampled.spf_result = "none";
  r.rows = {pass, forged, sampled};
  return r;
}

TlsReport tls_sample() {
  TlsReport r;
  r.organization_name = "mx.postline.test";
  r.contact_info = "tls-reports@postline.test";
  r.report_id = "1764806400.77aa";
  r.start = 1764806400;
  r.end = 1764892800;
  TlsPolicyReport none;
  none.policy_domain = "remote.example";
  none.successful = 40;
  none.failed = 3;
  none.failures.push_back({"starttls-not-supported", "", "mx2.remote.example", "", "192.0.2.26", 2, "", ""});
  none.failures.push_back({"validation-failure", "", "mx1.remote.example", "", "2001:db8::26", 1, "", ""});
  TlsPolicyReport sts;
  sts.policy_type = "sts";
  sts.policy_domain = "secure.example";
  sts.policy_strings = {"version: STSv1", "mode: enforce", "mx: *.secure.example", "max_age: 86400"};
  sts.mx_hosts = {"*.secure.example"};
  sts.successful = 5;
  r.policies = {none, sts};
  return r;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: reports_tool dmarc-sample|tlsrpt-sample|extract\n";
    return 2;
  }
  std::string cmd = argv[1];
  if (cmd == "dmarc-sample") {
    std::cout << build_dmarc_xml(dmarc_sample());
    return 0;
  }
  if (cmd == "tlsrpt-sample") {
    std::cout << build_tlsrpt_json(tls_sample());
    return 0;
  }
  if (cmd == "extract") {
    std::string msg(std::istreambuf_iterator<char>(std::cin), {});
    std::vector<std::string> errors;
    auto found = extract_reports(msg, {}, &errors);
    for (const auto& e : errors) std::cerr << e << "\n";
    int rc = found.empty() ? 1 : 0;
    for (const auto& f : found) {
      std::string err;
      if (f.kind == FoundReport::Kind::kDmarc) {
        auto r = parse_dmarc_xml(f.document, &err);
        if (!r) {
          std::cout << "dmarc invalid " << err << "\n";
          rc = 1;
          continue;
        }
        std::cout << "dmarc " << r->policy.domain << " " << r->total_messages() << " " << r->failed_messages() << "\n";
      } else {
        auto r = parse_tlsrpt_json(f.document, &err);
        if (!r || r->policies.empty()) {
          std::cout << "tlsrpt invalid " << err << "\n";
          rc = 1;
          continue;
        }
        std::cout << "tlsrpt " << r->policies[0].policy_domain << " " << r->total_successful() + r->total_failed()
                  << " " << r->total_failed() << "\n";
      }
    }
    return rc;
  }
  std::cerr << "unknown command " << cmd << "\n";
  return 2;
}
