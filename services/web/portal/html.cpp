#include "services/web/portal/html.h"

#include "services/web/core/query.h"
#include "services/web/core/xml.h"
#include "services/web/portal/portal.h"

namespace postline::web::portal {

std::string esc(std::string_view text) { return xml_escape(text); }

Answer html(unsigned status, std::string body) {
  Answer a;
  a.status = status;
  a.content_type = "text/html; charset=utf-8";
  a.body = std::move(body);
  return a;
}

Answer redirect(std::string_view location) {
  Answer a;
  a.status = 303;  // after a POST the browser GETs the new page
  a.body = "see " + std::string(location) + "\n";
  a.headers.emplace_back("Location", std::string(location));
  return a;
}

Answer text(unsigned status, std::string body) {
  Answer a;
  a.status = status;
  a.body = std::move(body) + "\n";
  return a;
}

std::string error_box(std::string_view message) {
  return "<p class=\"error\" role=\"alert\">" + esc(message) + "</p>\n";
}

std::string hidden_csrf(std::string_view csrf) {
  return "<input type=\"hidden\" name=\"csrf\" value=\"" + esc(csrf) + "\">";
}

std::string page(std::string_view title, const PageUser* user, std::string_view current, std::string_view main,
                 std::string_view script) {
  std::string out =
      "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n"
      "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">\n<title>" +
      esc(title) + " - Postline</title>\n<link rel=\"stylesheet\" href=\"/assets/portal.css\">\n";
  if (!script.empty()) out += "<script src=\"" + esc(script) + "\" defer></script>\n";
  out += "</head>\n<body>\n<a class=\"skip\" href=\"#main\">Skip to content</a>\n<header>\n<p class=\"brand\">Postline</p>\n";
  if (user) {
    static constexpr std::pair<const char*, const char*> kNav[] = {{"/sent", "Sent mail"},
                                                                   {"/app-passwords", "App passwords"},
                                                                   {"/password", "Password"},
                                                                   {"/quota", "Quota"},
                                                                   {"/filters", "Filters"},
                                                                   {"/setup", "Set up a client"}};
    out += "<nav aria-label=\"Main\"><ul>\n";
    for (const auto& [href, label] : kNav) {
      out += "<li><a href=\"" + std::string(href) + "\"";
      if (current == href) out += " aria-current=\"page\"";
      out += ">" + std::string(label) + "</a></li>\n";
    }
    if (user->admin)
      out += std::string("<li><a href=\"/admin\"") + (current.substr(0, 6) == "/admin" ? " aria-current=\"page\"" : "") +
             ">Administration</a></li>\n";
    out += "</ul></nav>\n<form class=\"signout\" method=\"post\" action=\"/logout\">" + hidden_csrf(user->csrf) +
           "<span class=\"who\">" + esc(user->email) + "</span> <button type=\"submit\">Sign out</button></form>\n";
  }
  out += "</header>\n<main id=\"main\" tabindex=\"-1\">\n<h1>" + esc(title) + "</h1>\n";
  out += main;
  out += "\n</main>\n</body>\n</html>\n";
  return out;
}

namespace {

std::string state_badge(RecipientState s) {
  const std::string name = recipient_state_name(s);
  return "<span class=\"state state-" + name + "\">" + name + "</span>";
}

std::string attempt_html(const Attempt& a) {
  std::string out = "<li><time>" + esc(format_time(a.started_unix)) + "</time> attempt: " +
                    state_badge(a.outcome);
  if (!a.mx_host.empty()) out += " at <span class=\"mx\">" + esc(a.mx_host) + "</span>";
  if (!a.reply.empty())
    out += std::string(" <span class=\"reply-from\">") + (a.remote_reply ? "the server said" : "Postline said") +
           "</span> <q class=\"reply\">" + esc(a.reply) + "</q>";
  return out + "</li>\n";
}

}  // namespace

std::string message_html(const SentMessage& m, std::string_view detail_prefix) {
  std::string out = "<article class=\"message\" data-queue-id=\"" + esc(m.queue_id) + "\">\n<h2>";
  if (!detail_prefix.empty()) out += "<a href=\"" + esc(detail_prefix) + esc(url_encode(m.queue_id)) + "\">";
  out += "<span class=\"subject\">" + esc(m.subject.empty() ? "(no subject)" : m.subject) + "</span>";
  if (!detail_prefix.empty()) out += "</a>";
  out += " <time class=\"sent-at\">" + esc(format_time(m.created_unix)) + "</time>";
  out += "</h2>\n<dl class=\"meta\"><dt>From</dt><dd>" + esc(m.mail_from.empty() ? "<>" : m.mail_from) + "</dd>";
  if (!m.message_id.empty()) out += "<dt>Message-ID</dt><dd>" + esc(m.message_id) + "</dd>";
  out += "<dt>Queue id</dt><dd>" + esc(m.queue_id) + "</dd></dl>\n<ul class=\"recipients\">\n";
  for (const auto& r : m.recipients) {
    const std::string state = recipient_state_name(r.state);
    out += "<li class=\"recipient\" data-recipient=\"" + esc(r.address) + "\" data-state=\"" + state +
           "\">\n<p><span class=\"address\">" + esc(r.address) + "</span> " + state_badge(r.state) + "</p>\n";
    out += "<ol class=\"timeline\">\n<li><time>" + esc(format_time(m.created_unix)) + "</time> queued</li>\n";
    for (const auto& a : r.attempts) out += attempt_html(a);
    if ((r.state == RecipientState::kDeferred || r.state == RecipientState::kQueued) && !r.attempts.empty() &&
        r.next_attempt_unix > 0)
      out += "<li>deferred until <time>" + esc(format_time(r.next_attempt_unix)) + "</time></li>\n";
    if (r.state == RecipientState::kDelivered || r.state == RecipientState::kBounced ||
        r.state == RecipientState::kExpired)
      out += "<li class=\"final\">" + state_badge(r.state) + "</li>\n";
    out += "</ol>\n</li>\n";
  }
  return out + "</ul>\n</article>\n";
}

}  // namespace postline::web::portal
