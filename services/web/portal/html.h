// HTML for the portal's pages. Every value from a request, a backend or the
// configuration goes through esc() (the five XML/HTML specials), in element
// content and in double-quoted attributes alike; nothing is ever put into a
// script, a style or an unquoted attribute. No inline script or style: the
// Content-Security-Policy forbids both.
#pragma once

#include "services/web/core/site.h"
#include "services/web/portal/backend.h"

#include <string>
#include <string_view>

namespace postline::web::portal {

std::string esc(std::string_view text);

// Answers: an HTML page, a 303 to `location` (after a POST, or to sign in), plain text.
Answer html(unsigned status, std::string body);
Answer redirect(std::string_view location);
Answer text(unsigned status, std::string body);
// An error message the page announces (role=alert).
std::string error_box(std::string_view message);

struct PageUser {
  std::string email;
  std::string csrf;    // for the sign-out form
  bool admin = false;  // show the Administration link
  int64_t user_id = 0;  // authd's id of the signed-in account
};

// A complete page: head (CSS, optional script), skip link, navigation when
// signed in (`current`: the nav entry to mark), main content.
std::string page(std::string_view title, const PageUser* user, std::string_view current, std::string_view main,
                 std::string_view script = {});

std::string hidden_csrf(std::string_view csrf);
// A message (and its recipients' timelines) as the sent-mail list shows it;
// with `detail_prefix` ("/sent/") its subject links to prefix + queue id.
std::string message_html(const SentMessage& m, std::string_view detail_prefix = {});

}  // namespace postline::web::portal
