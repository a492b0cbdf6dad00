// smtpd's Prometheus metrics (names fixed in docs/HELPERS.md and docs/smtp.md)
// and the per-connection SessionObserver that feeds them and the log.
#pragma once

#include "services/smtp-ingress/protocol/session.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <memory>
#include <string>

namespace postline::smtp {

struct SmtpMetrics {
  explicit SmtpMetrics(prometheus::Registry& registry);

  prometheus::Family<prometheus::Counter>& sessions;
  prometheus::Gauge& sessions_active;
  prometheus::Family<prometheus::Counter>& commands;
  prometheus::Family<prometheus::Counter>& replies;
  prometheus::Counter& messages_accepted;
  prometheus::Family<prometheus::Counter>& messages_rejected;
  prometheus::Histogram& session_duration;
  prometheus::Family<prometheus::Counter>& auth;
  prometheus::Family<prometheus::Counter>& tls_handshakes;
  prometheus::Family<prometheus::Counter>& limits;
  prometheus::Family<prometheus::Counter>& burl;
};

// Metrics + log lines for one session; every line carries the session id.
class ConnectionObserver : public SessionObserver {
 public:
  ConnectionObserver(SmtpMetrics& m, std::string session_id) : m_(m), id_(std::move(session_id)) {}
  void on_command(std::string_view verb) override;
  void on_reply(int code) override;
  void on_message_accepted(std::string_view queue_id, uint64_t size) override;
  void on_message_rejected(std::string_view reason) override;
  void on_limit(std::string_view limit) override;
  void on_auth(std::string_view mechanism, std::string_view outcome) override;
  void on_log(int level, std::string_view line) override;
  void on_burl(std::string_view result) override;
  const std::string& id() const { return id_; }
  bool quit_seen() const { return quit_seen_; }  // for the disconnect line's reason

 private:
  SmtpMetrics& m_;
  std::string id_;
  bool quit_seen_ = false;
};

}  // namespace postline::smtp
