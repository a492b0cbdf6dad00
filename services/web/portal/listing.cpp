#include "services/web/portal/listing.h"

#include "common/config/config.h"
#include "services/web/core/query.h"
#include "services/web/portal/html.h"

#include <algorithm>

namespace postline::web::portal {

bool valid_queue_id(std::string_view id) {
  if (id.size() < 6 || id.size() > 64) return false;
  return std::all_of(id.begin(), id.end(), [](unsigned char c) {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  });
}

std::optional<PageCursor> parse_page_cursor(std::string_view target, std::string* why) {
  PageCursor c;
  c.after = query_param(target, "after").value_or("");
  c.before = query_param(target, "before").value_or("");
  if (!c.after.empty() && !c.before.empty()) {
    *why = "after and before exclude each other";
    return std::nullopt;
  }
  for (const auto* id : {&c.after, &c.before}) {
    if (!id->empty() && !valid_queue_id(*id)) {
      *why = std::string(id == &c.after ? "after" : "before") + ": not a queue id";
      return std::nullopt;
    }
  }
  return c;
}

bool parse_queue_filter(std::string_view target, QueueFilter& f, std::string* why) {
  f = QueueFilter{};
  struct Text {
    const char* name;
    std::string* value;
  };
  const Text texts[] = {{"sender", &f.sender},         {"recipient", &f.recipient}, {"domain", &f.domain},
                        {"message_id", &f.message_id}, {"older", &f.older},         {"state", &f.state}};
  for (const auto& t : texts) *t.value = query_param(target, t.name).value_or("");
  for (const auto& t : texts) {
    const bool control = std::any_of(t.value->begin(), t.value->end(),
                                     [](unsigned char c) { return c < 0x20 || c == 0x7f; });
    if (t.value->size() > kMaxFilterValue || control) {
      *why = std::string(t.name) + ": at most " + std::to_string(kMaxFilterValue) +
             " characters, no control characters";
      return false;
    }
  }
  if (std::find_if(std::begin(kQueueStates), std::end(kQueueStates),
                   [&](const char* s) { return f.state == s; }) == std::end(kQueueStates)) {
    *why = "state: one of queued, deferred, delivering, held, delivered, bounced, expired, any";
    return false;
  }
  if (!f.older.empty()) {
    try {
      f.older_than_seconds = config::parse_duration(f.older, "older than").count();
    } catch (const std::exception& e) {
      *why = e.what();
      return false;
    }
    if (f.older_than_seconds <= 0) {
      *why = "older than: give a duration longer than 0, such as 30m, 2h or 3d";
      return false;
    }
  }
  return true;
}

std::string queue_filter_query(const QueueFilter& f) {
  std::string out;
  const std::pair<const char*, const std::string*> params[] = {{"sender", &f.sender},         {"recipient", &f.recipient},
                                                               {"domain", &f.domain},         {"message_id", &f.message_id},
                                                               {"older", &f.older},           {"state", &f.state}};
  for (const auto& [name, value] : params) {
    if (value->empty()) continue;
    if (!out.empty()) out += '&';
    out += std::string(name) + "=" + url_encode(*value);
  }
  return out;
}

PageLinks page_of(std::vector<SentMessage>& fetched, const PageCursor& asked, size_t limit) {
  PageLinks links;
  const bool more = fetched.size() > limit;
  if (!asked.before.empty()) {
    // Read towards the cursor: the surplus is at the far (front) end.
    if (more) fetched.erase(fetched.begin(), fetched.begin() + static_cast<std::ptrdiff_t>(fetched.size() - limit));
    links.prev = more;
    links.next = !fetched.empty();  // the page the cursor came from
  } else {
    if (more) fetched.resize(limit);
    links.next = more;
    links.prev = !asked.after.empty();
  }
  if (links.prev && !fetched.empty()) links.prev_before = fetched.front().queue_id;
  if (links.next) links.next_after = fetched.back().queue_id;
  return links;
}

std::string page_url(std::string_view path, std::string_view query, std::string_view key, std::string_view id) {
  std::string out(path);
  std::string q(query);
  if (!id.empty()) q += std::string(q.empty() ? "" : "&") + std::string(key) + "=" + url_encode(id);
  if (!q.empty()) out += "?" + q;
  return out;
}

std::string pager_html(const PageLinks& links, std::string_view path, std::string_view query,
                       std::string_view prev_label, std::string_view next_label) {
  if (!links.prev && !links.next) return "";
  std::string out = "<nav class=\"pager\" aria-label=\"Pages\"><ul>\n";
  if (links.prev)
    out += "<li><a rel=\"prev\" href=\"" + esc(page_url(path, query, "before", links.prev_before)) + "\">" +
           esc(prev_label) + "</a></li>\n";
  if (links.next)
    out += "<li><a rel=\"next\" href=\"" + esc(page_url(path, query, "after", links.next_after)) + "\">" +
           esc(next_label) + "</a></li>\n";
  return out + "</ul></nav>\n";
}

}  // namespace postline::web::portal
