// imapd's Prometheus metrics (names fixed in docs/HELPERS.md).
#pragma once

#include "services/imap-access/commands/context.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <chrono>
#include <string>

namespace postline::imap {

class ImapMetrics final : public Observer {
 public:
  explicit ImapMetrics(prometheus::Registry& registry);
  void session_started(const std::string& listener);
  void session_ended();
  // status: ok|no|bad; command: known command names only (bounded label set).
  void command(const std::string& name, const std::string& status, std::chrono::steady_clock::duration took);
  void login(const std::string& outcome) override;
  void protocol_error(const std::string& kind);
  void notification(const std::string& kind) override;
  // imap.max_inflight_literals in use now (all connections).
  void literal_bytes(uint64_t bytes) { literal_bytes_.Set(static_cast<double>(bytes)); }

 private:
  prometheus::Family<prometheus::Counter>& sessions_;
  prometheus::Gauge& active_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& logins_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Gauge& literal_bytes_;
};

}  // namespace postline::imap
