#include "services/imap-access/protocol/sequence_set.h"

#include <algorithm>

namespace postline::imap {

namespace {
std::optional<uint32_t> parse_number(std::string_view s) {
  if (s == "*") return SequenceSet::kStar;
  if (s.empty() || s.size() > 10) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    n = n * 10 + (c - '0');
  }
  if (n == 0 || n > 0xffffffffu) return std::nullopt;
  return static_cast<uint32_t>(n);
}
}  // namespace

std::optional<SequenceSet> SequenceSet::parse(std::string_view text, bool allow_saved) {
  SequenceSet set;
  if (text.empty()) return std::nullopt;
  size_t start = 0;
  for (;;) {
    size_t comma = text.find(',', start);
    std::string_view item = text.substr(start, comma == std::string_view::npos ? text.npos : comma - start);
    if (item == "$") {
      if (!allow_saved) return std::nullopt;
      set.saved_ = true;
      if (comma == std::string_view::npos) break;
      start = comma + 1;
      continue;
    }
    size_t colon = item.find(':');
    auto a = parse_number(item.substr(0, colon));
    if (!a) return std::nullopt;
    auto b = a;
    if (colon != std::string_view::npos) b = parse_number(item.substr(colon + 1));
    if (!b) return std::nullopt;
    set.ranges_.emplace_back(*a, *b);
    if (set.ranges_.size() > 100000) return std::nullopt;  // bounded work per command
    if (comma == std::string_view::npos) break;
    start = comma + 1;
  }
  return set;
}

SequenceSet SequenceSet::range(uint32_t lo, uint32_t hi) {
  SequenceSet s;
  s.ranges_.emplace_back(lo, hi);
  return s;
}

std::vector<std::pair<uint32_t, uint32_t>> SequenceSet::resolve(uint32_t star) const {
  std::vector<std::pair<uint32_t, uint32_t>> out;
  for (auto [a, b] : ranges_) {
    if (a == kStar) a = star;
    if (b == kStar) b = star;
    if (a > b) std::swap(a, b);
    out.emplace_back(a, b);
  }
  return out;
}

bool SequenceSet::contains(uint32_t n, uint32_t star) const {
  for (auto [a, b] : resolve(star))
    if (n >= a && n <= b) return true;
  return false;
}

std::string SequenceSet::format(const std::vector<uint32_t>& v) {
  std::string out;
  for (size_t i = 0; i < v.size();) {
    size_t j = i;
    while (j + 1 < v.size() && v[j + 1] == v[j] + 1) ++j;
    if (!out.empty()) out += ',';
    out += std::to_string(v[i]);
    if (j > i) out += ":" + std::to_string(v[j]);
    i = j + 1;
  }
  return out;
}

}  // namespace postline::imap
