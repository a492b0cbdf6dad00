// ENVELOPE and BODY/BODYSTRUCTURE text, RFC 3501 7.4.2 and RFC 9051 7.5.2
// grammar (checked against it by testing/imap_grammar_check.h).
#include "services/imap-access/protocol/structure.h"

#include "services/imap-access/protocol/encoder.h"

#include <optional>
#include <string_view>
#include <vector>

namespace postline::imap {

namespace {

using mime::Address;
using mime::Envelope;
using mime::Param;
using mime::Part;

void append_addresses(std::string& out, const std::vector<Address>& list) {
  if (list.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  for (const Address& a : list) {
    out += '(';
    append_nstring(out, a.name);
    out += ' ';
    append_nstring(out, a.adl);
    out += ' ';
    append_nstring(out, a.mailbox);
    out += ' ';
    append_nstring(out, a.host);
    out += ')';
  }
  out += ')';
}

void append_envelope(std::string& out, const Envelope& e) {
  out += '(';
  append_nstring(out, e.date);
  out += ' ';
  append_nstring(out, e.subject);
  for (const auto* l : {&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc}) {
    out += ' ';
    append_addresses(out, *l);
  }
  out += ' ';
  append_nstring(out, e.in_reply_to);
  out += ' ';
  append_nstring(out, e.message_id);
  out += ')';
}

bool needs_2231(std::string_view v) {
  for (unsigned char c : v)
    if (c >= 0x80 || c < 0x20 || c == 0x7f) return true;
  return false;
}

// Parameter values are decoded to UTF-8 when parsed. IMAP4rev1 strings are 7-bit, so a
// non-ASCII value goes back out in RFC 2231 form (name*="utf-8''%E2%82%AC"), which is what
// clients already decode for Dovecot and Cyrus.
void append_params(std::string& out, const std::vector<Param>& params) {
  if (params.empty()) {
    out += "NIL";
    return;
  }
  out += '(';
  bool first = true;
  for (const Param& p : params) {
    if (!first) out += ' ';
    first = false;
    if (needs_2231(p.value)) {
      static const char* hex = "0123456789ABCDEF";
      std::string enc = "utf-8''";
      for (unsigned char c : p.value) {
        bool plain = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                     c == '.' || c == '-' || c == '_' || c == '~';
        if (plain) {
          enc.push_back(char(c));
        } else {
          enc.push_back('%');
          enc.push_back(hex[c >> 4]);
          enc.push_back(hex[c & 15]);
        }
      }
      append_string(out, p.name + "*");
      out += ' ';
      append_string(out, enc);
    } else {
      append_string(out, p.name);
      out += ' ';
      append_string(out, p.value);
    }
  }
  out += ')';
}

void append_extension_tail(std::string& out, const Part& p) {
  // body-fld-dsp SP body-fld-lang SP body-fld-loc
  out += ' ';
  if (p.disposition) {
    out += '(';
    append_string(out, *p.disposition);
    out += ' ';
    append_params(out, p.disposition_params);
    out += ')';
  } else {
    out += "NIL";
  }
  out += ' ';
  if (p.languages.empty()) {
    out += "NIL";
  } else {  // always the list form, as Dovecot writes it; the grammar allows both
    out += '(';
    for (std::size_t i = 0; i < p.languages.size(); ++i) {
      if (i) out += ' ';
      append_string(out, p.languages[i]);
    }
    out += ')';
  }
  out += ' ';
  append_nstring(out, p.location);
}

// A multipart must contain at least one body (1*body); when none was found (no boundary,
// boundary never seen, depth limit) an empty text/plain stands in, as Dovecot does.
void append_empty_text(std::string& out, bool extended) {
  out += "(\"text\" \"plain\" (\"charset\" \"us-ascii\") NIL NIL \"7bit\" 0 0";
  if (extended) out += " NIL NIL NIL NIL";
  out += ')';
}

void append_body(std::string& out, const Part& p, bool extended, bool rev2) {
  if (p.is_multipart()) {
    out += '(';
    if (p.children.empty()) append_empty_text(out, extended);
    for (const Part& c : p.children) append_body(out, c, extended, rev2);
    out += ' ';
    append_string(out, p.subtype);
    if (extended) {
      out += ' ';
      append_params(out, p.params);
      append_extension_tail(out, p);
    }
    out += ')';
    return;
  }
  out += '(';
  append_string(out, p.type);
  out += ' ';
  append_string(out, p.subtype);
  out += ' ';
  if (p.type == "text" && !p.param("charset")) {
    // RFC 2045 §5.2 / RFC 2046 §4.1.2: text without a charset is us-ascii. Saying so
    // explicitly saves every client from knowing the default.
    std::vector<Param> with_default = p.params;
    with_default.push_back({"charset", "us-ascii"});
    append_params(out, with_default);
  } else {
    append_params(out, p.params);
  }
  out += ' ';
  append_nstring(out, p.id);
  out += ' ';
  append_nstring(out, p.description);
  out += ' ';
  append_string(out, p.encoding.empty() ? std::string_view("7bit") : std::string_view(p.encoding));
  out += ' ';
  out += std::to_string(p.size());
  // message/global is body-type-msg in IMAP4rev2 only (RFC 9051 media-message);
  // IMAP4rev1's grammar has RFC822 alone, so there it is a basic body.
  if (p.is_message_rfc822() || (rev2 && p.is_message())) {
    out += ' ';
    if (!p.children.empty() && p.children[0].envelope) {
      append_envelope(out, *p.children[0].envelope);
      out += ' ';
      append_body(out, p.children[0], extended, rev2);
    } else {
      // Opaque (encoded or too deep): the grammar still wants an envelope and a body.
      append_envelope(out, Envelope{});
      out += ' ';
      append_empty_text(out, extended);
    }
    out += ' ';
    out += std::to_string(p.lines);
  } else if (p.type == "text") {
    out += ' ';
    out += std::to_string(p.lines);
  }
  if (extended) {
    out += ' ';
    append_nstring(out, p.md5);
    append_extension_tail(out, p);
  }
  out += ')';
}

}  // namespace

std::string envelope_text(const Envelope& env) {
  std::string out;
  append_envelope(out, env);
  return out;
}

std::string envelope_text(const mime::ParsedMessage& msg) {
  return envelope_text(msg.root.envelope ? *msg.root.envelope : Envelope{});
}

std::string bodystructure_text(const mime::ParsedMessage& msg, bool extended, bool rev2) {
  std::string out;
  append_body(out, msg.root, extended, rev2);
  return out;
}

}  // namespace postline::imap
