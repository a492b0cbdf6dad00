#include "tools/postline/mailbox_query.h"

#include <cctype>
#include <chrono>
#include <limits>
#include <map>

#include "common/config/config.h"
#include "tools/postline/cli_context.h"

namespace postline::cli {

using mailstore::SearchCriterion;
using mailstore::Uid;

namespace {

std::string lower(std::string s) {
  for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

bool all_digits(const std::string& s) {
  return !s.empty() && s.find_first_not_of("0123456789") == std::string::npos;
}

[[noreturn]] void bad(const std::string& why) { throw CliError("search query: " + why, 2); }

const char* const kKnownWords =
    "all, seen, unseen, answered, unanswered, flagged, unflagged, deleted, undeleted, draft, undraft, "
    "keyword, unkeyword, from, to, cc, bcc, subject, header, body, text, before, on, since, sentbefore, "
    "senton, sentsince, larger, smaller, older, younger, uid, modseq, not, or";

SearchCriterion flag(uint8_t bit, bool set) {
  SearchCriterion c;
  c.kind = SearchCriterion::kSystemFlag;
  c.number = bit;
  if (set) return c;
  SearchCriterion n;
  n.kind = SearchCriterion::kNot;
  n.children.push_back(std::move(c));
  return n;
}

// "90" seconds, or a number with s, m, h, d or w.
int64_t parse_age(const std::string& word, const std::string& text) {
  size_t i = 0;
  while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) ++i;
  const std::string unit = lower(text.substr(i));
  if (i == 0 || i > 9) bad("'" + word + "' needs an age like 90, 30m, 12h, 7d or 2w, got '" + text + "'");
  static const std::map<std::string, int64_t> units{{"", 1}, {"s", 1}, {"m", 60}, {"h", 3600},
                                                     {"d", 86400}, {"w", 7 * 86400}};
  auto u = units.find(unit);
  if (u == units.end()) bad("'" + word + "': unknown unit '" + unit + "' in '" + text + "' (s, m, h, d or w)");
  return std::stoll(text.substr(0, i)) * u->second;
}

class Parser {
 public:
  explicit Parser(const std::vector<std::string>& words) : words_(words) {}

  SearchCriterion all_terms() {
    if (words_.empty()) bad("empty (say 'all' to match every message)");
    SearchCriterion c;
    c.kind = SearchCriterion::kAnd;
    while (pos_ < words_.size()) c.children.push_back(term());
    if (c.children.size() == 1) return std::move(c.children[0]);
    return c;
  }

 private:
  // The value after `word`.
  const std::string& value(const std::string& word, const char* what) {
    if (pos_ >= words_.size()) bad("'" + word + "' needs " + what);
    return words_[pos_++];
  }

  SearchCriterion term() {
    const std::string word = lower(words_[pos_++]);
    SearchCriterion c;
    if (word == "all") return c;
    if (word == "seen" || word == "unseen") return flag(mailstore::kSeen, word == "seen");
    if (word == "answered" || word == "unanswered") return flag(mailstore::kAnswered, word == "answered");
    if (word == "flagged" || word == "unflagged") return flag(mailstore::kFlagged, word == "flagged");
    if (word == "deleted" || word == "undeleted") return flag(mailstore::kDeleted, word == "deleted");
    if (word == "draft" || word == "undraft") return flag(mailstore::kDraft, word == "draft");
    if (word == "keyword" || word == "unkeyword") {
      c.kind = SearchCriterion::kKeyword;
      c.text = value(word, "a keyword");
      if (c.text.empty() || c.text.find_first_of(" ()\\{\"%*]") != std::string::npos)
        bad("'" + word + "': '" + c.text + "' is not a keyword (an IMAP atom such as $Label1)");
      if (word == "keyword") return c;
      SearchCriterion n;
      n.kind = SearchCriterion::kNot;
      n.children.push_back(std::move(c));
      return n;
    }
    if (word == "from" || word == "to" || word == "cc" || word == "bcc" || word == "subject") {
      c.kind = SearchCriterion::kHeader;
      c.field = word;
      for (auto& ch : c.field) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      c.text = value(word, "a text to look for");
      return c;
    }
    if (word == "header") {
      c.kind = SearchCriterion::kHeader;
      c.field = value(word, "a header field name and a text");
      if (c.field.empty() || c.field.find_first_of(": \t\r\n") != std::string::npos)
        bad("'header': '" + c.field + "' is not a header field name");
      for (auto& ch : c.field) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
      c.text = value(word, "a text after the field name (\"\" matches any message that has the field)");
      return c;
    }
    if (word == "body" || word == "text") {
      c.kind = word == "body" ? SearchCriterion::kBody : SearchCriterion::kText;
      c.text = value(word, "a text to look for");
      return c;
    }
    static const std::map<std::string, SearchCriterion::Kind> dates{
        {"before", SearchCriterion::kBefore},         {"on", SearchCriterion::kOn},
        {"since", SearchCriterion::kSince},           {"sentbefore", SearchCriterion::kSentBefore},
        {"senton", SearchCriterion::kSentOn},         {"sentsince", SearchCriterion::kSentSince}};
    if (auto d = dates.find(word); d != dates.end()) {
      c.kind = d->second;
      const std::string& text = value(word, "a date (YYYY-MM-DD)");
      try {
        c.number = parse_query_date(text);
      } catch (const CliError& e) {
        bad("'" + word + "': " + e.what());
      }
      return c;
    }
    if (word == "larger" || word == "smaller") {
      c.kind = word == "larger" ? SearchCriterion::kLarger : SearchCriterion::kSmaller;
      const std::string& text = value(word, "a size in bytes (5000, 10K, 2MiB)");
      try {
        const uint64_t n = config::parse_size(text, "'" + word + "'");
        if (n > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) bad("'" + word + "': too large");
        c.number = static_cast<int64_t>(n);
      } catch (const config::ConfigError& e) {
        bad(e.what());
      }
      return c;
    }
    if (word == "older" || word == "younger") {
      c.kind = word == "older" ? SearchCriterion::kOlder : SearchCriterion::kYounger;
      c.number = parse_age(word, value(word, "an age (90, 30m, 12h, 7d, 2w)"));
      if (c.number == 0) bad("'" + word + "': the age must be at least one second");
      return c;
    }
    if (word == "uid") {
      c.kind = SearchCriterion::kUids;
      const std::string& text = value(word, "a UID set (1:5,7,10:*)");
      try {
        c.uid_ranges = parse_uid_set(text);
      } catch (const CliError& e) {
        bad("'uid': " + std::string(e.what()));
      }
      return c;
    }
    if (word == "modseq") {
      c.kind = SearchCriterion::kModseq;
      const std::string& text = value(word, "a MODSEQ (a number)");
      if (!all_digits(text) || text.size() > 18) bad("'modseq' needs a number, got '" + text + "'");
      c.number = std::stoll(text);
      return c;
    }
    if (word == "not") {
      if (pos_ >= words_.size()) bad("'not' needs a term after it");
      c.kind = SearchCriterion::kNot;
      c.children.push_back(term());
      return c;
    }
    if (word == "or") {
      c.kind = SearchCriterion::kOr;
      for (int i = 0; i < 2; ++i) {
        if (pos_ >= words_.size()) bad("'or' needs two terms after it");
        c.children.push_back(term());
      }
      return c;
    }
    bad("unknown word '" + words_[pos_ - 1] + "' (known: " + kKnownWords + ")");
  }

  const std::vector<std::string>& words_;
  size_t pos_ = 0;
};

}  // namespace

std::vector<std::string> tokenize_query(const std::string& text) {
  std::vector<std::string> out;
  size_t i = 0;
  while (i < text.size()) {
    if (std::isspace(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    std::string word;
    bool quoted = false;  // "" is a word of its own (header X-Spam "")
    while (i < text.size() && !std::isspace(static_cast<unsigned char>(text[i]))) {
      const char ch = text[i];
      if (ch == '"' || ch == '\'') {
        quoted = true;
        const size_t start = i++;
        while (i < text.size() && text[i] != ch) {
          if (ch == '"' && text[i] == '\\' && i + 1 < text.size()) ++i;
          word += text[i++];
        }
        if (i == text.size())
          throw CliError("search query: unterminated " + std::string(1, ch) + " quote at position " +
                             std::to_string(start + 1),
                         2);
        ++i;  // the closing quote
      } else {
        word += ch;
        ++i;
      }
    }
    if (!word.empty() || quoted) out.push_back(std::move(word));
  }
  return out;
}

SearchCriterion parse_query(const std::vector<std::string>& words) { return Parser(words).all_terms(); }

std::vector<std::pair<Uid, Uid>> parse_uid_set(const std::string& text) {
  auto number = [&](const std::string& s) -> Uid {
    if (s == "*") return std::numeric_limits<Uid>::max();
    if (!all_digits(s) || s.size() > 10) throw CliError("'" + s + "' in '" + text + "' is not a UID", 2);
    const uint64_t v = std::stoull(s);
    if (v == 0 || v > std::numeric_limits<Uid>::max())
      throw CliError("UID " + s + " in '" + text + "' is out of range (1 to 4294967295)", 2);
    return static_cast<Uid>(v);
  };
  std::vector<std::pair<Uid, Uid>> out;
  size_t start = 0;
  if (text.empty()) throw CliError("empty UID set (expected e.g. 1:5,7,10:*)", 2);
  for (;;) {
    const size_t comma = text.find(',', start);
    const std::string part = text.substr(start, comma == std::string::npos ? std::string::npos : comma - start);
    if (part.empty()) throw CliError("empty element in UID set '" + text + "'", 2);
    const size_t colon = part.find(':');
    Uid a = number(part.substr(0, colon));
    Uid b = colon == std::string::npos ? a : number(part.substr(colon + 1));
    if (a > b) std::swap(a, b);  // 5:1 is 1:5, as in IMAP
    out.emplace_back(a, b);
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  return out;
}

int64_t parse_query_date(const std::string& text) {
  using namespace std::chrono;
  int y = 0;
  unsigned m = 0, d = 0;
  auto digits = [](const std::string& s) { return all_digits(s) && s.size() <= 4; };
  bool parsed = false;
  // YYYY-MM-DD
  if (text.size() == 10 && text[4] == '-' && text[7] == '-' && digits(text.substr(0, 4)) &&
      digits(text.substr(5, 2)) && digits(text.substr(8, 2))) {
    y = std::stoi(text.substr(0, 4));
    m = static_cast<unsigned>(std::stoi(text.substr(5, 2)));
    d = static_cast<unsigned>(std::stoi(text.substr(8, 2)));
    parsed = true;
  } else {
    // D-Mon-YYYY (IMAP date)
    const size_t a = text.find('-'), b = a == std::string::npos ? a : text.find('-', a + 1);
    if (b != std::string::npos && digits(text.substr(0, a)) && a <= 2 && digits(text.substr(b + 1)) &&
        text.size() - b - 1 == 4) {
      static const char* months[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                     "jul", "aug", "sep", "oct", "nov", "dec"};
      const std::string mon = lower(text.substr(a + 1, b - a - 1));
      for (unsigned i = 0; i < 12; ++i)
        if (mon == months[i]) m = i + 1;
      if (m != 0) {
        d = static_cast<unsigned>(std::stoi(text.substr(0, a)));
        y = std::stoi(text.substr(b + 1));
        parsed = true;
      }
    }
  }
  const year_month_day ymd{year{y}, month{m}, day{d}};
  if (!parsed || !ymd.ok())
    throw CliError("'" + text + "' is not a date (expected YYYY-MM-DD, e.g. 2026-01-31, or 31-Jan-2026)", 2);
  return sys_days(ymd).time_since_epoch().count();
}

}  // namespace postline::cli
