#include "services/imap-access/protocol/search_keys.h"

#include <algorithm>
#include <cctype>
#include <ctime>

namespace postline::imap {

std::optional<int64_t> parse_search_date(std::string_view s) {
  // date-day "-" date-month "-" date-year, day 1 or 2 digits
  auto d1 = s.find('-');
  if (d1 == std::string_view::npos || d1 == 0 || d1 > 2) return std::nullopt;
  auto d2 = s.find('-', d1 + 1);
  if (d2 != d1 + 4 || s.size() != d2 + 5) return std::nullopt;
  int day = 0, year = 0;
  for (size_t i = 0; i < d1; ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    day = day * 10 + (s[i] - '0');
  }
  for (size_t i = d2 + 1; i < s.size(); ++i) {
    if (s[i] < '0' || s[i] > '9') return std::nullopt;
    year = year * 10 + (s[i] - '0');
  }
  static const char* months[] = {"JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"};
  int month = -1;
  for (int m = 0; m < 12; ++m)
    if (iequals(s.substr(d1 + 1, 3), months[m])) month = m;
  if (month < 0 || day < 1 || day > 31) return std::nullopt;
  std::tm tm{};
  tm.tm_year = year - 1900;
  tm.tm_mon = month;
  tm.tm_mday = day;
  return static_cast<int64_t>(timegm(&tm)) / 86400;
}

namespace {

struct Parser {
  Reader& r;
  int keys = 0;

  int64_t date() {
    std::string s = r.peek() == '"' ? r.quoted() : r.atom();
    auto d = parse_search_date(s);
    if (!d) r.fail("invalid date " + s);
    return *d;
  }

  SearchKey key(int depth) {
    if (depth > 32) r.fail("search criteria nested too deeply");
    if (++keys > 1000) r.fail("too many search criteria");
    SearchKey k;
    if (r.try_char('(')) {
      k.kind = SearchKey::kAnd;
      for (;;) {
        k.children.push_back(key(depth + 1));
        if (r.try_char(')')) break;
        r.sp();
      }
      return k;
    }
    if ((r.peek() >= '0' && r.peek() <= '9') || r.peek() == '*' || r.peek() == '$') {
      k.kind = SearchKey::kSeqSet;
      k.set = SequenceSet::parse(r.sequence_set_text(), true);
      if (!k.set) r.fail("invalid sequence set");
      return k;
    }
    std::string name = to_upper(r.atom());
    auto flag = [&](const char* f, bool negate) {
      SearchKey f_key;
      f_key.kind = SearchKey::kFlag;
      f_key.text = f;
      if (!negate) return f_key;
      SearchKey n;
      n.kind = SearchKey::kNot;
      n.children.push_back(std::move(f_key));
      return n;
    };
    auto arg_string = [&] {
      r.sp();
      return r.astring();
    };
    auto dated = [&](SearchKey::Kind kind) {
      r.sp();
      k.kind = kind;
      k.number = date();
      return k;
    };
    if (name == "ALL") return k;
    if (name == "ANSWERED") return flag("\\Answered", false);
    if (name == "DELETED") return flag("\\Deleted", false);
    if (name == "DRAFT") return flag("\\Draft", false);
    if (name == "FLAGGED") return flag("\\Flagged", false);
    if (name == "SEEN") return flag("\\Seen", false);
    if (name == "UNANSWERED") return flag("\\Answered", true);
    if (name == "UNDELETED") return flag("\\Deleted", true);
    if (name == "UNDRAFT") return flag("\\Draft", true);
    if (name == "UNFLAGGED") return flag("\\Flagged", true);
    if (name == "UNSEEN") return flag("\\Seen", true);
    // \Recent is per session (RFC 3501 6.4.4): the view answers.
    if (name == "RECENT" || name == "NEW" || name == "OLD") {
      SearchKey recent;
      recent.kind = SearchKey::kRecent;
      if (name == "RECENT") return recent;
      if (name == "OLD") {
        k.kind = SearchKey::kNot;
        k.children.push_back(std::move(recent));
        return k;
      }
      k.kind = SearchKey::kAnd;
      k.children.push_back(std::move(recent));
      k.children.push_back(flag("\\Seen", true));
      return k;
    }
    // OBJECTID (RFC 8474 5.1): EMAILID and THREADID take an objectid (1*255 of
    // ALPHA / DIGIT / "_" / "-").
    if (name == "EMAILID" || name == "THREADID") {
      r.sp();
      std::string id = r.atom();
      if (id.empty() || id.size() > 255) r.fail("invalid objectid");
      for (char c : id)
        if (!std::isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '-') r.fail("invalid objectid");
      k.kind = name == "EMAILID" ? SearchKey::kEmailId : SearchKey::kThreadId;
      k.text = id;
      return k;
    }
    if (name == "KEYWORD" || name == "UNKEYWORD") {
      r.sp();
      SearchKey kw;
      kw.kind = SearchKey::kKeyword;
      kw.text = r.flag();
      if (name == "KEYWORD") return kw;
      k.kind = SearchKey::kNot;
      k.children.push_back(std::move(kw));
      return k;
    }
    if (name == "BEFORE") return dated(SearchKey::kBefore);
    if (name == "ON") return dated(SearchKey::kOn);
    if (name == "SINCE") return dated(SearchKey::kSince);
    if (name == "SENTBEFORE") return dated(SearchKey::kSentBefore);
    if (name == "SENTON") return dated(SearchKey::kSentOn);
    if (name == "SENTSINCE") return dated(SearchKey::kSentSince);
    if (name == "SAVEDBEFORE") return dated(SearchKey::kSavedBefore);
    if (name == "SAVEDON") return dated(SearchKey::kSavedOn);
    if (name == "SAVEDSINCE") return dated(SearchKey::kSavedSince);
    if (name == "OLDER" || name == "YOUNGER") {
      r.sp();
      k.kind = name == "OLDER" ? SearchKey::kOlder : SearchKey::kYounger;
      k.number = r.nz_number();
      return k;
    }
    if (name == "LARGER" || name == "SMALLER") {
      r.sp();
      k.kind = name == "LARGER" ? SearchKey::kLarger : SearchKey::kSmaller;
      k.number = static_cast<int64_t>(r.number64());
      return k;
    }
    if (name == "FROM" || name == "TO" || name == "CC" || name == "BCC" || name == "SUBJECT") {
      k.kind = SearchKey::kHeader;
      k.field = name;
      k.text = arg_string();
      return k;
    }
    if (name == "HEADER") {
      k.kind = SearchKey::kHeader;
      k.field = to_upper(arg_string());
      k.text = arg_string();
      return k;
    }
    if (name == "BODY" || name == "TEXT") {
      k.kind = name == "BODY" ? SearchKey::kBody : SearchKey::kText;
      k.text = arg_string();
      return k;
    }
    if (name == "UID") {
      r.sp();
      k.kind = SearchKey::kUidSet;
      k.set = SequenceSet::parse(r.sequence_set_text(), true);
      if (!k.set) r.fail("invalid UID set");
      return k;
    }
    if (name == "NOT") {
      r.sp();
      k.kind = SearchKey::kNot;
      k.children.push_back(key(depth + 1));
      return k;
    }
    if (name == "OR") {
      r.sp();
      k.kind = SearchKey::kOr;
      k.children.push_back(key(depth + 1));
      r.sp();
      k.children.push_back(key(depth + 1));
      return k;
    }
    if (name == "MODSEQ") {
      r.sp();
      // MODSEQ [entry-name entry-type] mod-sequence-valzer (RFC 7162 3.1.5)
      if (r.peek() == '"') {
        r.quoted();
        r.sp();
        r.atom();
        r.sp();
      }
      k.kind = SearchKey::kModseq;
      k.number = static_cast<int64_t>(r.number64());
      return k;
    }
    r.fail("unknown search key " + name);
  }
};

}  // namespace

SearchKey parse_search_key_list(Reader& r) {
  SearchKey all;
  all.kind = SearchKey::kAnd;
  Parser p{r};
  for (;;) {
    all.children.push_back(p.key(0));
    if (r.at_end()) break;
    r.sp();
  }
  return all;
}

bool parse_context_return_option(const std::string& opt, Reader& r, ContextOptions& out) {
  if (opt == "CONTEXT") {
    out.context = true;  // a hint (RFC 5267 4.2); every result is computed afresh anyway
    return true;
  }
  if (opt == "UPDATE") {
    if (out.update) r.fail("UPDATE given twice");
    out.update = true;
    return true;
  }
  if (opt != "PARTIAL") return false;
  if (out.partial) r.fail("PARTIAL given twice");
  r.sp();
  const std::string range = r.atom();
  // partial-range = nz-number ":" nz-number / "-" nz-number ":" "-" nz-number
  const size_t colon = range.find(':');
  if (colon == std::string::npos) r.fail("PARTIAL needs a range n:m");
  auto number = [&](std::string_view t, bool& negative) -> int64_t {
    negative = !t.empty() && t[0] == '-';
    if (negative) t.remove_prefix(1);
    if (t.empty() || t.size() > 10 || t[0] == '0') r.fail("invalid PARTIAL range");
    int64_t v = 0;
    for (char c : t) {
      if (c < '0' || c > '9') r.fail("invalid PARTIAL range");
      v = v * 10 + (c - '0');
    }
    if (v > kMaxPartialPosition) r.fail("PARTIAL range beyond 4294967295");
    return v;
  };
  bool neg1 = false, neg2 = false;
  int64_t a = number(std::string_view(range).substr(0, colon), neg1);
  int64_t b = number(std::string_view(range).substr(colon + 1), neg2);
  if (neg1 != neg2) r.fail("PARTIAL range mixes positive and negative positions");
  if (a > b) std::swap(a, b);  // 500:400 is 400:500 (RFC 5267 5)
  out.partial = neg1 ? PartialRange{-a, -b} : PartialRange{a, b};
  return true;
}

std::string format_partial_range(const PartialRange& range) {
  return std::to_string(range.first) + ":" + std::to_string(range.last);
}

std::pair<size_t, size_t> partial_span(const PartialRange& range, size_t n) {
  const int64_t size = static_cast<int64_t>(n);
  int64_t lo, hi;  // 0-based, inclusive
  if (range.first > 0) {
    lo = range.first - 1;
    hi = range.last - 1;
  } else {
    // -1 is the last entry: -1:-10 is the last ten, in result order.
    lo = size + range.last;
    hi = size + range.first;
  }
  lo = std::max<int64_t>(lo, 0);
  hi = std::min<int64_t>(hi, size - 1);
  if (size == 0 || lo > hi) return {0, 0};
  return {static_cast<size_t>(lo), static_cast<size_t>(hi + 1)};
}

SearchRequest parse_search(Reader& r) {
  SearchRequest req;
  req.key.kind = SearchKey::kAnd;
  Parser p{r};
  r.sp();
  // Optional RETURN (...) (ESEARCH, RFC 4731) and CHARSET.
  if (iequals(r.rest().substr(0, 7), "RETURN ")) {
    r.atom();
    r.sp();
    r.expect('(');
    req.esearch = true;
    size_t opts = 0;
    while (!r.try_char(')')) {
      if (opts++ > 0) r.sp();
      if (opts > 16) r.fail("too many RETURN options");
      std::string opt = to_upper(r.atom());
      if (opt == "MIN") req.ret_min = true;
      else if (opt == "MAX") req.ret_max = true;
      else if (opt == "COUNT") req.ret_count = true;
      else if (opt == "ALL") req.ret_all = true;
      else if (opt == "SAVE") req.ret_save = true;  // SEARCHRES (RFC 5182)
      else if (!parse_context_return_option(opt, r, req.ctx)) r.fail("unknown RETURN option " + opt);
    }
    // RFC 5267 4.4: one PARTIAL or one ALL, not both.
    if (req.ret_all && req.ctx.partial) r.fail("PARTIAL and ALL cannot be combined");
    // RFC 4731: () = ALL. RFC 5182 2.1: SAVE alone asks for no ESEARCH
    // response. CONTEXT and UPDATE ask for no result data of their own.
    if (!(req.ret_min || req.ret_max || req.ret_count || req.ret_all || req.ret_save || req.ctx.partial))
      req.ret_all = true;
    r.sp();
  }
  if (iequals(r.rest().substr(0, 8), "CHARSET ")) {
    r.atom();
    r.sp();
    req.charset = to_upper(r.astring());
    r.sp();
  }
  for (;;) {
    req.key.children.push_back(p.key(0));
    if (r.at_end()) break;
    r.sp();
  }
  return req;
}

}  // namespace postline::imap
