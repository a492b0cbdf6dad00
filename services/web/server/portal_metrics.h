// The portal's Prometheus families; every series the dashboard shows exists at 0.
//   postline_webd_portal_requests_total{route, status}
//   postline_webd_portal_logins_total{outcome}   (ok, invalid_credentials, throttled, disabled, unavailable)
#pragma once

#include "services/web/portal/backend.h"

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <string>

namespace postline::web {

class PortalMetrics {
 public:
  explicit PortalMetrics(prometheus::Registry& registry);
  void request(const std::string& route, unsigned status);
  void login(portal::LoginOutcome outcome);

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Family<prometheus::Counter>& logins_;
};

}  // namespace postline::web
