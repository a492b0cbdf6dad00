// What the store computes once per message at delivery/APPEND and keeps in
// mailstore_messages, so FETCH and SEARCH never reparse a body.
//
// The parsing itself is common/mime's; meta_version records which analyser ran
// (1: size and header only, 2: common/mime) so older rows can be re-derived.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "common/mailstore/mail_store.h"

namespace postline::mailstore {

inline constexpr int kMetaVersion = 2;

// What SORT (RFC 5256, RFC 5957) and THREAD compare, derived from the header
// once per distinct body (PostgreSQL: mailstore_sort_keys, migration 012).
struct SortKeys {
  std::string subject;            // base_subject() of the decoded, case-folded Subject
  bool reply_or_forward = false;  // base_subject() removed a "re:"/"fwd:"/"(fwd)"/"[fwd: ]"
  // Local part (addr-mailbox) of the first address, ASCII-lowercased; "" when none.
  std::string from, to, cc;
  // RFC 5957: the first address's decoded display name, else its addr-spec;
  // case-folded like search text (mime::fold_case). "" when there is no address.
  std::string display_from, display_to;
  std::optional<int64_t> sent;    // Date: as Unix seconds (UTC); nullopt: missing or unparsable
  std::string message_id;         // the first msg-id of Message-ID, without <>; "" when none
  // The parent chain for REFERENCES threading, oldest first: the msg-ids of
  // References, or else the first of In-Reply-To. At most kMaxReferences
  // (the first and the last ones: the thread root and the nearest parents).
  std::vector<std::string> references;
  bool operator==(const SortKeys&) const = default;
};
inline constexpr size_t kMaxReferences = 64;
inline constexpr size_t kMaxMessageIdOctets = 250;

struct MessageMeta {
  uint64_t size = 0;         // RFC822.SIZE
  uint64_t header_size = 0;  // bytes of the header including the empty line (0 header-only? = size)
  std::string preview;       // RFC 8970, up to 200 characters of plain text
  std::string structure;     // mime::serialize_structure
  std::optional<int64_t> sent_day;  // Date: header's calendar day, days since 1970-01-01
  SortKeys sort;
};

// Mail on disk is CRLF (IMAP sizes and offsets count CR). Bare LF and bare CR
// become CRLF; a message that is already canonical is returned unchanged.
std::string canonicalize_line_endings(std::string_view message);

// Bytes up to and including the blank line ending the header; the whole message
// if it has no body separator (RFC 5322 allows a header-only message).
uint64_t header_size(std::string_view message);

MessageMeta analyse(std::string_view message);

// What SEARCH's text keys compare with, per distinct body. Kept apart from
// MessageMeta: PostgreSQL indexes it after the delivery has committed
// (sql/014_search_backlog.sql), so building it is not on the path to a 250.
struct SearchIndex {
  std::string text;   // case-folded, whitespace-collapsed, bounded (kMaxSearchText)
  std::string words;  // search_words_of(text): what the trigram index is built on
};
SearchIndex search_index_of(std::string_view message);

// The calendar day of an RFC 5322 date ("Wed, 25 Nov 2026 19:00:00 +0000"),
// as written (no timezone shift), in days since 1970-01-01.
std::optional<int64_t> rfc5322_day(std::string_view date);

// An RFC 5322 date-time with its zone ("Wed, 25 Nov 2026 19:00:00 +0100") as
// Unix seconds in UTC. Zone names of RFC 5322 4.3 are understood; a missing or
// military zone counts as +0000. nullopt when there is no valid date and time.
std::optional<int64_t> rfc5322_time(std::string_view date);

// RFC 5256 2.1 base subject of a subject that is already RFC 2047-decoded and
// case-folded: whitespace runs become one space, then "(fwd)" trailers,
// "re:"/"fw:"/"fwd:" leaders with their "[blob]"s, leading "[blob]"s and a
// "[fwd: ...]" wrapper are removed until none is left. `reply_or_forward`
// (optional) says whether one of the reply/forward markers was removed
// (what REFERENCES step 5 asks).
std::string base_subject(std::string_view folded_subject, bool* reply_or_forward = nullptr);

// The msg-ids ("<id>") in a header value (Message-ID, In-Reply-To,
// References), without the brackets, comments skipped, at most `max`.
std::vector<std::string> message_ids(std::string_view value, size_t max);

// The sort keys of a stored message, parsed from its bytes: for bodies stored
// before the keys existed (the stores compute them on first use).
SortKeys sort_keys_of(std::string_view message);

// RFC 8474 THREADID: "T" and 24 hex digits of SHA-256("thread:" + root), the
// root being the oldest msg-id of the parent chain (References' first, else
// In-Reply-To), else the message's own Message-ID; nullopt without any (the
// server cannot tell a thread then: FETCH says NIL). A function of the bytes,
// so a thread's messages agree in every mailbox and across COPY/MOVE; the SQL
// in pg/search_sql.cpp (SEARCH THREADID) computes the same from
// mailstore_sort_keys. Replies whose References omit the root start a thread
// of their own (RFC 8474 5.2 lets a server split threads it cannot join).
std::optional<std::string> thread_id_of(const SortKeys& keys);

// Everything a stored message needs that depends only on its bytes, computed
// before any lock is taken (parsing, hashing), the same for every store.
struct PreparedMessage {
  std::string body;                   // the bytes as stored (CRLF unless binary)
  MessageMeta meta;
  std::string key;                    // raw SHA-256 of body: the blob key
  std::string email_id;               // RFC 8474 EMAILID, stable across COPY/MOVE
  std::optional<std::string> header;  // the header section when <= kMaxCachedHeader bytes
  std::optional<SearchIndex> search;  // only when asked for (the in-memory store)
};
// `binary`: a literal8 APPEND (RFC 3516) whose bytes are kept exactly as sent;
// otherwise line endings are canonicalised to CRLF. `with_search` also builds
// the search index from the same parse.
PreparedMessage prepare_message(std::string_view message, bool binary = false, bool with_search = false);
// The same for bytes the caller hands over: a message that is already CRLF
// (what smtpd and queued pass on) becomes the stored body without a copy.
PreparedMessage prepare_owned_message(std::string&& message, bool binary = false, bool with_search = false);

// A SEARCH key (TEXT, BODY, HEADER field and value) folded the way
// search_index_of() folds the text: lowercased like common/mime, whitespace runs
// collapsed to one space, none leading or trailing. Every store compares the
// folded key with the stored search text.
std::string fold_search_key(const std::string& s);

// The distinct whitespace-separated tokens of a search text, each once, in
// order of first appearance, joined and surrounded by single spaces
// (" w1 w2 ... wn "; "" for a text without tokens). Trigrams never span
// whitespace, so this has exactly the trigrams of the text, at the cost of
// its vocabulary (sql/009_search_words.sql). Whitespace: space, \t \n \r \f \v.
std::string search_words_of(std::string_view text);

// 32 raw bytes of SHA-256(data), and lower-case hex.
std::string sha256(std::string_view data);
std::string to_hex(std::string_view bytes);

// The largest search text kept per message: enough for every realistic text
// body, bounded so a 50 MB attachment does not become a 50 MB index entry.
inline constexpr size_t kMaxSearchText = 256 * 1024;
// The stored search text is "<header lines>\n\n<body text>" and then, after
// this octet (which fold() removes from everything else, so it appears once),
// the parts' MIME header lines and attachment names: SEARCH HEADER looks
// before the first blank line, BODY between it and the marker, TEXT at all of
// it. Rows written before the marker existed have none (BODY then includes the
// part headers, as it did).
inline constexpr char kSearchPartsMarker = '\x1e';

}  // namespace postline::mailstore
