#include "common/mailauth/public_suffix.h"

#include <fstream>
#include <sstream>
#include <vector>

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

PublicSuffixList PublicSuffixList::parse(std::string_view text) {
  PublicSuffixList psl;
  size_t pos = 0;
  while (pos < text.size()) {
    size_t eol = text.find('\n', pos);
    if (eol == std::string_view::npos) eol = text.size();
    std::string_view line = text.substr(pos, eol - pos);
    pos = eol + 1;
    // A rule is the first whitespace-delimited word; "//" starts a comment.
    size_t end = 0;
    while (end < line.size() && line[end] != ' ' && line[end] != '\t' && line[end] != '\r') ++end;
    line = line.substr(0, end);
    if (line.empty() || line.rfind("//", 0) == 0) continue;
    std::string rule = to_lower(line);
    if (rule[0] == '!') {
      psl.exceptions_.insert(rule.substr(1));
    } else if (rule.rfind("*.", 0) == 0) {
      psl.wildcards_.insert(rule.substr(2));
    } else {
      psl.rules_.insert(rule);
    }
  }
  return psl;
}

std::optional<PublicSuffixList> PublicSuffixList::load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::ostringstream ss;
  ss << in.rdbuf();
  auto psl = parse(ss.str());
  if (psl.size() < 100) return std::nullopt;  // truncated or wrong file
  return psl;
}

const PublicSuffixList& PublicSuffixList::fallback() {
  static const PublicSuffixList psl = parse(
      "com\norg\nnet\nedu\ngov\nint\nio\nde\nfr\nnl\nexample\ntest\ninvalid\nlocalhost\n"
      "uk\nco.uk\norg.uk\nac.uk\njp\nco.jp\nau\ncom.au\n*.ck\n!www.ck\n"
      "// private section sample\nblogspot.com\ngithub.io\n");
  return psl;
}

const PublicSuffixList& PublicSuffixList::system() {
  static const PublicSuffixList* psl = [] {
    auto loaded = load();
    return loaded ? new PublicSuffixList(std::move(*loaded)) : &fallback();
  }();
  return *psl;
}

std::string PublicSuffixList::organizational_domain(std::string_view domain_in) const {
  std::string domain = to_lower(domain_in);
  if (!domain.empty() && domain.back() == '.') domain.pop_back();
  std::vector<size_t> starts{0};  // start offset of each label
  for (size_t i = 0; i < domain.size(); ++i)
    if (domain[i] == '.') starts.push_back(i + 1);
  size_t n = starts.size();
  // Find the longest matching public suffix (in labels); the default rule "*" means
  // an unlisted TLD is a suffix of one label.
  size_t suffix_labels = 1;
  for (size_t i = 0; i < n; ++i) {
    std::string_view cand = std::string_view(domain).substr(starts[i]);
    size_t labels = n - i;
    if (exceptions_.count(std::string(cand))) {
      // An exception rule's suffix is the rule minus its leftmost label.
      suffix_labels = labels - 1;
      break;
    }
    if (rules_.count(std::string(cand)) && labels > suffix_labels) suffix_labels = labels;
    if (i + 1 < n) {
      std::string_view parent = std::string_view(domain).substr(starts[i + 1]);
      if (wildcards_.count(std::string(parent)) && labels > suffix_labels) suffix_labels = labels;
    }
  }
  if (suffix_labels >= n) return domain;  // the name is a public suffix itself
  return domain.substr(starts[n - suffix_labels - 1]);
}

}  // namespace postline::mailauth
