// postline dns records|check DOMAIN: the DNS records a hosted domain needs,
// and whether DNS serves them. Both are offline from the services: they read
// the configuration (smtp.hostname, queue.hostname, queue.dkim_keys and its key
// files, dns.servers) and, for `check`, ask DNS through common/dns (c-ares).
// The records themselves are made, asked for and compared in common/dnsrecords
// (shared with the portal's DNS page).
#include <cctype>
#include <iostream>

#include "common/dns/mailauth_lookup.h"
#include "common/dns/resolver.h"
#include "common/dnsrecords/check.h"
#include "common/mailauth/text_util.h"
#include "tools/postline/cli_context.h"
#include "tools/postline/dns_records.h"
#include "tools/postline/output.h"

namespace postline::cli {
namespace {

using dnsrec::DomainSetup;
using dnsrec::Record;

struct DnsArgs {
  std::string domain, host, spf = "v=spf1 mx -all", dmarc_policy = "quarantine", report_address,
                             mta_sts_mode, resolver;
  std::vector<std::string> ipv4, ipv6;
  uint16_t submission_port = 587, submissions_port = 465, imap_port = 143, imaps_port = 993;
};

void add_setup_options(CLI::App* cmd, DnsArgs& a) {
  cmd->add_option("DOMAIN", a.domain, "the mail domain (example.org)")->required();
  cmd->add_option("--host", a.host, "the mail server's public name (default: smtp.hostname)");
  cmd->add_option("--ipv4", a.ipv4, "its public IPv4 address(es): printed as A records, checked to be there");
  cmd->add_option("--ipv6", a.ipv6, "its public IPv6 address(es): AAAA records");
  cmd->add_option("--spf", a.spf, "the SPF record (default: v=spf1 mx -all)");
  cmd->add_option("--dmarc-policy", a.dmarc_policy, "DMARC p= (default: quarantine)")
      ->check(CLI::IsMember({"none", "quarantine", "reject"}));
  cmd->add_option("--report-address", a.report_address,
                  "where DMARC and TLS-RPT reports go (default: postmaster@DOMAIN)");
  cmd->add_option("--mta-sts-mode", a.mta_sts_mode,
                  "MTA-STS policy mode (default: web.mta_sts_mode, the mode webd serves; testing)")
      ->check(CLI::IsMember({"testing", "enforce", "none"}));
  // The config's ports are what the processes bind (5587 inside the container);
  // clients reach the ports published in front of them, normally the standard ones.
  cmd->add_option("--submission-port", a.submission_port, "public submission (STARTTLS) port in SRV (default 587)");
  cmd->add_option("--submissions-port", a.submissions_port, "public implicit-TLS submission port (default 465)");
  cmd->add_option("--imap-port", a.imap_port, "public IMAP (STARTTLS) port (default 143)");
  cmd->add_option("--imaps-port", a.imaps_port, "public IMAPS port (default 993)");
}

// A name DNS can hold (mailauth's check: labels of letters, digits, '-', '_')
// with at least two labels: "localhost" cannot be an MX target on the Internet.
bool plausible_host(const std::string& h) {
  return mailauth::normalize_domain(h).has_value() && h.find('.') != std::string::npos;
}

DomainSetup setup_from(CliContext& ctx, const DnsArgs& a, const std::string& what) {
  const config::Config& cfg = ctx.config();
  DomainSetup s;
  s.domain = ascii_domain(a.domain);
  if (!plausible_host(s.domain)) throw CliError(what + ": '" + a.domain + "' is not a domain name", 2);
  s.host = ascii_domain(a.host.empty() ? cfg.str("smtp", "hostname") : a.host);
  if (!plausible_host(s.host))
    throw CliError(what + ": the mail server's name is '" + s.host +
                       "': set smtp.hostname (POSTLINE_SMTP_HOSTNAME) to its public name, or pass --host",
                   2);
  s.outbound_host = ascii_domain(cfg.str("queue", "hostname"));
  if (!plausible_host(s.outbound_host)) s.outbound_host = s.host;
  for (bool six : {false, true})
    for (const auto& text : six ? a.ipv6 : a.ipv4) {
      auto ip = mailauth::IpAddress::parse(text);
      if (!ip || ip->v6 != six)
        throw CliError(what + ": --ipv" + (six ? "6" : "4") + " '" + text + "' is not an IPv" + (six ? "6" : "4") +
                           " address",
                       2);
      (six ? s.ipv6 : s.ipv4).push_back(ip->to_string());
    }
  s.spf = a.spf;
  s.dmarc_policy = a.dmarc_policy;
  s.report_address = a.report_address;
  // The policy webd serves (web.mta_sts_mode, web.mta_sts_max_age): the id
  // printed is the hash of exactly that text.
  s.mta_sts_mode = a.mta_sts_mode.empty() ? cfg.str("web", "mta_sts_mode") : a.mta_sts_mode;
  s.mta_sts_max_age = cfg.integer("web", "mta_sts_max_age");
  s.submission_port = a.submission_port;
  s.submissions_port = a.submissions_port;
  s.imap_port = a.imap_port;
  s.imaps_port = a.imaps_port;
  // The public keys come from the private keys queued signs with, loaded the
  // way queued loads them, so the record printed is the one that verifies.
  try {
    s.dkim = dnsrecords::dkim_selectors(cfg.list("queue", "dkim_keys"), s.domain);
  } catch (const std::exception& e) {
    throw CliError(std::string("queue.dkim_keys: ") + e.what(), 2);
  }
  return s;
}

void print_records(CliContext& ctx, const DomainSetup& s) {
  const auto records = dnsrec::records_for(s);
  if (!ctx.json) {
    std::cout << dnsrec::zone_file(s, records);
    return;
  }
  std::vector<JsonObject> rows;
  for (const auto& r : records) rows.push_back(dnsrec::record_json(r));
  std::cout << JsonObject()
                   .add("domain", s.domain)
                   .add("host", s.host)
                   .add("records", rows)
                   .add("mta_sts_policy_url", dnsrec::mta_sts_policy_url(s))
                   .add("mta_sts_policy", dnsrec::mta_sts_policy(s))
                   .str()
            << "\n";
}

// Returns the exit status: 0 when everything required is right.
int check(CliContext& ctx, const DomainSetup& s, const std::vector<std::string>& servers) {
  dns::MailauthLookup dns(servers);
  const dnsrecords::DomainCheck checked = dnsrecords::check_domain(dns, s);
  std::vector<JsonObject> rows;
  int failed_required = 0, failed_optional = 0, missing_optional = 0;
  std::string text;
  for (const auto& [r, f, bad] : checked.records) {
    if (bad) ++(r.required ? failed_required : failed_optional);
    if (!bad && f.verdict == dnsrec::Verdict::kMissing) ++missing_optional;
    rows.push_back(dnsrec::record_json(r)
                       .add("status", dnsrec::verdict_name(f.verdict))
                       .add("found", f.found)
                       .add("detail", f.detail)
                       .add("fails", bad));
    // Problems in capitals so they stand out among the ok lines.
    std::string status = dnsrec::verdict_name(f.verdict);
    if (f.verdict != dnsrec::Verdict::kOk)
      for (auto& c : status) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
    const std::string type = dnsrec::type_name(r.type);
    text += status + std::string(11 - status.size(), ' ') + type + std::string(7 - type.size(), ' ') + r.name + " (" +
            r.purpose + ", " + (r.required ? "required" : "recommended") + ")\n";
    const std::string indent(13, ' ');
    if (f.verdict != dnsrec::Verdict::kOk && !r.value.empty()) text += indent + "expected: " + r.value + "\n";
    for (const auto& v : f.found) text += indent + "found:    " + v + "\n";
    if (!f.detail.empty()) text += indent + f.detail + "\n";
  }
  const bool ok = failed_required == 0 && failed_optional == 0;
  const std::string resolver = servers.empty() ? "the system resolver" : servers.front();
  if (ctx.json) {
    std::cout << JsonObject()
                     .add("domain", s.domain)
                     .add("host", s.host)
                     .add("resolver", resolver)
                     .add("ok", ok)
                     .add("records", rows)
                     .str()
              << "\n";
  } else {
    std::cout << "dns check " << s.domain << ": mail server " << s.host << ", asking " << resolver << "\n"
              << text;
    if (ok)
      std::cout << "all required records are right" << (missing_optional ? " (" + std::to_string(missing_optional) +
                                                                               " recommended ones are missing)"
                                                                         : "")
                << "\n";
    else
      std::cout << failed_required << " required and " << failed_optional
                << " recommended record(s) need attention (`postline dns records " << s.domain
                << "` prints what to publish)\n";
  }
  return ok ? 0 : 1;
}

}  // namespace

void register_dns_commands(CLI::App& app, CliContext& ctx) {
  auto* dns = app.add_subcommand("dns", "the DNS records a domain needs, and whether DNS serves them");
  dns->require_subcommand(1);

  auto ra = std::make_shared<DnsArgs>();
  auto* records = dns->add_subcommand(
      "records", "print the records DOMAIN needs (MX, address, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, SRV, autoconfig) "
                 "as a zone-file fragment");
  add_setup_options(records, *ra);
  records->callback([&ctx, ra] { print_records(ctx, setup_from(ctx, *ra, "dns records " + ra->domain)); });

  auto ca = std::make_shared<DnsArgs>();
  auto* chk = dns->add_subcommand(
      "check", "ask DNS for every record DOMAIN needs and say which are missing or wrong; exit 1 unless all required "
               "ones are right");
  add_setup_options(chk, *ca);
  chk->add_option("--resolver", ca->resolver, "DNS server to ask, IP[:PORT] (default: dns.servers, else the system's)");
  chk->callback([&ctx, ca] {
    const std::string what = "dns check " + ca->domain;
    const DomainSetup s = setup_from(ctx, *ca, what);
    std::vector<std::string> servers =
        ca->resolver.empty() ? ctx.config().list("dns", "servers") : std::vector<std::string>{ca->resolver};
    try {
      dns::Resolver(servers).check();
    } catch (const std::exception& e) {
      throw CliError(what + ": " + (ca->resolver.empty() ? "dns.servers" : "--resolver") + ": " + e.what(), 2);
    }
    const int status = check(ctx, s, servers);
    if (status != 0) throw CliError(what + ": records are missing or wrong (see the list on stdout)", status);
  });
}

}  // namespace postline::cli
