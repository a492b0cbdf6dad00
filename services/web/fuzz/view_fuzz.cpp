// libFuzzer entry point for what the portal's message lists and the queued-
// message view read (portal/listing.h, portal/message_text.h): the input is
// split at its first NUL; before it, a query string (the queue page's filter
// and the page cursor), after it, the bytes of a queued message - whatever a
// stranger sent. Invariants, not only "no crash":
//   - parse_page_cursor accepts at most one cursor, always a valid queue id;
//   - parse_queue_filter accepts only values within the limits, a known state
//     and a positive age; the query it gives back parses to the same filter;
//   - message_text reads at most its limit (cut says so), returns valid UTF-8
//     with no control character but LF and TAB, at most three times the input,
//     and once escaped holds no markup character.
#include "services/web/portal/html.h"
#include "services/web/portal/listing.h"
#include "services/web/portal/message_text.h"

#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

using namespace postline::web::portal;

namespace {

bool valid_utf8_text(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c < 0x80) {
      if ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7f) return false;
      ++i;
      continue;
    }
    const size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
    uint32_t cp = c & (0x7f >> n);
    for (size_t k = 1; k < n; ++k) {
      const unsigned char d = static_cast<unsigned char>(s[i + k]);
      if ((d & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (d & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff))
      return false;
    i += n;
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view input(reinterpret_cast<const char*>(data), size);
  const auto nul = input.find('\0');
  const std::string target = "/admin/queue?" + std::string(input.substr(0, nul));
  const std::string_view raw = nul == std::string_view::npos ? std::string_view{} : input.substr(nul + 1);

  std::string why;
  if (auto c = parse_page_cursor(target, &why)) {
    if (!c->after.empty() && !c->before.empty()) std::abort();
    for (const auto* id : {&c->after, &c->before})
      if (!id->empty() && !valid_queue_id(*id)) std::abort();
  } else if (why.empty()) {
    std::abort();
  }

  QueueFilter f;
  why.clear();
  if (parse_queue_filter(target, f, &why)) {
    for (const auto* v : {&f.sender, &f.recipient, &f.domain, &f.message_id, &f.older, &f.state}) {
      if (v->size() > kMaxFilterValue) std::abort();
      for (unsigned char c : *v)
        if (c < 0x20 || c == 0x7f) std::abort();
    }
    if (f.older.empty() != (f.older_than_seconds == 0) || f.older_than_seconds < 0) std::abort();
    QueueFilter back;
    std::string why2;
    if (!parse_queue_filter("/admin/queue?" + queue_filter_query(f), back, &why2)) std::abort();
    if (back.sender != f.sender || back.recipient != f.recipient || back.domain != f.domain ||
        back.message_id != f.message_id || back.older_than_seconds != f.older_than_seconds || back.state != f.state)
      std::abort();
  } else if (why.empty()) {
    std::abort();
  }

  constexpr size_t kLimit = 1024;  // small, so the cut is reached
  const MessageText t = message_text(raw, kLimit);
  if (t.cut != (raw.size() > kLimit)) std::abort();
  const size_t read = raw.size() > kLimit ? kLimit : raw.size();
  if (t.header.size() + t.body.size() > 3 * read) std::abort();
  for (const auto* part : {&t.header, &t.body}) {
    if (!valid_utf8_text(*part)) std::abort();
    if (esc(*part).find_first_of("<>\"'") != std::string::npos) std::abort();
  }
  if (!t.has_body && !t.body.empty()) std::abort();
  return 0;
}
