// postline_mime: a sans-I/O RFC 5322 / MIME parser.
//
// The mailstore parses each message once at delivery/APPEND (parse), stores what FETCH and
// SEARCH need (serialize_structure, search_text, preview_text) and never reparses: imapd
// renders ENVELOPE and BODYSTRUCTURE from the stored tree (services/imap-access/protocol/
// structure.h), and FETCH BODY[section] is served from the stored part offsets
// (locate/fetch_section) against the stored blob, so every offset here is an exact byte
// offset into the raw message. The types carry what the IMAP renderings need (Envelope,
// Address with its NILs), but no IMAP text is produced here.
//
// Nothing here does I/O, throws across the API, or trusts its input: every size that hostile
// input controls is capped by Limits, recursion depth is bounded, and any byte string parses
// to *some* tree (a malformed message is still a message a client must be able to read).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mime {

// Hard limits. Defaults are generous for real mail and small enough that a hostile message
// cannot make the parser use more than a few MiB beyond the message itself.
struct Limits {
  std::size_t max_header_fields = 1000;        // fields kept per header block (more are skipped)
  std::size_t max_header_bytes = 256 * 1024;   // field bytes kept per header block
  std::size_t max_depth = 32;                  // multipart/message nesting; deeper = leaf
  std::size_t max_parts = 2000;                // total parts in the tree; later delimiters ignored
  std::size_t max_params = 64;                 // parameters kept per Content-* field
  std::size_t max_search_text = 1024 * 1024;   // bytes of search_text output
};

struct HeaderField {
  std::string name;         // as written (case preserved)
  std::string value;        // raw bytes after the colon up to the field's final line end,
                            // folding (CRLF/LF + WSP) kept as written; see unfold()
  std::uint64_t start = 0;  // offset of the first byte of the name
  std::uint64_t end = 0;    // offset just past the line terminator of the last line
};

struct Param {
  std::string name;   // lowercased attribute (RFC 2231 "*n" / "*" suffixes removed)
  std::string value;  // RFC 2231 continuations joined and %-decoded, converted to UTF-8
};

// An IMAP ENVELOPE address. std::nullopt renders as NIL. RFC 3501 §7.4.2: a group start is
// (NIL NIL "group" NIL), a group end is (NIL NIL NIL NIL).
struct Address {
  std::optional<std::string> name;
  std::optional<std::string> adl;
  std::optional<std::string> mailbox;
  std::optional<std::string> host;
};

// The ten ENVELOPE fields, as RFC 3501 wants them: header values unfolded but *not*
// RFC 2047-decoded (clients decode), NIL when the field is absent. sender and reply_to are
// already defaulted to from (RFC 3501 §7.4.2).
struct Envelope {
  std::optional<std::string> date, subject;
  std::vector<Address> from, sender, reply_to, to, cc, bcc;
  std::optional<std::string> in_reply_to, message_id;
};

// One node of the part tree. The root node is the message itself; its body is IMAP part 1
// when it is not a multipart. A message/rfc822 node has exactly one child: the encapsulated
// message (a node whose header starts where the rfc822 part's body starts). A multipart node
// has its body parts as children (none when the boundary is missing or never seen).
struct Part {
  // Byte offsets into the raw message: [header_start, body_start) is BODY[n.MIME] (or the
  // message HEADER for message nodes, blank line included); [body_start, body_end) is BODY[n]
  // / TEXT. body_end excludes the CRLF that belongs to the following boundary delimiter.
  std::uint64_t header_start = 0;
  std::uint64_t body_start = 0;
  std::uint64_t body_end = 0;
  std::uint64_t lines = 0;  // text lines in the body; a final line without terminator counts

  std::string type = "text";      // lowercased; RFC 2045 defaults (text/plain, or
  std::string subtype = "plain";  // message/rfc822 inside multipart/digest)
  std::vector<Param> params;      // Content-Type parameters
  bool has_content_type = false;  // false: absent or invalid, type/subtype are defaults
  std::string encoding;           // Content-Transfer-Encoding lowercased; "" = absent (7bit)
  std::optional<std::string> id, description, md5, location;  // raw, unfolded
  std::optional<std::string> disposition;                     // lowercased token
  std::vector<Param> disposition_params;
  std::vector<std::string> languages;                         // Content-Language tags

  std::vector<HeaderField> fields;  // this node's header fields (empty after deserialize)
  std::optional<Envelope> envelope; // set on message nodes (the root, rfc822 children)
  std::vector<Part> children;

  std::uint64_t size() const { return body_end - body_start; }
  bool is_multipart() const { return type == "multipart"; }
  bool is_message_rfc822() const { return type == "message" && subtype == "rfc822"; }
  // An encapsulated message: message/rfc822 or message/global (RFC 6532 3.5), which has
  // the same nested part numbers (RFC 9051 6.4.5) and is parsed the same way.
  bool is_message() const { return type == "message" && (subtype == "rfc822" || subtype == "global"); }
  // The Content-Type parameter value, or nullptr.
  const std::string* param(std::string_view lowercase_name) const;
};

struct ParsedMessage {
  Part root;
  std::uint64_t size = 0;  // length of the raw message
  bool truncated = false;  // some limit was hit: tree is usable but simplified
};

ParsedMessage parse(std::string_view raw, const Limits& limits = {});

// ---- FETCH BODY[section] ----

enum class SectionText { kNone, kHeader, kHeaderFields, kHeaderFieldsNot, kText, kMime };

struct Section {
  std::vector<std::uint32_t> path;   // "1.2.3" -> {1,2,3}; empty = the message itself
  SectionText text = SectionText::kNone;
  std::vector<std::string> fields;   // HEADER.FIELDS (...) names, as given
};

struct Range {
  std::uint64_t begin = 0, end = 0;
  std::uint64_t size() const { return end - begin; }
};

// Parses the inside of BODY[...]: "", "HEADER", "TEXT", "1.2", "1.MIME", "2.HEADER",
// "1.HEADER.FIELDS (From To)", "HEADER.FIELDS.NOT (X-A)". Case-insensitive keywords;
// field names may be atoms or quoted strings. nullopt on a syntax error.
std::optional<Section> parse_section(std::string_view spec);

// The byte range of a section in the raw message, or nullopt when it does not exist
// (IMAP servers then return an empty string). For HEADER.FIELDS[.NOT] this is the range of
// the whole header block; filter it with filter_header_fields.
std::optional<Range> locate(const ParsedMessage& msg, const Section& section);
std::optional<Range> locate(const ParsedMessage& msg, std::string_view section_spec);

// The part node a section path names (for BINARY: its encoding), or nullptr.
const Part* find_part(const ParsedMessage& msg, const std::vector<std::uint32_t>& path);

// Exact bytes of HEADER.FIELDS (exclude=false) / HEADER.FIELDS.NOT (exclude=true) taken from
// a header block: the matching fields verbatim (folding kept) in message order, followed by
// the terminating blank line CRLF when the block has one (RFC 3501 §6.4.5: every header
// fetch includes it, except for a message with no body and no blank line).
std::string filter_header_fields(std::string_view header_block,
                                 const std::vector<std::string>& names, bool exclude);
// The same, appended to `out` (no temporary per message in a bulk FETCH).
void append_header_fields(std::string& out, std::string_view header_block, const std::vector<std::string>& names,
                          bool exclude);

// A header block with its Content-Transfer-Encoding field (folded lines too) replaced by
// "Content-Transfer-Encoding: binary" in place: the header of BINARY[] of a single-part
// message, whose body goes out decoded (RFC 3516 4.2).
std::string header_with_binary_encoding(std::string_view header);

// The bytes BODY[section] returns (empty when the section does not exist).
std::string fetch_section(const ParsedMessage& msg, std::string_view raw, const Section& s);

// ---- decoding ----

// RFC 2047 encoded words (B and Q; whitespace between adjacent encoded words dropped) to
// UTF-8; undecodable words are kept as written; 8-bit bytes that are not UTF-8 are taken as
// Latin-1/Windows-1252 rather than dropped.
std::string decode_header_value(std::string_view value);
// An address-list header value (From/To/Cc...) as ENVELOPE addresses: group markers as in
// RFC 3501 7.4.2, MISSING_MAILBOX/MISSING_DOMAIN for absent parts. The Sieve `address` test
// (common/sieve) reads addresses through this, so both agree on what an address is.
std::vector<Address> parse_addresses(std::string_view value);
// Removes CR/LF of folding (RFC 5322 §2.2.3) and trims surrounding whitespace.
std::string unfold(std::string_view value);
// Body transfer decoding (for BINARY[] and search). Unknown encodings: returned unchanged.
// Garbage in base64 is skipped; a broken QP escape is passed through literally.
std::string decode_base64(std::string_view in);
std::string decode_quoted_printable(std::string_view in);
std::string decode_transfer(std::string_view body, std::string_view encoding);
// False for encodings decode_transfer cannot undo (BINARY answers NO [UNKNOWN-CTE], RFC 3516).
bool is_known_transfer_encoding(std::string_view encoding);
// Charset conversion with glibc iconv; invalid sequences replaced by U+FFFD; an unknown
// charset falls back to UTF-8 validation (then Windows-1252 for non-UTF-8 bytes).
std::string to_utf8(std::string_view bytes, std::string_view charset);

// Text IMAP SEARCH matches against (TEXT/BODY/HEADER keys): every header field as
// "name: decoded value\n", a blank line, then per part its MIME header fields the same way,
// "filename: <decoded name>" for attachment names, and the decoded, charset-converted text/*
// bodies (HTML reduced to text; embedded messages contribute headers and bodies). Lowercased
// with the simple per-code-point Unicode lowercase (not full case folding: "ß" does not
// match "SS"), capped at limits.max_search_text bytes on a UTF-8 boundary.
std::string search_text(const ParsedMessage& msg, std::string_view raw, const Limits& limits = {});
// The same in two pieces, so SEARCH can tell them apart: `text` is the message's header
// fields, a blank line and the body text (embedded messages' headers included: they are
// content of the body); `part_headers` the MIME header fields of the parts and the
// attachment names (capped at a quarter of limits.max_search_text). search_text() is
// their concatenation.
struct SearchSections {
  std::string text;
  std::string part_headers;
};
SearchSections search_sections(const ParsedMessage& msg, std::string_view raw, const Limits& limits = {});
// The text of an HTML body: tags, comments, style and script out, the common entities
// decoded (what SEARCH and PREVIEW use; the Sieve `body :text` transform too).
std::string html_to_text(std::string_view html);

// Appends code point `cp` as UTF-8; surrogates and values past U+10FFFF become
// U+FFFD. The one encoder of the libraries that link common/mime (the Sieve
// interpreter's ${unicode:...} among them).
void append_utf8(std::string& out, std::uint32_t cp);
// RFC 8970 PREVIEW: up to max_chars characters of the first readable text part (plain text
// preferred in multipart/alternative, HTML reduced to text), decoded to UTF-8, quoted
// "> " lines skipped, whitespace collapsed. Empty when there is no such part.
std::string preview_text(const ParsedMessage& msg, std::string_view raw,
                         std::size_t max_chars = 200);
// The same lowercasing for a search key, so callers compare like with like.
std::string fold_case(std::string_view utf8);

// ---- storage ----

// Compact, versioned binary encoding of the part tree (offsets, lines, content fields,
// envelopes; not the raw header fields). See README.md for the format.
std::string serialize_structure(const ParsedMessage& msg);
// nullopt on a corrupt or unknown-version blob (never crashes on garbage).
std::optional<ParsedMessage> deserialize_structure(std::string_view blob);

}  // namespace postline::mime
