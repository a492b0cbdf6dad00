// DKIM canonicalisation (RFC 6376 section 3.4).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "common/mailauth/crypto.h"

namespace postline::mailauth {

enum class Canon { kSimple, kRelaxed };

const char* to_string(Canon c);

// raw: a whole header field including its final CRLF. The result ends in CRLF.
std::string canonicalize_header(std::string_view raw, Canon c);
// body: CRLF line ends. Simple: trailing empty lines reduced to one CRLF, empty body
// becomes CRLF. Relaxed: trailing WSP dropped, WSP runs become one SP, trailing
// empty lines removed, empty body stays empty (RFC 6376 errata 1384).
std::string canonicalize_body(std::string_view body, Canon c);

struct BodyHash {
  std::string digest;             // over the first `limit` canonical bytes (all when none)
  uint64_t canonical_length = 0;  // of the whole canonical body
};

// Hashes the canonical body without materialising it: a large message costs one pass
// and a line-sized buffer, not another copy of the body. Same rules as
// canonicalize_body (both are built on one line-by-line routine).
BodyHash body_hash(std::string_view body, Canon c, HashAlg alg, std::optional<uint64_t> limit = std::nullopt);

}  // namespace postline::mailauth
