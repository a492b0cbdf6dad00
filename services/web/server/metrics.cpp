#include "services/web/server/metrics.h"

namespace postline::web {

WebMetrics::WebMetrics(prometheus::Registry& registry)
    : requests_(prometheus::BuildCounter()
                    .Name("postline_webd_requests_total")
                    .Help("HTTP requests answered, by path class (autoconfig, autodiscover, mobileconfig, mta-sts, redirect, "
                          "acme_challenge, other) and status code")
                    .Register(registry)),
      handshake_failures_(prometheus::BuildCounter()
                              .Name("postline_webd_tls_handshake_failures_total")
                              .Help("HTTPS connections whose TLS handshake failed or timed out")
                              .Register(registry)
                              .Add({})),
      over_limit_(prometheus::BuildCounter()
                      .Name("postline_webd_connections_rejected_total")
                      .Help("HTTPS connections closed at once because web.max_connections or "
                            "web.max_connections_per_ip was reached")
                      .Register(registry)
                      .Add({})) {
  for (const char* path : {"autoconfig", "autodiscover", "mobileconfig", "mta-sts"})
    for (const char* status : {"200", "404"}) requests_.Add({{"path", path}, {"status", status}});
}

void WebMetrics::request(const std::string& path, unsigned status) {
  requests_.Add({{"path", path}, {"status", std::to_string(status)}}).Increment();
}

}  // namespace postline::web
