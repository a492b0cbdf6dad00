// libFuzzer entry point for ENVELOPE and BODY/BODYSTRUCTURE text
// (protocol/structure.h). The input is a message as it arrives by SMTP or
// APPEND. It is parsed with common/mime, as the mailstore does at delivery, and
// rendered from the parsed tree and from the tree after the storage round trip,
// as FETCH does. Anything but valid IMAP is a bug: text the RFC 3501 grammar
// check (protocol/testing/imap_grammar_check.h) refuses, the two renderings
// differing, a crash or a sanitizer report.
//
// Build with -DPOSTLINE_FUZZ=ON and clang++ (target imap_structure_fuzz).
// Without it, corpus_main.cpp runs the same function once per corpus file
// (imap_structure_fuzz_corpus, a ctest over tests/corpus/mime).
#include "common/mime/mime.h"
#include "services/imap-access/protocol/structure.h"
#include "services/imap-access/protocol/testing/imap_grammar_check.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

namespace {

using namespace postline;
using imap::testing::GrammarCheck;

void require(bool ok) {
  if (!ok) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::string_view raw(reinterpret_cast<const char*>(data), size);
  mime::ParsedMessage msg = mime::parse(raw);
  const std::string env = imap::envelope_text(msg);
  const std::string body = imap::bodystructure_text(msg, false);
  const std::string bs = imap::bodystructure_text(msg, true);
  require(GrammarCheck(env).envelope().empty());
  require(GrammarCheck(body).body(false).empty());
  require(GrammarCheck(bs).body(true).empty());
  // FETCH renders from the stored structure, never from the raw message.
  auto back = mime::deserialize_structure(mime::serialize_structure(msg));
  require(back.has_value());
  require(imap::envelope_text(*back) == env);
  require(imap::bodystructure_text(*back, false) == body);
  require(imap::bodystructure_text(*back, true) == bs);
  return 0;
}
