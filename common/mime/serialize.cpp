// Storage encoding of the part tree, written once at delivery and read on every FETCH.
//
// Format (version 1), all integers LEB128 varints, strings = varint length + bytes,
// optional strings = varint (length + 1) + bytes with 0 meaning absent:
//   "PLM" 0x01                      magic + version
//   size, flags(bit0 = truncated)   message
//   part                            the root, recursively:
//     header_start, body_start - header_start, body_end - body_start, lines
//     flags: bit0 has_content_type, bit1 has envelope
//     type, subtype, encoding       strings
//     nparams, (name, value)*       Content-Type params
//     id, description, md5, location, disposition   optional strings
//     ndisp, (name, value)*         Content-Disposition params
//     nlang, lang*                  Content-Language tags
//     [envelope]                    date, subject (opt), 6 address lists, in_reply_to,
//                                   message_id (opt); list = count, 4 opt strings each
//     nchildren, part*
// Header fields are not stored: ENVELOPE is, and FETCH reads headers from the blob.
// A reader rejects unknown versions, so the format can change by bumping the version byte.
#include "common/mime/internal.h"

namespace postline::mime {

namespace {

constexpr char kMagic[3] = {'P', 'L', 'M'};
constexpr unsigned char kVersion = 1;
constexpr std::size_t kMaxDepth = 256;       // beyond anything parse() produces
constexpr std::size_t kMaxParts = 1u << 20;  // bounded allocation on a corrupt blob

struct Writer {
  std::string out;
  void u(std::uint64_t v) {
    while (v >= 0x80) {
      out.push_back(char((v & 0x7F) | 0x80));
      v >>= 7;
    }
    out.push_back(char(v));
  }
  void s(std::string_view v) {
    u(v.size());
    out.append(v);
  }
  void os(const std::optional<std::string>& v) {
    if (!v) {
      u(0);
      return;
    }
    u(v->size() + 1);
    out.append(*v);
  }
  void params(const std::vector<Param>& ps) {
    u(ps.size());
    for (const Param& p : ps) {
      s(p.name);
      s(p.value);
    }
  }
  void addresses(const std::vector<Address>& l) {
    u(l.size());
    for (const Address& a : l) {
      os(a.name);
      os(a.adl);
      os(a.mailbox);
      os(a.host);
    }
  }
  void part(const Part& p) {
    u(p.header_start);
    u(p.body_start - p.header_start);
    u(p.body_end - p.body_start);
    u(p.lines);
    u((p.has_content_type ? 1u : 0u) | (p.envelope ? 2u : 0u));
    s(p.type);
    s(p.subtype);
    s(p.encoding);
    params(p.params);
    os(p.id);
    os(p.description);
    os(p.md5);
    os(p.location);
    os(p.disposition);
    params(p.disposition_params);
    u(p.languages.size());
    for (const std::string& l : p.languages) s(l);
    if (p.envelope) {
      const Envelope& e = *p.envelope;
      os(e.date);
      os(e.subject);
      for (const auto* l : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) addresses(*l);
      os(e.in_reply_to);
      os(e.message_id);
    }
    u(p.children.size());
    for (const Part& c : p.children) part(c);
  }
};

struct Reader {
  std::string_view in;
  std::size_t i = 0;
  bool ok = true;
  std::size_t parts = 0;

  std::uint64_t u() {
    std::uint64_t v = 0;
    for (int shift = 0; shift < 64; shift += 7) {
      if (i >= in.size()) {
        ok = false;
        return 0;
      }
      unsigned char c = in[i++];
      v |= std::uint64_t(c & 0x7F) << shift;
      if (!(c & 0x80)) return v;
    }
    ok = false;
    return 0;
  }
  std::string s() {
    std::uint64_t n = u();
    if (!ok || n > in.size() - i) {
      ok = false;
      return {};
    }
    std::string v(in.substr(i, n));
    i += n;
    return v;
  }
  std::optional<std::string> os() {
    std::uint64_t n = u();
    if (!ok || n == 0) return std::nullopt;
    if (n - 1 > in.size() - i) {
      ok = false;
      return std::nullopt;
    }
    std::string v(in.substr(i, n - 1));
    i += n - 1;
    return v;
  }
  // A count is plausible only if each element needs at least one more byte of input.
  std::uint64_t count() {
    std::uint64_t n = u();
    if (!ok || n > in.size() - i) {
      ok = false;
      return 0;
    }
    return n;
  }
  std::vector<Param> params() {
    std::vector<Param> ps;
    std::uint64_t n = count();
    for (std::uint64_t k = 0; k < n && ok; ++k) {
      Param p;
      p.name = s();
      p.value = s();
      ps.push_back(std::move(p));
    }
    return ps;
  }
  std::vector<Address> addresses() {
    std::vector<Address> l;
    std::uint64_t n = count();
    for (std::uint64_t k = 0; k < n && ok; ++k) {
      Address a;
      a.name = os();
      a.adl = os();
      a.mailbox = os();
      a.host = os();
      l.push_back(std::move(a));
    }
    return l;
  }
  void part(Part& p, std::size_t depth, std::uint64_t msg_size) {
    if (depth > kMaxDepth || ++parts > kMaxParts) {
      ok = false;
      return;
    }
    p.header_start = u();
    std::uint64_t hlen = u();
    std::uint64_t blen = u();
    p.lines = u();
    std::uint64_t flags = u();
    if (!ok) return;
    // Offsets must stay inside the message, or a FETCH would read out of bounds.
    if (p.header_start > msg_size || hlen > msg_size - p.header_start ||
        blen > msg_size - p.header_start - hlen) {
      ok = false;
      return;
    }
    p.body_start = p.header_start + hlen;
    p.body_end = p.body_start + blen;
    p.has_content_type = flags & 1;
    p.type = s();
    p.subtype = s();
    p.encoding = s();
    p.params = params();
    p.id = os();
    p.description = os();
    p.md5 = os();
    p.location = os();
    p.disposition = os();
    p.disposition_params = params();
    std::uint64_t nl = count();
    for (std::uint64_t k = 0; k < nl && ok; ++k) p.languages.push_back(s());
    if (flags & 2) {
      Envelope e;
      e.date = os();
      e.subject = os();
      for (auto* l : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) *l = addresses();
      e.in_reply_to = os();
      e.message_id = os();
      p.envelope = std::move(e);
    }
    std::uint64_t nc = count();
    for (std::uint64_t k = 0; k < nc && ok; ++k) {
      p.children.emplace_back();
      part(p.children.back(), depth + 1, msg_size);
    }
  }
};

}  // namespace

std::string serialize_structure(const ParsedMessage& msg) {
  Writer w;
  w.out.append(kMagic, 3);
  w.out.push_back(char(kVersion));
  w.u(msg.size);
  w.u(msg.truncated ? 1 : 0);
  w.part(msg.root);
  return std::move(w.out);
}

std::optional<ParsedMessage> deserialize_structure(std::string_view blob) {
  if (blob.size() < 4 || blob.compare(0, 3, std::string_view(kMagic, 3)) != 0 ||
      static_cast<unsigned char>(blob[3]) != kVersion)
    return std::nullopt;
  Reader r{blob, 4};
  ParsedMessage msg;
  msg.size = r.u();
  msg.truncated = r.u() & 1;
  if (!r.ok) return std::nullopt;
  r.part(msg.root, 0, msg.size);
  if (!r.ok || r.i != blob.size()) return std::nullopt;
  return msg;
}

}  // namespace postline::mime
