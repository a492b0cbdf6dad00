#include "services/web/server/portal_metrics.h"

#include "services/web/portal/portal.h"

namespace postline::web {

PortalMetrics::PortalMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("postline_webd_portal_requests_total")
                    .Help("Web portal requests answered, by route and status code")
                    .Register(registry)),
      logins_(prometheus::BuildCounter()
                  .Name("postline_webd_portal_logins_total")
                  .Help("Web portal sign-ins (and current-password checks), by authd's outcome")
                  .Register(registry)) {
  for (const char* route : portal::kRoutes) requests_.Add({{"route", route}, {"status", "200"}});
  for (auto o : {portal::LoginOutcome::kOk, portal::LoginOutcome::kInvalid, portal::LoginOutcome::kThrottled,
                 portal::LoginOutcome::kDisabled, portal::LoginOutcome::kUnavailable})
    logins_.Add({{"outcome", portal::login_outcome_name(o)}});
}

void PortalMetrics::request(const std::string& route, unsigned status) {
  requests_.Add({{"route", route}, {"status", std::to_string(status)}}).Increment();
}

void PortalMetrics::login(portal::LoginOutcome outcome) {
  logins_.Add({{"outcome", portal::login_outcome_name(outcome)}}).Increment();
}

}  // namespace postline::web
