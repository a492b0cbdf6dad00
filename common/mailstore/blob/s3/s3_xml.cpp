#include "common/mailstore/blob/s3/s3_xml.h"

namespace postline::mailstore::s3 {

namespace {

// Decodes the five predefined entities and decimal/hex character references
// (below 0x80 only; others are kept as written). nullopt on an unterminated one.
std::optional<std::string> decode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '&') {
      out.push_back(s[i]);
      continue;
    }
    const size_t semi = s.find(';', i);
    if (semi == std::string_view::npos || semi - i > 10) return std::nullopt;
    const std::string_view ent = s.substr(i + 1, semi - i - 1);
    if (ent == "amp") out.push_back('&');
    else if (ent == "lt") out.push_back('<');
    else if (ent == "gt") out.push_back('>');
    else if (ent == "quot") out.push_back('"');
    else if (ent == "apos") out.push_back('\'');
    else if (ent.size() >= 2 && ent[0] == '#') {
      unsigned long v = 0;
      const bool hex = ent[1] == 'x' || ent[1] == 'X';
      const std::string_view digits = ent.substr(hex ? 2 : 1);
      if (digits.empty()) return std::nullopt;
      for (char c : digits) {
        int d;
        if (c >= '0' && c <= '9') d = c - '0';
        else if (hex && c >= 'a' && c <= 'f') d = c - 'a' + 10;
        else if (hex && c >= 'A' && c <= 'F') d = c - 'A' + 10;
        else return std::nullopt;
        v = v * (hex ? 16 : 10) + static_cast<unsigned long>(d);
        if (v > 0x10FFFF) return std::nullopt;
      }
      if (v < 0x80) out.push_back(static_cast<char>(v));
      else out.append(s.substr(i, semi - i + 1));
    } else {
      return std::nullopt;
    }
    i = semi;
  }
  return out;
}

}  // namespace

std::optional<std::string> xml_element_text(std::string_view doc, std::string_view name, size_t max_value) {
  if (doc.size() > kMaxS3Xml || name.empty()) return std::nullopt;
  const std::string open = "<" + std::string(name), close = "</" + std::string(name) + ">";
  size_t at = 0;
  while ((at = doc.find(open, at)) != std::string_view::npos) {
    const size_t after = at + open.size();
    if (after >= doc.size()) return std::nullopt;
    const char c = doc[after];
    if (c != '>' && c != ' ' && c != '\t' && c != '\r' && c != '\n' && c != '/') {
      at = after;  // a longer name sharing the prefix (<Code> vs <CodeX>)
      continue;
    }
    const size_t gt = doc.find('>', after);
    if (gt == std::string_view::npos) return std::nullopt;
    if (doc[gt - 1] == '/') return std::string();  // <Name/>
    const size_t end = doc.find(close, gt + 1);
    if (end == std::string_view::npos || end - gt - 1 > max_value) return std::nullopt;
    return decode(doc.substr(gt + 1, end - gt - 1));
  }
  return std::nullopt;
}

std::optional<std::string> xml_error_code(std::string_view doc) {
  if (doc.size() > kMaxS3Xml) return std::nullopt;
  size_t i = 0;
  // Past the XML declaration and whitespace, the root element must be <Error>.
  while (i < doc.size()) {
    while (i < doc.size() && (doc[i] == ' ' || doc[i] == '\t' || doc[i] == '\r' || doc[i] == '\n')) ++i;
    if (doc.compare(i, 5, "<?xml") == 0) {
      const size_t end = doc.find("?>", i);
      if (end == std::string_view::npos) return std::nullopt;
      i = end + 2;
      continue;
    }
    break;
  }
  if (doc.compare(i, 7, "<Error>") != 0 && doc.compare(i, 7, "<Error ") != 0) return std::nullopt;
  auto code = xml_element_text(doc.substr(i), "Code", 256);
  return code ? code : std::optional<std::string>("unknown");
}

}  // namespace postline::mailstore::s3
