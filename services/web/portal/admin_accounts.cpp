// Administration of domains and users (docs/web.md "Administration"): list
// and add them, a domain's catch-all, a user's quota and state, and removing
// either - always in two steps: the first POST shows what goes with it (as
// `postline domain remove` / `user remove` list it), the second, with
// confirm=yes, removes. Neither ever removes the signed-in account.
#include "services/web/portal/portal.h"

#include "common/mailauth/text_util.h"
#include "services/web/core/query.h"
#include "services/web/portal/admin_pages.h"
#include "services/web/portal/quota_input.h"

#include <openssl/sha.h>

namespace postline::web::portal {

using namespace admin_pages;

namespace {

// "2 GiB", "1536 MiB", "unlimited": a storage quota as the pages say it.
std::string size_label(int64_t bytes) {
  std::string t = quota_size_text(bytes);
  if (t.empty()) return "unlimited";
  const auto unit = t.find_first_not_of("0123456789");
  return unit == std::string::npos ? t + " bytes" : t.substr(0, unit) + " " + t.substr(unit);
}

// "10000", "unlimited": a message limit as the pages say it.
std::string messages_label(int64_t messages) { return messages > 0 ? std::to_string(messages) : "unlimited"; }

bool has_field(const std::optional<Fields>& form, const char* name) { return form && form->count(name) > 0; }

std::string domain_of(std::string_view email) {
  const auto at = email.rfind('@');
  return std::string(at == std::string_view::npos ? std::string_view{} : email.substr(at + 1));
}

// "1 user", "3 users"
std::string count_of(size_t n, const char* one, const char* many) {
  return std::to_string(n) + " " + (n == 1 ? one : many);
}

// At most 50 names, then how many more.
std::string names_html(const std::vector<std::string>& names) {
  constexpr size_t kShown = 50;
  std::string out;
  for (size_t i = 0; i < names.size() && i < kShown; ++i) out += (i ? ", " : "") + std::string("<code>") + esc(names[i]) + "</code>";
  if (names.size() > kShown) out += " and " + std::to_string(names.size() - kShown) + " more";
  return out;
}

// What the confirmation showed, so a confirm that comes after the domain
// changed (a user added meanwhile) shows the new list instead of removing it.
std::string removal_digest(const DomainRemoval& plan) {
  std::string all = plan.name + "\n" + plan.catch_all + "\n";
  for (const auto* list : {&plan.users, &plan.aliases})
    for (const auto& n : *list) all += n + "\n";
  unsigned char md[SHA256_DIGEST_LENGTH];
  SHA256(reinterpret_cast<const unsigned char*>(all.data()), all.size(), md);
  return to_hex(std::string_view(reinterpret_cast<const char*>(md), 16));
}

std::string hidden(const char* name, std::string_view value) {
  return std::string("<input type=\"hidden\" name=\"") + name + "\" value=\"" + esc(value) + "\">";
}

}  // namespace

Answer Portal::admin_domains(const Request& req, std::string_view path, const std::optional<Fields>& form,
                             const PageUser& user) const {
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  const std::string csrf_field = hidden_csrf(user.csrf);
  Outcome done;

  if (path == "/admin/domains/remove") {
    if (!post) return method_not_allowed("POST");
    const std::string name = field(form, "name");
    const auto plan = backend_.domain_removal(name);
    bool own = false;
    if (plan) {
      own = mailauth::iequals(domain_of(user.email), plan->name);
      for (const auto& u : plan->users) own = own || mailauth::iequals(u, user.email);
    }
    if (!plan) {
      done.refuse("No such domain " + name + ".");
    } else if (own) {
      done.refuse("You cannot remove " + plan->name + ": the account you are signed in with (" + user.email +
                  ") belongs to it.");
    } else if (field(form, "confirm") != "yes" || field(form, "plan") != removal_digest(*plan)) {
      std::string main = admin_nav("/admin/domains");
      if (field(form, "confirm") == "yes")
        main += error_box("What " + plan->name + " holds changed since the confirmation was shown; look again.");
      main += "<div class=\"card confirm\">\n<h2>Remove " + esc(plan->name) + "?</h2>\n<p>Postline stops hosting " +
              esc(plan->name) + ": mail to it is no longer accepted as local.</p>\n";
      if (plan->users.empty() && plan->aliases.empty() && plan->catch_all.empty()) {
        main += "<p>It has no users, no aliases and no catch-all.</p>\n";
      } else {
        main += "<p>Removed with it:</p>\n<ul class=\"removal\">\n";
        if (!plan->users.empty())
          main += "<li>" + count_of(plan->users.size(), "user", "users") + " and their app passwords: " +
                  names_html(plan->users) + "</li>\n";
        if (!plan->aliases.empty())
          main += "<li>" + count_of(plan->aliases.size(), "alias", "aliases") + ": " + names_html(plan->aliases) +
                  "</li>\n";
        if (!plan->catch_all.empty())
          main += "<li>its catch-all (to <code>" + esc(plan->catch_all) + "</code>)</li>\n";
        main += "</ul>\n";
      }
      main += "<p>Stays:</p>\n<ul class=\"removal\">\n";
      if (!plan->users.empty())
        main += "<li>the users' mailboxes and messages (in the mailstore; nobody can read them once the accounts are "
                "gone)</li>\n";
      if (!plan->aliases_elsewhere.empty())
        main += "<li>aliases of other domains that deliver into it: " + names_html(plan->aliases_elsewhere) +
                " (mail to them will bounce for those targets)</li>\n";
      main += "<li>its DNS records (remove them at your DNS provider)</li>\n</ul>\n"
              "<form method=\"post\" action=\"/admin/domains/remove\">" + csrf_field + hidden("name", plan->name) +
              hidden("confirm", "yes") + hidden("plan", removal_digest(*plan)) +
              "<p><button type=\"submit\" class=\"danger\">Remove " + esc(plan->name) +
              "</button> <a href=\"/admin/domains\">Cancel</a></p></form>\n</div>\n";
      return html(200, page("Remove a domain", &user, "/admin/domains", main));
    } else {
      std::string with;
      if (!plan->users.empty()) with += count_of(plan->users.size(), "user", "users");
      if (!plan->aliases.empty()) with += (with.empty() ? "" : ", ") + count_of(plan->aliases.size(), "alias", "aliases");
      if (!plan->catch_all.empty()) with += (with.empty() ? "" : ", ") + std::string("its catch-all");
      done.attempt([&] { backend_.remove_domain(plan->name, !plan->users.empty()); },
                   "Domain " + plan->name + " removed" + (with.empty() ? "" : ", with " + with) + ".");
    }
  } else if (path == "/admin/domains/catch-all") {
    if (!post) return method_not_allowed("POST");
    const std::string name = field(form, "name"), action = field(form, "action"), target = field(form, "target");
    if (action == "clear") {
      done.attempt([&] { backend_.set_catch_all(name, ""); },
                   "Catch-all of " + name + " cleared: mail to its unknown addresses is refused again.");
    } else if (action != "set") {
      done.refuse("action: set or clear");
    } else if (target.empty()) {
      done.refuse("Give the address that receives mail for the unknown addresses of " + name + ".");
    } else {
      done.attempt([&] { backend_.set_catch_all(name, target); },
                   "Mail to unknown addresses of " + name + " now goes to " + target + ".");
    }
  } else if (path == "/admin/domains") {
    if (post) {
      const std::string name = field(form, "name");
      done.attempt([&] { backend_.add_domain(name); }, "Domain " + name + " added.");
    } else if (!get) {
      return method_not_allowed("GET, HEAD, POST");
    }
  } else {
    return html(404, page("Not found", &user, "", "<p>No such page.</p>\n"));
  }

  std::string main = admin_nav("/admin/domains") + done.notice +
                     "<table class=\"list\"><caption>Hosted domains</caption>\n<thead><tr><th scope=\"col\">Domain"
                     "</th><th scope=\"col\">Users</th><th scope=\"col\">Aliases</th><th scope=\"col\">Catch-all</th>"
                     "<th scope=\"col\"><span class=\"sr\">Remove</span></th></tr></thead>\n<tbody>\n";
  const std::string own_domain = domain_of(user.email);
  for (const auto& d : backend_.domains()) {
    main += "<tr data-domain=\"" + esc(d.name) + "\"><td data-label=\"Domain\">" + esc(d.name) +
            " <a href=\"/admin/dns?domain=" + esc(url_encode(d.name)) + "\" aria-label=\"DNS records of " + esc(d.name) +
            "\">DNS records</a></td><td data-label=\"Users\">" + std::to_string(d.users) +
            "</td><td data-label=\"Aliases\">" + std::to_string(d.aliases) + "</td><td data-label=\"Catch-all\">";
    main += d.catch_all.empty() ? std::string("<span class=\"catch-all\">none</span>")
                                : "<span class=\"catch-all\">" + esc(d.catch_all) + "</span>";
    main += "<form class=\"inline\" method=\"post\" action=\"/admin/domains/catch-all\">" + csrf_field +
            hidden("name", d.name) + "<input name=\"target\" type=\"email\" aria-label=\"Catch-all address of " +
            esc(d.name) + "\" placeholder=\"someone@" + esc(d.name) +
            "\"> <button type=\"submit\" name=\"action\" value=\"set\" aria-label=\"Set the catch-all of " + esc(d.name) +
            "\">Set</button>";
    if (!d.catch_all.empty())
      main += " <button type=\"submit\" name=\"action\" value=\"clear\" formnovalidate aria-label=\"Clear the catch-all of " +
              esc(d.name) + "\">Clear</button>";
    main += "</form></td><td>";
    if (mailauth::iequals(d.name, own_domain))
      main += "<span class=\"hint\">your account's domain</span>";
    else
      main += "<form class=\"inline\" method=\"post\" action=\"/admin/domains/remove\">" + csrf_field +
              hidden("name", d.name) + "<button type=\"submit\" aria-label=\"Remove " + esc(d.name) +
              "\">Remove</button></form>";
    main += "</td></tr>\n";
  }
  main += "</tbody></table>\n<p class=\"hint\">A catch-all receives the mail for every address of the domain that "
          "is neither a user nor an alias; without one, such mail is refused (550).</p>\n"
          "<form class=\"card\" method=\"post\" action=\"/admin/domains\">" + csrf_field +
          "\n<h2>Add a domain</h2>\n<p><label for=\"name\">Domain name</label>\n"
          "<input id=\"name\" name=\"name\" required></p>\n<p><button type=\"submit\">Add domain</button></p>\n</form>\n";
  return html(done.status, page("Domains", &user, "/admin/domains", main));
}

Answer Portal::admin_users(const Request& req, std::string_view path, const std::optional<Fields>& form,
                           const PageUser& user) const {
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  const std::string csrf_field = hidden_csrf(user.csrf);
  Outcome done;

  if (path == "/admin/users/remove") {
    if (!post) return method_not_allowed("POST");
    const std::string email = field(form, "email");
    const auto plan = backend_.user_removal(email);
    if (!plan) {
      done.refuse("No such user " + email + ".");
    } else if (plan->user_id == user.user_id || mailauth::iequals(plan->email, user.email)) {
      done.refuse("You cannot remove the account you are signed in with.");
    } else if (field(form, "confirm") != "yes") {
      std::string main = admin_nav("/admin/users") + "<div class=\"card confirm\">\n<h2>Remove " + esc(plan->email) +
                         "?</h2>\n<p>The account can no longer sign in, over IMAP, SMTP or here, and mail to it is "
                         "refused (unless a catch-all takes it).</p>\n<p>Removed with it:</p>\n<ul class=\"removal\">\n<li>";
      main += plan->app_passwords.empty()
                  ? std::string("its password (it has no app passwords)")
                  : "its password and " + count_of(plan->app_passwords.size(), "app password", "app passwords") + ": " +
                        names_html(plan->app_passwords);
      main += "</li>\n</ul>\n<p>Stays:</p>\n<ul class=\"removal\">\n<li>its mailboxes and messages (in the mailstore; "
              "nobody can read them once the account is gone)</li>\n";
      if (!plan->aliases_to_it.empty())
        main += "<li>aliases that deliver to it: " + names_html(plan->aliases_to_it) +
                " (mail to them will bounce for this target)</li>\n";
      main += "</ul>\n<form method=\"post\" action=\"/admin/users/remove\">" + csrf_field + hidden("email", plan->email) +
              hidden("confirm", "yes") + "<p><button type=\"submit\" class=\"danger\">Remove " + esc(plan->email) +
              "</button> <a href=\"/admin/users\">Cancel</a></p></form>\n</div>\n";
      return html(200, page("Remove a user", &user, "/admin/users", main));
    } else {
      done.attempt([&] { backend_.remove_user(plan->email); }, "User " + plan->email + " removed.");
    }
  } else if (path == "/admin/users/state") {
    if (!post) return method_not_allowed("POST");
    const std::string email = field(form, "email"), state = field(form, "state");
    if (mailauth::iequals(email, user.email)) {
      done.refuse("You cannot disable the account you are signed in with.");
    } else if (state != "disabled" && state != "enabled") {
      done.refuse("state: disabled or enabled");
    } else {
      done.attempt([&] { backend_.set_disabled(email, state == "disabled"); }, "User " + email + " " + state + ".");
    }
  } else if (path == "/admin/users/quota") {
    // Both fields come with the form (filled with the current limits, so an
    // unchanged one stays as it was); a field left out is not changed.
    if (!post) return method_not_allowed("POST");
    const std::string email = field(form, "email");
    QuotaChange change;
    std::string why;
    if (has_field(form, "quota") && !(change.bytes = parse_quota_size(field(form, "quota"), &why))) {
      done.refuse(why);
    } else if (has_field(form, "messages") &&
               !(change.messages = parse_message_limit(field(form, "messages"), &why))) {
      done.refuse(why);
    } else if (!change.bytes && !change.messages) {
      done.refuse("Give quota (a size such as 2GiB), messages (a number such as 10000), or both.");
    } else {
      std::string what;
      if (change.bytes) what = "storage " + size_label(*change.bytes);
      if (change.messages) what += (what.empty() ? "" : ", ") + std::string("messages ") + messages_label(*change.messages);
      done.attempt([&] { backend_.set_quota(email, change); }, "Quota of " + email + " set: " + what + ".");
    }
  } else if (path == "/admin/users") {
    if (post) {
      NewUser u;
      u.email = field(form, "email");
      u.password = field(form, "password");
      u.admin = field(form, "admin") == "on";
      std::string why;
      const auto quota = parse_quota_size(field(form, "quota"), &why);
      const auto messages = quota ? parse_message_limit(field(form, "messages"), &why) : std::nullopt;
      if (!quota || !messages) {
        done.refuse(why);
      } else {
        u.quota_bytes = *quota;
        u.quota_messages = *messages;
        done.attempt([&] { backend_.add_user(u); }, "User " + u.email + " added.");
      }
    } else if (!get) {
      return method_not_allowed("GET, HEAD, POST");
    }
  } else {
    return html(404, page("Not found", &user, "", "<p>No such page.</p>\n"));
  }

  std::string main = admin_nav("/admin/users") + done.notice +
                     "<table class=\"list\"><caption>Users</caption>\n<thead><tr><th scope=\"col\">Address</th>"
                     "<th scope=\"col\">Storage quota</th><th scope=\"col\">Message limit</th>"
                     "<th scope=\"col\">Last sign-in</th><th scope=\"col\">Flags</th>"
                     "<th scope=\"col\">Change</th></tr></thead>\n<tbody>\n";
  for (const auto& u : backend_.users()) {
    const bool self = mailauth::iequals(u.email, user.email);
    std::string flags;
    if (u.admin) flags += "admin ";
    if (u.disabled) flags += "disabled";
    main += "<tr data-user=\"" + esc(u.email) + "\"><td data-label=\"Address\">" + esc(u.email) +
            (self ? " <span class=\"hint\">(you)</span>" : "") + "</td><td data-label=\"Storage quota\">" +
            size_label(u.quota_bytes) + "</td><td data-label=\"Message limit\">" + messages_label(u.quota_messages) +
            "</td><td data-label=\"Last sign-in\">" + esc(u.last_login_at.empty() ? "never" : u.last_login_at) +
            "</td><td data-label=\"Flags\">" + esc(flags) +
            "</td><td><form class=\"inline\" method=\"post\" action=\"/admin/users/quota\">" + csrf_field +
            hidden("email", u.email) + "<input name=\"quota\" aria-label=\"Storage quota of " + esc(u.email) +
            "\" placeholder=\"2GiB\" size=\"7\" value=\"" + esc(quota_size_text(u.quota_bytes)) +
            "\"> <input name=\"messages\" inputmode=\"numeric\" aria-label=\"Message limit of " + esc(u.email) +
            "\" placeholder=\"messages\" size=\"7\" value=\"" + esc(message_limit_text(u.quota_messages)) +
            "\"> <button type=\"submit\" aria-label=\"Set the quota of " + esc(u.email) + "\">Set</button></form>";
    if (!self)
      main += "<form class=\"inline\" method=\"post\" action=\"/admin/users/state\">" + csrf_field +
              hidden("email", u.email) + hidden("state", u.disabled ? "enabled" : "disabled") +
              "<button type=\"submit\" aria-label=\"" + (u.disabled ? "Enable " : "Disable ") + esc(u.email) + "\">" +
              (u.disabled ? "Enable" : "Disable") +
              "</button></form><form class=\"inline\" method=\"post\" action=\"/admin/users/remove\">" + csrf_field +
              hidden("email", u.email) + "<button type=\"submit\" aria-label=\"Remove " + esc(u.email) +
              "\">Remove</button></form>";
    main += "</td></tr>\n";
  }
  main += "</tbody></table>\n<form class=\"card\" method=\"post\" action=\"/admin/users\">" + csrf_field +
          "\n<h2>Add a user</h2>\n<p><label for=\"email\">Address</label>\n"
          "<input id=\"email\" name=\"email\" type=\"email\" required></p>\n"
          "<p><label for=\"new-password\">Password</label>\n<input id=\"new-password\" name=\"password\" "
          "type=\"password\" autocomplete=\"new-password\" required></p>\n"
          "<p><label for=\"quota\">Storage quota (e.g. 2GiB; empty = unlimited)</label>\n<input id=\"quota\" name=\"quota\"></p>\n"
          "<p><label for=\"messages\">Message limit (a number such as 10000; empty = unlimited)</label>\n"
          "<input id=\"messages\" name=\"messages\" inputmode=\"numeric\"></p>\n"
          "<p class=\"check\"><input id=\"admin\" name=\"admin\" type=\"checkbox\"> <label for=\"admin\">Administrator</label></p>\n"
          "<p><button type=\"submit\">Add user</button></p>\n</form>\n";
  return html(done.status, page("Users", &user, "/admin/users", main));
}

}  // namespace postline::web::portal
