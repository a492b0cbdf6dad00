// Authentication-Results (RFC 8601): rendering our verdicts, and removing forged
// copies of our own header from incoming mail (RFC 8601 section 5).
#pragma once

#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "common/mailauth/arc.h"
#include "common/mailauth/dkim.h"
#include "common/mailauth/dmarc.h"
#include "common/mailauth/spf.h"

namespace postline::mailauth {

struct AuthResultsEntry {
  std::string method;  // "dkim", "spf", "dmarc", ...
  std::string result;  // "pass", "fail", ...
  std::string reason;  // optional, rendered as reason="..."
  // ptype.property -> value, e.g. {"header.d", "example.com"}.
  std::vector<std::pair<std::string, std::string>> properties;
  std::string comment;  // optional, rendered in parentheses after the result
};

// "Authentication-Results: <id>;\r\n\t<entry>;\r\n\t<entry>\r\n", or "<id>; none" when
// there is nothing to report. Values are quoted where the grammar needs it and control
// characters are dropped, so peer-supplied text cannot inject header lines.
std::string render_authentication_results(std::string_view authserv_id, const std::vector<AuthResultsEntry>& entries);

std::vector<AuthResultsEntry> auth_results_entries(const DkimVerifyResult& dkim);
// mail_from: the reverse-path ("" for null sender, then smtp.helo is reported).
AuthResultsEntry auth_results_entry(const SpfVerdict& spf, std::string_view mail_from, std::string_view helo);
AuthResultsEntry auth_results_entry(const DmarcVerdict& dmarc);
// arc=pass/fail/none (RFC 8617 10.2: header.oldest-pass; comment with the sealers).
AuthResultsEntry auth_results_entry(const ArcVerdict& arc);

// The authserv-id of an Authentication-Results value (after comments/whitespace), "" when none.
std::string authserv_id_of(std::string_view header_value);

// Returns the message with every Authentication-Results field whose authserv-id equals
// ours (case-insensitive) removed; everything else is byte-for-byte unchanged. Works on
// CRLF or LF messages. *removed receives the count when non-null.
std::string remove_own_authentication_results(std::string_view message, std::string_view authserv_id,
                                              size_t* removed = nullptr);

}  // namespace postline::mailauth
