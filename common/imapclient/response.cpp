#include "common/imapclient/response.h"

#include <ctime>

#include <algorithm>
#include <cstdio>

namespace postline::imapclient {

namespace {

char upper(char c) { return (c >= 'a' && c <= 'z') ? static_cast<char>(c - 32) : c; }

std::string to_upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = upper(c);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (upper(a[i]) != upper(b[i])) return false;
  return true;
}

std::optional<uint64_t> digits(std::string_view s, size_t max_digits = 19) {
  if (s.empty() || s.size() > max_digits) return std::nullopt;
  uint64_t v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + static_cast<uint64_t>(c - '0');
  }
  return v;
}

// Characters that end an atom (RFC 9051 atom-specials, less the ones that
// only matter in commands). '[' is handled by the caller (sections).
bool ends_atom(char c) {
  return c == ' ' || c == '(' || c == ')' || c == '"' || c == '{' || c == '\r' || c == '\n' ||
         static_cast<unsigned char>(c) < 0x20 || c == 0x7f;
}

// Reads values from one framed response.
class Reader {
 public:
  Reader(std::string_view s, const Limits& limits, std::string& error) : s_(s), limits_(limits), error_(error) {}

  bool at_end_of_line() const { return pos_ >= s_.size() || s_[pos_] == '\r' || s_[pos_] == '\n'; }
  bool peek(char c) const { return pos_ < s_.size() && s_[pos_] == c; }
  void skip_spaces() {
    while (pos_ < s_.size() && s_[pos_] == ' ') ++pos_;
  }
  size_t pos() const { return pos_; }
  void set_pos(size_t p) { pos_ = p; }

  // Up to the end of the current line (CR LF not included), moving past it.
  std::string_view rest_of_line() {
    size_t end = pos_;
    while (end < s_.size() && s_[end] != '\r' && s_[end] != '\n') ++end;
    std::string_view out = s_.substr(pos_, end - pos_);
    pos_ = end;
    return out;
  }

  // A run of non-space characters (tags, keywords, numbers).
  std::string_view word() {
    size_t start = pos_;
    while (pos_ < s_.size() && !ends_atom(s_[pos_])) ++pos_;
    return s_.substr(start, pos_ - start);
  }

  bool values_until_end(std::vector<Value>& out) {
    for (;;) {
      skip_spaces();
      if (at_end_of_line()) return true;
      Value v;
      if (!value(v, 0)) return false;
      out.push_back(std::move(v));
    }
  }

  bool value(Value& v, size_t depth) {
    if (++count_ > limits_.max_values) return fail("more than " + std::to_string(limits_.max_values) + " values");
    if (pos_ >= s_.size()) return fail("a value is missing at the end of the response");
    const char c = s_[pos_];
    if (c == '(') {
      if (depth + 1 > limits_.max_depth) return fail("lists nested deeper than " + std::to_string(limits_.max_depth));
      ++pos_;
      v.kind = Value::kList;
      for (;;) {
        skip_spaces();
        if (peek(')')) {
          ++pos_;
          return true;
        }
        if (at_end_of_line()) return fail("a list is not closed");
        Value item;
        if (!value(item, depth + 1)) return false;
        v.items.push_back(std::move(item));
      }
    }
    if (c == '"') return quoted(v);
    if (c == '{' || (c == '~' && pos_ + 1 < s_.size() && s_[pos_ + 1] == '{')) return literal(v);
    return atom(v);
  }

 private:
  bool fail(std::string why) {
    error_ = std::move(why);
    return false;
  }

  bool quoted(Value& v) {
    ++pos_;
    v.kind = Value::kString;
    while (pos_ < s_.size()) {
      char c = s_[pos_++];
      if (c == '"') return true;
      if (c == '\r' || c == '\n') return fail("a line break inside a quoted string");
      if (c == '\\') {
        if (pos_ >= s_.size()) break;
        c = s_[pos_++];
        if (c == '\r' || c == '\n') return fail("a line break inside a quoted string");
      }
      v.text += c;
    }
    return fail("a quoted string is not closed");
  }

  bool literal(Value& v) {
    if (s_[pos_] == '~') {
      v.literal8 = true;
      ++pos_;
    }
    ++pos_;  // '{'
    const size_t start = pos_;
    while (pos_ < s_.size() && s_[pos_] >= '0' && s_[pos_] <= '9') ++pos_;
    auto n = digits(s_.substr(start, pos_ - start));
    if (!n) return fail("a literal without a length");
    if (peek('+')) ++pos_;
    if (!peek('}')) return fail("a literal length is not closed by }");
    ++pos_;
    if (peek('\r')) ++pos_;
    if (!peek('\n')) return fail("a literal length is not followed by CRLF");
    ++pos_;
    if (*n > limits_.max_literal) return fail("a literal of " + std::to_string(*n) + " bytes is over the limit");
    if (*n > s_.size() - pos_) return fail("a literal is cut short");
    v.kind = Value::kString;
    v.text.assign(s_.substr(pos_, static_cast<size_t>(*n)));
    pos_ += static_cast<size_t>(*n);
    return true;
  }

  bool atom(Value& v) {
    const size_t start = pos_;
    while (pos_ < s_.size()) {
      const char c = s_[pos_];
      if (c == '[') {
        // A section ("BODY[HEADER.FIELDS (FROM TO)]", "[UIDVALIDITY 3]"): up
        // to the matching ']' whatever is inside, on this line.
        size_t depth = 0;
        while (pos_ < s_.size() && s_[pos_] != '\r' && s_[pos_] != '\n') {
          if (s_[pos_] == '[') ++depth;
          if (s_[pos_] == ']' && --depth == 0) break;
          ++pos_;
        }
        if (pos_ >= s_.size() || s_[pos_] != ']') return fail("a section '[' is not closed");
        ++pos_;
        continue;
      }
      if (ends_atom(c)) break;
      ++pos_;
    }
    if (pos_ == start) {
      return fail(std::string("unexpected character 0x") + "0123456789abcdef"[static_cast<unsigned char>(s_[pos_]) >> 4] +
                  "0123456789abcdef"[static_cast<unsigned char>(s_[pos_]) & 15]);
    }
    v.text.assign(s_.substr(start, pos_ - start));
    v.kind = iequals(v.text, "NIL") ? Value::kNil : Value::kAtom;
    if (v.kind == Value::kNil) v.text.clear();
    return true;
  }

  std::string_view s_;
  const Limits& limits_;
  std::string& error_;
  size_t pos_ = 0;
  size_t count_ = 0;
};

bool is_status_keyword(std::string_view k) {
  return k == "OK" || k == "NO" || k == "BAD" || k == "BYE" || k == "PREAUTH";
}

// Data responses whose syntax we rely on: a malformed one is an error. Others
// (ACL, METADATA, vendor extensions ...) are kept as text when their values do
// not parse, since the importer never reads them.
bool is_known_data(std::string_view k) {
  return k == "CAPABILITY" || k == "LIST" || k == "LSUB" || k == "STATUS" || k == "SEARCH" || k == "FLAGS" ||
         k == "ENABLED" || k == "FETCH" || k == "EXISTS" || k == "RECENT" || k == "EXPUNGE";
}

void resp_text(Reader& r, Response& out) {
  r.skip_spaces();
  std::string_view rest = r.rest_of_line();
  if (!rest.empty() && rest.front() == '[') {
    const size_t close = rest.find(']');
    if (close != std::string_view::npos) {
      out.code.assign(rest.substr(1, close - 1));
      rest.remove_prefix(close + 1);
      while (!rest.empty() && rest.front() == ' ') rest.remove_prefix(1);
    }
  }
  out.text.assign(rest);
}

}  // namespace

bool Value::is_atom(std::string_view name) const { return kind == kAtom && iequals(text, name); }

std::optional<uint64_t> Value::number() const {
  if (kind != kAtom) return std::nullopt;
  return digits(text);
}

bool Response::is_status() const { return type != kContinuation && is_status_keyword(keyword); }

std::string Response::code_name() const { return to_upper(std::string_view(code).substr(0, code.find(' '))); }

std::string Response::code_argument() const {
  const size_t sp = code.find(' ');
  return sp == std::string::npos ? std::string() : code.substr(sp + 1);
}

std::optional<Response> parse_response(std::string_view bytes, const Limits& limits, std::string& error) {
  Response out;
  Reader r(bytes, limits, error);
  if (r.peek('+')) {
    out.type = Response::kContinuation;
    r.set_pos(1);
    r.skip_spaces();
    out.text.assign(r.rest_of_line());
    return out;
  }
  if (r.peek('*')) {
    out.type = Response::kUntagged;
    r.set_pos(1);
    if (!r.peek(' ')) {
      error = "'*' is not followed by a space";
      return std::nullopt;
    }
    r.skip_spaces();
    std::string_view first = r.word();
    if (auto n = digits(first, 10)) {
      if (*n > UINT32_MAX) {
        error = "a message number over 2^32";
        return std::nullopt;
      }
      out.number = static_cast<uint32_t>(*n);
      r.skip_spaces();
      first = r.word();
    }
    out.keyword = to_upper(first);
  } else {
    out.type = Response::kTagged;
    out.tag.assign(r.word());
    if (out.tag.empty()) {
      error = "a response that is neither tagged, untagged nor a continuation";
      return std::nullopt;
    }
    r.skip_spaces();
    out.keyword = to_upper(r.word());
  }
  if (out.keyword.empty()) {
    error = "a response without a keyword";
    return std::nullopt;
  }
  if (is_status_keyword(out.keyword)) {
    if (out.number) {
      error = "a numbered status response";
      return std::nullopt;
    }
    resp_text(r, out);
    return out;
  }
  if (out.type == Response::kTagged) {
    error = "a tagged response must be OK, NO or BAD, not " + out.keyword.substr(0, 32);
    return std::nullopt;
  }
  const size_t data_start = r.pos();
  if (!r.values_until_end(out.data)) {
    if (is_known_data(out.keyword)) {
      error = out.keyword + " response: " + error;
      return std::nullopt;
    }
    error.clear();
    out.data.clear();
    r.set_pos(data_start);
    r.skip_spaces();
    out.text.assign(r.rest_of_line());
  }
  return out;
}

ResponseParser::ResponseParser(Limits limits) : limits_(limits) {}

void ResponseParser::feed(std::string_view bytes) {
  if (!error_.empty()) return;
  // Drop what was handed out already, once it is worth a copy.
  if (start_ > 0 && (start_ >= buf_.size() / 2 || start_ > (1u << 20))) {
    buf_.erase(0, start_);
    scan_ -= start_;
    line_start_ -= start_;
    start_ = 0;
  }
  buf_.append(bytes);
}

ResponseParser::Status ResponseParser::fail(std::string why) {
  error_ = std::move(why);
  return Status::kError;
}

ResponseParser::Status ResponseParser::next(Response& out) {
  if (!error_.empty()) return Status::kError;
  for (;;) {
    if (literal_left_ > 0) {
      const size_t avail = buf_.size() - scan_;
      if (avail < literal_left_) {
        literal_left_ -= avail;
        scan_ = buf_.size();
        return Status::kNeedMore;
      }
      scan_ += literal_left_;
      literal_left_ = 0;
      line_start_ = scan_;
    }
    const size_t lf = buf_.find('\n', scan_);
    if (lf == std::string::npos) {
      if (buf_.size() - line_start_ > limits_.max_line)
        return fail("a response line longer than " + std::to_string(limits_.max_line) + " bytes");
      scan_ = buf_.size();
      return Status::kNeedMore;
    }
    if (lf + 1 - line_start_ > limits_.max_line)
      return fail("a response line longer than " + std::to_string(limits_.max_line) + " bytes");
    scan_ = lf + 1;
    size_t end = lf;
    if (end > line_start_ && buf_[end - 1] == '\r') --end;
    // A literal announced at the end of the line: "{123}" (or "{123+}", "~{123}").
    if (end > line_start_ && buf_[end - 1] == '}') {
      size_t open = end - 1;
      while (open > line_start_ && open + 24 > end && buf_[open] != '{') --open;
      if (buf_[open] == '{') {
        std::string_view len(buf_.data() + open + 1, end - 1 - (open + 1));
        if (!len.empty() && len.back() == '+') len.remove_suffix(1);
        if (auto n = digits(len)) {
          if (*n > limits_.max_literal)
            return fail("a literal of " + std::to_string(*n) + " bytes is over the limit of " +
                        std::to_string(limits_.max_literal));
          if (scan_ - start_ + *n > limits_.max_response)
            return fail("a response larger than " + std::to_string(limits_.max_response) + " bytes");
          literal_left_ = static_cast<size_t>(*n);
          line_start_ = scan_;
          continue;
        }
      }
    }
    if (scan_ - start_ > limits_.max_response)
      return fail("a response larger than " + std::to_string(limits_.max_response) + " bytes");
    std::string why;
    auto parsed = parse_response(std::string_view(buf_).substr(start_, scan_ - start_), limits_, why);
    start_ = scan_;
    line_start_ = scan_;
    if (!parsed) return fail(why);
    out = std::move(*parsed);
    return Status::kResponse;
  }
}

// ---- data items -------------------------------------------------------------

std::optional<FetchData> parse_fetch(const Response& r, std::string& error) {
  if (r.type != Response::kUntagged || r.keyword != "FETCH" || !r.number) {
    error = "not a FETCH response";
    return std::nullopt;
  }
  if (r.data.size() != 1 || r.data[0].kind != Value::kList) {
    error = "FETCH: the data items are not one list";
    return std::nullopt;
  }
  const auto& items = r.data[0].items;
  if (items.size() % 2 != 0) {
    error = "FETCH: an item without its value";
    return std::nullopt;
  }
  FetchData f;
  f.seq = *r.number;
  for (size_t i = 0; i < items.size(); i += 2) {
    const Value& name = items[i];
    const Value& v = items[i + 1];
    if (name.kind != Value::kAtom) {
      error = "FETCH: an item name that is not an atom";
      return std::nullopt;
    }
    const std::string n = to_upper(name.text);
    auto need_number = [&](const char* what) -> std::optional<uint64_t> {
      auto num = v.number();
      if (!num) error = std::string("FETCH: ") + what + " is not a number";
      return num;
    };
    if (n == "UID") {
      auto num = need_number("UID");
      if (!num) return std::nullopt;
      if (*num == 0 || *num > UINT32_MAX) {
        error = "FETCH: UID out of range";
        return std::nullopt;
      }
      f.uid = static_cast<uint32_t>(*num);
    } else if (n == "FLAGS") {
      if (v.kind != Value::kList) {
        error = "FETCH: FLAGS is not a list";
        return std::nullopt;
      }
      std::vector<std::string> flags;
      for (const auto& fl : v.items) {
        if (fl.kind != Value::kAtom) {
          error = "FETCH: a flag that is not an atom";
          return std::nullopt;
        }
        flags.push_back(fl.text);
      }
      f.flags = std::move(flags);
    } else if (n == "INTERNALDATE") {
      if (v.kind != Value::kString) {
        error = "FETCH: INTERNALDATE is not a string";
        return std::nullopt;
      }
      f.internaldate = v.text;
    } else if (n == "RFC822.SIZE") {
      auto num = need_number("RFC822.SIZE");
      if (!num) return std::nullopt;
      f.size = *num;
    } else if (n == "BODY[]" || n == "RFC822" || n == "BINARY[]") {
      if (v.kind == Value::kNil) {
        f.body.reset();
      } else if (v.kind == Value::kString) {
        f.body = v.text;
      } else {
        error = "FETCH: " + n + " is not a string";
        return std::nullopt;
      }
    } else if (n == "MODSEQ") {
      if (v.kind != Value::kList || v.items.size() != 1 || !v.items[0].number()) {
        error = "FETCH: MODSEQ is not (number)";
        return std::nullopt;
      }
      f.modseq = v.items[0].number();
    }
    // Anything else (ENVELOPE, BODYSTRUCTURE, other sections ...) is not ours.
  }
  return f;
}

bool ListEntry::has_attribute(std::string_view attr) const {
  return std::any_of(attributes.begin(), attributes.end(), [&](const std::string& a) { return iequals(a, attr); });
}

std::optional<ListEntry> parse_list(const Response& r, std::string& error) {
  if (r.type != Response::kUntagged || (r.keyword != "LIST" && r.keyword != "LSUB" && r.keyword != "XLIST")) {
    error = "not a LIST response";
    return std::nullopt;
  }
  if (r.data.size() < 3 || r.data[0].kind != Value::kList) {
    error = "LIST: expected (attributes) delimiter name";
    return std::nullopt;
  }
  ListEntry e;
  for (const auto& a : r.data[0].items) {
    if (a.kind != Value::kAtom) {
      error = "LIST: an attribute that is not an atom";
      return std::nullopt;
    }
    e.attributes.push_back(a.text);
  }
  const Value& d = r.data[1];
  if (d.kind == Value::kString && d.text.size() == 1) {
    e.delimiter = d.text[0];
  } else if (d.kind != Value::kNil) {
    error = "LIST: the hierarchy delimiter is not one character or NIL";
    return std::nullopt;
  }
  if (!r.data[2].is_text()) {
    error = "LIST: the mailbox name is not a string";
    return std::nullopt;
  }
  e.name = r.data[2].text;
  return e;
}

std::optional<uint64_t> StatusData::get(std::string_view name) const {
  for (const auto& [k, v] : items)
    if (iequals(k, name)) return v;
  return std::nullopt;
}

std::optional<StatusData> parse_status(const Response& r, std::string& error) {
  if (r.type != Response::kUntagged || r.keyword != "STATUS" || r.data.size() != 2 || !r.data[0].is_text() ||
      r.data[1].kind != Value::kList || r.data[1].items.size() % 2 != 0) {
    error = "STATUS: expected mailbox (name number ...)";
    return std::nullopt;
  }
  StatusData s;
  s.mailbox = r.data[0].text;
  const auto& items = r.data[1].items;
  for (size_t i = 0; i < items.size(); i += 2) {
    auto n = items[i + 1].number();
    if (items[i].kind != Value::kAtom || !n) {
      error = "STATUS: an item that is not name number";
      return std::nullopt;
    }
    s.items.emplace_back(to_upper(items[i].text), *n);
  }
  return s;
}

std::vector<std::string> parse_capabilities(const Response& r) {
  std::vector<std::string> caps;
  if (r.keyword == "CAPABILITY") {
    for (const auto& v : r.data)
      if (v.kind == Value::kAtom) caps.push_back(to_upper(v.text));
  } else if (r.code_name() == "CAPABILITY") {
    std::string arg = r.code_argument();
    size_t pos = 0;
    while (pos < arg.size()) {
      size_t sp = arg.find(' ', pos);
      if (sp == std::string::npos) sp = arg.size();
      if (sp > pos) caps.push_back(to_upper(std::string_view(arg).substr(pos, sp - pos)));
      pos = sp + 1;
    }
  }
  return caps;
}

// ---- dates ------------------------------------------------------------------

namespace {

// Days from 1970-01-01 to y-m-d, by libc's timegm (as the mailstore's date code does).
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  std::tm tm{};
  tm.tm_year = static_cast<int>(y - 1900);
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = 12;  // noon: no edge can move the day
  return (static_cast<int64_t>(timegm(&tm)) - 43200) / 86400;  // midnight: exact for days before 1970 too
}

constexpr const char* kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

}  // namespace

std::optional<int64_t> parse_internaldate(std::string_view s) {
  // date-day-fixed "-" date-month "-" date-year SP time SP zone
  if (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  const size_t dash1 = s.find('-');
  if (dash1 == std::string_view::npos || dash1 == 0 || dash1 > 2) return std::nullopt;
  auto day = digits(s.substr(0, dash1));
  if (!day || *day < 1 || *day > 31) return std::nullopt;
  s.remove_prefix(dash1 + 1);
  if (s.size() < 4 || s[3] != '-') return std::nullopt;
  int month = -1;
  for (int i = 0; i < 12; ++i)
    if (iequals(s.substr(0, 3), kMonths[i])) month = i + 1;
  if (month < 0) return std::nullopt;
  s.remove_prefix(4);
  // yyyy SP hh:mm:ss SP +zzzz  = 4 + 1 + 8 + 1 + 5
  if (s.size() != 19 || s[4] != ' ' || s[7] != ':' || s[10] != ':' || s[13] != ' ') return std::nullopt;
  auto year = digits(s.substr(0, 4));
  auto hh = digits(s.substr(5, 2));
  auto mm = digits(s.substr(8, 2));
  auto ss = digits(s.substr(11, 2));
  const char sign = s[14];
  auto zh = digits(s.substr(15, 2));
  auto zm = digits(s.substr(17, 2));
  if (!year || !hh || !mm || !ss || !zh || !zm || (sign != '+' && sign != '-')) return std::nullopt;
  if (*hh > 23 || *mm > 59 || *ss > 60 || *zm > 59) return std::nullopt;
  static constexpr unsigned kDays[] = {31, 29, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (*day > kDays[month - 1]) return std::nullopt;
  const int64_t days = days_from_civil(static_cast<int64_t>(*year), static_cast<unsigned>(month),
                                       static_cast<unsigned>(*day));
  const int64_t zone = static_cast<int64_t>(*zh * 3600 + *zm * 60) * (sign == '+' ? 1 : -1);
  return days * 86400 + static_cast<int64_t>(*hh * 3600 + *mm * 60 + *ss) - zone;
}

std::string format_internaldate(int64_t t) {
  int64_t days = t >= 0 ? t / 86400 : (t - 86399) / 86400;
  int64_t secs = t - days * 86400;
  // civil_from_days
  days += 719468;
  const int64_t era = (days >= 0 ? days : days - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(days - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  int64_t y = static_cast<int64_t>(yoe) + era * 400;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  const unsigned d = doy - (153 * mp + 2) / 5 + 1;
  const unsigned m = mp < 10 ? mp + 3 : mp - 9;
  y += m <= 2;
  char buf[96];
  std::snprintf(buf, sizeof buf, "%02u-%s-%04lld %02lld:%02lld:%02lld +0000", d, kMonths[m - 1],
                static_cast<long long>(y), static_cast<long long>(secs / 3600),
                static_cast<long long>(secs / 60 % 60), static_cast<long long>(secs % 60));
  return buf;
}

// ---- command arguments --------------------------------------------------------

bool needs_literal(std::string_view s) {
  if (s.size() > 1000) return true;
  for (unsigned char c : s)
    if (c < 0x20 || c >= 0x7f) return true;
  return false;
}

std::string quote_astring(std::string_view s, bool nonsync) {
  if (needs_literal(s))
    return "{" + std::to_string(s.size()) + (nonsync ? "+" : "") + "}\r\n" + std::string(s);
  std::string out = "\"";
  for (char c : s) {
    if (c == '"' || c == '\\') out += '\\';
    out += c;
  }
  out += '"';
  return out;
}

}  // namespace postline::imapclient
