// What queued puts on the wire must fit the next hop (issue 22 items 1 and 2):
// no 8-bit octets to a server without 8BITMIME (RFC 6152 3), no line over 998
// octets (RFC 5321 4.5.3.1.6, RFC 5322 2.1.1). The parts that break a rule are
// re-encoded (RFC 2045: quoted-printable for text/*, base64 otherwise) with
// their Content-Transfer-Encoding updated; everything else is copied byte for
// byte. Parsing is common/mime's. Pure functions, unit-tested in
// transport_encoding_test.cpp.
#pragma once

#include <string>
#include <string_view>

namespace postline::queue {

constexpr size_t kMaxLineOctets = 998;  // without the CRLF

struct TransportEncoding {
  enum class Status {
    kUnchanged,   // already fits: send `message` as it was given
    kConverted,   // `message` holds the re-encoded form
    kImpossible,  // `error` says why (a DSN with 5.6.3, our decision)
  };
  Status status = Status::kUnchanged;
  std::string message;
  std::string error;
};

// True when `message` has a line over kMaxLineOctets, or (when !eight_bit_ok)
// an octet >= 0x80. Cheap: no parsing.
bool needs_transport_encoding(std::string_view message, bool eight_bit_ok);

// The message re-encoded so that it has no line over kMaxLineOctets and, when
// !eight_bit_ok, only 7-bit octets. kImpossible when a header (of the message
// or of a part) breaks the rule (8-bit header fields need SMTPUTF8, which this
// does not emulate; long header lines are not refolded), when the offending
// bytes lie outside any part (a multipart without its boundary, preamble,
// epilogue), in a part with an unknown Content-Transfer-Encoding, or when the
// message is too complex for the parser's limits.
TransportEncoding encode_for_transport(std::string_view message, bool eight_bit_ok);

// RFC 2045 6.7 quoted-printable of text: CRLF and LF are line breaks (written as
// CRLF), soft breaks keep every line within 76 characters. Exposed for tests.
std::string quoted_printable(std::string_view text);

}  // namespace postline::queue
