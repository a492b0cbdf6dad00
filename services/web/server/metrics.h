// webd's Prometheus families (postline_webd_*). Every series a dashboard or an
// alert needs exists at 0 from start.
#pragma once

#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <string>

namespace postline::web {

class WebMetrics {
 public:
  explicit WebMetrics(prometheus::Registry& registry);
  // path: a PathClass name or "redirect"; status: the HTTP status code.
  void request(const std::string& path, unsigned status);
  void handshake_failed() { handshake_failures_.Increment(); }
  void over_limit() { over_limit_.Increment(); }

 private:
  prometheus::Family<prometheus::Counter>& requests_;
  prometheus::Counter& handshake_failures_;
  prometheus::Counter& over_limit_;
};

}  // namespace postline::web
