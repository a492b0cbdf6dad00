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

struct SearchRequest {
  SearchKey key;  // kAnd of the top-level keys
  std::string charset = "US-ASCII";
  bool esearch = false;  // RETURN (...) given
  bool ret_min = false, ret_max = false, ret_count = false, ret_all = false;
  bool ret_save = false;  // SEARCHRES (RFC 5182): keep the result for "$"
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
