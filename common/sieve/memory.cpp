#include "common/sieve/memory.h"

namespace postline::sieve {

MemoryMessage::MemoryMessage(std::string raw) : raw_(std::move(raw)), parsed_(mime::parse(raw_)) {
  for (const auto& f : parsed_.root.fields) fields_.push_back({f.name, f.value});
}

namespace {
void collect(const mime::Part& p, std::string_view raw, std::vector<BodyPart>& out, int depth) {
  if (depth > 32) return;
  if (p.is_multipart() || p.is_message()) {
    for (const auto& c : p.children) collect(c, raw, out, depth + 1);
    return;
  }
  BodyPart b;
  b.content_type = p.type + "/" + p.subtype;
  std::string body = mime::decode_transfer(raw.substr(p.body_start, p.body_end - p.body_start), p.encoding);
  if (p.type == "text") {
    const std::string* cs = p.param("charset");
    b.text = mime::to_utf8(body, cs ? std::string_view(*cs) : std::string_view("us-ascii"));
  } else {
    b.text = std::move(body);
  }
  out.push_back(std::move(b));
}
}  // namespace

std::vector<BodyPart> MemoryMessage::body_parts() const {
  std::vector<BodyPart> out;
  const mime::Part& root = parsed_.root;
  if (root.is_multipart()) {
    for (const auto& c : root.children) collect(c, raw_, out, 1);
  } else {
    collect(root, raw_, out, 0);
  }
  return out;
}

std::string MemoryMessage::raw_body() const {
  return raw_.substr(parsed_.root.body_start, parsed_.root.body_end - parsed_.root.body_start);
}

}  // namespace postline::sieve
