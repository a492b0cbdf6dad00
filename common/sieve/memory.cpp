#include "common/sieve/memory.h"

namespace postline::sieve {

MemoryMessage::MemoryMessage(std::string raw) : raw_(std::move(raw)), parsed_(mime::parse(raw_)) {
  for (const auto& f : parsed_.root.fields) fields_.push_back({f.name, f.value});
}

namespace {
// RFC 5173: `body :content "multipart"` sees a multipart's prologue and epilogue, the text
// outside its body parts.
std::string outside_parts(const mime::Part& p, std::string_view raw) {
  const std::string* boundary = p.param("boundary");
  if (!boundary || p.children.empty()) return std::string(raw.substr(p.body_start, p.body_end - p.body_start));
  std::string delim = "--" + *boundary;
  std::string out;
  std::size_t first = raw.rfind(delim, p.children.front().header_start);
  if (first != std::string_view::npos && first >= p.body_start) {
    std::size_t end = first;
    if (end > p.body_start && raw[end - 1] == '\n') --end;
    if (end > p.body_start && raw[end - 1] == '\r') --end;
    out.append(raw.substr(p.body_start, end - p.body_start));
  }
  std::size_t close = raw.find(delim + "--", p.children.back().body_end);
  if (close != std::string_view::npos && close < p.body_end) {
    std::size_t eol = raw.find('\n', close);
    if (eol != std::string_view::npos && eol + 1 < p.body_end) out.append(raw.substr(eol + 1, p.body_end - eol - 1));
  }
  return out;
}

void collect(const mime::Part& p, std::string_view raw, std::vector<BodyPart>& out, int depth) {
  if (depth > 32) return;
  if (p.is_multipart()) {
    out.push_back({p.type + "/" + p.subtype, outside_parts(p, raw)});
    for (const auto& c : p.children) collect(c, raw, out, depth + 1);
    return;
  }
  if (p.is_message()) {
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
  collect(parsed_.root, raw_, out, 0);
  return out;
}

std::string MemoryMessage::raw_body() const {
  return raw_.substr(parsed_.root.body_start, parsed_.root.body_end - parsed_.root.body_start);
}

}  // namespace postline::sieve
