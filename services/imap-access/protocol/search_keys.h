// SEARCH criteria (RFC 9051 6.4.4, RFC 3501 6.4.4, RFC 7162 MODSEQ, RFC 5032
// OLDER/YOUNGER, RFC 8514 SAVED*) parsed into a tree. Pure; the store
// compiles the tree to SQL.
#pragma once

#include "services/imap-access/protocol/reader.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

namespace postline::imap {

struct SearchKey {
  enum Kind {
    kAll, kAnd, kOr, kNot,
    kFlag,         // text = flag; negate via kNot
    kKeyword,      // text
    kNone,         // matches nothing (THREADID: no message has a thread id)
    kRecent,       // \Recent in this session (RECENT; NEW is RECENT UNSEEN, OLD NOT RECENT)
    kEmailId,      // text = an EMAILID (RFC 8474 5.1)
    kThreadId,     // text = a THREADID (RFC 8474 5.2)
    kBefore, kOn, kSince,               // internal date, number = days since epoch
    kSentBefore, kSentOn, kSentSince,   // Date: header, number = days since epoch
    kSavedBefore, kSavedOn, kSavedSince,
    kOlder, kYounger,                   // number = seconds
    kLarger, kSmaller,                  // number = bytes
    kHeader,       // field + text
    kBody, kText,  // text
    kUidSet, kSeqSet,  // set
    kModseq,       // number
  };
  Kind kind = kAll;
  std::string field, text;
  int64_t number = 0;
  std::optional<SequenceSet> set;
  std::vector<SearchKey> children;
};

// RFC 5267 4.4 PARTIAL (with RFC 9394's negative ranges): positions in the
// result, 1 the first; -1 the last. Normalised as the response echoes it:
// 1 <= first <= last, or -1 >= first >= last (-1:-10 is the last ten).
struct PartialRange {
  int64_t first = 1, last = 1;
};
// Positions are nz-number (32 bits): a range past that is BAD.
inline constexpr int64_t kMaxPartialPosition = 0xffffffffLL;

// The RETURN options RFC 5267 adds to SEARCH and SORT (CONTEXT=SEARCH,
// CONTEXT=SORT): CONTEXT (a hint), UPDATE (live result) and PARTIAL.
struct ContextOptions {
  bool context = false;
  bool update = false;
  std::optional<PartialRange> partial;
};
// Reads what follows `opt` (upper-cased, already read) when it is one of
// CONTEXT, UPDATE, PARTIAL; false for any other option. Throws SyntaxError for
// a repeated UPDATE or PARTIAL and for a malformed range.
bool parse_context_return_option(const std::string& opt, Reader& r, ContextOptions& out);
// "1:10" / "-1:-10" as the PARTIAL response item echoes the range.
std::string format_partial_range(const PartialRange& range);
// The [begin, end) indexes of a result of `n` entries that `range` names
// (empty when it lies outside).
std::pair<size_t, size_t> partial_span(const PartialRange& range, size_t n);

struct SearchRequest {
  SearchKey key;  // kAnd of the top-level keys
  std::string charset = "US-ASCII";
  bool esearch = false;  // RETURN (...) given
  bool ret_min = false, ret_max = false, ret_count = false, ret_all = false;
  bool ret_save = false;  // SEARCHRES (RFC 5182): keep the result for "$"
  ContextOptions ctx;     // RFC 5267: CONTEXT, UPDATE, PARTIAL (never together with ALL)
};

// Throws SyntaxError. Limits nesting depth and the number of keys.
SearchRequest parse_search(Reader& r);

// The search keys of SORT and THREAD (RFC 5256 search-criteria after the
// charset): 1*key separated by SP up to the end, as one kAnd. `r` is at the
// first key. The same limits as parse_search.
SearchKey parse_search_key_list(Reader& r);

// "1-Feb-1994" -> days since 1970-01-01; nullopt if invalid.
std::optional<int64_t> parse_search_date(std::string_view s);

}  // namespace postline::imap
