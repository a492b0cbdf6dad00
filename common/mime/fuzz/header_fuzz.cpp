// libFuzzer entry point for common/mime's header-value decoders, called directly
// rather than through parse() (mime_fuzz.cpp), so each gets its whole input and
// its documented output checked. The first byte picks one (modulo 6):
//   0 decode_header_value (RFC 2047)  -> valid UTF-8, never longer than 4x + 64
//   1 parse_address_list (To/From/Cc) -> unfolded (no CRLF) parts; a group end is all NIL
//   2 to_utf8(body, charset)          -> valid UTF-8 (the charset is the first line)
//   3 parse_content_value (RFC 2231)  -> at most max_params, lowercase names, UTF-8 values
//   4 fold_case                       -> UTF-8 in, UTF-8 out, idempotent
//   5 decode_base64 / decode_quoted_printable / unfold -> never longer than the input
// Nothing here may throw (mime.h: "Nothing here ... throws across the API").
#include "common/mime/internal.h"
#include "common/mime/mime.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

namespace mime = postline::mime;
namespace detail = postline::mime::detail;

void require(bool ok) {
  if (!ok) std::abort();
}

// Unfolded: no CRLF left. (An obs-qp quoted-pair may still carry a lone CR or LF,
// RFC 5322 4.1; structure.cpp renders such a string as a literal.)
bool no_line_break(const std::optional<std::string>& s) { return !s || s->find("\r\n") == std::string::npos; }

void addresses(std::string_view text) {
  for (const auto& a : detail::parse_address_list(text)) {
    require(no_line_break(a.name) && no_line_break(a.adl) && no_line_break(a.mailbox) && no_line_break(a.host));
    // A group end is (NIL NIL NIL NIL); nothing else has a NIL mailbox.
    if (!a.mailbox) require(!a.name && !a.adl && !a.host);
  }
}

void content_value(std::string_view text) {
  for (size_t max : {size_t{0}, size_t{3}, size_t{64}}) {
    detail::ContentValue v = detail::parse_content_value(text, max);
    require(v.params.size() <= max);
    require(detail::lower(v.token) == v.token);
    for (const auto& p : v.params) {
      require(detail::lower(p.name) == p.name);
      require(detail::valid_utf8(p.value));
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  switch (data[0] % 6) {
    case 0: {
      std::string out = mime::decode_header_value(text);
      require(detail::valid_utf8(out));
      require(out.size() <= 4 * text.size() + 64);
      break;
    }
    case 1: addresses(text); break;
    case 2: {
      size_t nl = text.find('\n');
      std::string_view charset = text.substr(0, std::min<size_t>(nl, 64));
      std::string_view body = nl == text.npos ? std::string_view() : text.substr(nl + 1);
      require(detail::valid_utf8(mime::to_utf8(body, charset)));
      break;
    }
    case 3: content_value(text); break;
    case 4:
      if (detail::valid_utf8(text)) {
        std::string once = mime::fold_case(text);
        require(detail::valid_utf8(once));
        require(mime::fold_case(once) == once);
      }
      break;
    case 5:
      require(mime::decode_base64(text).size() <= text.size());
      require(mime::decode_quoted_printable(text).size() <= text.size());
      require(mime::unfold(text).size() <= text.size());
      break;
  }
  return 0;
}
