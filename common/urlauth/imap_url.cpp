#include "common/urlauth/imap_url.h"

#include <cctype>

namespace postline::urlauth {

namespace {

int hex_value(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

// RFC 5092 achar/bchar: unreserved, sub-delims (less ";" and "/" where they
// separate parts), ":" "@" "&" "=" "?" and %XX escapes.
std::optional<std::string> decode(std::string_view s, bool allow_slash) {
  return percent_decode(s, allow_slash ? "-._~!$'()*+,:@&=?/" : "-._~!$'()*+,:@&=?");
}

std::optional<uint64_t> number(std::string_view s, uint64_t max) {
  if (s.empty() || s.size() > 20) return std::nullopt;
  uint64_t n = 0;
  for (char c : s) {
    if (c < '0' || c > '9') return std::nullopt;
    if (n > (max - (c - '0')) / 10) return std::nullopt;
    n = n * 10 + (c - '0');
  }
  return n;
}

bool iequal(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i)
    if (std::tolower(static_cast<unsigned char>(a[i])) != std::tolower(static_cast<unsigned char>(b[i]))) return false;
  return true;
}

// "NAME=" prefix of a ";NAME=value" parameter, case-insensitive (RFC 5092 is).
bool take_param(std::string_view& s, std::string_view name) {
  if (s.size() < name.size() || !iequal(s.substr(0, name.size()), name)) return false;
  s.remove_prefix(name.size());
  return true;
}

}  // namespace

std::optional<std::string> percent_decode(std::string_view s, std::string_view also_allowed) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c == '%') {
      if (i + 2 >= s.size()) return std::nullopt;
      const int hi = hex_value(s[i + 1]), lo = hex_value(s[i + 2]);
      if (hi < 0 || lo < 0) return std::nullopt;
      const char d = static_cast<char>(hi * 16 + lo);
      if (d == '\0' || d == '\r' || d == '\n') return std::nullopt;
      out += d;
      i += 2;
      continue;
    }
    if (!std::isalnum(static_cast<unsigned char>(c)) && also_allowed.find(c) == std::string_view::npos)
      return std::nullopt;
    out += c;
  }
  return out;
}

std::optional<ImapUrl> parse_imap_url(std::string_view text, std::string_view user) {
  if (text.empty() || text.size() > kMaxImapUrlOctets) return std::nullopt;
  std::string_view rest = text;
  if (take_param(rest, "imap://")) {
    // iserver = [iuserinfo "@"] host [":" port]; iuserinfo = enc-user [iauth].
    const size_t slash = rest.find('/');
    if (slash == std::string_view::npos) return std::nullopt;
    std::string_view server = rest.substr(0, slash);
    rest.remove_prefix(slash);
    const size_t at = server.rfind('@');
    if (at != std::string_view::npos) {
      std::string_view userinfo = server.substr(0, at);
      const size_t auth = userinfo.find(';');
      auto url_user = decode(userinfo.substr(0, auth), false);
      if (!url_user) return std::nullopt;
      if (!user.empty() && !iequal(*url_user, user)) return std::nullopt;
      server.remove_prefix(at + 1);
    }
    if (server.empty()) return std::nullopt;
  }
  if (rest.empty() || rest[0] != '/') return std::nullopt;
  rest.remove_prefix(1);
  // enc-mailbox [uidvalidity] "/;UID=" ...: the mailbox ends where a ";" or
  // the "/;" of the next part starts ("/" inside a name is hierarchy).
  size_t end = rest.find(';');
  if (end == std::string_view::npos) return std::nullopt;  // no UID: not a message URL
  std::string_view mailbox = rest.substr(0, end);
  ImapUrl url;
  rest.remove_prefix(end);
  if (!mailbox.empty() && mailbox.back() == '/') mailbox.remove_suffix(1);  // "/INBOX/;UID=1"
  else if (take_param(rest, ";UIDVALIDITY=")) {
    const size_t stop = rest.find('/');
    auto v = number(rest.substr(0, stop), 0xffffffffu);
    if (!v || *v == 0 || stop == std::string_view::npos) return std::nullopt;
    url.uidvalidity = static_cast<uint32_t>(*v);
    rest.remove_prefix(stop);
    if (!take_param(rest, "/")) return std::nullopt;
  } else {
    return std::nullopt;
  }
  auto name = decode(mailbox, true);
  if (!name || name->empty()) return std::nullopt;
  url.mailbox = std::move(*name);
  if (!take_param(rest, ";UID=")) return std::nullopt;
  {
    const size_t stop = rest.find('/');
    auto uid = number(rest.substr(0, stop), 0xffffffffu);
    if (!uid || *uid == 0) return std::nullopt;
    url.uid = static_cast<uint32_t>(*uid);
    rest.remove_prefix(stop == std::string_view::npos ? rest.size() : stop);
  }
  if (take_param(rest, "/;SECTION=")) {
    const size_t stop = rest.find("/;");
    auto section = decode(rest.substr(0, stop), true);
    if (!section || section->empty()) return std::nullopt;
    url.section = std::move(*section);
    rest.remove_prefix(stop == std::string_view::npos ? rest.size() : stop);
  }
  if (take_param(rest, "/;PARTIAL=")) {
    const size_t dot = rest.find('.');
    auto offset = number(rest.substr(0, dot), uint64_t{1} << 62);
    if (!offset) return std::nullopt;
    url.partial_offset = *offset;
    if (dot != std::string_view::npos) {
      auto length = number(rest.substr(dot + 1), uint64_t{1} << 62);
      if (!length || *length == 0) return std::nullopt;
      url.partial_length = *length;
    }
    rest = {};
  }
  // Anything left (";URLAUTH=...", ";EXPIRE=...", a second part) is not a
  // plain message URL of this server.
  if (!rest.empty()) return std::nullopt;
  return url;
}

}  // namespace postline::urlauth
