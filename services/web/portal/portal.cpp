#include "services/web/portal/portal.h"

#include "common/mailauth/text_util.h"
#include "services/web/core/query.h"
#include "services/web/portal/assets.h"
#include "services/web/portal/listing.h"

#include <cstdio>
#include <ctime>

namespace postline::web::portal {

const char* login_outcome_name(LoginOutcome o) {
  switch (o) {
    case LoginOutcome::kOk: return "ok";
    case LoginOutcome::kInvalid: return "invalid_credentials";
    case LoginOutcome::kThrottled: return "throttled";
    case LoginOutcome::kDisabled: return "disabled";
    case LoginOutcome::kUnavailable: break;
  }
  return "unavailable";
}

const char* recipient_state_name(RecipientState s) {
  switch (s) {
    case RecipientState::kQueued: return "queued";
    case RecipientState::kDelivering: return "delivering";
    case RecipientState::kDelivered: return "delivered";
    case RecipientState::kDeferred: return "deferred";
    case RecipientState::kBounced: return "bounced";
    case RecipientState::kExpired: return "expired";
    case RecipientState::kUnknown: break;
  }
  return "unknown";
}

std::string format_time(int64_t unix_seconds) {
  const std::time_t t = static_cast<std::time_t>(unix_seconds);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[40];
  std::strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm);
  return buf;
}

namespace {

// Messages on the sent-mail page and in each poll of its JSON. Each costs
// queued two statements (its recipients, their attempts), and an open page
// polls every 2 s while something is on its way.
constexpr int kSentListLimit = 50;

// JSON string: quotes, backslash and control characters escaped; also < > &
// so the text could never end a script element should anyone embed it.
std::string js(std::string_view s) {
  std::string out = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20 || c == '<' || c == '>' || c == '&' || c == 0x7f) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  return out + "\"";
}

// Every page of the portal: nothing may frame it, run a script that is not
// ours, load anything from elsewhere or be kept by a cache (private pages).
void security_headers(Answer& a, bool private_page) {
  a.headers.emplace_back("Content-Security-Policy",
                         "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
                         "connect-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'");
  a.headers.emplace_back("X-Frame-Options", "DENY");
  a.headers.emplace_back("Referrer-Policy", "same-origin");
  a.headers.emplace_back("Cross-Origin-Opener-Policy", "same-origin");
  if (private_page) a.headers.emplace_back("Cache-Control", "no-store");
}

std::string login_page_body(std::string_view error, std::string_view username) {
  std::string out;
  if (!error.empty()) out += error_box(error);
  out +=
      "<form class=\"card\" method=\"post\" action=\"/login\">\n"
      "<p><label for=\"username\">Email address</label>\n"
      "<input id=\"username\" name=\"username\" type=\"email\" autocomplete=\"username\" required value=\"" +
      esc(username) +
      "\"></p>\n<p><label for=\"password\">Password or app password</label>\n"
      "<input id=\"password\" name=\"password\" type=\"password\" autocomplete=\"current-password\" required></p>\n"
      "<p><button type=\"submit\">Sign in</button></p>\n</form>\n";
  return out;
}

bool starts_with(std::string_view s, std::string_view p) { return s.substr(0, p.size()) == p; }

// A POST must come from one of our own pages: Origin (or, when a browser
// leaves it out, Referer) names this very https://Host. Together with
// SameSite=Strict and the CSRF token this refuses cross-site requests.
bool same_origin(const Request& req) {
  if (req.host.empty()) return false;
  const std::string self = "https://" + std::string(req.host);
  if (!req.origin.empty()) return req.origin == self;
  return req.referer == self || starts_with(req.referer, self + "/");
}

// The `route` label of a path (one of kRoutes).
const char* route_of(std::string_view path) {
  if (path == "/") return "home";
  if (path == "/login") return "login";
  if (path == "/logout") return "logout";
  if (path == "/sent") return "sent";
  if (path == "/sent.json") return "sent_json";
  if (starts_with(path, "/sent/")) return "message";
  if (path == "/app-passwords" || path == "/app-passwords/revoke") return "app_passwords";
  if (path == "/password") return "password";
  if (path == "/quota") return "quota";
  if (path == "/setup") return "setup";
  if (path == "/filters") return "filters";
  if (path == "/admin" || starts_with(path, "/admin/")) return "admin";
  if (starts_with(path, "/assets/")) return "assets";
  return "other";
}

}  // namespace

std::string sent_json(const std::vector<SentMessage>& messages, std::string_view newer, std::string_view older) {
  std::string out = "{\"newer\":" + js(newer) + ",\"older\":" + js(older) + ",\"messages\":[";
  bool first_m = true;
  for (const auto& m : messages) {
    if (!first_m) out += ",";
    first_m = false;
    out += "{\"queue_id\":" + js(m.queue_id) + ",\"created\":" + std::to_string(m.created_unix) +
           ",\"mail_from\":" + js(m.mail_from) + ",\"message_id\":" + js(m.message_id) +
           ",\"subject\":" + js(m.subject) + ",\"recipients\":[";
    bool first_r = true;
    for (const auto& r : m.recipients) {
      if (!first_r) out += ",";
      first_r = false;
      out += "{\"address\":" + js(r.address) + ",\"state\":" + js(recipient_state_name(r.state)) +
             ",\"next_attempt\":" + std::to_string(r.next_attempt_unix) + ",\"attempts\":[";
      bool first_a = true;
      for (const auto& a : r.attempts) {
        if (!first_a) out += ",";
        first_a = false;
        out += "{\"at\":" + std::to_string(a.started_unix) + ",\"outcome\":" + js(recipient_state_name(a.outcome)) +
               ",\"mx\":" + js(a.mx_host) + ",\"reply\":" + js(a.reply) +
               ",\"remote\":" + (a.remote_reply ? "true" : "false") + "}";
      }
      out += "]}";
    }
    out += "]}";
  }
  return out + "]}\n";
}

bool Portal::handles(std::string_view path) {
  static constexpr std::string_view kPaths[] = {"/",         "/login",         "/logout",
                                                "/sent",     "/sent.json",     "/app-passwords",
                                                "/app-passwords/revoke", "/password", "/quota",
                                                "/setup",    "/filters"};
  for (auto p : kPaths)
    if (path == p) return true;
  return starts_with(path, "/sent/") || starts_with(path, "/assets/") || path == "/admin" ||
         starts_with(path, "/admin/");
}

Response Portal::handle(const Request& req) const {
  const std::string path(target_path(req.target));
  const bool get = req.method == "GET" || req.method == "HEAD";
  const bool post = req.method == "POST";
  Response res;
  res.route = route_of(path);
  auto finish = [&](Answer a, bool private_page = true) {
    security_headers(a, private_page);
    res.answer = std::move(a);
    return res;
  };
  auto not_allowed = [&](const char* allow) {
    Answer a = text(405, "method not allowed");
    a.headers.emplace_back("Allow", allow);
    return finish(std::move(a));
  };

  if (starts_with(path, "/assets/")) {
    if (!get) return not_allowed("GET, HEAD");
    auto asset = find_asset(path);
    if (!asset) return finish(text(404, "not found"), false);
    Answer a;
    a.content_type = std::string(asset->content_type);
    a.body = std::string(asset->body);
    a.headers.emplace_back("Cache-Control", "public, max-age=300");
    return finish(std::move(a), false);
  }

  // The session, when the cookie holds a valid one.
  std::optional<Session> session;
  if (auto token = find_cookie(req.cookie, kSessionCookie)) session = sessions_.decode(*token, req.now_unix);
  std::optional<std::string> refreshed_cookie;
  if (session && sessions_.needs_refresh(*session, req.now_unix)) {
    session->seen_unix = req.now_unix;
    refreshed_cookie = sessions_.set_cookie(*session);
  }
  auto with_cookie = [&](Answer a) {
    if (refreshed_cookie) a.headers.emplace_back("Set-Cookie", *refreshed_cookie);
    return a;
  };

  // Form and CSRF checks for every POST; the login form has no session yet,
  // so it has the Origin check alone.
  std::optional<Fields> form;
  if (post) {
    if (!same_origin(req)) {
      return finish(text(403, "refused: the request did not come from this site's own pages (Origin)"));
    }
    std::string why;
    const std::string_view ct = req.content_type.substr(0, req.content_type.find(';'));
    if (ct != "application/x-www-form-urlencoded") {
      return finish(text(415, "a form (application/x-www-form-urlencoded) is expected"));
    }
    form = parse_form(req.body, &why);
    if (!form) return finish(text(400, "bad form: " + why));
  }
  auto field = [&](const char* name) -> std::string {
    if (!form) return "";
    auto it = form->find(name);
    return it == form->end() ? "" : it->second;
  };

  if (path == "/login") {
    if (get) {
      if (session) return finish(with_cookie(redirect("/sent")));
      return finish(html(200, page("Sign in", nullptr, "", login_page_body("", ""))));
    }
    if (!post) return not_allowed("GET, HEAD, POST");
    const std::string username = field("username"), password = field("password");
    if (username.empty() || password.empty())
      return finish(html(400, page("Sign in", nullptr, "", login_page_body("Enter your address and password.", username))));
    LoginResult r = backend_.authenticate(username, password, req.client_ip);
    res.login = r.outcome;
    switch (r.outcome) {
      case LoginOutcome::kOk: {
        // A fresh session (new nonce) at every sign-in: whatever cookie the
        // browser had before is replaced, never promoted.
        Session s = sessions_.start(r.user_id, r.email, r.admin, req.now_unix);
        Answer a = redirect("/sent");
        a.headers.emplace_back("Set-Cookie", sessions_.set_cookie(s));
        return finish(std::move(a));
      }
      case LoginOutcome::kInvalid:
        return finish(html(401, page("Sign in", nullptr, "", login_page_body("Wrong address or password.", username))));
      case LoginOutcome::kThrottled: {
        Answer a = html(429, page("Sign in", nullptr, "",
                                  login_page_body("Too many failed sign-ins. Wait a few minutes and try again.", username)));
        a.headers.emplace_back("Retry-After", "60");
        return finish(std::move(a));
      }
      case LoginOutcome::kDisabled:
        return finish(html(403, page("Sign in", nullptr, "", login_page_body("This account is disabled.", username))));
      case LoginOutcome::kUnavailable: break;
    }
    Answer a = html(503, page("Sign in", nullptr, "",
                              login_page_body("Sign-in is not possible right now; try again shortly.", username)));
    a.headers.emplace_back("Retry-After", "30");
    return finish(std::move(a));
  }

  if (path == "/") {
    if (!get) return not_allowed("GET, HEAD");
    return finish(with_cookie(redirect(session ? "/sent" : "/login")));
  }

  // Everything below needs a session.

  if (!session) {
    if (post) return finish(text(403, "refused: not signed in (or the session expired)"));
    if (path == "/sent.json") return finish(text(401, "not signed in"));
    return finish(redirect("/login"));
  }
  if (post && !sessions_.csrf_ok(*session, field("csrf")))
    return finish(text(403, "refused: the form's CSRF token is missing or wrong; reload the page and try again"));

  const std::string csrf = sessions_.csrf_token(*session);
  const PageUser user{session->email, csrf, session->admin, session->user_id};
  auto unavailable_page = [&](const char* title, const std::string& current) {
    Answer a = html(503, page(title, &user, current, error_box("This is not available right now; try again shortly.")));
    a.headers.emplace_back("Retry-After", "30");
    return finish(with_cookie(std::move(a)));
  };

  if (res.route == "admin") return finish(with_cookie(admin(req, path, form, user)));

  if (path == "/logout") {
    if (!post) return not_allowed("POST");
    sessions_.revoke(*session);
    Answer a = redirect("/login");
    a.headers.emplace_back("Set-Cookie", SessionCodec::clear_cookie());
    return finish(std::move(a));
  }

  if (path == "/sent" || path == "/sent.json") {
    if (!get) return not_allowed("GET, HEAD");
    std::string why;
    const auto cursor = parse_page_cursor(req.target, &why);
    if (!cursor) {
      if (path == "/sent.json") return finish(text(400, why));
      return finish(with_cookie(html(400, page("Sent mail", &user, "/sent", error_box(why)))));
    }
    std::vector<SentMessage> messages;
    PageLinks links;
    bool restarted = false;
    try {
      messages = fetch_page(
          [&](const PageCursor& c) { return backend_.sent_messages(session->email, kSentListLimit + 1, c); }, *cursor,
          kSentListLimit, &links, &restarted);
    } catch (const Unavailable&) {
      if (path == "/sent.json") return finish(text(503, "the queue is not available"));
      return unavailable_page("Sent mail", "/sent");
    }
    // Newest first: the previous page holds newer messages, the next older ones.
    const std::string newer = links.prev ? page_url("/sent", "", "before", links.prev_before) : "";
    const std::string older = links.next ? page_url("/sent", "", "after", links.next_after) : "";
    if (path == "/sent.json") {
      Answer a;
      a.content_type = "application/json";
      a.body = sent_json(messages, newer, older);
      return finish(with_cookie(std::move(a)));
    }
    // The live updates ask for this same page.
    const std::string source = page_url("/sent.json", "", cursor->after.empty() ? "before" : "after",
                                        cursor->after.empty() ? cursor->before : cursor->after);
    std::string main =
        "<p class=\"hint\">Each recipient's delivery, as the queue records it. This page updates by itself.</p>\n"
        "<p class=\"live\" id=\"live-status\" role=\"status\" aria-live=\"polite\"></p>\n";
    if (restarted) main += "<p class=\"hint\">That page is gone (its messages left the queue): here are the newest.</p>\n";
    main += "<div id=\"sent-list\" data-source=\"" + esc(restarted ? std::string("/sent.json") : source) + "\">\n";
    if (messages.empty()) main += "<p class=\"empty\">No sent messages are kept in the queue.</p>\n";
    for (const auto& m : messages) main += message_html(m, "/sent/");
    main += "</div>\n<div id=\"sent-pager\">" + pager_html(links, "/sent", "", "Newer messages", "Older messages") +
            "</div>\n<noscript><p class=\"hint\">Without JavaScript this page does not update by itself: "
            "reload it to see the latest.</p></noscript>\n";
    return finish(with_cookie(html(200, page("Sent mail", &user, "/sent", main, "/assets/sent.js"))));
  }

  if (starts_with(path, "/sent/")) {
    if (!get) return not_allowed("GET, HEAD");
    const std::string id = path.substr(6);
    std::optional<SentMessage> m;
    try {
      m = backend_.message(id);
    } catch (const Unavailable&) {
      return unavailable_page("Message", "/sent");
    }
    // Somebody else's message is "not found", exactly like one that does not exist.
    if (!m || !mailauth::iequals(m->submitter, session->email))
      return finish(with_cookie(html(404, page("Not found", &user, "/sent", "<p>No such message.</p>\n"))));
    return finish(with_cookie(html(200, page("Message", &user, "/sent",
                                             message_html(*m) + "<p><a href=\"/sent\">All sent mail</a></p>\n"))));
  }

  if (path == "/app-passwords" || path == "/app-passwords/revoke") {
    std::string notice;
    if (post && path == "/app-passwords") {
      const std::string label = field("label");
      if (label.empty() || label.size() > 64) {
        notice = error_box("Give the app password a name of 1 to 64 characters (for example \"phone\").");
      } else {
        try {
          const std::string secret = backend_.add_app_password(session->email, label);
          notice =
              "<div class=\"secret card\" role=\"status\"><p>The app password <strong>" + esc(label) +
              "</strong> is:</p>\n<p><code class=\"secret-value\" id=\"new-secret\">" + esc(secret) +
              "</code></p>\n<p>Enter it in your mail app instead of your password. It is shown only now: "
              "Postline keeps only a hash of it.</p></div>\n";
        } catch (const Refused& e) {
          notice = error_box(e.what());
        } catch (const Unavailable&) {
          return unavailable_page("App passwords", "/app-passwords");
        }
      }
    } else if (post) {
      try {
        backend_.remove_app_password(session->email, field("label"));
        return finish(with_cookie(redirect("/app-passwords")));
      } catch (const Refused& e) {
        notice = error_box(e.what());
      } catch (const Unavailable&) {
        return unavailable_page("App passwords", "/app-passwords");
      }
    } else if (!get || path != "/app-passwords") {
      return not_allowed(path == "/app-passwords" ? "GET, HEAD, POST" : "POST");
    }
    std::vector<AppPasswordInfo> list;
    try {
      list = backend_.app_passwords(session->email);
    } catch (const std::exception&) {
      return unavailable_page("App passwords", "/app-passwords");
    }
    std::string main = notice +
                       "<p class=\"hint\">An app password lets one mail app sign in without your own password; "
                       "revoke it when you no longer use that app.</p>\n";
    if (list.empty()) {
      main += "<p class=\"empty\">You have no app passwords.</p>\n";
    } else {
      main += "<table class=\"list\"><caption>Your app passwords</caption>\n<thead><tr><th scope=\"col\">Name</th>"
              "<th scope=\"col\">Created</th><th scope=\"col\">Last used</th><th scope=\"col\"><span class=\"sr\">Action</span></th></tr></thead>\n<tbody>\n";
      for (const auto& p : list) {
        main += "<tr><td data-label=\"Name\">" + esc(p.label) + "</td><td data-label=\"Created\">" +
                esc(p.created_at) + "</td><td data-label=\"Last used\">" +
                esc(p.last_used_at.empty() ? "never" : p.last_used_at) +
                "</td><td><form method=\"post\" action=\"/app-passwords/revoke\">" + hidden_csrf(csrf) +
                "<input type=\"hidden\" name=\"label\" value=\"" + esc(p.label) +
                "\"><button type=\"submit\" aria-label=\"Revoke " + esc(p.label) + "\">Revoke</button></form></td></tr>\n";
      }
      main += "</tbody></table>\n";
    }
    main += "<form class=\"card\" method=\"post\" action=\"/app-passwords\">" + hidden_csrf(csrf) +
            "\n<h2>New app password</h2>\n<p><label for=\"label\">Name (which app or device)</label>\n"
            "<input id=\"label\" name=\"label\" maxlength=\"64\" required></p>\n"
            "<p><button type=\"submit\">Create</button></p>\n</form>\n";
    return finish(with_cookie(html(200, page("App passwords", &user, "/app-passwords", main))));
  }

  if (path == "/password") {
    std::string notice;
    unsigned status = 200;
    if (post) {
      const std::string current = field("current"), next = field("new"), again = field("confirm");
      if (next != again) {
        notice = error_box("The new password and its confirmation differ.");
        status = 400;
      } else if (next.empty()) {
        notice = error_box("Enter a new password.");
        status = 400;
      } else {
        // The current password first, as a sign-in (throttled like one).
        const LoginResult r = backend_.authenticate(session->email, current, req.client_ip);
        res.login = r.outcome;
        if (r.outcome == LoginOutcome::kUnavailable) return unavailable_page("Password", "/password");
        if (r.outcome != LoginOutcome::kOk || r.user_id != session->user_id) {
          notice = error_box(r.outcome == LoginOutcome::kThrottled
                                 ? "Too many failed attempts. Wait a few minutes and try again."
                                 : "Your current password is not right.");
          status = r.outcome == LoginOutcome::kThrottled ? 429 : 403;
        } else {
          try {
            backend_.set_password(session->email, next);
            notice = "<p class=\"ok\" role=\"status\">Your password was changed. Mail apps that use it need the new one.</p>\n";
          } catch (const Refused& e) {
            notice = error_box(e.what());  // authd's password policy says what is wrong
            status = 400;
          } catch (const Unavailable&) {
            return unavailable_page("Password", "/password");
          }
        }
      }
    } else if (!get) {
      return not_allowed("GET, HEAD, POST");
    }
    const std::string main =
        notice + "<form class=\"card\" method=\"post\" action=\"/password\">" + hidden_csrf(csrf) +
        "\n<p><label for=\"current\">Current password</label>\n<input id=\"current\" name=\"current\" type=\"password\" "
        "autocomplete=\"current-password\" required></p>\n<p><label for=\"new\">New password</label>\n"
        "<input id=\"new\" name=\"new\" type=\"password\" autocomplete=\"new-password\" required></p>\n"
        "<p><label for=\"confirm\">New password again</label>\n<input id=\"confirm\" name=\"confirm\" type=\"password\" "
        "autocomplete=\"new-password\" required></p>\n<p><button type=\"submit\">Change password</button></p>\n</form>\n";
    return finish(with_cookie(html(status, page("Password", &user, "/password", main))));
  }

  if (path == "/quota") {
    if (!get) return not_allowed("GET, HEAD");
    QuotaInfo q;
    try {
      q = backend_.quota(session->user_id, session->email);
    } catch (const std::exception&) {
      return unavailable_page("Quota", "/quota");
    }
    auto bytes = [](int64_t b) {
      char buf[64];
      if (b < 1024) std::snprintf(buf, sizeof buf, "%lld B", static_cast<long long>(b));
      else if (b < 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f KiB", b / 1024.0);
      else if (b < 1024LL * 1024 * 1024) std::snprintf(buf, sizeof buf, "%.1f MiB", b / (1024.0 * 1024));
      else std::snprintf(buf, sizeof buf, "%.1f GiB", b / (1024.0 * 1024 * 1024));
      return std::string(buf);
    };
    auto row = [&](const char* what, std::optional<int64_t> used, int64_t limit, bool as_bytes) {
      auto show = [&](int64_t v) { return as_bytes ? bytes(v) : std::to_string(v); };
      // data-label: on a phone-sized screen each cell says what it is (portal.css).
      std::string out = "<tr><th scope=\"row\">" + std::string(what) + "</th><td data-label=\"Used\">" +
                        (used ? show(*used) : std::string("not known")) + "</td><td data-label=\"Limit\">" +
                        (limit > 0 ? show(limit) : std::string("unlimited")) + "</td><td>";
      if (used && limit > 0) {
        const int64_t pct = std::min<int64_t>(100, *used * 100 / limit);
        out += "<meter min=\"0\" max=\"100\" value=\"" + std::to_string(pct) + "\">" + std::to_string(pct) +
               "%</meter> " + std::to_string(pct) + "%";
      }
      return out + "</td></tr>\n";
    };
    std::string main = "<table class=\"list\"><caption>Your mailbox</caption>\n<thead><tr><th scope=\"col\"></th>"
                       "<th scope=\"col\">Used</th><th scope=\"col\">Limit</th><th scope=\"col\">Share</th></tr></thead>\n<tbody>\n" +
                       row("Storage", q.used_bytes, q.limit_bytes, true) +
                       row("Messages", q.used_messages, q.limit_messages, false) + "</tbody></table>\n";
    if (!q.used_bytes) main += "<p class=\"hint\">Usage is not available from this server right now.</p>\n";
    return finish(with_cookie(html(200, page("Quota", &user, "/quota", main))));
  }

  if (path == "/filters") {
    if (!get && !post) return not_allowed("GET, HEAD, POST");
    try {
      return finish(with_cookie(filters(form, user)));
    } catch (const Unavailable&) {
      return unavailable_page("Filters", "/filters");
    }
  }

  if (path == "/setup") {
    if (!get) return not_allowed("GET, HEAD");
    const std::string email_q = esc(session->email);
    const std::string encoded = esc(url_encode(session->email));  // the address in a query string
    auto endpoints = [](const std::vector<Endpoint>& list) {
      std::string out;
      for (const auto& e : list)
        out += "<li><code>" + esc(e.hostname) + "</code> port <code>" + std::to_string(e.port) + "</code>, " +
               (e.security == Security::kImplicitTls ? "SSL/TLS" : "STARTTLS") + "</li>\n";
      return out;
    };
    std::string main =
        "<p>Most mail apps set themselves up from your address alone: enter <strong>" + email_q +
        "</strong> and your password (or an <a href=\"/app-passwords\">app password</a>).</p>\n"
        "<h2>Automatic set-up documents</h2>\n<ul class=\"links\">\n"
        "<li><a href=\"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=" + encoded +
        "\">Thunderbird and most apps (autoconfig)</a></li>\n"
        "<li><a href=\"/apple/mobileconfig?email=" + encoded +
        "\">iPhone, iPad and Mac: install a profile</a></li>\n"
        "<li>Outlook finds <code>/autodiscover/autodiscover.xml</code> by itself.</li>\n</ul>\n"
        "<h2>Manual set-up</h2>\n<p>User name: <code>" + email_q + "</code></p>\n<h3>Incoming (IMAP)</h3>\n<ul>\n" +
        endpoints(settings_.imap) + "</ul>\n<h3>Outgoing (SMTP submission)</h3>\n<ul>\n" + endpoints(settings_.smtp) +
        "</ul>\n";
    return finish(with_cookie(html(200, page("Set up a client", &user, "/setup", main))));
  }

  return finish(with_cookie(html(404, page("Not found", &user, "", "<p>No such page.</p>\n"))));
}

}  // namespace postline::web::portal
