#include "services/imap-access/protocol/fetch_items.h"

#include "common/mime/mime.h"

namespace postline::imap {

namespace {

// The bracketed section text, copied as written; nested parentheses and
// quoted field names are allowed inside HEADER.FIELDS (...).
std::string read_section(Reader& r) {
  r.expect('[');
  std::string out;
  int depth = 0;
  bool quoted = false;
  for (;;) {
    if (r.at_end()) r.fail("unterminated section");
    char c = r.peek();
    if (!quoted && depth == 0 && c == ']') break;
    if (c == '\r' || c == '\n') r.fail("line break in a section");
    if (c == '{') {  // a literal field name: fold it into a quoted string
      std::string lit = r.literal();
      out += '"';
      for (char ch : lit) {
        if (ch == '"' || ch == '\\') out += '\\';
        out += ch;
      }
      out += '"';
      continue;
    }
    if (c == '"') {
      quoted = !quoted;
    } else if (c == '\\' && quoted) {
      out += c;
      r.expect(c);
      if (r.at_end()) r.fail("unterminated section");
      c = r.peek();
    } else if (!quoted && c == '(') {
      ++depth;
    } else if (!quoted && c == ')') {
      --depth;
    }
    out += c;
    r.expect(c);
    if (out.size() > 8192) r.fail("section too long");
  }
  r.expect(']');
  return out;
}

void read_partial(Reader& r, FetchItem& item) {
  if (!r.try_char('<')) return;
  item.origin = r.number64();
  if (r.try_char('.')) {
    item.length = r.number64();
    if (*item.length == 0) r.fail("partial length must not be zero");
  }
  r.expect('>');
}

std::string upper_section(const std::string& s) {
  // Keywords upper-case for the response; field names stay as given.
  auto paren = s.find('(');
  return to_upper(s.substr(0, paren)) + (paren == std::string::npos ? "" : s.substr(paren));
}

// An attribute name ends at '[' (which is an ATOM-CHAR, so atom() would eat it).
std::string att_name(Reader& r) {
  std::string out;
  while (!r.at_end() && is_atom_char(r.peek()) && r.peek() != '[' && r.peek() != '<') {
    out += r.peek();
    r.expect(r.peek());
  }
  if (out.empty()) r.fail("expected a fetch attribute");
  return to_upper(out);
}

void parse_att(Reader& r, FetchRequest& req) {
  std::string name = att_name(r);
  auto add = [&](FetchItem::Kind k, std::string n) {
    FetchItem it;
    it.kind = k;
    it.name = std::move(n);
    req.items.push_back(std::move(it));
  };
  if (name == "ALL" || name == "FAST" || name == "FULL") r.fail(name + " cannot appear in a list");
  if (name == "UID") return add(FetchItem::kUid, "UID");
  if (name == "FLAGS") return add(FetchItem::kFlags, "FLAGS");
  if (name == "INTERNALDATE") return add(FetchItem::kInternalDate, "INTERNALDATE");
  if (name == "RFC822.SIZE") return add(FetchItem::kSize, "RFC822.SIZE");
  if (name == "ENVELOPE") return add(FetchItem::kEnvelope, "ENVELOPE");
  if (name == "BODYSTRUCTURE") return add(FetchItem::kBodyStructure, "BODYSTRUCTURE");
  if (name == "MODSEQ") return add(FetchItem::kModseq, "MODSEQ");
  if (name == "EMAILID") return add(FetchItem::kEmailId, "EMAILID");
  if (name == "THREADID") return add(FetchItem::kThreadId, "THREADID");
  if (name == "SAVEDATE") return add(FetchItem::kSaveDate, "SAVEDATE");
  if (name == "PREVIEW") {
    if (r.peek() == ' ' && r.rest().substr(1, 1) == "(") r.fail("PREVIEW modifiers are not supported");
    return add(FetchItem::kPreview, "PREVIEW");
  }
  if (name == "RFC822" || name == "RFC822.HEADER" || name == "RFC822.TEXT") {
    FetchItem it;
    it.kind = FetchItem::kSection;
    it.name = name;
    it.section = name == "RFC822" ? "" : name == "RFC822.HEADER" ? "HEADER" : "TEXT";
    it.peek = name == "RFC822.HEADER";  // RFC822.HEADER is BODY.PEEK[HEADER]
    req.items.push_back(std::move(it));
    return;
  }
  if (name == "BODY" || name == "BODY.PEEK") {
    if (r.peek() != '[') {
      if (name == "BODY.PEEK") r.fail("BODY.PEEK needs a section");
      return add(FetchItem::kBody, "BODY");
    }
    FetchItem it;
    it.kind = FetchItem::kSection;
    it.peek = name == "BODY.PEEK";
    it.section = read_section(r);
    // A spec FETCH could only answer with nothing (a part number of 2^32, a
    // trailing dot, an unknown text) is a syntax error (RFC 9051 section-spec).
    if (!it.section.empty() && !mime::parse_section(it.section)) r.fail("invalid section " + it.section);
    it.name = "BODY[" + upper_section(it.section) + "]";
    read_partial(r, it);
    req.items.push_back(std::move(it));
    return;
  }
  if (name == "BINARY" || name == "BINARY.PEEK" || name == "BINARY.SIZE") {
    FetchItem it;
    it.kind = name == "BINARY.SIZE" ? FetchItem::kBinarySize : FetchItem::kBinary;
    it.peek = name != "BINARY";
    it.section = read_section(r);
    for (char c : it.section)
      if (!(c >= '0' && c <= '9') && c != '.') r.fail("BINARY takes a part number only");
    if (!it.section.empty() && !mime::parse_section(it.section)) r.fail("invalid part number " + it.section);
    it.name = (name == "BINARY.SIZE" ? "BINARY.SIZE[" : "BINARY[") + it.section + "]";
    if (it.kind == FetchItem::kBinary) read_partial(r, it);
    req.items.push_back(std::move(it));
    return;
  }
  r.fail("unknown fetch attribute " + name);
}

}  // namespace

FetchRequest parse_fetch(Reader& r) {
  FetchRequest req;
  if (r.try_char('(')) {
    for (;;) {
      parse_att(r, req);
      if (r.try_char(')')) break;
      r.sp();
    }
  } else {
    // Macros (RFC 9051 6.4.5).
    auto rest = r.rest();
    auto word_end = rest.find_first_of(" [(<");
    std::string word = to_upper(std::string(rest.substr(0, word_end)));
    auto macro = [&](std::initializer_list<const char*> atts) {
      r.atom();
      for (const char* a : atts) {
        Reader sub(a);
        parse_att(sub, req);
      }
    };
    if (word == "ALL") macro({"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE"});
    else if (word == "FAST") macro({"FLAGS", "INTERNALDATE", "RFC822.SIZE"});
    else if (word == "FULL") macro({"FLAGS", "INTERNALDATE", "RFC822.SIZE", "ENVELOPE", "BODY"});
    else parse_att(r, req);
  }
  if (r.try_sp()) {
    r.expect('(');
    for (;;) {
      std::string mod = to_upper(r.atom());
      if (mod == "CHANGEDSINCE") {
        r.sp();
        req.changed_since = static_cast<int64_t>(r.number64());
      } else if (mod == "VANISHED") {
        req.vanished = true;
      } else {
        r.fail("unknown fetch modifier " + mod);
      }
      if (r.try_char(')')) break;
      r.sp();
    }
  }
  r.end();
  if (req.items.size() > 100) r.fail("too many fetch attributes");
  return req;
}

}  // namespace postline::imap
