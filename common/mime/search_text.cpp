// The text IMAP SEARCH matches against, computed once at delivery (DESIGN.md: stored and
// indexed with pg_trgm). Works from the part offsets and the raw bytes only, so it gives the
// same result on a freshly parsed tree and on a deserialized one.
#include <algorithm>
#include <locale.h>
#include <wctype.h>

#include "common/mime/internal.h"

namespace postline::mime {

namespace {

// towlower_l in C.UTF-8 gives the Unicode simple lowercase mapping without touching the
// process locale. glibc >= 2.35 always has C.UTF-8; if it is missing we fold ASCII only.
locale_t utf8_locale() {
  static locale_t loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", locale_t(0));
  return loc;
}

class Out {
 public:
  explicit Out(std::size_t cap) : cap_(cap) {}
  bool full() const { return s_.size() >= cap_; }
  void add(std::string_view utf8) {
    if (full()) return;
    std::string f = fold_case(utf8);
    if (s_.size() + f.size() > cap_) {
      std::size_t n = cap_ - s_.size();
      // Cut on a code point boundary so the stored text stays valid UTF-8.
      while (n > 0 && (static_cast<unsigned char>(f[n]) & 0xC0) == 0x80) --n;
      f.resize(n);
    }
    s_ += f;
  }
  std::string take() { return std::move(s_); }

 private:
  std::size_t cap_;
  std::string s_;
};

bool is_address_field(std::string_view name) {
  for (std::string_view f : {"from", "sender", "reply-to", "to", "cc", "bcc"})
    if (detail::iequals(name, f)) return true;
  return false;
}

void add_headers(Out& out, std::string_view raw, const Part& p, const Limits& limits) {
  std::vector<HeaderField> fields;
  bool truncated = false;
  detail::parse_header_block(raw, p.header_start, p.body_start, limits, &fields, &truncated);
  for (const HeaderField& f : fields) {
    if (out.full()) return;
    std::string v = decode_header_value(f.value);
    for (char& c : v)
      if (c == '\r' || c == '\n' || c == '\t') c = ' ';
    out.add(f.name);
    out.add(": ");
    out.add(v);
    out.add("\n");
    // An address field once more as its addresses, comments and quoting gone,
    // so SEARCH FROM user@domain finds "<user (c)@ (c) domain>" too.
    if (is_address_field(f.name)) {
      std::string plain;
      for (const Address& a : detail::parse_address_list(f.value)) {
        if (!a.mailbox || !a.host) continue;  // group markers
        if (!plain.empty()) plain += ", ";
        if (a.name) plain += decode_header_value(*a.name) + " ";
        plain += "<" + *a.mailbox + "@" + *a.host + ">";
      }
      if (!plain.empty() && plain != v) {
        out.add(f.name);
        out.add(": ");
        out.add(plain);
        out.add("\n");
      }
    }
  }
}

// Very small HTML-to-text: tags and comments out, the common entities in. Enough that a
// search for a word does not depend on the markup around it.
std::string html_text(std::string_view h) {
  std::string out;
  out.reserve(h.size());
  std::size_t i = 0;
  while (i < h.size()) {
    char c = h[i];
    if (c == '<') {
      std::size_t e;
      if (h.compare(i, 4, "<!--") == 0) {
        e = h.find("-->", i + 4);
        e = e == std::string_view::npos ? h.size() : e + 3;
      } else {
        std::string_view block;  // style/script bodies are not text anyone searches for
        for (std::string_view tag : {"style", "script"})
          if (h.size() - (i + 1) >= tag.size() && detail::iequals(h.substr(i + 1, tag.size()), tag))
            block = tag;
        e = h.find('>', i);
        e = e == std::string_view::npos ? h.size() : e + 1;
        if (!block.empty()) {
          std::size_t close = h.find("</", e);
          while (close != std::string_view::npos &&
                 !(h.size() - close - 2 >= block.size() &&
                   detail::iequals(h.substr(close + 2, block.size()), block)))
            close = h.find("</", close + 2);
          if (close != std::string_view::npos) {
            std::size_t gt = h.find('>', close);
            e = gt == std::string_view::npos ? h.size() : gt + 1;
          } else {
            e = h.size();
          }
        }
      }
      out.push_back(' ');
      i = e;
    } else if (c == '&') {
      // Entities are short; looking further for ';' would make "&&&&..." quadratic.
      std::size_t semi = h.substr(i, 12).find(';');
      if (semi != std::string_view::npos) semi += i;
      if (semi != std::string_view::npos) {
        std::string_view ent = h.substr(i + 1, semi - i - 1);
        std::uint32_t cp = 0;
        if (ent == "amp") cp = '&';
        else if (ent == "lt") cp = '<';
        else if (ent == "gt") cp = '>';
        else if (ent == "quot") cp = '"';
        else if (ent == "apos") cp = '\'';
        else if (ent == "nbsp") cp = ' ';
        else if (ent.size() > 1 && ent[0] == '#') {
          bool hex = ent[1] == 'x' || ent[1] == 'X';
          std::uint32_t v = 0;
          bool ok = ent.size() > (hex ? 2u : 1u);
          for (std::size_t k = hex ? 2 : 1; k < ent.size() && ok; ++k) {
            char d = detail::ascii_lower(ent[k]);
            int dv = (d >= '0' && d <= '9') ? d - '0' : (hex && d >= 'a' && d <= 'f') ? d - 'a' + 10 : -1;
            if (dv < 0 || v > 0x10FFFF) ok = false;
            else v = v * (hex ? 16 : 10) + std::uint32_t(dv);
          }
          if (ok && v > 0) cp = v;
        }
        if (cp) {
          detail::append_utf8(out, cp);
          i = semi + 1;
          continue;
        }
      }
      out.push_back(c);
      ++i;
    } else {
      out.push_back(c);
      ++i;
    }
  }
  return out;
}

// Attachment names as a user would type them: the raw MIME header above holds them RFC 2231-
// or RFC 2047-encoded, which no search key matches.
void add_names(Out& out, const Part& p) {
  for (const auto* list : {&p.params, &p.disposition_params})
    for (const Param& prm : *list)
      if (prm.name == "name" || prm.name == "filename") {
        out.add("filename: ");
        out.add(decode_header_value(prm.value));
        out.add("\n");
      }
}

// `out` gets the body text (an embedded message's header is content of the
// body that holds it); `parts` the MIME header fields of the parts and the
// attachment names, which BODY must not match (RFC 9051 6.4.4) but TEXT does.
void add_body(Out& out, Out& parts, std::string_view raw, const Part& p, const Limits& limits) {
  if (out.full()) return;
  add_names(parts, p);
  if (p.is_multipart()) {
    for (const Part& c : p.children) {
      add_headers(parts, raw, c, limits);
      add_body(out, parts, raw, c, limits);
    }
    return;
  }
  if (p.is_message() && !p.children.empty()) {
    add_headers(out, raw, p.children[0], limits);
    out.add("\n");
    add_body(out, parts, raw, p.children[0], limits);
    return;
  }
  if (p.type != "text" || p.body_end > raw.size() || p.body_start > p.body_end) return;
  // Only text is indexed: decoding a 50 MiB attachment to throw it away is wasted work.
  std::string_view body = raw.substr(p.body_start, p.size());
  if (body.size() > limits.max_search_text * 4) body = body.substr(0, limits.max_search_text * 4);
  std::string decoded = decode_transfer(body, p.encoding);
  const std::string* cs = p.param("charset");
  std::string text = to_utf8(decoded, cs ? std::string_view(*cs) : std::string_view("us-ascii"));
  if (p.subtype == "html") text = html_text(text);
  std::erase(text, '\r');  // line ends as "\n" only, like the header lines above
  out.add(text);
  out.add("\n");
}

// The part a reader sees first: in multipart/alternative the plain text (else HTML), in
// other multiparts the first inline text part. Attachments and embedded messages are not
// previewed.
const Part* preview_part(const Part& p, std::size_t depth) {
  if (depth > 64) return nullptr;
  if (p.is_multipart()) {
    if (p.subtype == "alternative") {
      for (std::string_view want : {"plain", "html"})
        for (const Part& c : p.children)
          if (c.type == "text" && c.subtype == want && c.disposition != "attachment") return &c;
    }
    for (const Part& c : p.children)
      if (const Part* r = preview_part(c, depth + 1)) return r;
    return nullptr;
  }
  if (p.type == "text" && (p.subtype == "plain" || p.subtype == "html") &&
      p.disposition != "attachment")
    return &p;
  return nullptr;
}

}  // namespace

std::string html_to_text(std::string_view html) { return html_text(html); }

std::string preview_text(const ParsedMessage& msg, std::string_view raw, std::size_t max_chars) {
  const Part* p = preview_part(msg.root, 0);
  if (!p || p->body_end > raw.size() || p->body_start > p->body_end) return {};
  // Enough input for any preview; a huge body is not decoded whole for 200 characters.
  std::string_view body = raw.substr(p->body_start, std::min<std::uint64_t>(p->size(), 64 * 1024));
  const std::string* cs = p->param("charset");
  std::string text = to_utf8(decode_transfer(body, p->encoding),
                             cs ? std::string_view(*cs) : std::string_view("us-ascii"));
  if (p->subtype == "html") text = html_text(text);
  std::string out;
  std::size_t chars = 0;
  bool space = false;
  std::size_t pos = 0;
  while (pos < text.size() && chars < max_chars) {
    std::size_t nl = text.find('\n', pos);
    std::string_view line(text.data() + pos, (nl == std::string::npos ? text.size() : nl) - pos);
    pos = nl == std::string::npos ? text.size() : nl + 1;
    std::string_view t = detail::trim(line);
    if (!t.empty() && t[0] == '>') continue;  // quoted reply text says nothing new
    for (std::size_t i = 0; i < line.size() && chars < max_chars;) {
      unsigned char c = line[i];
      if (c < 0x20 || c == ' ' || c == 0x7f) {
        space = !out.empty();
        ++i;
        continue;
      }
      std::size_t n = c < 0x80 ? 1 : c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
      if (space) {
        out.push_back(' ');
        ++chars;
        space = false;
        if (chars >= max_chars) break;
      }
      out.append(line.substr(i, n));
      ++chars;
      i += n;
    }
    space = !out.empty();
  }
  if (!out.empty() && out.back() == ' ') out.pop_back();
  return out;
}

std::string fold_case(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  locale_t loc = utf8_locale();
  for (std::size_t i = 0; i < s.size();) {
    unsigned char c = s[i];
    if (c < 0x80) {
      // A run of ASCII at once (most mail text is ASCII).
      std::size_t j = i;
      while (j < s.size() && static_cast<unsigned char>(s[j]) < 0x80) ++j;
      const std::size_t at = out.size();
      out.append(s.substr(i, j - i));
      for (std::size_t k = at; k < out.size(); ++k)
        if (out[k] >= 'A' && out[k] <= 'Z') out[k] = static_cast<char>(out[k] + 32);
      i = j;
      continue;
    }
    // Decode one code point; invalid bytes pass through unchanged.
    std::size_t n = (c >= 0xF0) ? 4 : (c >= 0xE0) ? 3 : (c >= 0xC0) ? 2 : 1;
    if (n == 1 || i + n > s.size() || !detail::valid_utf8(s.substr(i, n))) {
      out.push_back(char(c));
      ++i;
      continue;
    }
    std::uint32_t cp = c & (0xFF >> (n + 1));
    for (std::size_t k = 1; k < n; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    std::uint32_t l = loc ? std::uint32_t(towlower_l(wint_t(cp), loc)) : cp;
    detail::append_utf8(out, l);
    i += n;
  }
  return out;
}

SearchSections search_sections(const ParsedMessage& msg, std::string_view raw, const Limits& limits) {
  Out out(limits.max_search_text), parts(limits.max_search_text / 4);
  add_headers(out, raw, msg.root, limits);
  out.add("\n");
  add_body(out, parts, raw, msg.root, limits);
  return {out.take(), parts.take()};
}

std::string search_text(const ParsedMessage& msg, std::string_view raw, const Limits& limits) {
  SearchSections s = search_sections(msg, raw, limits);
  return s.text + s.part_headers;
}

}  // namespace postline::mime
