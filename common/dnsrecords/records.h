// The DNS records a hosted domain needs and how what DNS answers compares with
// them: `postline dns records|check` and the portal's DNS page (docs/web.md).
// Pure functions: the callers gather the inputs (config, DKIM keys, lookups:
// check.h) and present the result; unit-tested without any network
// (tools/postline/dns_records_test.cpp).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "common/mailauth/dns_lookup.h"

namespace postline::dnsrecords {

struct DkimSelector {
  std::string selector;
  std::string txt;  // "v=DKIM1; k=rsa; p=MIIB..." made from the configured private key
};

// Everything the records depend on. Defaults are the documented policy
// (tools/postline/README.md, "dns records").
struct DomainSetup {
  std::string domain;                   // lower-case A-labels, no final dot
  std::string host;                     // the mail server (smtp.hostname)
  std::string outbound_host;            // queue.hostname, named in the PTR advice
  std::vector<std::string> ipv4, ipv6;  // the server's public addresses, when given
  std::string spf = "v=spf1 mx -all";
  std::string dmarc_policy = "quarantine";  // none|quarantine|reject
  std::string report_address;               // DMARC rua and TLS-RPT; empty: postmaster@domain
  std::string mta_sts_mode = "testing";     // testing|enforce
  int64_t mta_sts_max_age = 604800;         // one week (RFC 8461 suggests weeks)
  uint16_t submission_port = 587, submissions_port = 465, imap_port = 143, imaps_port = 993;
  std::vector<DkimSelector> dkim;  // empty: no key configured for the domain
};

enum class Type { kMx, kA, kAaaa, kTxt, kSrv, kCname, kPtr };
const char* type_name(Type t);

struct Record {
  std::string purpose;  // mx, address, spf, dkim, dmarc, mta-sts, mta-sts-host, tls-rpt, submission, ...
  std::string name;     // owner name, no final dot
  Type type = Type::kTxt;
  // Zone-file RDATA without TXT quoting: "10 mail.example.org.", "v=spf1 mx -all",
  // "0 1 465 mail.example.org.", "mail.example.org.", "192.0.2.25". Empty: the
  // value is not known here (the server's address without --ipv4, DKIM without
  // a configured key); `note` says what to do.
  std::string value;
  bool required = false;
  std::string note;
  // Parsed expectations for the comparison.
  std::string target;  // MX exchange, SRV target, CNAME target, PTR name (no final dot)
  uint16_t port = 0;   // SRV
  std::string address;  // PTR: the address whose reverse name `name` is
};

std::string report_address(const DomainSetup& s);
std::string mta_sts_policy(const DomainSetup& s);
std::string mta_sts_policy_url(const DomainSetup& s);
// 20 letters and digits derived from the policy text: it changes exactly when
// the policy does, which is what RFC 8461 3.1 asks of the id.
std::string mta_sts_id(const std::string& policy);

// In the order a zone file lists them: required first. With --ipv4/--ipv6 this
// includes the PTR record each address needs (ptr_records).
std::vector<Record> records_for(const DomainSetup& s);

// The reverse DNS each of the server's addresses needs: a PTR naming the host
// queued greets with (queue.hostname, else smtp.hostname) that resolves back to
// the address (forward-confirmed reverse DNS). Receivers such as Gmail refuse or
// junk mail from an address without one. Required: it decides deliverability,
// although it lives in the address owner's zone, not the domain's.
std::vector<Record> ptr_records(const DomainSetup& s, const std::vector<std::string>& addresses);

// A zone-file fragment (records with unknown values as comments), ending with
// the MTA-STS policy to serve.
std::string zone_file(const DomainSetup& s, const std::vector<Record>& records);

// What DNS answered for one record. values in the Record::value presentation
// (MX "10 host.", SRV "0 1 465 host.", TXT the joined string, A/AAAA the
// address); for CNAME records the answer to an A query, canonical = where its
// CNAME chain ended; for PTR records the names (no final dot), confirmed = those
// of them whose A/AAAA records include the address.
struct Observed {
  mailauth::DnsStatus status = mailauth::DnsStatus::kNoData;
  std::vector<std::string> values;
  std::string canonical;
  std::vector<std::string> confirmed;
};

enum class Verdict {
  kOk,
  kMissing,    // no such record (NXDOMAIN / no data / no record of that kind)
  kWrong,      // records there, none as expected
  kUnchecked,  // DNS did not answer (timeout, SERVFAIL), or nothing to expect (no DKIM key configured)
};
const char* verdict_name(Verdict v);

struct Finding {
  Verdict verdict = Verdict::kUnchecked;
  std::vector<std::string> found;  // the relevant records found
  std::string detail;              // why it is wrong or unchecked, what to do
};

// server_addresses: the mail server's A/AAAA answers, for CNAME records that
// are A records instead (allowed when they hold the server's addresses).
Finding compare(const Record& expected, const Observed& observed, const std::vector<std::string>& server_addresses);

// A finding that makes `dns check` exit 1: any required record not ok, and any
// optional record that is there but wrong or could not be checked.
bool fails(const Record& r, const Finding& f);

}  // namespace postline::dnsrecords
