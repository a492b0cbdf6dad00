// Decoding: RFC 2047 encoded words, base64 / quoted-printable (RFC 2045 §6), charsets to UTF-8.
#include <iconv.h>

#include <cerrno>
#include <cstring>

#include "common/mime/internal.h"

namespace postline::mime {

void append_utf8(std::string& out, std::uint32_t cp) {
  if (cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) cp = 0xFFFD;
  if (cp < 0x80) {
    out.push_back(char(cp));
  } else if (cp < 0x800) {
    out.push_back(char(0xC0 | (cp >> 6)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else if (cp < 0x10000) {
    out.push_back(char(0xE0 | (cp >> 12)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  } else {
    out.push_back(char(0xF0 | (cp >> 18)));
    out.push_back(char(0x80 | ((cp >> 12) & 0x3F)));
    out.push_back(char(0x80 | ((cp >> 6) & 0x3F)));
    out.push_back(char(0x80 | (cp & 0x3F)));
  }
}

namespace detail {

// Length of the valid UTF-8 sequence at s[i], or 0 (overlongs, surrogates, > U+10FFFF and
// truncated sequences are invalid).
std::size_t utf8_seq(std::string_view s, std::size_t i) {
  unsigned char c = s[i];
  if (c < 0x80) return 1;
  std::size_t n;
  std::uint32_t cp;
  if (c >= 0xC2 && c <= 0xDF) { n = 2; cp = c & 0x1F; }
  else if (c >= 0xE0 && c <= 0xEF) { n = 3; cp = c & 0x0F; }
  else if (c >= 0xF0 && c <= 0xF4) { n = 4; cp = c & 0x07; }
  else return 0;
  if (i + n > s.size()) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    unsigned char d = s[i + k];
    if ((d & 0xC0) != 0x80) return 0;
    cp = (cp << 6) | (d & 0x3F);
  }
  if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10FFFF)) ||
      (cp >= 0xD800 && cp <= 0xDFFF))
    return 0;
  return n;
}

bool valid_utf8(std::string_view s) {
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = utf8_seq(s, i);
    if (n == 0) return false;
    i += n;
  }
  return true;
}

std::string cp1252_to_utf8(std::string_view s) {
  // 0x80-0x9F of Windows-1252; 0 = undefined there.
  static const std::uint16_t k80[32] = {
      0x20AC, 0, 0x201A, 0x0192, 0x201E, 0x2026, 0x2020, 0x2021, 0x02C6, 0x2030, 0x0160,
      0x2039, 0x0152, 0, 0x017D, 0, 0, 0x2018, 0x2019, 0x201C, 0x201D, 0x2022, 0x2013,
      0x2014, 0x02DC, 0x2122, 0x0161, 0x203A, 0x0153, 0, 0x017E, 0x0178};
  std::string out;
  out.reserve(s.size());
  for (unsigned char c : s) {
    if (c < 0x80) {
      out.push_back(char(c));
    } else if (c < 0xA0) {
      append_utf8(out, k80[c - 0x80] ? k80[c - 0x80] : 0xFFFD);
    } else {
      append_utf8(out, c);
    }
  }
  return out;
}

}  // namespace detail

namespace {

using detail::ascii_lower;

// Valid UTF-8 is kept; anything else is read as Windows-1252, so 8-bit junk in headers still
// becomes readable text instead of disappearing.
// Every octet that does not start a well-formed UTF-8 sequence (RFC 3629: no
// overlongs, surrogates or values over U+10FFFF) becomes one U+FFFD.
std::string replace_invalid_utf8(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (std::size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    std::size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xE ? 3 : (c >> 3) == 0x1E ? 4 : 0;
    if (n > 1 && i + n <= s.size() && detail::valid_utf8(s.substr(i, n))) {
      out.append(s.substr(i, n));
      i += n;
    } else if (n == 1) {
      out.push_back(s[i++]);
    } else {
      detail::append_utf8(out, 0xFFFD);
      ++i;
    }
  }
  return out;
}

std::string utf8_or_cp1252(std::string_view s) {
  if (detail::valid_utf8(s)) return std::string(s);
  // Mixed input: keep valid sequences, map the stray bytes.
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    std::size_t n = detail::utf8_seq(s, i);
    if (n) {
      out.append(s.substr(i, n));
      i += n;
    } else {
      out += detail::cp1252_to_utf8(s.substr(i, 1));
      ++i;
    }
  }
  return out;
}

std::string normalize_charset(std::string_view cs) {
  std::string c = detail::lower(detail::trim(cs));
  if (auto star = c.find('*'); star != std::string::npos) c.resize(star);  // RFC 2231 language
  // WHATWG practice: mail labelled Latin-1 is very often really Windows-1252, and the latter
  // is a superset of Latin-1's printable range.
  if (c == "iso-8859-1" || c == "latin1" || c == "iso8859-1" || c == "us-ascii" ||
      c == "ascii" || c == "windows-1252" || c == "cp1252")
    return "windows-1252";
  if (c == "gb2312" || c == "gbk" || c == "x-gbk") return "gb18030";
  if (c == "ks_c_5601-1987") return "cp949";
  if (c == "utf8") return "utf-8";
  return c;
}

bool safe_charset_name(std::string_view c) {
  if (c.empty() || c.size() > 40) return false;
  for (char ch : c) {
    bool ok = (ch >= 'a' && ch <= 'z') || (ch >= '0' && ch <= '9') || ch == '-' || ch == '_' ||
              ch == '.' || ch == ':';
    if (!ok) return false;  // no '/': "//TRANSLIT"-style suffixes are not the sender's to pick
  }
  return true;
}

}  // namespace

std::string to_utf8(std::string_view bytes, std::string_view charset) {
  std::string cs = normalize_charset(charset);
  bool ascii = true;
  for (unsigned char c : bytes)
    if (c >= 0x80) { ascii = false; break; }
  if (ascii && cs != "utf-7" && cs.find("2022") == std::string::npos &&
      cs.find("utf-16") == std::string::npos && cs.find("utf-32") == std::string::npos &&
      cs.find("ucs") == std::string::npos)
    return std::string(bytes);  // every ASCII-compatible charset maps 7-bit text to itself
  if (cs == "utf-8" || cs == "windows-1252") {
    // Even a windows-1252 label is wrong often enough that valid UTF-8 is trusted first.
    if (cs == "utf-8" || detail::valid_utf8(bytes)) return utf8_or_cp1252(bytes);
    return detail::cp1252_to_utf8(bytes);
  }
  if (!safe_charset_name(cs)) return utf8_or_cp1252(bytes);
  iconv_t cd = iconv_open("UTF-8", cs.c_str());
  if (cd == iconv_t(-1)) return utf8_or_cp1252(bytes);  // unknown charset: best effort
  std::string out;
  out.reserve(bytes.size() + bytes.size() / 2 + 16);
  std::string in(bytes);
  char* inp = in.data();
  std::size_t inleft = in.size();
  char buf[4096];
  while (inleft > 0) {
    char* outp = buf;
    std::size_t outleft = sizeof buf;
    std::size_t r = iconv(cd, &inp, &inleft, &outp, &outleft);
    out.append(buf, std::size_t(outp - buf));
    if (r == std::size_t(-1)) {
      if (errno == E2BIG) continue;
      // EILSEQ: an invalid byte; EINVAL: a truncated sequence at the end. Either way mark it
      // and move on one byte, so no input can stall or abort the conversion.
      detail::append_utf8(out, 0xFFFD);
      ++inp;
      --inleft;
      iconv(cd, nullptr, nullptr, nullptr, nullptr);  // reset shift state
    }
  }
  {
    char* outp = buf;
    std::size_t outleft = sizeof buf;
    iconv(cd, nullptr, nullptr, &outp, &outleft);  // flush stateful encodings
    out.append(buf, std::size_t(outp - buf));
  }
  iconv_close(cd);
  // glibc's UCS-4/UTF-32 decoders pass code points above U+10FFFF through, and its
  // UTF-8 encoder writes them as obsolete 5- and 6-byte sequences: not UTF-8.
  if (!detail::valid_utf8(out)) out = replace_invalid_utf8(out);
  return out;
}

std::string decode_base64(std::string_view in) {
  std::string out;
  out.reserve(in.size() / 4 * 3);
  std::uint32_t acc = 0;
  int bits = 0;
  for (unsigned char c : in) {
    int v;
    if (c >= 'A' && c <= 'Z') v = c - 'A';
    else if (c >= 'a' && c <= 'z') v = c - 'a' + 26;
    else if (c >= '0' && c <= '9') v = c - '0' + 52;
    else if (c == '+') v = 62;
    else if (c == '/') v = 63;
    else if (c == '=') {
      // Padding ends a quantum; leftover bits are dropped so that a second base64 run
      // concatenated after it (seen in the wild) still decodes aligned.
      acc = 0;
      bits = 0;
      continue;
    } else {
      continue;  // RFC 2045 §6.8: characters outside the alphabet are ignored
    }
    acc = (acc << 6) | std::uint32_t(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out.push_back(char((acc >> bits) & 0xFF));
    }
  }
  return out;
}

std::string decode_quoted_printable(std::string_view in) {
  auto hex = [](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    c = ascii_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
  };
  std::string out;
  out.reserve(in.size());
  std::size_t pos = 0;
  while (pos < in.size()) {
    const void* nl = std::memchr(in.data() + pos, '\n', in.size() - pos);
    std::size_t line_end = nl ? std::size_t(static_cast<const char*>(nl) - in.data()) : in.size();
    std::size_t content_end = line_end;
    if (nl && content_end > pos && in[content_end - 1] == '\r') --content_end;
    std::string_view eol = in.substr(content_end, (nl ? line_end + 1 : line_end) - content_end);
    std::string_view line = in.substr(pos, content_end - pos);
    // RFC 2045 §6.7 rule 3: trailing whitespace was added in transport; drop it.
    while (!line.empty() && detail::is_wsp(line.back())) line.remove_suffix(1);
    bool soft = !line.empty() && line.back() == '=';
    if (soft) line.remove_suffix(1);
    for (std::size_t i = 0; i < line.size(); ++i) {
      if (line[i] == '=') {
        int h = i + 1 < line.size() ? hex(line[i + 1]) : -1;
        int l = i + 2 < line.size() ? hex(line[i + 2]) : -1;
        if (h >= 0 && l >= 0) {
          out.push_back(char(h * 16 + l));
          i += 2;
          continue;
        }
      }
      out.push_back(line[i]);  // a broken escape is kept literally (RFC 2045 §6.7 note)
    }
    if (!soft) out.append(eol);
    pos = nl ? line_end + 1 : in.size();
  }
  return out;
}

bool is_known_transfer_encoding(std::string_view e) {
  std::string l = detail::lower(e);
  return l.empty() || l == "7bit" || l == "8bit" || l == "binary" || l == "base64" ||
         l == "quoted-printable";
}

std::string decode_transfer(std::string_view body, std::string_view encoding) {
  std::string l = detail::lower(encoding);
  if (l == "base64") return decode_base64(body);
  if (l == "quoted-printable") return decode_quoted_printable(body);
  return std::string(body);
}

namespace {

int hexval(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  c = ascii_lower(c);
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  return -1;
}

struct Word {
  std::string charset;
  std::string bytes;
  std::size_t end;  // offset just past "?="
};

// Parses an encoded word at s[i] ("=?charset?B|Q?text?="), or returns false.
bool encoded_word(std::string_view s, std::size_t i, Word& w) {
  if (s.compare(i, 2, "=?") != 0) return false;
  std::size_t q1 = s.find('?', i + 2);
  if (q1 == std::string_view::npos || q1 == i + 2 || q1 - i > 80) return false;
  if (q1 + 2 >= s.size() || s[q1 + 2] != '?') return false;
  char enc = ascii_lower(s[q1 + 1]);
  if (enc != 'b' && enc != 'q') return false;
  std::size_t tstart = q1 + 3;
  // RFC 2047 caps a word at 75 characters; we accept longer ones but not unbounded: searching
  // the rest of the value for "?=" at every "=?" would make a crafted header quadratic.
  constexpr std::size_t kMaxWordText = 2000;
  std::string_view window = s.substr(tstart, kMaxWordText);
  std::size_t rel = window.find("?=");
  if (rel == std::string_view::npos) return false;
  std::size_t tend = tstart + rel;
  std::string_view text = s.substr(tstart, tend - tstart);
  for (char c : text)
    if (c == ' ' || c == '\t') return false;  // encoded words contain no whitespace
  w.charset = std::string(s.substr(i + 2, q1 - i - 2));
  if (enc == 'b') {
    w.bytes = decode_base64(text);
  } else {
    w.bytes.clear();
    for (std::size_t k = 0; k < text.size(); ++k) {
      char c = text[k];
      if (c == '_') {
        w.bytes.push_back(' ');
      } else if (c == '=' && k + 2 < text.size()) {
        int h = hexval(text[k + 1]), l = hexval(text[k + 2]);
        if (h >= 0 && l >= 0) {
          w.bytes.push_back(char(h * 16 + l));
          k += 2;
        } else {
          w.bytes.push_back(c);
        }
      } else {
        w.bytes.push_back(c);
      }
    }
  }
  w.end = tend + 2;
  return true;
}

}  // namespace

std::string decode_header_value(std::string_view value) {
  std::string s;
  s.reserve(value.size());
  for (char c : value)
    if (c != '\r' && c != '\n') s.push_back(c);
  std::string out;
  std::string pending, pending_cs;  // adjacent words of one charset are joined before
                                    // conversion: a multibyte character may straddle them
  auto flush = [&] {
    if (!pending.empty()) out += to_utf8(pending, pending_cs);
    pending.clear();
    pending_cs.clear();
  };
  std::size_t i = 0, text_start = 0;
  bool last_was_word = false;
  while (i < s.size()) {
    std::size_t at = s.find("=?", i);
    if (at == std::string::npos) break;
    Word w;
    if (!encoded_word(s, at, w)) {
      i = at + 1;
      continue;
    }
    std::string_view between(s.data() + text_start, at - text_start);
    bool all_ws = true;
    for (char c : between)
      if (!detail::is_wsp(c)) all_ws = false;
    if (!(last_was_word && all_ws)) {  // RFC 2047 §6.2: drop whitespace between words
      flush();
      out += utf8_or_cp1252(between);
    }
    if (!pending.empty() && !detail::iequals(pending_cs, w.charset)) flush();
    pending_cs = w.charset;
    pending += w.bytes;
    last_was_word = true;
    i = text_start = w.end;
  }
  flush();
  out += utf8_or_cp1252(std::string_view(s).substr(text_start));
  return std::string(detail::trim(out));
}

}  // namespace postline::mime
