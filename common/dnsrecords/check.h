// Asking DNS for the records a domain needs (records.h) and comparing: what
// `postline dns check` prints and the portal's "check now" shows. Blocking
// (c-ares with a deadline, through common/dns MailauthLookup): call it from a
// worker thread.
#pragma once

#include <string>
#include <vector>

#include "common/dns/mailauth_lookup.h"
#include "common/dnsrecords/records.h"

namespace postline::dnsrecords {

// The DKIM selectors configured for `domain` in queue.dkim_keys entries
// ("domain:selector:/path/to/key.pem"), each with the public-key TXT record
// made from the private key queued signs with, so the record shown is the one
// that verifies. Throws std::exception (unreadable key file, bad entry).
std::vector<DkimSelector> dkim_selectors(const std::vector<std::string>& dkim_key_entries, const std::string& domain);

// The mail server's addresses (both families): ok if either family has some;
// a temporary failure only when neither answered.
Observed addresses_of(dns::MailauthLookup& dns, const std::string& host, bool v4, bool v6);

// What DNS answers for one record, in the presentation compare() expects.
Observed observe(dns::MailauthLookup& dns, const Record& r);

struct CheckedRecord {
  Record record;
  Finding finding;
  bool fails = false;  // fails(record, finding)
};

struct DomainCheck {
  std::vector<std::string> server_addresses;  // A/AAAA of s.host
  std::vector<CheckedRecord> records;
};

// Every record of records_for(s), asked and compared. Without s.ipv4/s.ipv6
// the reverse DNS checked is that of the addresses the mail server's name has
// (where queued sends from in a one-host set-up), listed before the SPF record.
DomainCheck check_domain(dns::MailauthLookup& dns, const DomainSetup& s);

}  // namespace postline::dnsrecords
