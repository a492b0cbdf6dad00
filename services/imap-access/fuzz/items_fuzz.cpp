// libFuzzer entry point for the item parsers under the command parsers: SEARCH
// keys (protocol/search_keys.h), FETCH items (protocol/fetch_items.h) and mailbox
// names (protocol/mailbox_name.h: modified UTF-7, LIST patterns). imap_args_fuzz
// reaches the first two through whole commands but checks only the command's
// struct; here each parser runs on its own text, without the Receiver's framing,
// and the tree it returns is checked against what its header documents.
//
// The first input byte picks the parser (its value modulo 6), the rest is its text:
//   0 SEARCH criteria (parse_search)      1 SORT/THREAD keys (parse_search_key_list)
//   2 FETCH items (parse_fetch)           3 mutf7_decode / mutf7_encode round trips
//   4 list_match against a reference      5 parse_search_date against a reference
// SyntaxError is the only exception allowed out; anything else aborts.
#include "services/imap-access/protocol/fetch_items.h"
#include "services/imap-access/protocol/mailbox_name.h"
#include "services/imap-access/protocol/search_keys.h"

#include "common/mime/mime.h"

#include <cctype>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>
#include <vector>

namespace {

using namespace postline::imap;

void require(bool ok) {
  if (!ok) std::abort();
}

// "Limits nesting depth and the number of keys": depth 32 below the top-level
// kAnd, 1000 keys read (a key such as NEW is a small subtree). The shapes the store's SQL compiler relies on hold too.
size_t check_key(const SearchKey& k, int depth) {
  require(depth <= 34);
  size_t n = 1;
  switch (k.kind) {
    case SearchKey::kOr: require(k.children.size() == 2); break;
    case SearchKey::kNot: require(k.children.size() == 1); break;
    case SearchKey::kAnd: require(!k.children.empty() || depth == 0); break;
    case SearchKey::kUidSet:
    case SearchKey::kSeqSet: require(k.set.has_value()); [[fallthrough]];
    default: require(k.children.empty());
  }
  if (k.kind == SearchKey::kLarger || k.kind == SearchKey::kSmaller || k.kind == SearchKey::kOlder ||
      k.kind == SearchKey::kYounger || k.kind == SearchKey::kModseq)
    require(k.number >= 0);
  for (const auto& c : k.children) n += check_key(c, depth + 1);
  // 1000 keys as read; NEW becomes RECENT AND UNSEEN, so at most three nodes each.
  require(n <= 3 * 1000 + 1);
  return n;
}

void check_partial(const PartialRange& p) {
  if (p.first > 0)
    require(p.first <= p.last && p.last <= kMaxPartialPosition);
  else
    require(p.first <= -1 && p.last <= p.first && -p.last <= kMaxPartialPosition);
  for (size_t n : {size_t{0}, size_t{1}, size_t{7}, size_t{1000}}) {
    auto [begin, end] = partial_span(p, n);
    require(begin <= end && end <= n);
  }
}

void search(std::string_view text, bool key_list) {
  Reader r(text);
  if (key_list) {
    SearchKey k = parse_search_key_list(r);
    require(k.kind == SearchKey::kAnd);
    check_key(k, 0);
    return;
  }
  SearchRequest req = parse_search(r);
  require(req.key.kind == SearchKey::kAnd);
  require(!req.charset.empty());
  check_key(req.key, 0);
  require(!(req.ret_all && req.ctx.partial));  // "never together with ALL"
  if (req.ctx.partial) check_partial(*req.ctx.partial);
}

void fetch(std::string_view text) {
  Reader r(text);
  FetchRequest req = parse_fetch(r);
  require(!req.items.empty() && req.items.size() <= 100);
  require(!req.changed_since || *req.changed_since >= 0);
  for (const auto& it : req.items) {
    if (it.kind == FetchItem::kSection || it.kind == FetchItem::kBinary || it.kind == FetchItem::kBinarySize) {
      require(!it.name.empty());
      require(it.section.size() <= 8192);
      // The section is served by common/mime: it must be one mime accepts.
      require(it.section.empty() || postline::mime::parse_section(it.section).has_value());
      require(!it.length || *it.length != 0);
    }
  }
}

// UTF-8 out, ASCII printable in: the two directions undo each other.
void mailbox_name(std::string_view text) {
  if (auto decoded = mutf7_decode(text)) {
    require(valid_utf8(*decoded));
    std::string again = mutf7_encode(*decoded);
    auto back = mutf7_decode(again);
    require(back && *back == *decoded);
  }
  if (valid_utf8(text)) {
    std::string encoded = mutf7_encode(text);
    for (char c : encoded) require(c >= 0x20 && c <= 0x7e);
    auto back = mutf7_decode(encoded);
    require(back && *back == text);
  }
}

// The documented meaning of a LIST pattern, by dynamic programming over
// (pattern position, name position): '*' matches any run, '%' any run without
// the delimiter, every other octet itself.
bool reference_match(std::string_view p, std::string_view n, char delim) {
  std::vector<char> row(n.size() + 1, 0), next(n.size() + 1, 0);
  row[0] = 1;  // empty pattern prefix matches empty name prefix
  for (size_t i = 0; i < p.size(); ++i) {
    std::fill(next.begin(), next.end(), 0);
    for (size_t j = 0; j <= n.size(); ++j) {
      if (p[i] == '*' || p[i] == '%') {
        // next[j] = some row[k] with k <= j and n[k..j) free of the delimiter for '%'
        bool any = row[j];
        if (j > 0 && next[j - 1] && (p[i] == '*' || n[j - 1] != delim)) any = true;
        next[j] = any;
      } else if (j > 0 && row[j - 1] && p[i] == n[j - 1]) {
        next[j] = 1;
      }
    }
    row.swap(next);
  }
  return row[n.size()];
}

void list_pattern(std::string_view text) {
  // pattern NUL name; at most 256 octets each keeps the reference cheap.
  size_t nul = text.find('\0');
  std::string_view pattern = text.substr(0, nul);
  std::string_view name = nul == text.npos ? std::string_view() : text.substr(nul + 1);
  if (pattern.size() > 256 || name.size() > 256) return;
  require(list_match(pattern, name) == reference_match(pattern, name, '/'));
  require(list_match(pattern, name, '.') == reference_match(pattern, name, '.'));
}

int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {  // H. Hinnant's algorithm
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void search_date(std::string_view text) {
  auto days = parse_search_date(text);
  if (!days) return;
  // Accepted means date-day "-" date-month "-" date-year (RFC 3501 9).
  size_t d1 = text.find('-');
  require(d1 == 1 || d1 == 2);
  require(text.size() == d1 + 9 && text[d1 + 4] == '-');
  int day = std::atoi(std::string(text.substr(0, d1)).c_str());
  int year = std::atoi(std::string(text.substr(d1 + 5)).c_str());
  static const char* kMonths = "janfebmaraprmayjunjulaugsepoctnovdec";
  std::string mon(text.substr(d1 + 1, 3));
  for (auto& c : mon) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  size_t at = std::string_view(kMonths).find(mon);
  require(at != std::string_view::npos && at % 3 == 0);
  unsigned month = static_cast<unsigned>(at / 3 + 1);
  static const int kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  require(day >= 1 && day <= 31);
  if (day <= kDays[month - 1] && !(month == 2 && day == 29))  // plainly valid dates: exact
    require(*days == days_from_civil(year, month, static_cast<unsigned>(day)));
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string_view text(reinterpret_cast<const char*>(data) + 1, size - 1);
  try {
    switch (data[0] % 6) {
      case 0: search(text, false); break;
      case 1: search(text, true); break;
      case 2: fetch(text); break;
      case 3: mailbox_name(text); break;
      case 4: list_pattern(text); break;
      case 5: search_date(text); break;
    }
  } catch (const SyntaxError&) {
  }
  return 0;
}
