// apply_header_edits(): editheader's result written into the message bytes the caller
// stores or sends (docs/sieve.md "The interfaces for the queue"). The edits were computed
// by run() against the same field list common/mime produces here, so occurrence numbers
// line up.
#include <algorithm>

#include "common/mailauth/text_util.h"
#include "common/mime/mime.h"
#include "common/sieve/sieve.h"

namespace postline::sieve {

namespace {

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i) {
    char x = a[i], y = b[i];
    if (x >= 'A' && x <= 'Z') x = char(x + 32);
    if (y >= 'A' && y <= 'Z') y = char(y + 32);
    if (x != y) return false;
  }
  return true;
}

// RFC 5293 asks for RFC 2047 encoding of non-ASCII values; long values are folded so no
// line passes 78 octets where there is whitespace to fold at (RFC 5322 2.1.1).
std::string field_text(const std::string& name, const std::string& value) {
  bool ascii = true;
  for (unsigned char c : value)
    if (c >= 0x80 || (c < 0x20 && c != '\t')) ascii = false;
  std::string out = name + ":";
  if (ascii) {
    std::size_t line = out.size();
    std::size_t i = 0;
    while (i < value.size()) {
      std::size_t sp = value.find(' ', i + 1);
      std::string word = value.substr(i, sp == std::string::npos ? std::string::npos : sp - i);
      if (i == 0 && word.front() != ' ') word = " " + word;
      if (line + word.size() > 78 && line > name.size() + 1 && word.front() == ' ') {
        out += "\r\n";
        line = 0;
      }
      out += word;
      line += word.size();
      if (sp == std::string::npos) break;
      i = sp;
    }
    return out + "\r\n";
  }
  // Encoded words of at most 45 octets of UTF-8 each (75 characters encoded), split on
  // character boundaries, one per folded line.
  std::size_t i = 0;
  bool first = true;
  while (i < value.size()) {
    std::size_t n = std::min<std::size_t>(45, value.size() - i);
    while (i + n < value.size() && n > 0 && (static_cast<unsigned char>(value[i + n]) & 0xC0) == 0x80) --n;
    if (n == 0) n = std::min<std::size_t>(45, value.size() - i);
    out += first ? " " : "\r\n ";
    out += "=?UTF-8?B?" + mailauth::base64_encode(std::string_view(value).substr(i, n)) + "?=";
    first = false;
    i += n;
  }
  return out + "\r\n";
}

}  // namespace

std::string apply_header_edits(std::string_view raw, const std::vector<HeaderEdit>& edits, std::size_t count) {
  if (count > edits.size()) count = edits.size();
  if (count == 0) return std::string(raw);
  // Every field, not only the ones run() saw: the parser's limits (mime::Limits) keep the
  // first 1000 fields for the tests, but the stored copy must lose none. Bytes between
  // fields that are not fields (a line without a colon) stay where they were, as entries
  // with no name, which no deletion matches.
  mime::Limits all;
  all.max_header_fields = static_cast<std::size_t>(-1);
  all.max_header_bytes = static_cast<std::size_t>(-1);
  mime::ParsedMessage parsed = mime::parse(raw, all);
  struct Field {
    std::string name, text;
  };
  std::vector<Field> fields;
  std::uint64_t rest = 0;  // where the part after the last field starts (blank line, body)
  for (const auto& f : parsed.root.fields) {
    if (f.start > rest) fields.push_back({"", std::string(raw.substr(rest, f.start - rest))});
    fields.push_back({f.name, std::string(raw.substr(f.start, f.end - f.start))});
    rest = f.end;
  }
  for (std::size_t e = 0; e < count; ++e) {
    const HeaderEdit& edit = edits[e];
    if (edit.kind == HeaderEdit::Kind::kAdd) {
      Field f{edit.name, field_text(edit.name, edit.value)};
      if (!edit.last) {
        fields.insert(fields.begin(), std::move(f));
      } else {
        // After the last field, before trailing non-field bytes (an mbox "From " line at
        // the top is not trailing).
        std::size_t at = fields.size();
        while (at > 0 && fields[at - 1].name.empty()) --at;
        fields.insert(fields.begin() + static_cast<long>(at), std::move(f));
      }
      continue;
    }
    std::vector<std::size_t> positions;
    for (std::size_t i = 0; i < fields.size(); ++i)
      if (!fields[i].name.empty() && iequal(fields[i].name, edit.name)) positions.push_back(i);
    std::vector<std::size_t> doomed;
    for (std::size_t occ : edit.occurrences)
      if (occ >= 1 && occ <= positions.size()) doomed.push_back(positions[occ - 1]);
    std::sort(doomed.rbegin(), doomed.rend());
    for (std::size_t i : doomed) fields.erase(fields.begin() + static_cast<long>(i));
  }
  std::string out;
  for (const auto& f : fields) out += f.text;
  // A message without header fields: its blank line (if any) is replaced by ours.
  if (parsed.root.fields.empty()) {
    out += "\r\n";
    if (raw.substr(0, 2) == "\r\n") rest = 2;
    else if (raw.substr(0, 1) == "\n") rest = 1;
  }
  out.append(raw.substr(rest));
  return out;
}

}  // namespace postline::sieve
