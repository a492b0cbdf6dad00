// A queued message's bytes as text for the administrator's view
// (/admin/queue/<id>): the header block and the body, each as display text,
// never as markup. The bytes are whatever a stranger sent, so: at most
// kMessageViewLimit of them are looked at (the page says it was cut, and
// cuts on a character boundary); bytes that are not UTF-8 are read as
// Windows-1252 (mime::to_utf8, as IMAP SEARCH reads them); CR LF becomes a
// line break; every other control character but TAB becomes its visible
// Unicode "control picture" (U+2400...), so a NUL or an escape sequence
// shows as a symbol. The page then HTML-escapes the text (esc()).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>

namespace postline::web::portal {

inline constexpr size_t kMessageViewLimit = 256 * 1024;

struct MessageText {
  std::string header;  // up to (not including) the empty line that ends it
  std::string body;    // after it
  bool has_body = false;  // false: no empty line in what was looked at (all of it is header)
  bool cut = false;       // `raw` was longer than `limit`
};

// `raw` split at its first empty line (CRLF CRLF or LF LF), each part as
// display text (above); at most `limit` bytes of `raw` are read.
MessageText message_text(std::string_view raw, size_t limit = kMessageViewLimit);
// Bytes as display text (above); never longer than 3 times `bytes`.
std::string display_text(std::string_view bytes);

}  // namespace postline::web::portal
