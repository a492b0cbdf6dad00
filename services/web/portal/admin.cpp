// The administrator pages of the portal (docs/web.md "Administration"), for
// accounts authd marks admin. The flag is asked of authd on every request
// (GetUser), not taken from the session, so taking it away counts at once.
// Everybody else gets the same 404 as for a page that does not exist. Here:
// the check, aliases, DNS records and health; domains and users are in
// admin_accounts.cpp, the queue in admin_queue.cpp.
#include "services/web/portal/portal.h"

#include "services/web/portal/admin_pages.h"

#include "services/web/core/query.h"


namespace postline::web::portal {

namespace admin_pages {

std::string field(const std::optional<Fields>& form, const char* name) {
  if (!form) return "";
  auto it = form->find(name);
  return it == form->end() ? "" : it->second;
}

std::string admin_nav(std::string_view current) {
  static constexpr std::pair<const char*, const char*> kPages[] = {
      {"/admin/domains", "Domains"}, {"/admin/users", "Users"}, {"/admin/aliases", "Aliases"}, {"/admin/queue", "Queue"},
      {"/admin/dns", "DNS"}, {"/admin/health", "Health"}};
  std::string out = "<nav aria-label=\"Administration\" class=\"subnav\"><ul>\n";
  for (const auto& [href, label] : kPages) {
    out += "<li><a href=\"" + std::string(href) + "\"";
    if (current == href) out += " aria-current=\"page\"";
    out += ">" + std::string(label) + "</a></li>\n";
  }
  return out + "</ul></nav>\n";
}

std::string ok_box(std::string_view message) {
  return "<p class=\"ok\" role=\"status\">" + esc(message) + "</p>\n";
}

Answer method_not_allowed(const char* allow) {
  Answer a = text(405, "method not allowed");
  a.headers.emplace_back("Allow", allow);
  return a;
}

}  // namespace admin_pages

using namespace admin_pages;

Answer Portal::admin(const Request& req, std::string_view path, const std::optional<Fields>& form,
                     const PageUser& user) const {
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  bool allowed = false;
  try {
    allowed = backend_.is_admin(user.email);
  } catch (const std::exception&) {
    Answer a = html(503, page("Administration", &user, "/admin", error_box("authd cannot answer right now.")));
    a.headers.emplace_back("Retry-After", "30");
    return a;
  }
  if (!allowed) return html(404, page("Not found", &user, "", "<p>No such page.</p>\n"));
  const std::string csrf_field = hidden_csrf(user.csrf);
  Outcome done;

  try {
    if (path == "/admin") {
      if (!get) return method_not_allowed("GET, HEAD");
      return redirect("/admin/users");
    }

    if (path == "/admin/domains" || path.substr(0, 15) == "/admin/domains/") return admin_domains(req, path, form, user);
    if (path == "/admin/users" || path.substr(0, 13) == "/admin/users/") return admin_users(req, path, form, user);
    if (path == "/admin/queue" || path.substr(0, 13) == "/admin/queue/") return admin_queue(req, path, form, user);

    if (path == "/admin/aliases" || path == "/admin/aliases/remove") {
      if (post && path == "/admin/aliases/remove") {
        const std::string address = field(form, "address"), target = field(form, "target");
        done.attempt([&] { backend_.remove_alias(address, target); }, "Alias " + address + " -> " + target + " removed.");
      } else if (post) {
        const std::string address = field(form, "address"), target = field(form, "target");
        done.attempt([&] { backend_.add_alias(address, target); }, "Alias " + address + " -> " + target + " added.");
      } else if (!get || path != "/admin/aliases") {
        return method_not_allowed(path == "/admin/aliases" ? "GET, HEAD, POST" : "POST");
      }
      std::string main = admin_nav("/admin/aliases") + done.notice +
                         "<table class=\"list\"><caption>Aliases</caption>\n<thead><tr><th scope=\"col\">Address</th>"
                         "<th scope=\"col\">Delivers to</th></tr></thead>\n<tbody>\n";
      for (const auto& a : backend_.aliases()) {
        main += "<tr><td>" + esc(a.address) + "</td><td><ul class=\"targets\">";
        for (const auto& t : a.targets)
          main += "<li>" + esc(t) + " <form class=\"inline\" method=\"post\" action=\"/admin/aliases/remove\">" +
                  csrf_field + "<input type=\"hidden\" name=\"address\" value=\"" + esc(a.address) +
                  "\"><input type=\"hidden\" name=\"target\" value=\"" + esc(t) +
                  "\"><button type=\"submit\" aria-label=\"Remove " + esc(t) + " from " + esc(a.address) +
                  "\">Remove</button></form></li>";
        main += "</ul></td></tr>\n";
      }
      main += "</tbody></table>\n<form class=\"card\" method=\"post\" action=\"/admin/aliases\">" + csrf_field +
              "\n<h2>Add an alias</h2>\n<p><label for=\"address\">Alias address</label>\n"
              "<input id=\"address\" name=\"address\" required></p>\n<p><label for=\"target\">Delivers to</label>\n"
              "<input id=\"target\" name=\"target\" type=\"email\" required></p>\n"
              "<p><button type=\"submit\">Add alias</button></p>\n</form>\n";
      return html(done.status, page("Aliases", &user, "/admin/aliases", main));
    }

    if (path == "/admin/dns") {
      if (!get) return method_not_allowed("GET, HEAD");
      // "Check now" is a GET: it changes nothing, it only asks DNS.
      const std::string domain = query_param(req.target, "domain").value_or("");
      const bool check = query_param(req.target, "check").value_or("") == "1";
      std::string main = admin_nav(path);
      if (domain.empty()) {
        main += "<p class=\"hint\">The records each hosted domain needs (MX, SPF, DKIM, DMARC, MTA-STS, TLS-RPT, "
                "SRV, autoconfig) and whether DNS serves them.</p>\n<ul class=\"domains\">\n";
        for (const auto& d : backend_.domains())
          main += "<li><a href=\"/admin/dns?domain=" + esc(url_encode(d.name)) + "\">" + esc(d.name) + "</a></li>\n";
        main += "</ul>\n";
        return html(200, page("DNS records", &user, path, main));
      }
      DomainDns dns;
      try {
        dns = backend_.dns(domain, check);
      } catch (const Refused& e) {
        main += error_box(e.what());
        return html(400, page("DNS records", &user, path, main));
      }
      if (!dns.warning.empty()) main += error_box(dns.warning);
      main += "<h2>" + esc(dns.domain) + "</h2>\n<p>Mail server <code>" + esc(dns.host) + "</code>.</p>\n"
              "<form class=\"card\" method=\"get\" action=\"/admin/dns\"><input type=\"hidden\" name=\"domain\" "
              "value=\"" + esc(dns.domain) + "\"><input type=\"hidden\" name=\"check\" value=\"1\">"
              "<button type=\"submit\">Check now</button></form>\n";
      if (check)
        main += "<p class=\"hint\">Asked " + esc(dns.resolver) + " just now.</p>\n";
      main += "<table class=\"list\"><caption>Records of " + esc(dns.domain) + "</caption>\n<thead><tr>"
              "<th scope=\"col\">Purpose</th><th scope=\"col\">Type</th><th scope=\"col\">Name</th>"
              "<th scope=\"col\">Value</th>" + std::string(check ? "<th scope=\"col\">In DNS</th>" : "") +
              "</tr></thead>\n<tbody>\n";
      for (const auto& r : dns.records) {
        main += "<tr data-record=\"" + esc(r.purpose) + "\" data-name=\"" + esc(r.name) + "\"";
        if (check) main += " data-verdict=\"" + esc(r.verdict) + "\"";
        main += "><td data-label=\"Purpose\">" + esc(r.purpose) + (r.required ? " (required)" : " (recommended)") +
                "</td><td data-label=\"Type\">" + esc(r.type) + "</td><td data-label=\"Name\"><code>" + esc(r.name) +
                "</code></td><td data-label=\"Value\">" +
                (r.value.empty() ? esc(r.note) : "<code>" + esc(r.value) + "</code>") + "</td>";
        if (check) {
          std::string verdict_class = r.verdict == "ok" ? "delivered" : r.fails ? "bounced" : "deferred";
          main += "<td data-label=\"In DNS\"><span class=\"state state-" + verdict_class + "\">" + esc(r.verdict) +
                  "</span>";
          for (const auto& f : r.found) main += "<br>found: <code>" + esc(f) + "</code>";
          if (!r.detail.empty()) main += "<br>" + esc(r.detail);
          main += "</td>";
        }
        main += "</tr>\n";
      }
      main += "</tbody></table>\n<h2>Zone-file text to publish</h2>\n<pre class=\"zone\" tabindex=\"0\">" +
              esc(dns.zone_file) + "</pre>\n";
      return html(200, page("DNS records", &user, path, main));
    }

    if (path == "/admin/health") {
      if (!get) return method_not_allowed("GET, HEAD");
      std::string main = admin_nav(path) +
                         "<table class=\"list\"><caption>What webd reaches</caption>\n<thead><tr><th scope=\"col\">"
                         "Service</th><th scope=\"col\">Where</th><th scope=\"col\">State</th><th scope=\"col\">"
                         "Detail</th></tr></thead>\n<tbody>\n";
      for (const auto& h : backend_.health()) {
        const std::string state = h.state.empty() ? (h.ok ? "up" : "down") : h.state;
        const char* state_class = h.ok ? "delivered" : h.state == "not ready" ? "deferred" : "bounced";
        main += "<tr data-service=\"" + esc(h.name) + "\" data-ok=\"" + (h.ok ? "true" : "false") +
                "\" data-state=\"" + esc(state) + "\"><td>" + esc(h.name) + "</td><td><code>" + esc(h.target) +
                "</code></td><td><span class=\"state state-" + state_class + "\">" + esc(state) + "</span></td><td>" +
                esc(h.detail) + "</td></tr>\n";
      }
      main += "</tbody></table>\n<p class=\"hint\">authd and queued: gRPC health; smtpd, imapd and any other "
              "service in <code>web.health_urls</code>: its internal <code>/readyz</code>.</p>\n";
      return html(200, page("Health", &user, path, main));
    }

  } catch (const Unavailable&) {
    Answer a = html(503, page("Administration", &user, "/admin", error_box("This is not available right now; try again shortly.")));
    a.headers.emplace_back("Retry-After", "30");
    return a;
  }
  return html(404, page("Not found", &user, "", "<p>No such page.</p>\n"));
}

}  // namespace postline::web::portal
