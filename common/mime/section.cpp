// FETCH BODY[section] addressing, RFC 3501 §6.4.5 / RFC 9051 §6.4.5.
#include <cstring>

#include "common/mime/internal.h"

namespace postline::mime {

namespace {

using detail::iequals;

bool starts_with_ci(std::string_view s, std::string_view p) {
  return s.size() >= p.size() && iequals(s.substr(0, p.size()), p);
}

// Parses "(From To "X-Odd")" into names. RFC 3501 header-fld-name is astring.
bool parse_field_list(std::string_view s, std::vector<std::string>& out) {
  s = detail::trim(s);
  if (s.size() < 2 || s.front() != '(' || s.back() != ')') return false;
  s = s.substr(1, s.size() - 2);
  std::size_t i = 0;
  while (i < s.size()) {
    if (s[i] == ' ') {
      ++i;
      continue;
    }
    std::string name;
    if (s[i] == '"') {
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        name.push_back(s[i++]);
      }
      if (i >= s.size()) return false;
      ++i;
    } else {
      while (i < s.size() && s[i] != ' ') {
        unsigned char c = s[i];
        if (c <= 32 || c == '(' || c == ')' || c == '{' || c == '"' || c >= 127) return false;
        name.push_back(s[i++]);
      }
    }
    out.push_back(std::move(name));
  }
  return !out.empty();
}

}  // namespace

std::optional<Section> parse_section(std::string_view spec) {
  Section sec;
  std::string_view s = spec;
  // section-part: nz-number *("." nz-number)
  while (!s.empty() && s[0] >= '0' && s[0] <= '9') {
    std::size_t i = 0;
    std::uint64_t n = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      n = n * 10 + std::uint64_t(s[i] - '0');
      if (n > 0xffffffffu) return std::nullopt;
      ++i;
    }
    if (n == 0 || sec.path.size() >= 100) return std::nullopt;
    sec.path.push_back(std::uint32_t(n));
    s.remove_prefix(i);
    if (s.empty()) return sec;
    if (s[0] != '.') return std::nullopt;
    s.remove_prefix(1);
    if (s.empty()) return std::nullopt;
  }
  if (s.empty()) return sec;
  if (iequals(s, "HEADER")) {
    sec.text = SectionText::kHeader;
  } else if (iequals(s, "TEXT")) {
    sec.text = SectionText::kText;
  } else if (iequals(s, "MIME")) {
    if (sec.path.empty()) return std::nullopt;  // MIME needs a part number
    sec.text = SectionText::kMime;
  } else if (starts_with_ci(s, "HEADER.FIELDS.NOT")) {
    sec.text = SectionText::kHeaderFieldsNot;
    if (!parse_field_list(s.substr(17), sec.fields)) return std::nullopt;
  } else if (starts_with_ci(s, "HEADER.FIELDS")) {
    sec.text = SectionText::kHeaderFields;
    if (!parse_field_list(s.substr(13), sec.fields)) return std::nullopt;
  } else {
    return std::nullopt;
  }
  return sec;
}

namespace {

// Resolves a part path. Returns the part, or nullptr.
//   - In a multipart, n is the n-th body part.
//   - Anything else has exactly one part, its own body: n must be 1 (RFC 3501: a
//     non-multipart message's body is part 1).
//   - Descending further goes into a multipart's children, or into a message/rfc822's
//     encapsulated message, which then numbers its own parts the same way.
const Part* resolve(const Part& root, const std::vector<std::uint32_t>& path) {
  const Part* container = &root;  // the entity whose parts the next number selects
  const Part* part = nullptr;
  for (std::size_t k = 0; k < path.size(); ++k) {
    std::uint32_t n = path[k];
    if (container->is_multipart()) {
      if (n < 1 || n > container->children.size()) return nullptr;
      part = &container->children[n - 1];
    } else {
      if (n != 1) return nullptr;
      part = container;
    }
    if (k + 1 < path.size()) {
      if (part->is_multipart() && part != container) {
        container = part;
      } else if (part->is_message() && !part->children.empty()) {
        container = &part->children[0];
      } else {
        return nullptr;
      }
    }
  }
  return part;
}

}  // namespace

const Part* find_part(const ParsedMessage& msg, const std::vector<std::uint32_t>& path) {
  if (path.empty()) return &msg.root;
  return resolve(msg.root, path);
}

std::optional<Range> locate(const ParsedMessage& msg, const Section& sec) {
  const Part* part = find_part(msg, sec.path);
  if (!part) return std::nullopt;
  switch (sec.text) {
    case SectionText::kNone:
      if (sec.path.empty()) return Range{0, msg.size};
      return Range{part->body_start, part->body_end};
    case SectionText::kMime:
      return Range{part->header_start, part->body_start};
    case SectionText::kHeader:
    case SectionText::kHeaderFields:
    case SectionText::kHeaderFieldsNot:
    case SectionText::kText: {
      // On a part, these address the encapsulated message of a message/rfc822.
      const Part* m = part;
      if (!sec.path.empty()) {
        if (!part->is_message() || part->children.empty()) return std::nullopt;
        m = &part->children[0];
      }
      if (sec.text == SectionText::kText) return Range{m->body_start, m->body_end};
      return Range{m->header_start, m->body_start};
    }
  }
  return std::nullopt;
}

std::optional<Range> locate(const ParsedMessage& msg, std::string_view section_spec) {
  std::optional<Section> s = parse_section(section_spec);
  if (!s) return std::nullopt;
  return locate(msg, *s);
}

std::string filter_header_fields(std::string_view header, const std::vector<std::string>& names,
                                 bool exclude) {
  std::string out;
  append_header_fields(out, header, names, exclude);
  return out;
}

void append_header_fields(std::string& out, std::string_view header, const std::vector<std::string>& names,
                          bool exclude) {
  std::size_t pos = 0;
  bool keep = false;  // whether the current field (and its continuation lines) is kept
  bool blank_line = false;
  while (pos < header.size()) {
    const void* nl = std::memchr(header.data() + pos, '\n', header.size() - pos);
    std::size_t next = nl ? std::size_t(static_cast<const char*>(nl) - header.data()) + 1
                          : header.size();
    std::string_view line = header.substr(pos, next - pos);
    std::string_view content = line;
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r'))
      content.remove_suffix(1);
    if (content.empty()) {  // the blank line ends the header
      blank_line = true;
      break;
    }
    if (detail::is_wsp(line[0])) {
      // continuation: follows its field
    } else {
      std::size_t colon = content.find(':');
      keep = false;
      if (colon != std::string_view::npos) {
        std::string_view name = content.substr(0, colon);
        while (!name.empty() && detail::is_wsp(name.back())) name.remove_suffix(1);
        bool listed = false;
        for (const std::string& n : names)
          if (iequals(n, name)) listed = true;
        keep = listed != exclude;
      }
    }
    if (keep) {
      out.append(line);
      // A field cut short by the end of the header still ends in CRLF in the reply.
      if (line.back() != '\n') out += "\r\n";
    }
    pos = next;
  }
  // "The blank line is included in all header fetches, except in the case of
  // a message which has no body and no blank line" (RFC 3501 6.4.5).
  if (blank_line) out += "\r\n";
}

std::string header_with_binary_encoding(std::string_view header) {
  std::string out;
  out.reserve(header.size() + 16);
  std::size_t pos = 0;
  bool dropping = false;  // inside a Content-Transfer-Encoding field (continuations too)
  while (pos < header.size()) {
    const void* nl = std::memchr(header.data() + pos, '\n', header.size() - pos);
    std::size_t next = nl ? std::size_t(static_cast<const char*>(nl) - header.data()) + 1 : header.size();
    std::string_view line = header.substr(pos, next - pos);
    std::string_view content = line;
    while (!content.empty() && (content.back() == '\n' || content.back() == '\r')) content.remove_suffix(1);
    if (content.empty()) {  // the blank line and anything after it stay as they are
      out.append(header.substr(pos));
      return out;
    }
    if (!detail::is_wsp(line[0])) {
      std::size_t colon = content.find(':');
      std::string_view name = colon == std::string_view::npos ? std::string_view() : content.substr(0, colon);
      while (!name.empty() && detail::is_wsp(name.back())) name.remove_suffix(1);
      dropping = iequals(name, "Content-Transfer-Encoding");
      if (dropping) out += "Content-Transfer-Encoding: binary\r\n";
    }
    if (!dropping) out.append(line);
    pos = next;
  }
  return out;
}

std::string fetch_section(const ParsedMessage& msg, std::string_view raw, const Section& s) {
  std::optional<Range> r = locate(msg, s);
  if (!r || r->end > raw.size() || r->begin > r->end) return {};
  std::string_view bytes = raw.substr(r->begin, r->size());
  if (s.text == SectionText::kHeaderFields) return filter_header_fields(bytes, s.fields, false);
  if (s.text == SectionText::kHeaderFieldsNot) return filter_header_fields(bytes, s.fields, true);
  return std::string(bytes);
}

}  // namespace postline::mime
