#include "tools/postline/import_mbox.h"

#include <array>
#include <ctime>
#include <stdexcept>

namespace postline::cli::import {

namespace {

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

bool is_blank(std::string_view line) { return line.empty() || line == "\r"; }

std::vector<std::string_view> tokens(std::string_view s) {
  std::vector<std::string_view> out;
  size_t i = 0;
  while (i < s.size()) {
    while (i < s.size() && (s[i] == ' ' || s[i] == '\t' || s[i] == '\r')) ++i;
    size_t start = i;
    while (i < s.size() && s[i] != ' ' && s[i] != '\t' && s[i] != '\r') ++i;
    if (i > start) out.push_back(s.substr(start, i - start));
  }
  return out;
}

std::optional<int> number(std::string_view s, size_t min_len, size_t max_len) {
  if (s.size() < min_len || s.size() > max_len) return std::nullopt;
  int v = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    v = v * 10 + (c - '0');
  }
  return v;
}

// Days since 1970-01-01 of a Gregorian date, by libc's timegm (as the mailstore's
// date code does) rather than another hand-written copy.
int64_t days_from_civil(int64_t y, unsigned m, unsigned d) {
  std::tm tm{};
  tm.tm_year = static_cast<int>(y - 1900);
  tm.tm_mon = static_cast<int>(m) - 1;
  tm.tm_mday = static_cast<int>(d);
  tm.tm_hour = 12;  // noon: no leap-second or DST edge can move the day
  return (static_cast<int64_t>(timegm(&tm)) - 43200) / 86400;  // midnight: exact for days before 1970 too
}

constexpr std::array<const char*, 7> kDays = {"Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"};
constexpr std::array<const char*, 12> kMonths = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                 "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};

std::optional<int> zone_seconds(std::string_view z) {
  if (z.size() == 5 && (z[0] == '+' || z[0] == '-')) {
    auto hh = number(z.substr(1, 2), 2, 2), mm = number(z.substr(3, 2), 2, 2);
    if (!hh || !mm || *mm > 59) return std::nullopt;
    return (*hh * 3600 + *mm * 60) * (z[0] == '+' ? 1 : -1);
  }
  if (z == "UTC" || z == "GMT" || z == "UT") return 0;
  return std::nullopt;
}

}  // namespace

std::optional<int64_t> parse_from_line_time(std::string_view line) {
  if (!starts_with(line, "From ")) return std::nullopt;
  auto t = tokens(line.substr(5));
  // "sender Www Mmm dd hh:mm[:ss] [zone] yyyy [zone]": the date starts at the weekday.
  for (size_t i = 0; i + 4 < t.size(); ++i) {
    bool weekday = false;
    for (auto d : kDays) weekday |= t[i] == d;
    if (!weekday) continue;
    int month = 0;
    for (size_t m = 0; m < kMonths.size(); ++m)
      if (t[i + 1] == kMonths[m]) month = static_cast<int>(m) + 1;
    auto day = number(t[i + 2], 1, 2);
    std::string_view time = t[i + 3];
    if (!month || !day || *day < 1 || *day > 31) return std::nullopt;
    if (time.size() != 5 && time.size() != 8) return std::nullopt;
    auto hh = number(time.substr(0, 2), 2, 2), mm = number(time.substr(3, 2), 2, 2);
    std::optional<int> ss = 0;
    if (time.size() == 8) ss = number(time.substr(6, 2), 2, 2);
    if (time[2] != ':' || (time.size() == 8 && time[5] != ':') || !hh || !mm || !ss || *hh > 23 || *mm > 59 ||
        *ss > 60)
      return std::nullopt;
    int zone = 0;
    std::optional<int> year;
    size_t k = i + 4;
    if (auto z = zone_seconds(t[k]); z && k + 1 < t.size()) {  // a zone before the year
      zone = *z;
      ++k;
    }
    year = number(t[k], 4, 4);
    if (!year) return std::nullopt;
    if (k + 1 < t.size()) {  // or after it
      if (auto z = zone_seconds(t[k + 1])) zone = *z;
    }
    return days_from_civil(*year, static_cast<unsigned>(month), static_cast<unsigned>(*day)) * 86400 +
           (*hh * 3600 + *mm * 60 + *ss) - zone;
  }
  return std::nullopt;
}

std::vector<std::string> mbox_header_flags(std::string_view message) {
  std::vector<std::string> flags;
  size_t pos = 0;
  while (pos < message.size()) {
    size_t end = message.find('\n', pos);
    if (end == std::string_view::npos) end = message.size();
    std::string_view line = message.substr(pos, end - pos);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (line.empty()) break;  // end of the header
    pos = end + 1;
    auto value_of = [&](std::string_view name) -> std::optional<std::string_view> {
      if (line.size() <= name.size() || line[name.size()] != ':') return std::nullopt;
      for (size_t i = 0; i < name.size(); ++i)
        if (std::tolower(static_cast<unsigned char>(line[i])) != std::tolower(static_cast<unsigned char>(name[i])))
          return std::nullopt;
      return line.substr(name.size() + 1);
    };
    if (auto v = value_of("Status")) {
      if (v->find('R') != std::string_view::npos) flags.push_back("\\Seen");
    } else if (auto x = value_of("X-Status")) {
      if (x->find('A') != std::string_view::npos) flags.push_back("\\Answered");
      if (x->find('F') != std::string_view::npos) flags.push_back("\\Flagged");
      if (x->find('T') != std::string_view::npos) flags.push_back("\\Draft");
      if (x->find('D') != std::string_view::npos) flags.push_back("\\Deleted");
    } else if (auto k = value_of("X-Keywords")) {
      std::string word;
      for (char c : std::string(*k) + " ") {
        if (c == ' ' || c == ',' || c == '\t') {
          if (!word.empty()) flags.push_back(word);
          word.clear();
        } else {
          word += c;
        }
      }
    }
  }
  return flags;
}

MboxReader::MboxReader(std::istream& in, MboxFormat format, size_t max_message)
    : in_(in), format_(format), max_message_(max_message) {}

bool MboxReader::read_line(std::string& line) {
  if (!std::getline(in_, line)) return false;
  ++line_no_;
  return true;
}

bool MboxReader::next(MboxMessage& out) {
  out = MboxMessage{};
  std::string line;
  if (!started_) {
    started_ = true;
    while (read_line(line)) {
      if (is_blank(line)) continue;
      if (!starts_with(line, "From "))
        throw std::runtime_error("not an mbox file: line " + std::to_string(line_no_) +
                                 " should start with 'From ' (the separator line of the first message)");
      pending_from_ = line;
      pending_line_ = line_no_;
      break;
    }
  }
  if (!pending_from_) return false;
  out.from_time = parse_from_line_time(*pending_from_);
  out.line = pending_line_;
  pending_from_.reset();
  bool blank_before = false;  // the last line read was empty: it is held back
  std::string held_blank;
  size_t size = 0;
  auto append = [&](std::string_view l, bool newline) {
    size += l.size() + (newline ? 1 : 0);
    if (size > max_message_) {
      out.too_large = true;
      out.bytes.clear();
      return;
    }
    if (out.too_large) return;
    out.bytes.append(l);
    if (newline) out.bytes += '\n';
  };
  while (read_line(line)) {
    const bool had_newline = !in_.eof();
    if (blank_before && starts_with(line, "From ")) {
      pending_from_ = line;
      pending_line_ = line_no_;
      break;
    }
    if (blank_before) append(held_blank, true);
    if (is_blank(line) && had_newline) {
      blank_before = true;
      held_blank = line;
      continue;
    }
    blank_before = false;
    // Un-quote From_ lines.
    std::string_view l = line;
    size_t gt = 0;
    while (gt < l.size() && l[gt] == '>') ++gt;
    if (gt > 0 && starts_with(l.substr(gt), "From ") && (format_ == MboxFormat::kMboxrd || gt == 1)) l.remove_prefix(1);
    append(l, had_newline);
  }
  // A final empty line (the separator before EOF) is dropped; it was held back.
  if (!out.too_large) out.flags = mbox_header_flags(out.bytes);
  return true;
}

}  // namespace postline::cli::import
