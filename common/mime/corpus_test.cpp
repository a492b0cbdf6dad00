// The corpus in tests/corpus/mime through the parser: every NAME.eml parses to a tree whose
// offsets are inside the message and agree with an independent numbering of its parts, and
// the storage format round-trips it. Its golden .envelope / .bodystructure files are IMAP
// text and are checked where that is rendered (services/imap-access/protocol/
// structure_test.cpp).
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

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

// Walks the tree numbering parts as RFC 3501 §6.4.5 does, independently of section.cpp, and
// checks that locate() agrees for BODY[n] and BODY[n.MIME].
void check_sections(const mime::ParsedMessage& msg, const mime::Part& container,
                    const std::string& prefix, int depth) {
  if (depth > 40) return;
  auto check = [&](const mime::Part& part, const std::string& path) {
    auto body = mime::locate(msg, path);
    ASSERT_TRUE(body.has_value()) << path;
    EXPECT_EQ(body->begin, part.body_start) << path;
    EXPECT_EQ(body->end, part.body_end) << path;
    auto hdr = mime::locate(msg, path + ".MIME");
    ASSERT_TRUE(hdr.has_value()) << path;
    EXPECT_EQ(hdr->begin, part.header_start) << path;
    EXPECT_EQ(hdr->end, part.body_start) << path;
    if (part.is_message_rfc822() && !part.children.empty()) {
      auto h = mime::locate(msg, path + ".HEADER");
      auto t = mime::locate(msg, path + ".TEXT");
      ASSERT_TRUE(h && t) << path;
      EXPECT_EQ(h->begin, part.body_start);
      EXPECT_EQ(h->end, t->begin);
      EXPECT_EQ(t->end, part.body_end);
    }
  };
  auto descend = [&](const mime::Part& part, const std::string& path) {
    if (part.is_multipart() && &part != &container) {
      check_sections(msg, part, path + ".", depth + 1);
    } else if (part.is_message_rfc822() && !part.children.empty()) {
      check_sections(msg, part.children[0], path + ".", depth + 1);
    }
  };
  if (container.is_multipart()) {
    for (std::size_t i = 0; i < container.children.size(); ++i) {
      std::string path = prefix + std::to_string(i + 1);
      check(container.children[i], path);
      descend(container.children[i], path);
    }
    EXPECT_FALSE(mime::locate(msg, prefix + std::to_string(container.children.size() + 1)));
  } else {
    check(container, prefix + "1");
    descend(container, prefix + "1");
    EXPECT_FALSE(mime::locate(msg, prefix + "2"));
  }
}

}  // namespace

TEST(MimeCorpus, OffsetsSectionsAndStorage) {
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
    // What the mailstore stores is the whole tree: it serialises to the same bytes again.
    std::string blob = mime::serialize_structure(msg);
    auto back = mime::deserialize_structure(blob);
    ASSERT_TRUE(back.has_value());
    EXPECT_EQ(mime::serialize_structure(*back), blob);
    EXPECT_EQ(back->size, raw.size());
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
    check_sections(msg, msg.root, "", 0);
    check_sections(*back, back->root, "", 0);
  }
}
