// One log record as the JSON formatter writes it: the tags a call site puts at
// the front of its message ("[s:7f3a9c01] [q:6751A2C03F9E2B] ...") become
// fields, the rest is `msg`. Separate from log.cpp so the rules are unit-tested
// without a logger (record_test.cpp).
//
// A tag is `[k:value]` followed by one space (or the end of the message), only
// at the very front, only for the keys below, each key once. A value is at
// least one character, no space and no control character; it ends at the first
// ']' that is followed by a space or the end (so "[c:[2001:db8::1]:25]" works).
// Lifting stops at the first thing that is not such a tag: text that merely
// looks like one later in the message stays in `msg`. Values built from peer
// strings go through tag_value() (printable.h), which escapes ' ', '[' and ']' (and what
// printable() escapes), so a peer cannot end a tag early and forge the next.
#pragma once

#include <string>
#include <string_view>

namespace postline::log {

struct Fields {
  std::string_view session;   // [s:...]  a connection (smtpd, imapd)
  std::string_view queue_id;  // [q:...]  a message in the queue
  std::string_view trace_id;  // [t:...]  the queue id of the message a call serves (authd, imapd)
  std::string_view client;    // [c:...]  the peer, address:port ("[v6]:port")
  std::string_view user;      // [u:...]  the authenticated account
  std::string_view msg;       // everything after the tags
};

Fields lift_fields(std::string_view payload);

// Appends `s` as the inside of a JSON string: '"', '\', control characters
// and DEL escaped (\n \r \t, else \u00XX); bytes that are not valid UTF-8
// become the six characters \\xNN (the notation printable() uses), so every
// line is valid JSON whatever a peer sent.
void append_json_string(std::string& out, std::string_view s);

// `"msg":"...","session":"...",...`: the part of a JSON record after ts, level
// and service. trace_id is the queue id when only [q:] is given: the trace id
// of a message is its queue id (docs/operations.md, "Logs").
std::string json_fields(std::string_view payload);

}  // namespace postline::log
