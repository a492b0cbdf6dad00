// managesieved's Prometheus metrics (names in docs/HELPERS.md, panels in the
// Grafana dashboard's ManageSieve row).
#pragma once

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/registry.h>

#include <string>

namespace postline::managesieve {

class ManageSieveMetrics {
 public:
  explicit ManageSieveMetrics(prometheus::Registry& registry);
  void session_started() {
    sessions_.Increment();
    active_.Increment();
  }
  void session_ended() { active_.Decrement(); }
  // command: the known names or "unknown" (bounded); result ok|no|bye.
  void command(const std::string& name, const std::string& result) {
    commands_.Add({{"command", name}, {"result", result}}).Increment();
  }
  void login(const std::string& outcome) { logins_.Add({{"outcome", outcome}}).Increment(); }
  void script_stored() { stored_.Increment(); }
  void script_refused(const std::string& reason) { refused_scripts_.Add({{"reason", reason}}).Increment(); }
  void protocol_error(const std::string& kind) { errors_.Add({{"kind", kind}}).Increment(); }
  // total (managesieve.max_connections), per_ip (managesieve.max_unauthenticated_per_ip)
  void connection_refused(const std::string& reason) { refused_.Add({{"reason", reason}}).Increment(); }

 private:
  prometheus::Counter& sessions_;
  prometheus::Gauge& active_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Counter>& logins_;
  prometheus::Counter& stored_;
  prometheus::Family<prometheus::Counter>& refused_scripts_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& refused_;
};

}  // namespace postline::managesieve
