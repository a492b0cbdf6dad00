// A small, bounded XML reader for received DMARC aggregate reports
// (RFC 7489 appendix C): elements, attributes (skipped), character data,
// CDATA, comments, processing instructions and the five predefined entities
// plus character references. No DTDs: a DOCTYPE is refused, so no entity
// expansion (billion laughs) and no external fetches exist. Namespace
// prefixes are dropped from element names (reports come with and without the
// dmarc-xml namespace). Sans-I/O: bytes in, a tree out.
#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::queue::reports {

struct XmlLimits {
  size_t max_bytes = 32 * 1024 * 1024;   // the document
  size_t max_depth = 16;
  size_t max_nodes = 200000;
  size_t max_text = 64 * 1024;           // character data of one element
};

struct XmlNode {
  std::string name;   // local name (prefix removed)
  std::string text;   // character data directly inside, entities decoded, trimmed
  std::vector<XmlNode> children;

  const XmlNode* child(std::string_view name) const;
  std::vector<const XmlNode*> children_named(std::string_view name) const;
  // Text of the child `name`, "" when absent.
  std::string child_text(std::string_view name) const;
};

// The root element, or nullopt with *error (syntax, limits, DOCTYPE).
std::optional<XmlNode> parse_xml(std::string_view doc, std::string* error, const XmlLimits& limits = {});

// Escapes &, <, >, " and ' and drops bytes XML 1.0 cannot carry (controls
// other than tab/CR/LF), for element content and attribute values.
std::string xml_escape(std::string_view text);

}  // namespace postline::queue::reports
