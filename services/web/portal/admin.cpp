// The administrator pages of the portal (docs/web.md "Administration"):
// domains, users, aliases and the queue, for accounts authd marks admin. The
// flag is asked of authd on every request (GetUser), not taken from the
// session, so taking it away counts at once. Everybody else gets the same 404
// as for a page that does not exist.
#include "services/web/portal/portal.h"

#include "services/web/core/query.h"

#include <cctype>
#include <charconv>

namespace postline::web::portal {

namespace {

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

// A query-string component: unreserved characters as they are, the rest %XX.
std::string url_encode(std::string_view s) {
  static constexpr char kHex[] = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : s) {
    if (std::isalnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
      out += static_cast<char>(c);
    } else {
      out += '%';
      out += kHex[c >> 4];
      out += kHex[c & 15];
    }
  }
  return out;
}

std::string ok_box(std::string_view message) {
  return "<p class=\"ok\" role=\"status\">" + esc(message) + "</p>\n";
}

// "1GiB", "500MiB", "0": octets; nullopt when not a size.
std::optional<int64_t> parse_quota(std::string_view text) {
  if (text.empty()) return 0;
  int64_t n = 0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), n);
  if (ec != std::errc() || n < 0) return std::nullopt;
  const std::string_view unit = text.substr(static_cast<size_t>(p - text.data()));
  int64_t mult = 1;
  if (unit == "" || unit == "B") mult = 1;
  else if (unit == "KiB") mult = 1024;
  else if (unit == "MiB") mult = 1024 * 1024;
  else if (unit == "GiB") mult = 1024LL * 1024 * 1024;
  else return std::nullopt;
  if (n > INT64_MAX / mult) return std::nullopt;
  return n * mult;
}

}  // namespace

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
  auto method_not_allowed = [](const char* allow) {
    Answer a = text(405, "method not allowed");
    a.headers.emplace_back("Allow", allow);
    return a;
  };
  const std::string csrf_field = hidden_csrf(user.csrf);
  std::string notice;
  unsigned status = 200;
  auto attempt = [&](auto&& fn, const std::string& done) {
    try {
      fn();
      notice = ok_box(done);
    } catch (const Refused& e) {
      notice = error_box(e.what());
      status = 400;
    }
  };

  try {
    if (path == "/admin") {
      if (!get) return method_not_allowed("GET, HEAD");
      return redirect("/admin/users");
    }

    if (path == "/admin/domains") {
      if (post) {
        const std::string name = field(form, "name");
        attempt([&] { backend_.add_domain(name); }, "Domain " + name + " added.");
      } else if (!get) {
        return method_not_allowed("GET, HEAD, POST");
      }
      std::string main = admin_nav(path) + notice +
                         "<table class=\"list\"><caption>Hosted domains</caption>\n<thead><tr><th scope=\"col\">Domain"
                         "</th><th scope=\"col\">Users</th><th scope=\"col\">Aliases</th></tr></thead>\n<tbody>\n";
      for (const auto& d : backend_.domains())
        main += "<tr><td>" + esc(d.name) + " <a href=\"/admin/dns?domain=" + esc(url_encode(d.name)) +
                "\" aria-label=\"DNS records of " + esc(d.name) + "\">DNS records</a></td><td>" + std::to_string(d.users) + "</td><td>" +
                std::to_string(d.aliases) + "</td></tr>\n";
      main += "</tbody></table>\n<form class=\"card\" method=\"post\" action=\"/admin/domains\">" + csrf_field +
              "\n<h2>Add a domain</h2>\n<p><label for=\"name\">Domain name</label>\n"
              "<input id=\"name\" name=\"name\" required></p>\n<p><button type=\"submit\">Add domain</button></p>\n</form>\n";
      return html(status, page("Domains", &user, path, main));
    }

    if (path == "/admin/users" || path == "/admin/users/quota" || path == "/admin/users/state") {
      if (post && path == "/admin/users/state") {
        const std::string email = field(form, "email"), state = field(form, "state");
        if (email == user.email) {
          notice = error_box("You cannot disable the account you are signed in with.");
          status = 400;
        } else if (state != "disabled" && state != "enabled") {
          notice = error_box("state: disabled or enabled");
          status = 400;
        } else {
          attempt([&] { backend_.set_disabled(email, state == "disabled"); }, "User " + email + " " + state + ".");
        }
      } else if (post && path == "/admin/users/quota") {
        const std::string email = field(form, "email");
        auto quota = parse_quota(field(form, "quota"));
        if (!quota) {
          notice = error_box("quota: give a size such as 500MiB or 2GiB (empty or 0 = unlimited)");
          status = 400;
        } else {
          attempt([&] { backend_.set_quota(email, *quota); },
                  "Quota of " + email + " set to " + (*quota ? std::to_string(*quota / (1024 * 1024)) + " MiB" : "unlimited") + ".");
        }
      } else if (post) {
        NewUser u;
        u.email = field(form, "email");
        u.password = field(form, "password");
        u.admin = field(form, "admin") == "on";
        auto quota = parse_quota(field(form, "quota"));
        if (!quota) {
          notice = error_box("quota: give a size such as 500MiB or 2GiB (empty or 0 = unlimited)");
          status = 400;
        } else {
          u.quota_bytes = *quota;
          attempt([&] { backend_.add_user(u); }, "User " + u.email + " added.");
        }
      } else if (!get || path != "/admin/users") {
        return method_not_allowed(path == "/admin/users" ? "GET, HEAD, POST" : "POST");
      }
      std::string main = admin_nav("/admin/users") + notice +
                         "<table class=\"list\"><caption>Users</caption>\n<thead><tr><th scope=\"col\">Address</th>"
                         "<th scope=\"col\">Quota</th><th scope=\"col\">Last sign-in</th><th scope=\"col\">Flags</th>"
                         "<th scope=\"col\">Change</th></tr></thead>\n<tbody>\n";
      for (const auto& u : backend_.users()) {
        std::string flags;
        if (u.admin) flags += "admin ";
        if (u.disabled) flags += "disabled";
        main += "<tr data-user=\"" + esc(u.email) + "\"><td data-label=\"Address\">" + esc(u.email) +
                "</td><td data-label=\"Quota\">" +
                (u.quota_bytes ? std::to_string(u.quota_bytes / (1024 * 1024)) + " MiB" : std::string("unlimited")) +
                "</td><td data-label=\"Last sign-in\">" + esc(u.last_login_at.empty() ? "never" : u.last_login_at) +
                "</td><td data-label=\"Flags\">" + esc(flags) + "</td><td><form class=\"inline\" method=\"post\" action=\"/admin/users/quota\">" + csrf_field +
                "<input type=\"hidden\" name=\"email\" value=\"" + esc(u.email) +
                "\"><input name=\"quota\" aria-label=\"New quota of " + esc(u.email) +
                "\" placeholder=\"2GiB\" size=\"8\"> <button type=\"submit\">Set</button></form>"
                "<form class=\"inline\" method=\"post\" action=\"/admin/users/state\">" + csrf_field +
                "<input type=\"hidden\" name=\"email\" value=\"" + esc(u.email) + "\"><input type=\"hidden\" name=\"state\" value=\"" +
                (u.disabled ? "enabled" : "disabled") + "\"><button type=\"submit\" aria-label=\"" +
                (u.disabled ? "Enable " : "Disable ") + esc(u.email) + "\">" + (u.disabled ? "Enable" : "Disable") +
                "</button></form></td></tr>\n";
      }
      main += "</tbody></table>\n<form class=\"card\" method=\"post\" action=\"/admin/users\">" + csrf_field +
              "\n<h2>Add a user</h2>\n<p><label for=\"email\">Address</label>\n"
              "<input id=\"email\" name=\"email\" type=\"email\" required></p>\n"
              "<p><label for=\"new-password\">Password</label>\n<input id=\"new-password\" name=\"password\" "
              "type=\"password\" autocomplete=\"new-password\" required></p>\n"
              "<p><label for=\"quota\">Quota (e.g. 2GiB; empty = unlimited)</label>\n<input id=\"quota\" name=\"quota\"></p>\n"
              "<p class=\"check\"><input id=\"admin\" name=\"admin\" type=\"checkbox\"> <label for=\"admin\">Administrator</label></p>\n"
              "<p><button type=\"submit\">Add user</button></p>\n</form>\n";
      return html(status, page("Users", &user, "/admin/users", main));
    }

    if (path == "/admin/aliases" || path == "/admin/aliases/remove") {
      if (post && path == "/admin/aliases/remove") {
        const std::string address = field(form, "address"), target = field(form, "target");
        attempt([&] { backend_.remove_alias(address, target); }, "Alias " + address + " -> " + target + " removed.");
      } else if (post) {
        const std::string address = field(form, "address"), target = field(form, "target");
        attempt([&] { backend_.add_alias(address, target); }, "Alias " + address + " -> " + target + " added.");
      } else if (!get || path != "/admin/aliases") {
        return method_not_allowed(path == "/admin/aliases" ? "GET, HEAD, POST" : "POST");
      }
      std::string main = admin_nav("/admin/aliases") + notice +
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
      return html(status, page("Aliases", &user, "/admin/aliases", main));
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

    if (path == "/admin/queue") {
      if (post) {
        const std::string id = field(form, "queue_id"), action = field(form, "action");
        std::optional<QueueAction> a;
        if (action == "retry") a = QueueAction::kRetry;
        else if (action == "hold") a = QueueAction::kHold;
        else if (action == "release") a = QueueAction::kRelease;
        else if (action == "delete") a = QueueAction::kDelete;
        if (!a) {
          notice = error_box("action: one of retry, hold, release, delete");
          status = 400;
        } else {
          attempt([&] {
            if (backend_.queue_action(*a, id) == 0) throw Refused("no pending message " + id + " in the queue");
          }, action + ": " + id + " done.");
        }
      } else if (!get) {
        return method_not_allowed("GET, HEAD, POST");
      }
      QueueFilter filter;
      filter.sender = query_param(req.target, "sender").value_or("");
      filter.recipient = query_param(req.target, "recipient").value_or("");
      filter.domain = query_param(req.target, "domain").value_or("");
      const auto messages = backend_.queue(200, filter);
      std::string main =
          admin_nav(path) + notice +
          "<form class=\"card filter\" method=\"get\" action=\"/admin/queue\">\n<h2>Filter</h2>\n"
          "<p><label for=\"f-sender\">Sender (<code>&lt;&gt;</code>: bounces)</label>\n<input id=\"f-sender\" "
          "name=\"sender\" value=\"" + esc(filter.sender) + "\"></p>\n<p><label for=\"f-recipient\">Recipient</label>\n"
          "<input id=\"f-recipient\" name=\"recipient\" value=\"" + esc(filter.recipient) + "\"></p>\n"
          "<p><label for=\"f-domain\">Recipient domain</label>\n<input id=\"f-domain\" name=\"domain\" value=\"" +
          esc(filter.domain) + "\"></p>\n<p><button type=\"submit\">Show</button> <a href=\"/admin/queue\">All</a></p>\n</form>\n"
          "<p class=\"hint\">Messages with a recipient still on its way, oldest first.</p>\n";
      if (messages.empty()) main += "<p class=\"empty\">The queue is empty.</p>\n";
      for (const auto& m : messages) {
        main += message_html(m, false);
        main += "<form class=\"actions\" method=\"post\" action=\"/admin/queue\">" + csrf_field +
                "<input type=\"hidden\" name=\"queue_id\" value=\"" + esc(m.queue_id) + "\">";
        for (const char* act : {"retry", "hold", "release", "delete"})
          main += std::string("<button type=\"submit\" name=\"action\" value=\"") + act + "\" aria-label=\"" + act +
                  " " + esc(m.queue_id) + "\">" + act + "</button> ";
        main += "</form>\n";
      }
      return html(status, page("Queue", &user, path, main));
    }
  } catch (const Unavailable&) {
    Answer a = html(503, page("Administration", &user, "/admin", error_box("This is not available right now; try again shortly.")));
    a.headers.emplace_back("Retry-After", "30");
    return a;
  }
  return html(404, page("Not found", &user, "", "<p>No such page.</p>\n"));
}

}  // namespace postline::web::portal
