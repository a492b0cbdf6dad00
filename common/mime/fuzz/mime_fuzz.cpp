// libFuzzer entry point: every API that sees untrusted bytes must survive any input, and the
// storage encoding must round-trip. Build with -DPOSTLINE_FUZZ=ON and clang++. The IMAP text
// of the tree (ENVELOPE, BODYSTRUCTURE) is fuzzed by services/imap-access/fuzz/
// structure_fuzz.cpp.
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "common/mime/mime.h"

namespace mime = postline::mime;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  mime::Limits limits;
  limits.max_search_text = 64 * 1024;
  mime::ParsedMessage msg = mime::parse(raw, limits);
  // Everything stored comes back: the tree serialises to the same bytes again.
  std::string blob = mime::serialize_structure(msg);
  auto back = mime::deserialize_structure(blob);
  if (!back || mime::serialize_structure(*back) != blob) std::abort();
  for (std::string_view spec : {"1", "1.MIME", "2.1.TEXT", "HEADER.FIELDS (From Subject)"}) {
    auto sec = mime::parse_section(spec);
    if (sec) (void)mime::fetch_section(msg, raw, *sec);
  }
  (void)mime::search_text(msg, raw, limits);
  (void)mime::preview_text(msg, raw);
  (void)mime::decode_header_value(raw.substr(0, 4096));
  (void)mime::parse_section(raw.substr(0, 256));
  (void)mime::deserialize_structure(raw);
  return 0;
}
