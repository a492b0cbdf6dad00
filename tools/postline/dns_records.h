// The CLI's view of the DNS records (`postline dns records|check`): the
// records and their comparison live in common/dnsrecords (shared with the
// portal's DNS page); the JSON shape of a record is the CLI's.
#pragma once

#include "common/dnsrecords/records.h"
#include "tools/postline/output.h"

namespace postline::cli::dnsrec {

using namespace postline::dnsrecords;

JsonObject record_json(const Record& r);

}  // namespace postline::cli::dnsrec
