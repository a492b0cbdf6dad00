// Golden ENVELOPE / BODYSTRUCTURE results for the corpus in tests/corpus/mime.
//
// Each NAME.eml has NAME.envelope and NAME.bodystructure beside it (the exact IMAP text; a
// trailing newline in the file is ignored). POSTLINE_MIME_WRITE_GOLDEN=1 writes the golden
// files that are missing — review every one by hand before committing it.
#include <gtest/gtest.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/mime/imap_grammar_check.h"
#include "common/mime/mime.h"

namespace fs = std::filesystem;
namespace mime = postline::mime;

namespace {

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

std::string chomp(std::string s) {
  if (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

void check_golden(const fs::path& path, const std::string& actual) {
  if (!fs::exists(path)) {
    if (std::getenv("POSTLINE_MIME_WRITE_GOLDEN")) {
      std::ofstream(path, std::ios::binary) << actual << "\n";
      return;
    }
    ADD_FAILURE() << "missing golden file " << path;
    return;
  }
  EXPECT_EQ(chomp(slurp(path)), actual) << "golden " << path;
}

}  // namespace

TEST(MimeCorpus, GoldenEnvelopeAndBodystructure) {
  fs::path dir = POSTLINE_MIME_CORPUS_DIR;
  std::vector<fs::path> emls;
  for (const auto& e : fs::directory_iterator(dir))
    if (e.path().extension() == ".eml") emls.push_back(e.path());
  std::sort(emls.begin(), emls.end());
  EXPECT_GE(emls.size(), 30u);
  for (const fs::path& eml : emls) {
    SCOPED_TRACE(eml.filename().string());
    std::string raw = slurp(eml);
    mime::ParsedMessage msg = mime::parse(raw);
    std::string env = mime::imap_envelope(msg);
    std::string bs = mime::imap_bodystructure(msg, true);
    using postline::mime::testing::GrammarCheck;
    EXPECT_EQ(GrammarCheck(env).envelope(), "");
    EXPECT_EQ(GrammarCheck(bs).body(true), "");
    EXPECT_EQ(GrammarCheck(mime::imap_bodystructure(msg, false)).body(false), "");
    fs::path base = eml;
    check_golden(base.replace_extension(".envelope"), env);
    check_golden(base.replace_extension(".bodystructure"), bs);
    // What the mailstore stores must render the same without the raw message.
    auto back = mime::deserialize_structure(mime::serialize_structure(msg));
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(mime::imap_envelope(*back), env);
    EXPECT_EQ(mime::imap_bodystructure(*back, true), bs);
    EXPECT_EQ(mime::imap_bodystructure(*back, false), mime::imap_bodystructure(msg, false));
    // Every part's offsets are inside the message and ordered.
    std::vector<const mime::Part*> stack{&msg.root};
    while (!stack.empty()) {
      const mime::Part* p = stack.back();
      stack.pop_back();
      EXPECT_LE(p->header_start, p->body_start);
      EXPECT_LE(p->body_start, p->body_end);
      EXPECT_LE(p->body_end, raw.size());
      for (const auto& c : p->children) stack.push_back(&c);
    }
    EXPECT_FALSE(mime::search_text(msg, raw).empty());
  }
}
