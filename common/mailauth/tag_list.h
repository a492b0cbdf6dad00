// The tag=value list syntax shared by DKIM-Signature, DKIM key records and DMARC
// records (RFC 6376 section 3.2). Hostile input is expected: the parser bounds the
// input size and the number of tags and rejects duplicates, which RFC 6376 makes an
// error (a duplicate b= or h= could otherwise make two verifiers disagree).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::mailauth {

struct TagListLimits {
  size_t max_bytes = 16 * 1024;
  size_t max_tags = 64;
};

struct Tag {
  std::string name;   // as written (tag names are case-sensitive in DKIM)
  std::string value;  // leading/trailing folding whitespace removed, inner kept
};

class TagList {
 public:
  // Returns nullopt and sets *error on any syntax error, duplicate or limit breach.
  static std::optional<TagList> parse(std::string_view text, std::string* error = nullptr,
                                      const TagListLimits& limits = {});
  const std::string* get(std::string_view name) const;
  const std::vector<Tag>& tags() const { return tags_; }

 private:
  std::vector<Tag> tags_;
};

}  // namespace postline::mailauth
