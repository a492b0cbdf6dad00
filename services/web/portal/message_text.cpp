#include "services/web/portal/message_text.h"

#include "common/mime/mime.h"

namespace postline::web::portal {

std::string display_text(std::string_view bytes) {
  const std::string utf8 = mime::to_utf8(bytes, "utf-8");  // stray bytes as Windows-1252
  std::string out;
  out.reserve(utf8.size());
  for (size_t i = 0; i < utf8.size(); ++i) {
    const unsigned char c = static_cast<unsigned char>(utf8[i]);
    if (c == '\r' && i + 1 < utf8.size() && utf8[i + 1] == '\n') continue;  // CR LF: the LF breaks the line
    if (c == '\n' || c == '\t' || (c >= 0x20 && c != 0x7f)) {
      out += static_cast<char>(c);
    } else {
      mime::append_utf8(out, c == 0x7f ? 0x2421 : 0x2400 + c);  // U+2400 SYMBOL FOR NULL ...
    }
  }
  return out;
}

MessageText message_text(std::string_view raw, size_t limit) {
  MessageText out;
  if (raw.size() > limit) {
    out.cut = true;
    size_t end = limit;
    // Not in the middle of a UTF-8 sequence (at most three continuation bytes back).
    for (int i = 0; i < 3 && end > 0 && (static_cast<unsigned char>(raw[end]) & 0xC0) == 0x80; ++i) --end;
    raw = raw.substr(0, end);
  }
  // The first empty line: CR LF CR LF, or LF LF (or the message starts with one).
  size_t split = std::string_view::npos, skip = 0;
  if (raw.substr(0, 2) == "\r\n") {
    split = 0, skip = 2;
  } else if (raw.substr(0, 1) == "\n") {
    split = 0, skip = 1;
  } else {
    const size_t crlf = raw.find("\r\n\r\n"), lf = raw.find("\n\n");
    if (crlf != std::string_view::npos && crlf < lf) {
      split = crlf, skip = 4;
    } else if (lf != std::string_view::npos) {
      split = lf, skip = 2;
      if (raw[split - 1] == '\r') --split, ++skip;  // CR LF LF: the CR ends the last header line
    }
  }
  if (split == std::string_view::npos) {
    out.header = display_text(raw);
    return out;
  }
  out.has_body = true;
  out.header = display_text(raw.substr(0, split));
  out.body = display_text(raw.substr(split + skip));
  return out;
}

}  // namespace postline::web::portal
