// The part tree (RFC 2045/2046): header blocks, multipart splitting, message/rfc822.
//
// Each entity is first bounded (the parent found its delimiters), then its own header and
// body are parsed inside those bounds. That makes unterminated inner multiparts, missing
// close delimiters and junk harmless: nothing can run past its parent's end.
#include <algorithm>
#include <cctype>
#include <cstring>

#include "common/mime/internal.h"

namespace postline::mime {

const std::string* Part::param(std::string_view lowercase_name) const {
  for (const Param& p : params)
    if (p.name == lowercase_name) return &p.value;
  return nullptr;
}

namespace {

using detail::iequals;
using detail::lower;

struct Ctx {
  std::string_view raw;
  const Limits& limits;
  std::size_t parts = 1;
  bool truncated = false;
  // Bytes reuses_boundary() may still scan. Without a budget, a million delimiter lines
  // after a part that reuses the boundary would each rescan up to the peek window.
  std::uint64_t peek_budget = 64u << 20;
};

const HeaderField* find_field(const std::vector<HeaderField>& fields, std::string_view name) {
  for (const HeaderField& f : fields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

std::uint64_t count_lines(std::string_view body) {
  if (body.empty()) return 0;
  std::uint64_t n = 0;
  const char* p = body.data();
  const char* e = p + body.size();
  while ((p = static_cast<const char*>(std::memchr(p, '\n', std::size_t(e - p)))) != nullptr) {
    ++n;
    ++p;
  }
  if (body.back() != '\n') ++n;  // a last line without terminator is still a line
  return n;
}

void apply_content_fields(Part& p, bool digest_parent, const Limits& limits) {
  if (const HeaderField* f = find_field(p.fields, "Content-Type")) {
    detail::ContentValue cv = detail::parse_content_value(f->value, limits.max_params);
    std::size_t slash = cv.token.find('/');
    // RFC 2045 §5.2: a syntactically invalid Content-Type means text/plain; us-ascii.
    if (slash != std::string::npos && slash > 0 && slash + 1 < cv.token.size()) {
      p.type = cv.token.substr(0, slash);
      p.subtype = cv.token.substr(slash + 1);
      p.params = std::move(cv.params);
      p.has_content_type = true;
    }
  }
  if (!p.has_content_type) {
    if (digest_parent) {
      p.type = "message";  // RFC 2046 §5.1.5
      p.subtype = "rfc822";
      p.has_content_type = true;  // defaulted, but without a charset parameter
    } else {
      p.type = "text";  // the renderer adds the charset=us-ascii default
      p.subtype = "plain";
      p.params.clear();
    }
  }
  if (const HeaderField* f = find_field(p.fields, "Content-Transfer-Encoding")) {
    detail::ContentValue cv = detail::parse_content_value(f->value, 0);
    p.encoding = cv.token;
  }
  if (const HeaderField* f = find_field(p.fields, "Content-Disposition")) {
    detail::ContentValue cv = detail::parse_content_value(f->value, limits.max_params);
    if (!cv.token.empty()) {
      p.disposition = cv.token;
      p.disposition_params = std::move(cv.params);
    }
  }
  if (const HeaderField* f = find_field(p.fields, "Content-Language")) {
    // RFC 3282: 1#Language-Tag with CFWS; comments dropped.
    std::string v = unfold(f->value);
    std::string cur;
    int depth = 0;
    for (char c : v) {
      if (c == '(') { ++depth; continue; }
      if (c == ')' && depth > 0) { --depth; continue; }
      if (depth > 0) continue;
      if (c == ',' || detail::is_wsp(c)) {
        if (!cur.empty() && p.languages.size() < limits.max_params) p.languages.push_back(cur);
        cur.clear();
      } else {
        cur.push_back(c);
      }
    }
    if (!cur.empty() && p.languages.size() < limits.max_params) p.languages.push_back(cur);
  }
  auto raw_field = [&](std::string_view name, std::optional<std::string>& out) {
    if (const HeaderField* f = find_field(p.fields, name)) out = unfold(f->value);
  };
  raw_field("Content-ID", p.id);
  raw_field("Content-Description", p.description);
  raw_field("Content-MD5", p.md5);
  raw_field("Content-Location", p.location);
  if (p.location) {
    // RFC 2557 §4.4.1: a folded URL is joined without the folding whitespace.
    std::string joined;
    for (char c : *p.location)
      if (!detail::is_wsp(c)) joined.push_back(c);
    p.location = joined;
  }
}

bool identity_encoding(const std::string& enc) {
  return enc.empty() || enc == "7bit" || enc == "8bit" || enc == "binary";
}

void parse_entity(Ctx& ctx, Part& p, std::uint64_t start, std::uint64_t end, std::size_t depth,
                  bool digest_parent);

// Is the line at `pos` a delimiter for `boundary`? Returns 0 = no, 1 = delimiter, 2 = close,
// 3 = the boundary followed by more than transport padding (see split_multipart).
int delimiter_kind(std::string_view raw, std::uint64_t pos, std::uint64_t end,
                   std::string_view boundary) {
  std::uint64_t need = 2 + boundary.size();
  if (end - pos < need) return 0;
  if (raw[pos] != '-' || raw[pos + 1] != '-') return 0;
  if (raw.compare(pos + 2, boundary.size(), boundary) != 0) return 0;
  std::uint64_t i = pos + need;
  if (end - i >= 2 && raw[i] == '-' && raw[i + 1] == '-') return 2;  // trailing junk tolerated
  // RFC 2046: only transport padding (LWSP) may follow a delimiter on its line. Anything
  // else is either a longer boundary of an inner multipart or a damaged delimiter line.
  for (; i < end && raw[i] != '\n'; ++i)
    if (!detail::is_wsp(raw[i]) && raw[i] != '\r') return 3;
  return 1;
}

// Does some boundary= parameter in raw[start, end) extend `boundary` (have it as a proper
// prefix)? Then a line "--<boundary>junk" may be that inner multipart's delimiter, and only
// an exact delimiter line is ours. A textual scan: a "boundary=" in a text part only makes
// the answer more careful. Case-insensitive on the parameter name, as RFC 2045 5.1 says.
bool boundary_extended_within(std::string_view raw, std::uint64_t start, std::uint64_t end,
                              std::string_view boundary) {
  static constexpr std::string_view kName = "boundary";
  for (std::uint64_t pos = start; pos + kName.size() < end; ++pos) {
    const char c = raw[pos];
    if (c != 'b' && c != 'B') continue;
    bool match = true;
    for (std::size_t k = 1; k < kName.size() && match; ++k)
      match = std::tolower(static_cast<unsigned char>(raw[pos + k])) == kName[k];
    if (!match) continue;
    std::uint64_t i = pos + kName.size();
    while (i < end && detail::is_wsp(raw[i])) ++i;
    if (i >= end || raw[i] != '=') continue;
    ++i;
    while (i < end && detail::is_wsp(raw[i])) ++i;
    const bool quoted = i < end && raw[i] == '"';
    if (quoted) ++i;
    std::uint64_t v = i;
    while (v < end && (quoted ? raw[v] != '"' : !detail::is_wsp(raw[v]) && raw[v] != ';' && raw[v] != '\r' &&
                                                    raw[v] != '\n'))
      ++v;
    const std::string_view value = raw.substr(i, v - i);
    if (value.size() > boundary.size() && value.compare(0, boundary.size(), boundary) == 0) return true;
    pos = v;
  }
  return false;
}

// Does the part starting at `start` declare itself multipart with this same boundary? Only
// its first 16 KiB are looked at, within an overall budget (Ctx::peek_budget).
bool reuses_boundary(Ctx& ctx, std::uint64_t start, std::uint64_t end,
                     std::string_view boundary) {
  std::uint64_t limit = std::min<std::uint64_t>(end, start + 16 * 1024);
  if (limit - start > ctx.peek_budget) return false;
  ctx.peek_budget -= limit - start;
  std::vector<HeaderField> fields;
  bool truncated = false;
  detail::parse_header_block(ctx.raw, start, limit, ctx.limits, &fields, &truncated);
  const HeaderField* ct = find_field(fields, "Content-Type");
  if (!ct) return false;
  detail::ContentValue cv = detail::parse_content_value(ct->value, ctx.limits.max_params);
  if (cv.token.rfind("multipart/", 0) != 0) return false;
  for (const Param& prm : cv.params)
    if (prm.name == "boundary") return prm.value == boundary;
  return false;
}

void split_multipart(Ctx& ctx, Part& p, std::size_t depth) {
  const std::string* b = p.param("boundary");
  // RFC 2046 §5.1.1: 1-70 characters. Longer ones occur; cap to keep matching cheap.
  if (!b || b->empty() || b->size() > 200) return;
  std::string_view boundary = *b;
  std::string_view raw = ctx.raw;
  const std::uint64_t end = p.body_end;
  const bool digest = p.subtype == "digest";
  std::uint64_t pos = p.body_start;
  std::optional<std::uint64_t> part_start;  // start of the part being collected
  auto close_part = [&](std::uint64_t delim_pos) {
    if (!part_start) return;
    // The line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1).
    std::uint64_t pe = delim_pos;
    if (pe > *part_start && raw[pe - 1] == '\n') --pe;
    if (pe > *part_start && raw[pe - 1] == '\r') --pe;
    if (ctx.parts >= ctx.limits.max_parts) {
      ctx.truncated = true;
      return;
    }
    ++ctx.parts;
    p.children.emplace_back();
    parse_entity(ctx, p.children.back(), *part_start, pe, depth + 1, digest);
  };
  // Inner multiparts that (illegally) reuse this boundary: their delimiters are theirs, not
  // ours, until their close delimiter — the nesting a sender meant, and what Dovecot does.
  std::size_t same_boundary_depth = 0;
  // RFC 2046 5.1.1, note to implementors: "it is sufficient that the boundary appear in its
  // entirety following the CRLF" - a delimiter line with junk after the boundary is still a
  // delimiter (Dovecot reads it so), unless an inner multipart declares a boundary that this
  // one is a prefix of (its lines would look the same). Asked once, and only when such a
  // line turns up.
  std::optional<bool> prefix_is_enough;
  while (pos < end) {
    const void* nl = std::memchr(raw.data() + pos, '\n', end - pos);
    std::uint64_t next = nl ? std::uint64_t(static_cast<const char*>(nl) - raw.data()) + 1 : end;
    int kind = raw[pos] == '-' ? delimiter_kind(raw, pos, end, boundary) : 0;
    if (kind == 3) {
      if (!prefix_is_enough) prefix_is_enough = !boundary_extended_within(raw, p.body_start, end, boundary);
      kind = *prefix_is_enough ? 1 : 0;
    }
    if (kind != 0 && same_boundary_depth > 0) {
      if (kind == 2) {
        --same_boundary_depth;
      } else if (reuses_boundary(ctx, next, end, boundary)) {
        ++same_boundary_depth;
      }
      pos = next;
      continue;
    }
    if (kind == 1 && reuses_boundary(ctx, next, end, boundary)) same_boundary_depth = 1;
    if (kind != 0) {
      close_part(pos);
      if (kind == 2) return;  // the rest is the epilogue
      part_start = next;
      if (ctx.parts >= ctx.limits.max_parts) {
        ctx.truncated = true;  // the rest of this multipart is not split further
        return;
      }
    }
    pos = next;
  }
  // No close delimiter: the last part runs to the end of the multipart body.
  if (part_start) {
    if (ctx.parts >= ctx.limits.max_parts) {
      ctx.truncated = true;
      return;
    }
    ++ctx.parts;
    p.children.emplace_back();
    parse_entity(ctx, p.children.back(), *part_start, end, depth + 1, digest);
  }
}

void parse_entity(Ctx& ctx, Part& p, std::uint64_t start, std::uint64_t end, std::size_t depth,
                  bool digest_parent) {
  if (start > end) start = end;
  p.header_start = start;
  p.body_start = detail::parse_header_block(ctx.raw, start, end, ctx.limits, &p.fields,
                                            &ctx.truncated);
  p.body_end = end;
  p.lines = count_lines(ctx.raw.substr(p.body_start, end - p.body_start));
  apply_content_fields(p, digest_parent, ctx.limits);
  if (depth >= ctx.limits.max_depth) {
    if (p.is_multipart() || p.is_message()) ctx.truncated = true;
    return;  // deeper structure is left as an opaque leaf
  }
  if (p.is_multipart()) {
    split_multipart(ctx, p, depth);
  } else if (p.is_message() && identity_encoding(p.encoding)) {
    // An encoded message/rfc822 (forbidden by RFC 2046 §5.2.1 but seen) stays opaque.
    if (ctx.parts >= ctx.limits.max_parts) {
      ctx.truncated = true;
      return;
    }
    ++ctx.parts;
    p.children.emplace_back();
    Part& m = p.children.back();
    parse_entity(ctx, m, p.body_start, p.body_end, depth + 1, false);
    m.envelope = detail::build_envelope(m.fields);
  }
}

}  // namespace

ParsedMessage parse(std::string_view raw, const Limits& limits) {
  ParsedMessage msg;
  msg.size = raw.size();
  Ctx ctx{raw, limits};
  parse_entity(ctx, msg.root, 0, raw.size(), 0, false);
  msg.root.envelope = detail::build_envelope(msg.root.fields);
  msg.truncated = ctx.truncated;
  return msg;
}

}  // namespace postline::mime
