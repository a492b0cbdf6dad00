#include "services/delivery-queue/reports/xml.h"

#include <cstdint>

#include "common/mime/mime.h"

namespace postline::queue::reports {
namespace {

bool name_char(char c) {
  unsigned char u = static_cast<unsigned char>(c);
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-' ||
         c == '.' || c == ':' || u >= 0x80;
}
bool space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\n'; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && space(s.front())) s.remove_prefix(1);
  while (!s.empty() && space(s.back())) s.remove_suffix(1);
  return s;
}

class Parser {
 public:
  Parser(std::string_view doc, const XmlLimits& limits) : s_(doc), limits_(limits) {}

  std::optional<XmlNode> run(std::string* error) {
    if (s_.size() > limits_.max_bytes) return fail(error, "document larger than the limit");
    if (s_.size() >= 3 && s_.substr(0, 3) == "\xEF\xBB\xBF") pos_ = 3;  // UTF-8 BOM
    if (!skip_misc(error)) return std::nullopt;
    if (pos_ >= s_.size() || s_[pos_] != '<') return fail(error, "no root element");
    XmlNode root;
    if (!element(root, 1, error)) return std::nullopt;
    if (!skip_misc(error)) return std::nullopt;
    if (pos_ != s_.size()) return fail(error, "content after the root element");
    return root;
  }

 private:
  std::optional<XmlNode> fail(std::string* error, const char* why) {
    if (error && error->empty()) *error = why;
    return std::nullopt;
  }
  bool err(std::string* error, const char* why) {
    if (error && error->empty()) *error = std::string(why) + " at byte " + std::to_string(pos_);
    return false;
  }
  bool starts(std::string_view p) const { return s_.substr(pos_, p.size()) == p; }
  bool skip_past(std::string_view end) {
    auto at = s_.find(end, pos_);
    if (at == std::string_view::npos) return false;
    pos_ = at + end.size();
    return true;
  }
  // Whitespace, comments, processing instructions (the XML declaration).
  bool skip_misc(std::string* error) {
    for (;;) {
      while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
      if (starts("<?")) {
        if (!skip_past("?>")) return err(error, "unterminated processing instruction");
      } else if (starts("<!--")) {
        if (!skip_past("-->")) return err(error, "unterminated comment");
      } else if (starts("<!")) {
        return err(error, "DOCTYPE and DTDs are not accepted");
      } else {
        return true;
      }
    }
  }
  bool name(std::string& out) {
    size_t start = pos_;
    while (pos_ < s_.size() && name_char(s_[pos_])) ++pos_;
    if (pos_ == start || pos_ - start > 256) return false;
    out.assign(s_.substr(start, pos_ - start));
    return true;
  }
  static std::string local(const std::string& qname) {
    auto colon = qname.rfind(':');
    return colon == std::string::npos ? qname : qname.substr(colon + 1);
  }
  bool entity(std::string& out, std::string* error) {
    // at '&'
    auto semi = s_.find(';', pos_);
    if (semi == std::string_view::npos || semi - pos_ > 12) return err(error, "bad entity reference");
    std::string_view ref = s_.substr(pos_ + 1, semi - pos_ - 1);
    pos_ = semi + 1;
    if (ref == "lt") out += '<';
    else if (ref == "gt") out += '>';
    else if (ref == "amp") out += '&';
    else if (ref == "quot") out += '"';
    else if (ref == "apos") out += '\'';
    else if (ref.size() >= 2 && ref[0] == '#') {
      uint32_t cp = 0;
      bool hex = ref[1] == 'x';
      std::string_view digits = ref.substr(hex ? 2 : 1);
      if (digits.empty()) return err(error, "bad character reference");
      for (char c : digits) {
        uint32_t d;
        if (c >= '0' && c <= '9') d = uint32_t(c - '0');
        else if (hex && c >= 'a' && c <= 'f') d = uint32_t(c - 'a' + 10);
        else if (hex && c >= 'A' && c <= 'F') d = uint32_t(c - 'A' + 10);
        else return err(error, "bad character reference");
        cp = cp * (hex ? 16 : 10) + d;
        if (cp > 0x10FFFF) return err(error, "bad character reference");
      }
      if (cp == 0 || (cp >= 0xD800 && cp <= 0xDFFF)) return err(error, "bad character reference");
      mime::append_utf8(out, cp);
    } else {
      return err(error, "unknown entity (no DTD entities are accepted)");
    }
    return true;
  }
  bool element(XmlNode& node, size_t depth, std::string* error) {
    if (depth > limits_.max_depth) return err(error, "elements nested too deeply");
    if (++nodes_ > limits_.max_nodes) return err(error, "too many elements");
    ++pos_;  // '<'
    std::string qname;
    if (!name(qname)) return err(error, "bad element name");
    node.name = local(qname);
    // Attributes: parsed for syntax, not kept.
    for (;;) {
      while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
      if (pos_ >= s_.size()) return err(error, "unterminated start tag");
      if (s_[pos_] == '/') {
        if (!starts("/>")) return err(error, "bad empty-element tag");
        pos_ += 2;
        return true;
      }
      if (s_[pos_] == '>') {
        ++pos_;
        break;
      }
      std::string attr;
      if (!name(attr)) return err(error, "bad attribute name");
      while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
      if (pos_ >= s_.size() || s_[pos_] != '=') return err(error, "attribute without value");
      ++pos_;
      while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
      if (pos_ >= s_.size() || (s_[pos_] != '"' && s_[pos_] != '\'')) return err(error, "unquoted attribute value");
      char q = s_[pos_++];
      auto end = s_.find(q, pos_);
      if (end == std::string_view::npos) return err(error, "unterminated attribute value");
      if (s_.substr(pos_, end - pos_).find('<') != std::string_view::npos) return err(error, "'<' in attribute value");
      pos_ = end + 1;
    }
    std::string text;
    for (;;) {
      if (pos_ >= s_.size()) return err(error, "unterminated element");
      char c = s_[pos_];
      if (c == '<') {
        if (starts("</")) {
          pos_ += 2;
          std::string end_name;
          if (!name(end_name) || end_name != qname) return err(error, "mismatched end tag");
          while (pos_ < s_.size() && space(s_[pos_])) ++pos_;
          if (pos_ >= s_.size() || s_[pos_] != '>') return err(error, "bad end tag");
          ++pos_;
          node.text.assign(trim(text));
          return true;
        }
        if (starts("<!--")) {
          if (!skip_past("-->")) return err(error, "unterminated comment");
          continue;
        }
        if (starts("<![CDATA[")) {
          pos_ += 9;
          auto end = s_.find("]]>", pos_);
          if (end == std::string_view::npos) return err(error, "unterminated CDATA");
          text.append(s_.substr(pos_, end - pos_));
          pos_ = end + 3;
        } else if (starts("<?")) {
          if (!skip_past("?>")) return err(error, "unterminated processing instruction");
          continue;
        } else if (starts("<!")) {
          return err(error, "markup declarations are not accepted");
        } else {
          node.children.emplace_back();
          if (!element(node.children.back(), depth + 1, error)) return false;
          continue;
        }
      } else if (c == '&') {
        if (!entity(text, error)) return false;
      } else {
        auto next = s_.find_first_of("<&", pos_);
        if (next == std::string_view::npos) next = s_.size();
        text.append(s_.substr(pos_, next - pos_));
        pos_ = next;
      }
      if (text.size() > limits_.max_text) return err(error, "element text longer than the limit");
    }
  }

  std::string_view s_;
  const XmlLimits& limits_;
  size_t pos_ = 0;
  size_t nodes_ = 0;
};

}  // namespace

const XmlNode* XmlNode::child(std::string_view n) const {
  for (const auto& c : children)
    if (c.name == n) return &c;
  return nullptr;
}

std::vector<const XmlNode*> XmlNode::children_named(std::string_view n) const {
  std::vector<const XmlNode*> out;
  for (const auto& c : children)
    if (c.name == n) out.push_back(&c);
  return out;
}

std::string XmlNode::child_text(std::string_view n) const {
  const XmlNode* c = child(n);
  return c ? c->text : std::string();
}

std::optional<XmlNode> parse_xml(std::string_view doc, std::string* error, const XmlLimits& limits) {
  Parser p(doc, limits);
  return p.run(error);
}

std::string xml_escape(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    unsigned char u = static_cast<unsigned char>(c);
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&apos;"; break;
      default:
        if (u < 0x20 && c != '\t' && c != '\n' && c != '\r') break;
        out += c;
    }
  }
  return out;
}

}  // namespace postline::queue::reports
