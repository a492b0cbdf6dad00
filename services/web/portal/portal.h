// The web portal (issue 18, docs/web.md "The portal"), without sockets: one
// request in, one answer out. Sign-in, the sent-mail list with each
// recipient's delivery timeline (and its JSON for live updates), app
// passwords, password change, quota, client set-up. The rules live here:
// sessions and CSRF, the Origin check, POST for every change, what a user may
// see (only messages they submitted), the security headers. Backend calls
// block: the server runs handle() on a worker thread.
#pragma once

#include "services/web/core/client_settings.h"
#include "services/web/core/site.h"
#include "services/web/portal/backend.h"
#include "services/web/portal/html.h"
#include "services/web/portal/http_input.h"
#include "services/web/portal/session.h"

#include <optional>
#include <string>
#include <string_view>

namespace postline::web::portal {

struct Request {
  std::string_view method;
  std::string_view target;
  std::string_view host;    // Host header
  std::string_view cookie;  // Cookie header
  std::string_view origin;  // Origin header ("" when absent)
  std::string_view referer;
  std::string_view content_type;
  std::string_view body;
  std::string client_ip;
  int64_t now_unix = 0;
};

struct Response {
  Answer answer;
  std::string route;                   // the `route` label (kRoutes)
  std::optional<LoginOutcome> login;   // set when a sign-in was tried
};

// Every `route` label, for metrics that exist at zero.
inline constexpr const char* kRoutes[] = {"home",     "login", "logout", "sent",  "sent_json", "message",
                                          "app_passwords", "password", "quota", "setup", "filters", "admin", "assets",
                                          "other"};

class Portal {
 public:
  // All three must outlive the Portal.
  Portal(Backend& backend, const SessionCodec& sessions, const ClientSettings& settings)
      : backend_(backend), sessions_(sessions), settings_(settings) {}
  // Paths the portal answers (everything else stays with Site).
  static bool handles(std::string_view path);
  Response handle(const Request& req) const;

 private:
  // /admin/...: the signed-in account must be an administrator now (authd).
  // `form`: the POST's fields (CSRF already checked).
  Answer admin(const Request& req, std::string_view path, const std::optional<Fields>& form,
               const PageUser& user) const;
  // Its pages (after the check): /admin/domains..., /admin/users...
  // (admin_accounts.cpp), /admin/queue... (admin_queue.cpp). They throw
  // Unavailable, which admin() answers with 503.
  Answer admin_domains(const Request& req, std::string_view path, const std::optional<Fields>& form,
                       const PageUser& user) const;
  Answer admin_users(const Request& req, std::string_view path, const std::optional<Fields>& form,
                     const PageUser& user) const;
  Answer admin_queue(const Request& req, std::string_view path, const std::optional<Fields>& form,
                     const PageUser& user) const;
  // /filters (filters_page.cpp): the vacation reply and the rules, as the
  // user's active Sieve script. Throws Unavailable (the 503 page).
  Answer filters(const std::optional<Fields>& form, const PageUser& user) const;
  Backend& backend_;
  const SessionCodec& sessions_;
  const ClientSettings& settings_;
};

// For tests and the JS: the JSON the live page polls; `newer` and `older`
// are the URLs of the neighbouring pages ("" = none).
std::string sent_json(const std::vector<SentMessage>& messages, std::string_view newer = {},
                      std::string_view older = {});
// "2026-12-03 18:20:11 UTC"
std::string format_time(int64_t unix_seconds);

}  // namespace postline::web::portal
