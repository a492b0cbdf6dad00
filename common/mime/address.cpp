// RFC 5322 §3.4 address lists (with the obsolete forms of §4.4) into IMAP ENVELOPE addresses.
//
// Real headers are often broken, so this is a forgiving tokenizer plus a small recursive
// descent that always produces something: a missing domain becomes "MISSING_DOMAIN" and a
// missing local part "MISSING_MAILBOX" (Dovecot's convention) rather than a NIL host, which
// IMAP reserves for group syntax.
#include "common/mime/internal.h"

namespace postline::mime::detail {

namespace {

enum class Tok { kAtom, kQuoted, kComment, kDomainLiteral, kSpecial };

struct Token {
  Tok kind;
  std::string text;  // atom text, unescaped quoted/comment content, or the special char
  bool space_before = false;
};

constexpr std::size_t kMaxTokens = 20000;  // a From: with 100k commas is not worth parsing fully

std::vector<Token> tokenize(std::string_view s) {
  std::vector<Token> out;
  std::size_t i = 0;
  bool space = false;
  while (i < s.size() && out.size() < kMaxTokens) {
    char c = s[i];
    std::size_t before = out.size();
    if (c == ' ' || c == '\t' || c == '\r' || c == '\n') {
      ++i;
      space = true;
      continue;
    } else if (c == '"') {
      std::string t;
      ++i;
      while (i < s.size() && s[i] != '"') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        if (s[i] != '\r' && s[i] != '\n') t.push_back(s[i]);
        ++i;
      }
      ++i;
      out.push_back({Tok::kQuoted, std::move(t)});
    } else if (c == '(') {
      std::string t;
      int depth = 0;
      while (i < s.size()) {
        char d = s[i++];
        if (d == '\\' && i < s.size()) {
          t.push_back(s[i++]);
          continue;
        }
        if (d == '(' && depth++ == 0) continue;
        if (d == ')' && --depth == 0) break;
        if (d != '\r' && d != '\n') t.push_back(d);
      }
      out.push_back({Tok::kComment, std::string(trim(t))});
    } else if (c == '[') {
      std::size_t b = i;
      while (i < s.size() && s[i] != ']') {
        if (s[i] == '\\' && i + 1 < s.size()) ++i;
        ++i;
      }
      if (i < s.size()) ++i;
      std::string t;
      for (char d : s.substr(b, i - b))
        if (d != '\r' && d != '\n' && d != ' ' && d != '\t') t.push_back(d);
      out.push_back({Tok::kDomainLiteral, std::move(t)});
    } else if (c == '<' || c == '>' || c == '@' || c == ',' || c == ':' || c == ';' ||
               c == '.' || c == ')' || c == ']' || c == '\\') {
      out.push_back({Tok::kSpecial, std::string(1, c)});
      ++i;
    } else {
      std::size_t b = i;
      while (i < s.size()) {
        char d = s[i];
        if (d == ' ' || d == '\t' || d == '\r' || d == '\n' || d == '"' || d == '(' ||
            d == '[' || d == '<' || d == '>' || d == '@' || d == ',' || d == ':' || d == ';' ||
            d == '.' || d == ')' || d == ']' || d == '\\')
          break;
        ++i;
      }
      out.push_back({Tok::kAtom, std::string(s.substr(b, i - b))});
    }
    if (out.size() > before) {
      out.back().space_before = space;
      space = false;
    }
  }
  return out;
}

bool is_special(const Token& t, char c) { return t.kind == Tok::kSpecial && t.text[0] == c; }

// A display name: quoted strings unquoted, comments dropped, and runs of whitespace between
// words collapsed to one space; words written without space between them ("J.R.R.") stay so.
std::optional<std::string> phrase(const std::vector<Token>& t, std::size_t b, std::size_t e) {
  std::string out;
  bool any = false;
  for (std::size_t i = b; i < e; ++i) {
    if (t[i].kind == Tok::kComment) continue;
    if (any && t[i].space_before) out += ' ';
    out += t[i].text;
    any = true;
  }
  if (!any) return std::nullopt;
  return out;
}

std::optional<std::string> last_comment(const std::vector<Token>& t, std::size_t b,
                                        std::size_t e) {
  std::optional<std::string> c;
  for (std::size_t i = b; i < e; ++i)
    if (t[i].kind == Tok::kComment && !t[i].text.empty()) c = t[i].text;
  return c;
}

// addr-spec in t[b, e): local-part "@" domain, comments ignored. The local part is given
// without its quoting: RFC 3501/9051 addr-mailbox "holds [RFC-2822] local-part after removing
// [RFC-2822] quoting" ("john doe"@example.com -> mailbox `john doe`), as Dovecot does.
void addr_spec(const std::vector<Token>& t, std::size_t b, std::size_t e, Address& a) {
  std::size_t at = e;
  for (std::size_t i = b; i < e; ++i)
    if (is_special(t[i], '@')) at = i;  // the last '@': local parts may not hold one unquoted
  std::string local, domain;
  for (std::size_t i = b; i < at; ++i) {
    if (t[i].kind == Tok::kComment) continue;
    local += t[i].text;  // a quoted string's text is already unescaped
  }
  for (std::size_t i = at + 1; i < e; ++i) {
    if (t[i].kind == Tok::kComment) continue;
    domain += t[i].text;
  }
  a.mailbox = local.empty() ? std::string("MISSING_MAILBOX") : local;
  a.host = domain.empty() ? std::string("MISSING_DOMAIN") : domain;
}

struct Parser {
  const std::vector<Token>& t;
  std::size_t i = 0;
  std::vector<Address> out;

  // One mailbox or group, stopping at ',' (or ';' inside a group).
  void list(bool in_group) {
    while (i < t.size()) {
      if (is_special(t[i], ',')) {
        ++i;
        continue;
      }
      if (is_special(t[i], ';')) {
        ++i;
        if (in_group) return;
        continue;
      }
      std::size_t j = i;
      while (j < t.size() && !is_special(t[j], ',') && !is_special(t[j], ';') &&
             !is_special(t[j], '<') && !(is_special(t[j], ':') && !in_group))
        ++j;
      if (j < t.size() && is_special(t[j], ':')) {
        Address g;
        g.mailbox = phrase(t, i, j).value_or("");
        out.push_back(g);
        i = j + 1;
        list(true);  // groups do not nest (RFC 5322), so this recursion is one level deep
        out.push_back(Address{});
        continue;
      }
      if (j < t.size() && is_special(t[j], '<')) {
        Address a;
        a.name = phrase(t, i, j);
        std::size_t k = j + 1;
        while (k < t.size() && !is_special(t[k], '>')) ++k;
        angle(j + 1, k, a);
        i = k < t.size() ? k + 1 : k;
        // Anything up to the next separator is junk, except a comment may give the name.
        // A comment inside the brackets is part of the addr-spec, never the name.
        std::size_t m = i;
        while (m < t.size() && !is_special(t[m], ',') && !is_special(t[m], ';')) ++m;
        if (!a.name) a.name = last_comment(t, i, m);
        i = m;
        out.push_back(std::move(a));
        continue;
      }
      // A bare addr-spec; a comment stands in for the display name ("a@b (Name)").
      bool only_comments = true;
      for (std::size_t k = i; k < j; ++k)
        if (t[k].kind != Tok::kComment) only_comments = false;
      if (!only_comments) {
        Address a;
        addr_spec(t, i, j, a);
        // Only a comment after the addr-spec ("a@b (Name)"): one inside it
        // ("a(c)@b") is no name.
        std::size_t tail = j;
        while (tail > i && t[tail - 1].kind == Tok::kComment) --tail;
        a.name = last_comment(t, tail, j);
        out.push_back(std::move(a));
      }
      i = j;
    }
  }

  // Inside <...>: [obs-route ":"] addr-spec. An empty <> (null return path) has no address.
  void angle(std::size_t b, std::size_t e, Address& a) {
    std::size_t colon = e;
    for (std::size_t k = b; k < e; ++k)
      if (is_special(t[k], ':')) { colon = k; break; }
    if (colon != e) {
      std::string route;
      for (std::size_t k = b; k < colon; ++k)
        if (t[k].kind != Tok::kComment) route += t[k].text;
      if (!route.empty()) a.adl = route;
      b = colon + 1;
    }
    addr_spec(t, b, e, a);
  }
};

}  // namespace

std::vector<Address> parse_address_list(std::string_view value) {
  std::vector<Token> toks = tokenize(value);
  Parser p{toks, 0, {}};
  p.list(false);
  return std::move(p.out);
}

Envelope build_envelope(const std::vector<HeaderField>& fields) {
  Envelope env;
  auto first = [&](std::string_view name) -> const HeaderField* {
    for (const HeaderField& f : fields)
      if (iequals(f.name, name)) return &f;
    return nullptr;
  };
  auto text = [&](std::string_view name) -> std::optional<std::string> {
    if (const HeaderField* f = first(name)) return unfold(f->value);
    return std::nullopt;
  };
  auto addrs = [&](std::string_view name) -> std::vector<Address> {
    if (const HeaderField* f = first(name)) return parse_address_list(f->value);
    return {};
  };
  env.date = text("Date");
  env.subject = text("Subject");
  env.from = addrs("From");
  env.sender = addrs("Sender");
  env.reply_to = addrs("Reply-To");
  env.to = addrs("To");
  env.cc = addrs("Cc");
  env.bcc = addrs("Bcc");
  env.in_reply_to = text("In-Reply-To");
  env.message_id = text("Message-ID");
  // RFC 3501 §7.4.2: absent or empty Sender/Reply-To take the From value.
  if (env.sender.empty()) env.sender = env.from;
  if (env.reply_to.empty()) env.reply_to = env.from;
  return env;
}

}  // namespace postline::mime::detail

namespace postline::mime {
std::vector<Address> parse_addresses(std::string_view value) { return detail::parse_address_list(value); }
}  // namespace postline::mime
