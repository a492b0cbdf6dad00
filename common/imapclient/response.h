// The client side of IMAP, sans-I/O: a parser of what a server sends
// (RFC 9051 / RFC 3501 responses: tagged and untagged, continuation requests,
// literals and literal8, response codes) and readers of the data items an
// importer needs (FETCH, LIST, STATUS, CAPABILITY, SELECT's codes). Bytes go
// in with feed(), complete responses come out of next(); nothing here does
// I/O, so it is tested on byte strings and driven by a fuzzer
// (fuzz/response_fuzz.cpp). Every size a server controls is bounded by
// `Limits`; a server that goes past one, or sends bytes that are not a
// response, gets kError and a message saying what was wrong (the caller
// disconnects).
#pragma once

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::imapclient {

struct Limits {
  size_t max_line = 1024 * 1024;            // one line of a response, without its literals
  size_t max_literal = 256 * 1024 * 1024;   // one literal (a message body)
  size_t max_response = 300 * 1024 * 1024;  // lines and literals of one response together
  size_t max_depth = 32;                    // nested parenthesised lists
  size_t max_values = 200'000;              // atoms, strings and lists in one response
};

// One value of response data: an atom (also numbers and flags such as \Seen,
// and FETCH item names with their section, "BODY[HEADER.FIELDS (FROM)]"), a
// string (quoted or literal, already unquoted), NIL, or a parenthesised list.
struct Value {
  enum Kind { kAtom, kString, kNil, kList };
  Kind kind = kAtom;
  std::string text;          // kAtom, kString
  std::vector<Value> items;  // kList
  bool literal8 = false;     // a ~{n} literal (RFC 3516)

  bool is_atom(std::string_view upper) const;  // ASCII case-insensitive
  // An atom or string as text (IMAP astring / nstring without NIL).
  bool is_text() const { return kind == kAtom || kind == kString; }
  std::optional<uint64_t> number() const;  // an atom of digits
};

struct Response {
  enum Type { kTagged, kUntagged, kContinuation };
  Type type = kUntagged;
  std::string tag;  // kTagged
  // Upper-cased: OK, NO, BAD, BYE, PREAUTH for status responses; otherwise the
  // data keyword (CAPABILITY, LIST, LSUB, STATUS, SEARCH, FLAGS, ENABLED,
  // EXISTS, RECENT, EXPUNGE, FETCH, ...).
  std::string keyword;
  std::optional<uint32_t> number;  // "* 5 EXISTS", "* 5 FETCH"
  std::string code;                // a status response's [code], without the brackets ("" when none)
  std::string text;                // a status response's text, or a continuation's
  std::vector<Value> data;         // the values after the keyword (data responses)

  bool is_status() const;  // OK, NO, BAD, BYE, PREAUTH
  // The code's name and its argument: "UIDVALIDITY 3857529045" -> ("UIDVALIDITY", "3857529045").
  std::string code_name() const;
  std::string code_argument() const;
};

class ResponseParser {
 public:
  explicit ResponseParser(Limits limits = {});
  void feed(std::string_view bytes);
  enum class Status { kResponse, kNeedMore, kError };
  // The next complete response into `out`. kError is final: error() says why.
  Status next(Response& out);
  const std::string& error() const { return error_; }
  // Bytes fed but not yet returned as responses.
  size_t buffered() const { return buf_.size() - start_; }

 private:
  Status fail(std::string why);
  Limits limits_;
  std::string buf_;
  size_t start_ = 0;         // first byte of the response being framed
  size_t scan_ = 0;          // where framing goes on
  size_t line_start_ = 0;    // start of the current line segment
  size_t literal_left_ = 0;  // bytes of a literal still to come
  std::string error_;
};

// Parses one complete framed response (what next() returns from). Exposed
// for tests; nullopt with `error` set when it is not a response.
std::optional<Response> parse_response(std::string_view bytes, const Limits& limits, std::string& error);

// ---- data items -----------------------------------------------------------

// The items of one FETCH response that an importer reads; others are skipped.
struct FetchData {
  uint32_t seq = 0;
  std::optional<uint32_t> uid;
  std::optional<std::vector<std::string>> flags;  // as the server spelled them
  std::optional<std::string> internaldate;        // the date-time string
  std::optional<uint64_t> size;                   // RFC822.SIZE
  std::optional<std::string> body;                // BODY[] / BODY.PEEK[] answered as BODY[] / RFC822 / BINARY[]
  std::optional<uint64_t> modseq;
};
// nullopt (and `error`) when the response is not a FETCH or its items are
// malformed (an item without its value, flags that are not a list ...).
std::optional<FetchData> parse_fetch(const Response& r, std::string& error);

struct ListEntry {
  std::vector<std::string> attributes;  // as sent, e.g. "\HasNoChildren", "\Sent"
  std::optional<char> delimiter;        // nullopt: NIL (a flat namespace)
  std::string name;                     // as sent (modified UTF-7 unless UTF8=ACCEPT)
  bool has_attribute(std::string_view attr) const;  // ASCII case-insensitive
};
std::optional<ListEntry> parse_list(const Response& r, std::string& error);

// "* STATUS name (MESSAGES 3 UIDNEXT 9 ...)": the numbers by upper-cased name.
struct StatusData {
  std::string mailbox;
  std::vector<std::pair<std::string, uint64_t>> items;
  std::optional<uint64_t> get(std::string_view name) const;
};
std::optional<StatusData> parse_status(const Response& r, std::string& error);

// Capabilities from "* CAPABILITY ..." or a [CAPABILITY ...] code, upper-cased.
std::vector<std::string> parse_capabilities(const Response& r);

// An IMAP date-time ("17-Jul-1996 02:44:25 -0700", the day may be
// space-padded) as Unix seconds (UTC). nullopt when it is not one.
std::optional<int64_t> parse_internaldate(std::string_view text);
// The other way, for tests and messages: "03-Dec-2026 15:16:36 +0000".
std::string format_internaldate(int64_t unix_seconds);

// IMAP string syntax for a command argument: a quoted string when the bytes
// allow one, else a literal "{n}\r\n" + bytes (the caller must wait for the
// continuation unless the server has LITERAL+ and `nonsync` is set).
std::string quote_astring(std::string_view s, bool nonsync = false);
// Whether quote_astring needs a literal for `s`.
bool needs_literal(std::string_view s);

}  // namespace postline::imapclient
