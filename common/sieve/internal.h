// Helpers shared by postline_sieve's translation units; not part of the API.
#pragma once

#include <cstdint>
#include <ctime>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::sieve::detail {

enum class ArgType { kNone, kString, kStringList, kNumber };

std::string ascii_lower(std::string_view s);
bool iequals(std::string_view a, std::string_view b);
bool plausible_address(std::string_view a);
bool valid_variable_name(std::string_view n);
bool valid_header_name(std::string_view n);
// One RFC 5322 mailbox ("a@b.c" or "Name <a@b.c>"): vacation's :from.
bool valid_mailbox(std::string_view s);
// An include name: not empty, no '/' (RFC 6609: names, not paths).
bool valid_script_name(std::string_view n);

// RFC 5228 2.4.2.4 (encoded-character): "${hex:41 42}" and "${unicode:263a}" in a string
// replaced by what they encode; anything that does not fit the grammar stays as written.
// A unicode value outside 0..D7FF and E000..10FFFF is an error: nullopt, *error says why.
std::optional<std::string> decode_encoded_characters(std::string_view in, std::string* error);

// ---- comparators and match types (RFC 5228 2.7, RFC 4790, RFC 5231) ----

enum class Comparator { kOctet, kAsciiCasemap, kAsciiNumeric };
enum class MatchType { kIs, kContains, kMatches, kCount, kValue };
enum class Relation { kGt, kGe, kLt, kLe, kEq, kNe };

std::optional<Comparator> comparator_named(std::string_view name);
std::optional<Relation> relation_named(std::string_view name);

// Ordering under a comparator: <0, 0, >0. i;ascii-numeric: leading digits as a number,
// strings without leading digits are positive infinity (RFC 4790).
int compare(Comparator c, std::string_view a, std::string_view b);
bool relation_holds(Relation r, int cmp);
// :contains under a comparator (i;ascii-numeric has no substring operation: false).
bool contains(Comparator c, std::string_view value, std::string_view key);
// :matches with * ? and \ escapes; on success the strings matched by each wildcard
// go to *captures (when not null), in order.
bool glob_match(Comparator c, std::string_view value, std::string_view pattern,
                std::vector<std::string>* captures);
// "\*" and "\?" and "\\" for :quotewildcard.
std::string quote_wildcards(std::string_view s);

// ---- dates (RFC 5260) ----

struct DateTime {
  std::int64_t utc = 0;   // seconds since the epoch
  int zone_minutes = 0;   // the zone it is shown in
};
// An RFC 5322 date-time (obsolete forms and zone names included); nullopt if unparsable.
std::optional<DateTime> parse_rfc5322_date(std::string_view s);
// "+0100" / "-0830" -> minutes; nullopt if malformed.
std::optional<int> parse_zone(std::string_view s);
// A date part of RFC 5260 4 ("year", "julian", "iso8601", ...); nullopt for an unknown part.
std::optional<std::string> date_part(const DateTime& dt, std::string_view part);

}  // namespace postline::sieve::detail
