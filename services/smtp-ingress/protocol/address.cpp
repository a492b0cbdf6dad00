#include "services/smtp-ingress/protocol/address.h"

#include <algorithm>
#include <cctype>
#include <set>

namespace postline::smtp {

namespace {

constexpr size_t kMaxLocalPart = 64;   // RFC 5321 §4.5.3.1.1
constexpr size_t kMaxDomain = 255;     // §4.5.3.1.2
constexpr size_t kMaxPath = 256;       // §4.5.3.1.3, including the brackets
constexpr size_t kMaxParams = 16;      // far more than any real client sends

bool is_atext(unsigned char c) {
  if (std::isalnum(c)) return true;
  switch (c) {
    case '!': case '#': case '$': case '%': case '&': case '\'': case '*': case '+': case '-':
    case '/': case '=': case '?': case '^': case '_': case '`': case '{': case '|': case '}': case '~':
      return true;
    default:
      return c >= 0x80;  // UTF-8 (RFC 6531); validity is checked on the whole path
  }
}

bool valid_dot_string(std::string_view s) {
  if (s.empty() || s.front() == '.' || s.back() == '.') return false;
  char prev = 0;
  for (char ch : s) {
    auto c = static_cast<unsigned char>(ch);
    if (ch == '.') {
      if (prev == '.') return false;
    } else if (!is_atext(c)) {
      return false;
    }
    prev = ch;
  }
  return true;
}

bool valid_quoted_string(std::string_view s) {
  if (s.size() < 2 || s.front() != '"' || s.back() != '"') return false;
  for (size_t i = 1; i + 1 < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '\\') {
      if (i + 2 >= s.size()) return false;
      auto n = static_cast<unsigned char>(s[++i]);
      if (n < 32 || n > 126) return false;
    } else if (c == '"') {
      return false;
    } else if (!(c == 32 || c == 33 || (c >= 35 && c <= 91) || (c >= 93 && c <= 126) || c >= 0x80)) {
      return false;
    }
  }
  return true;
}

bool valid_domain(std::string_view d) {
  if (d.empty() || d.size() > kMaxDomain) return false;
  size_t start = 0;
  for (;;) {
    size_t dot = d.find('.', start);
    std::string_view label = d.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start);
    if (label.empty() || label.size() > 63) return false;
    if (label.front() == '-' || label.back() == '-') return false;
    for (char ch : label) {
      auto c = static_cast<unsigned char>(ch);
      if (!(std::isalnum(c) || c == '-' || c >= 0x80)) return false;
    }
    if (dot == std::string_view::npos) return true;
    start = dot + 1;
  }
}

bool valid_address_literal(std::string_view d) {
  if (d.size() < 3 || d.front() != '[' || d.back() != ']') return false;
  for (size_t i = 1; i + 1 < d.size(); ++i) {
    auto c = static_cast<unsigned char>(d[i]);
    if (!((c >= 33 && c <= 90) || (c >= 94 && c <= 126))) return false;  // dcontent
  }
  return true;
}

bool valid_keyword(std::string_view k) {
  if (k.empty() || !std::isalnum(static_cast<unsigned char>(k[0]))) return false;
  return std::all_of(k.begin(), k.end(), [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == '-';
  });
}

bool valid_param_value(std::string_view v) {
  if (v.empty()) return false;
  return std::all_of(v.begin(), v.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return (c >= 33 && c <= 60) || (c >= 62 && c <= 126) || c >= 0x80;
  });
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& ch : out) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  return out;
}

}  // namespace

std::string Mailbox::unquoted_local() const {
  if (!quoted) return local;
  std::string out;
  for (size_t i = 1; i + 1 < local.size(); ++i) {
    if (local[i] == '\\' && i + 2 < local.size()) ++i;
    out += local[i];
  }
  return out;
}

bool valid_xtext(std::string_view s) {
  for (size_t i = 0; i < s.size(); ++i) {
    auto c = static_cast<unsigned char>(s[i]);
    if (c == '+') {
      if (i + 2 >= s.size()) return false;
      for (int k = 1; k <= 2; ++k) {
        char h = s[i + k];
        if (!((h >= '0' && h <= '9') || (h >= 'A' && h <= 'F'))) return false;
      }
      i += 2;
    } else if (c < 33 || c > 126 || c == '=') {
      return false;
    }
  }
  return true;
}

bool valid_utf8(std::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    auto c = static_cast<unsigned char>(s[i]);
    size_t n;
    uint32_t cp;
    if (c < 0x80) { ++i; continue; }
    if ((c & 0xE0) == 0xC0) { n = 1; cp = c & 0x1F; }
    else if ((c & 0xF0) == 0xE0) { n = 2; cp = c & 0x0F; }
    else if ((c & 0xF8) == 0xF0) { n = 3; cp = c & 0x07; }
    else return false;
    if (i + n >= s.size()) return false;
    for (size_t k = 1; k <= n; ++k) {
      auto cc = static_cast<unsigned char>(s[i + k]);
      if ((cc & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if ((n == 1 && cp < 0x80) || (n == 2 && cp < 0x800) || (n == 3 && cp < 0x10000)) return false;  // overlong
    if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return false;
    i += n + 1;
  }
  return true;
}

bool valid_helo(std::string_view s) {
  if (s.empty() || s.size() > 255) return false;
  return std::all_of(s.begin(), s.end(), [](char ch) {
    auto c = static_cast<unsigned char>(ch);
    return c > 32 && c < 127;
  });
}

PathParse parse_path(std::string_view args, bool allow_null) {
  PathParse r;
  auto fail = [&r](PathError e) {
    r.error = e;
    return r;
  };
  size_t i = 0;
  while (i < args.size() && args[i] == ' ') ++i;
  if (i >= args.size() || args[i] != '<') return fail(PathError::kSyntax);
  // Find the closing '>' outside a quoted local part.
  size_t j = i + 1;
  bool in_quote = false;
  for (; j < args.size(); ++j) {
    char ch = args[j];
    if (in_quote) {
      if (ch == '\\') ++j;
      else if (ch == '"') in_quote = false;
    } else if (ch == '"') {
      in_quote = true;
    } else if (ch == '>') {
      break;
    }
  }
  if (j >= args.size()) return fail(PathError::kSyntax);
  std::string_view inner = args.substr(i + 1, j - i - 1);
  std::string_view rest = args.substr(j + 1);
  if (inner.size() + 2 > kMaxPath) return fail(PathError::kTooLong);

  for (char ch : inner)
    if (static_cast<unsigned char>(ch) >= 0x80) r.path.non_ascii = true;
  if (r.path.non_ascii && !valid_utf8(inner)) return fail(PathError::kBadUtf8);

  if (inner.empty()) {
    if (!allow_null) return fail(PathError::kSyntax);
    r.path.null_path = true;
  } else if (inner.find('@') == std::string_view::npos && upper(inner) == "POSTMASTER") {
    r.path.postmaster = true;
    r.path.mailbox.local = std::string(inner);
  } else {
    if (inner.front() == '@') {
      // A-d-l ":" — accepted by the grammar, refused by policy upstream.
      size_t colon = inner.find(':');
      if (colon == std::string_view::npos) return fail(PathError::kSyntax);
      std::string_view route = inner.substr(0, colon);
      size_t p = 0;
      while (p < route.size()) {
        if (route[p] != '@') return fail(PathError::kSyntax);
        size_t comma = route.find(',', p);
        std::string_view dom = route.substr(p + 1, comma == std::string_view::npos ? std::string_view::npos : comma - p - 1);
        if (!valid_domain(dom) && !valid_address_literal(dom)) return fail(PathError::kSyntax);
        if (comma == std::string_view::npos) break;
        p = comma + 1;
      }
      r.path.source_route = true;
      inner = inner.substr(colon + 1);
    }
    std::string_view local;
    size_t at;
    if (!inner.empty() && inner.front() == '"') {
      size_t q = 1;
      for (; q < inner.size(); ++q) {
        if (inner[q] == '\\') ++q;
        else if (inner[q] == '"') break;
      }
      if (q >= inner.size()) return fail(PathError::kSyntax);
      local = inner.substr(0, q + 1);
      if (!valid_quoted_string(local)) return fail(PathError::kSyntax);
      r.path.mailbox.quoted = true;
      at = q + 1;
      if (at >= inner.size()) return fail(PathError::kNoDomain);
      if (inner[at] != '@') return fail(PathError::kSyntax);
    } else {
      at = inner.find('@');
      if (at == std::string_view::npos) {
        if (!valid_dot_string(inner)) return fail(PathError::kSyntax);
        return fail(PathError::kNoDomain);
      }
      local = inner.substr(0, at);
      if (!valid_dot_string(local)) return fail(PathError::kSyntax);
    }
    std::string_view domain = inner.substr(at + 1);
    if (local.size() > kMaxLocalPart || domain.size() > kMaxDomain) return fail(PathError::kTooLong);
    if (domain.empty()) return fail(PathError::kNoDomain);
    if (domain.front() == '[' ? !valid_address_literal(domain) : !valid_domain(domain)) return fail(PathError::kSyntax);
    r.path.mailbox.local = std::string(local);
    r.path.mailbox.domain = std::string(domain);
  }

  // ESMTP parameters: SP-separated keyword[=value].
  if (!rest.empty() && rest.front() != ' ') return fail(PathError::kSyntax);
  std::set<std::string> seen;
  size_t p = 0;
  while (p < rest.size()) {
    while (p < rest.size() && rest[p] == ' ') ++p;
    if (p >= rest.size()) break;
    size_t end = rest.find(' ', p);
    std::string_view tok = rest.substr(p, end == std::string_view::npos ? std::string_view::npos : end - p);
    p = end == std::string_view::npos ? rest.size() : end;
    size_t eq = tok.find('=');
    EsmtpParam param;
    std::string_view key = tok.substr(0, eq);
    if (!valid_keyword(key)) return fail(PathError::kParamSyntax);
    param.keyword = upper(key);
    if (eq != std::string_view::npos) {
      std::string_view value = tok.substr(eq + 1);
      if (!valid_param_value(value) || (!valid_utf8(value))) return fail(PathError::kParamSyntax);
      param.value = std::string(value);
    }
    if (!seen.insert(param.keyword).second) return fail(PathError::kDuplicateParam);
    if (r.path.params.size() >= kMaxParams) return fail(PathError::kParamSyntax);
    r.path.params.push_back(std::move(param));
  }
  return r;
}

}  // namespace postline::smtp
