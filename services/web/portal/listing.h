// The message lists of the portal - "Sent mail" and the administrator's queue -
// read from a request's query string and cut into pages (docs/web.md
// "Paging"): the queue page's filter (sender, recipient, domain, Message-ID,
// older than, state), the page cursor (?after=ID or ?before=ID, a queue id),
// and the prev/next links. Sans-I/O; every value read here is bounded and
// checked before it goes to queued, which checks it again.
#pragma once

#include "services/web/portal/backend.h"

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace postline::web::portal {

inline constexpr size_t kMaxFilterValue = 512;  // queued's limit for a filter's text

// queued's queue ids: 6 to 64 of [A-Za-z0-9_-].
bool valid_queue_id(std::string_view id);

// ?after= / ?before= of `target`; nullopt with `why` when both are given or
// one is not a queue id. Neither: the first page.
std::optional<PageCursor> parse_page_cursor(std::string_view target, std::string* why);

// The queue page's filter into `filter`: ?sender= (`<>`: the null sender),
// recipient, domain, message_id, older (a duration such as 30m, 2h or 3d,
// more than 0), state (kQueueStates). The texts are kept as given (the form
// shows them again); false with `why` naming the parameter when one is not
// acceptable: over kMaxFilterValue octets, a control character, an unknown
// state, a bad duration.
bool parse_queue_filter(std::string_view target, QueueFilter& filter, std::string* why);
// Every value the state filter takes ("" = pending, the default).
inline constexpr const char* kQueueStates[] = {"",        "queued",  "deferred", "delivering", "held",
                                               "delivered", "bounced", "expired", "any"};
// The query string (without '?') that gives `filter` back; "" for no condition.
std::string queue_filter_query(const QueueFilter& filter);

// Where a page's neighbours are.
struct PageLinks {
  bool prev = false;
  std::string prev_before;  // the cursor for the previous page; "" = the first page
  bool next = false;
  std::string next_after;   // the cursor for the next page
};
// `fetched` was asked for limit + 1 messages at `asked`; it is cut to one page
// (the extra one only tells that there is more) and the links say where the
// previous and next pages are.
PageLinks page_of(std::vector<SentMessage>& fetched, const PageCursor& asked, size_t limit);

// One page: `fetch(cursor)` asks the backend for limit + 1 messages. A
// cursor whose message is gone (PageGone) starts again at the first page
// (`restarted`), and a page before a cursor that reaches the start is the
// full first page instead, so the first page always looks the same.
template <typename Fetch>
std::vector<SentMessage> fetch_page(Fetch&& fetch, PageCursor cursor, size_t limit, PageLinks* links,
                                    bool* restarted) {
  std::vector<SentMessage> got;
  try {
    got = fetch(cursor);
  } catch (const PageGone&) {
    cursor = {};
    *restarted = true;
    got = fetch(cursor);
  }
  *links = page_of(got, cursor, limit);
  if (!cursor.before.empty() && !links->prev) {
    cursor = {};
    got = fetch(cursor);
    *links = page_of(got, cursor, limit);
  }
  return got;
}

// The URL of a neighbouring page: `path` (and `query`, the filter's, when
// not empty) with after= or before=; before "" is the first page.
std::string page_url(std::string_view path, std::string_view query, std::string_view key, std::string_view id);
// The prev/next links as a navigation landmark (real links: Tab reaches them,
// Enter follows them); "" when there is only one page.
std::string pager_html(const PageLinks& links, std::string_view path, std::string_view query,
                       std::string_view prev_label, std::string_view next_label);

}  // namespace postline::web::portal
