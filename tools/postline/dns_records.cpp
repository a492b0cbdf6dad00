// The JSON of one record for `postline dns records|check --json`.
#include "tools/postline/dns_records.h"

namespace postline::cli::dnsrec {

JsonObject record_json(const Record& r) {
  JsonObject j;
  j.add("purpose", r.purpose)
      .add("name", r.name)
      .add("type", type_name(r.type))
      .add("value", r.value)
      .add("required", r.required)
      .add("note", r.note);
  if (!r.address.empty()) j.add("address", r.address);
  return j;
}

}  // namespace postline::cli::dnsrec
