// DKIM canonicalisation (RFC 6376 section 3.4).
#pragma once

#include <string>
#include <string_view>

namespace postline::mailauth {

enum class Canon { kSimple, kRelaxed };

const char* to_string(Canon c);

// raw: a whole header field including its final CRLF. The result ends in CRLF.
std::string canonicalize_header(std::string_view raw, Canon c);
// body: CRLF line ends. Simple: trailing empty lines reduced to one CRLF, empty body
// becomes CRLF. Relaxed: trailing WSP dropped, WSP runs become one SP, trailing
// empty lines removed, empty body stays empty (RFC 6376 errata 1384).
std::string canonicalize_body(std::string_view body, Canon c);

}  // namespace postline::mailauth
