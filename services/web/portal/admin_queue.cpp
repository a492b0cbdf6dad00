// The administrator's queue (docs/web.md "Administration"): the messages
// queued's MessageFilter selects (sender, recipient, domain, Message-ID, older
// than, state), 50 a page with prev/next links, each with retry, hold, release
// and delete; and one message viewed (/admin/queue/<id>, QueueService
// ReadMessage): envelope, timelines, then its header and body as text - the
// first 256 KiB, never rendered as HTML.
#include "services/web/portal/portal.h"

#include "services/web/core/query.h"
#include "services/web/portal/admin_pages.h"
#include "services/web/portal/listing.h"
#include "services/web/portal/message_text.h"

namespace postline::web::portal {

using namespace admin_pages;

namespace {

// Each message on the page costs queued two statements (its recipients,
// their attempts), as on the sent-mail page.
constexpr size_t kQueueListLimit = 50;

const char* state_label(std::string_view state) {
  if (state.empty()) return "pending (queued or deferred)";
  if (state == "delivering") return "being delivered now";
  if (state == "held") return "on hold";
  if (state == "any") return "any, finished ones too";
  for (const char* s : kQueueStates)
    if (state == s) return s;
  return "";
}

std::string actions_form(const SentMessage& m, const std::string& csrf_field, std::string_view action) {
  std::string out = "<form class=\"actions\" method=\"post\" action=\"" + esc(action) + "\">" + csrf_field +
                    "<input type=\"hidden\" name=\"queue_id\" value=\"" + esc(m.queue_id) + "\">";
  for (const char* act : {"retry", "hold", "release", "delete"})
    out += std::string("<button type=\"submit\" name=\"action\" value=\"") + act + "\" aria-label=\"" + act + " " +
           esc(m.queue_id) + "\">" + act + "</button> ";
  return out + "</form>\n";
}

std::string size_text(int64_t bytes) {
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  if (bytes < 1024 * 1024) return std::to_string(bytes / 1024) + " KiB";
  return std::to_string(bytes / (1024 * 1024)) + "." + std::to_string(bytes % (1024 * 1024) * 10 / (1024 * 1024)) +
         " MiB";
}

}  // namespace

Answer Portal::admin_queue(const Request& req, std::string_view path, const std::optional<Fields>& form,
                           const PageUser& user) const {
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  const std::string csrf_field = hidden_csrf(user.csrf);
  Outcome done;

  if (path.substr(0, 13) == "/admin/queue/") {
    if (!get) return method_not_allowed("GET, HEAD");
    const std::string id(path.substr(13));
    std::optional<QueuedContent> content;
    if (valid_queue_id(id)) content = backend_.read_message(id, kMessageViewLimit, user.email);
    if (!content)
      return html(404, page("Not found", &user, "/admin/queue",
                            admin_nav("/admin/queue") + "<p>No such message in the queue.</p>\n"
                                                         "<p><a href=\"/admin/queue\">All queued messages</a></p>\n"));
    const SentMessage& m = content->message;
    std::string main = admin_nav("/admin/queue") + message_html(m) +
                       "<dl class=\"meta\"><dt>Size</dt><dd>" + esc(size_text(m.size)) + "</dd><dt>Submitted by</dt><dd>" +
                       esc(m.submitter.empty() ? "nobody (arrived from outside)" : m.submitter) + "</dd></dl>\n" +
                       actions_form(m, csrf_field, "/admin/queue");
    if (!content->body_stored) {
      main += "<p class=\"hint\" id=\"not-kept\">The message's bytes were not kept: every recipient was delivered "
              "when it arrived.</p>\n";
    } else {
      const MessageText text = message_text(content->data);
      if (content->cut || text.cut)
        main += "<p class=\"hint\" id=\"cut\">Only the first " + std::to_string(kMessageViewLimit / 1024) +
                " KiB of its " + esc(size_text(m.size)) + " are shown.</p>\n";
      main += "<h2>Header</h2>\n<pre class=\"raw\" id=\"message-header\" tabindex=\"0\">" + esc(text.header) +
              "</pre>\n<h2>Body</h2>\n";
      if (text.has_body)
        main += "<pre class=\"raw\" id=\"message-body\" tabindex=\"0\">" + esc(text.body) + "</pre>\n";
      else
        main += "<p class=\"hint\">No body" + std::string(text.cut ? " in what is shown." : ".") + "</p>\n";
      main += "<p class=\"hint\">Shown as text, as queued stores it; bytes that are not UTF-8 as Windows-1252, control "
              "characters as symbols.</p>\n";
    }
    main += "<p><a href=\"/admin/queue\">All queued messages</a></p>\n";
    return html(200, page("Queued message", &user, "/admin/queue", main));
  }
  if (path != "/admin/queue") return html(404, page("Not found", &user, "", "<p>No such page.</p>\n"));

  if (post) {
    const std::string id = field(form, "queue_id"), action = field(form, "action");
    std::optional<QueueAction> a;
    if (action == "retry") a = QueueAction::kRetry;
    else if (action == "hold") a = QueueAction::kHold;
    else if (action == "release") a = QueueAction::kRelease;
    else if (action == "delete") a = QueueAction::kDelete;
    if (!a) {
      done.refuse("action: one of retry, hold, release, delete");
    } else {
      done.attempt([&] {
        if (backend_.queue_action(*a, id) == 0) throw Refused("no pending message " + id + " in the queue");
      }, action + ": " + id + " done.");
    }
  } else if (!get) {
    return method_not_allowed("GET, HEAD, POST");
  }

  std::string why;
  QueueFilter f;
  std::optional<QueueFilter> filter;
  if (parse_queue_filter(req.target, f, &why)) filter = f;
  auto cursor = filter ? parse_page_cursor(req.target, &why) : std::optional<PageCursor>(PageCursor{});
  std::string main = admin_nav(path) + done.notice;
  PageLinks links;
  bool restarted = false;
  std::vector<SentMessage> messages;
  if (!filter || !cursor) {
    main += error_box(why);  // nothing is listed for a filter that is not one
    done.status = 400;
    if (!filter) filter = f;  // shown again as typed
    if (!cursor) cursor.emplace();
  } else {
    try {
      messages = fetch_page([&](const PageCursor& c) { return backend_.queue(kQueueListLimit + 1, *filter, c); },
                            *cursor, kQueueListLimit, &links, &restarted);
    } catch (const Refused& e) {
      main += error_box(e.what());  // queued refused the filter
      done.status = 400;
    }
  }
  const std::string query = queue_filter_query(*filter);

  main += "<form class=\"card filter\" method=\"get\" action=\"/admin/queue\">\n<h2>Filter</h2>\n"
          "<p><label for=\"f-sender\">Sender (<code>&lt;&gt;</code>: bounces)</label>\n<input id=\"f-sender\" "
          "name=\"sender\" value=\"" + esc(filter->sender) + "\"></p>\n<p><label for=\"f-recipient\">Recipient</label>\n"
          "<input id=\"f-recipient\" name=\"recipient\" value=\"" + esc(filter->recipient) + "\"></p>\n"
          "<p><label for=\"f-domain\">Recipient domain</label>\n<input id=\"f-domain\" name=\"domain\" value=\"" +
          esc(filter->domain) + "\"></p>\n<p><label for=\"f-message-id\">Message-ID</label>\n<input id=\"f-message-id\" "
          "name=\"message_id\" value=\"" + esc(filter->message_id) + "\"></p>\n<p><label for=\"f-older\">Older than "
          "(e.g. 30m, 2h, 3d)</label>\n<input id=\"f-older\" name=\"older\" value=\"" + esc(filter->older) +
          "\"></p>\n<p><label for=\"f-state\">A recipient's state</label>\n<select id=\"f-state\" name=\"state\">\n";
  for (const char* s : kQueueStates)
    main += std::string("<option value=\"") + s + "\"" + (filter->state == s ? " selected" : "") + ">" +
            esc(state_label(s)) + "</option>\n";
  main += "</select></p>\n<p><button type=\"submit\">Show</button> <a href=\"/admin/queue\">All</a></p>\n</form>\n";
  main += "<p class=\"hint\">Messages with a recipient " +
          std::string(filter->state.empty() ? "still on its way" : std::string("in state: ") + esc(state_label(filter->state))) +
          ", oldest first, " + std::to_string(kQueueListLimit) + " a page. A subject opens the message.</p>\n";
  if (restarted) main += "<p class=\"hint\">That page is gone (its message left the queue): here is the first.</p>\n";
  if (messages.empty()) main += "<p class=\"empty\">No message in the queue matches.</p>\n";
  // The buttons keep the filter and the page: the answer shows the same list.
  const std::string here = page_url("/admin/queue", query, cursor->after.empty() ? "before" : "after",
                                    restarted ? "" : cursor->after.empty() ? cursor->before : cursor->after);
  for (const auto& m : messages) main += message_html(m, "/admin/queue/") + actions_form(m, csrf_field, here);
  main += pager_html(links, "/admin/queue", query, "Earlier messages", "Later messages");
  return html(done.status, page("Queue", &user, path, main));
}

}  // namespace postline::web::portal
