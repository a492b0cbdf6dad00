#include "common/mailauth/tag_list.h"

#include "common/mailauth/text_util.h"

namespace postline::mailauth {

static bool set_error(std::string* error, std::string msg) {
  if (error) *error = std::move(msg);
  return false;
}

// tag-value chars: %x21-3A / %x3C-7E (everything visible except ';'), with FWS
// allowed between runs of them.
static bool valid_value(std::string_view v) {
  for (size_t i = 0; i < v.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(v[i]);
    if (c == ' ' || c == '\t') continue;
    if (c == '\r') {  // only as part of a fold: CRLF followed by WSP
      if (i + 2 >= v.size() || v[i + 1] != '\n' || !is_wsp(v[i + 2])) return false;
      ++i;
      continue;
    }
    if (c < 0x21 || c > 0x7e || c == ';') return false;
  }
  return true;
}

std::optional<TagList> TagList::parse(std::string_view text, std::string* error,
                                      const TagListLimits& limits) {
  if (text.size() > limits.max_bytes) {
    set_error(error, "tag list too long");
    return std::nullopt;
  }
  TagList list;
  auto specs = split(text, ';');
  for (size_t i = 0; i < specs.size(); ++i) {
    std::string_view spec = trim_fws(specs[i]);
    if (spec.empty()) {
      // Only a trailing ";" may produce an empty spec.
      if (i + 1 == specs.size() && i > 0) break;
      set_error(error, "empty tag");
      return std::nullopt;
    }
    size_t eq = spec.find('=');
    if (eq == std::string_view::npos) {
      set_error(error, "tag without '='");
      return std::nullopt;
    }
    std::string_view name = trim_fws(spec.substr(0, eq));
    std::string_view value = trim_fws(spec.substr(eq + 1));
    if (name.empty() || !is_alpha(name[0])) {
      set_error(error, "bad tag name");
      return std::nullopt;
    }
    for (char c : name)
      if (!is_alnum(c) && c != '_') {
        set_error(error, "bad tag name");
        return std::nullopt;
      }
    if (!valid_value(value)) {
      set_error(error, "bad character in value of tag " + std::string(name));
      return std::nullopt;
    }
    if (list.get(name)) {
      set_error(error, "duplicate tag " + std::string(name));
      return std::nullopt;
    }
    if (list.tags_.size() >= limits.max_tags) {
      set_error(error, "too many tags");
      return std::nullopt;
    }
    list.tags_.push_back({std::string(name), std::string(value)});
  }
  return list;
}

const std::string* TagList::get(std::string_view name) const {
  for (const auto& t : tags_)
    if (t.name == name) return &t.value;
  return nullptr;
}

}  // namespace postline::mailauth
