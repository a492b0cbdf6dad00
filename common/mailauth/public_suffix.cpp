#include "common/mailauth/public_suffix.h"

#include <algorithm>
#include <cstdint>
#include <fstream>
#include <sstream>
#include <vector>

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

namespace {

// The list spells internationalised suffixes in UTF-8, but mail carries A-labels
// ("xn--..."). Punycode (RFC 3492) each non-ASCII label so both forms meet; without
// this, every IDN suffix would fall back to the "*" rule and let unrelated
// registrants under it align with each other.
std::optional<std::string> punycode_label(std::string_view utf8) {
  std::vector<uint32_t> cps;
  for (size_t i = 0; i < utf8.size();) {
    unsigned char c = static_cast<unsigned char>(utf8[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (!len || i + size_t(len) > utf8.size()) return std::nullopt;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1f) : len == 3 ? (c & 0x0f) : (c & 0x07);
    for (int k = 1; k < len; ++k) {
      unsigned char cc = static_cast<unsigned char>(utf8[i + size_t(k)]);
      if ((cc >> 6) != 2) return std::nullopt;
      cp = (cp << 6) | (cc & 0x3f);
    }
    cps.push_back(cp);
    i += size_t(len);
  }
  constexpr uint32_t kBase = 36, kTmin = 1, kTmax = 26, kSkew = 38, kDamp = 700;
  auto adapt = [](uint32_t delta, uint32_t points, bool first) {
    delta = first ? delta / kDamp : delta / 2;
    delta += delta / points;
    uint32_t k = 0;
    while (delta > ((kBase - kTmin) * kTmax) / 2) {
      delta /= kBase - kTmin;
      k += kBase;
    }
    return k + (kBase - kTmin + 1) * delta / (delta + kSkew);
  };
  auto digit = [](uint32_t d) { return char(d < 26 ? 'a' + d : '0' + (d - 26)); };
  std::string out;
  for (uint32_t cp : cps)
    if (cp < 0x80) out.push_back(char(cp));
  uint32_t b = uint32_t(out.size()), h = b;
  if (b == cps.size()) return out;  // all ASCII
  if (b > 0) out.push_back('-');
  uint32_t n = 128, delta = 0, bias = 72;
  while (h < cps.size()) {
    uint32_t m = UINT32_MAX;
    for (uint32_t cp : cps)
      if (cp >= n && cp < m) m = cp;
    if (m - n > (UINT32_MAX - delta) / (h + 1)) return std::nullopt;
    delta += (m - n) * (h + 1);
    n = m;
    for (uint32_t cp : cps) {
      if (cp < n) ++delta;
      if (cp == n) {
        uint32_t q = delta;
        for (uint32_t k = kBase;; k += kBase) {
          uint32_t t = k <= bias ? kTmin : (k >= bias + kTmax ? kTmax : k - bias);
          if (q < t) break;
          out.push_back(digit(t + (q - t) % (kBase - t)));
          q = (q - t) / (kBase - t);
        }
        out.push_back(digit(q));
        bias = adapt(delta, h + 1, h == b);
        delta = 0;
        ++h;
      }
    }
    ++delta;
    ++n;
  }
  return "xn--" + out;
}

std::optional<std::string> to_ascii_rule(const std::string& rule) {
  if (std::all_of(rule.begin(), rule.end(), [](char c) { return static_cast<unsigned char>(c) < 0x80; }))
    return rule;
  std::string out;
  for (auto label : split(rule, '.')) {
    auto a = punycode_label(label);
    if (!a) return std::nullopt;
    if (!out.empty()) out.push_back('.');
    out += *a;
  }
  return out;
}

}  // namespace

std::string idn_to_ascii_for_psl(std::string_view utf8_domain) {
  auto r = to_ascii_rule(std::string(utf8_domain));
  return r ? *r : std::string();
}

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
    std::string prefix;
    if (rule[0] == '!') {
      prefix = "!";
    } else if (rule.rfind("*.", 0) == 0) {
      prefix = "*.";
    }
    auto ascii = to_ascii_rule(rule.substr(prefix.size()));
    if (!ascii || ascii->empty()) continue;
    if (prefix == "!") {
      psl.exceptions_.insert(*ascii);
    } else if (prefix == "*.") {
      psl.wildcards_.insert(*ascii);
    } else {
      psl.rules_.insert(*ascii);
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
