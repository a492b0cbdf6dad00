// Parsing of the MAIL FROM / RCPT TO arguments: a reverse- or forward-path
// (RFC 5321 §4.1.2) followed by ESMTP parameters, with the RFC 5321 §4.5.3.1
// size limits and the RFC 6531 (SMTPUTF8) extension of the grammar.
//
// The parser is deliberately strict about what would let a remote sender steer
// routing (source routes, '%' / '!' / '@' inside local parts): callers decide
// what to refuse, the parser only reports it.
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace postline::smtp {

struct Mailbox {
  std::string local;   // as written (quoted form kept, quotes included)
  std::string domain;  // as written; "[1.2.3.4]" for address literals
  bool quoted = false;
  std::string unquoted_local() const;  // quoted-pairs and quotes removed
  std::string text() const { return local + "@" + domain; }
};

struct EsmtpParam {
  std::string keyword;               // upper-cased
  std::optional<std::string> value;  // as written
};

struct ParsedPath {
  bool null_path = false;     // "<>"
  bool source_route = false;  // "<@a,@b:user@d>" was given (route dropped)
  bool postmaster = false;    // "<Postmaster>" without a domain (RFC 5321 §4.5.1)
  bool non_ascii = false;     // contains UTF-8 (needs SMTPUTF8)
  Mailbox mailbox;
  std::vector<EsmtpParam> params;
};

enum class PathError {
  kNone,
  kSyntax,         // malformed
  kNoDomain,       // unqualified address
  kTooLong,        // RFC 5321 §4.5.3.1 limits
  kParamSyntax,    // malformed ESMTP parameter
  kDuplicateParam,
  kBadUtf8,
};

struct PathParse {
  PathError error = PathError::kNone;
  ParsedPath path;
};

// `args` is what follows "FROM:" / "TO:" (leading spaces allowed).
// `allow_null`: "<>" is valid (MAIL only). `utf8`: accept UTF-8 in the address
// grammar (the caller checks SMTPUTF8 afterwards via non_ascii).
PathParse parse_path(std::string_view args, bool allow_null);

// RFC 3461 §4: xtext ("+XX" hex escapes, no '+' or '=' raw, printable ASCII).
bool valid_xtext(std::string_view s);
// Well-formed UTF-8 (no overlongs, no surrogates).
bool valid_utf8(std::string_view s);
// A HELO/EHLO argument we are willing to record: printable, no spaces, ≤255.
bool valid_helo(std::string_view s);

}  // namespace postline::smtp
