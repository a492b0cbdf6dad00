// Pieces the administrator pages share (admin.cpp, admin_accounts.cpp,
// admin_queue.cpp); not for use outside the portal.
#pragma once

#include "services/web/portal/html.h"
#include "services/web/portal/http_input.h"

#include <optional>
#include <string>
#include <string_view>

namespace postline::web::portal::admin_pages {

// A POST field ("" when absent or not a POST).
std::string field(const std::optional<Fields>& form, const char* name);
// The administration sub-navigation with `current` marked.
std::string admin_nav(std::string_view current);
// A success notice (role=status).
std::string ok_box(std::string_view message);
Answer method_not_allowed(const char* allow);

// What a POST did to the page: a notice above it and the status.
struct Outcome {
  std::string notice;
  unsigned status = 200;
  // Runs `fn`; a Refused becomes an error notice with status 400 (authd's or
  // queued's words), anything else goes up (Unavailable: the 503 page).
  template <typename Fn>
  void attempt(Fn&& fn, const std::string& done) {
    try {
      fn();
      notice = ok_box(done);
    } catch (const Refused& e) {
      refuse(e.what());
    }
  }
  void refuse(std::string_view why) {
    notice = error_box(why);
    status = 400;
  }
};

}  // namespace postline::web::portal::admin_pages
