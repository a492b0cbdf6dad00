#include "services/smtp-ingress/server/metrics.h"

#include <spdlog/spdlog.h>

namespace postline::smtp {

namespace {
prometheus::Family<prometheus::Counter>& counter(prometheus::Registry& r, const std::string& name,
                                                 const std::string& help) {
  return prometheus::BuildCounter().Name(name).Help(help).Register(r);
}
}  // namespace

SmtpMetrics::SmtpMetrics(prometheus::Registry& r)
    : sessions(counter(r, "postline_smtpd_sessions_total", "SMTP sessions accepted, by listener")),
      sessions_active(prometheus::BuildGauge()
                          .Name("postline_smtpd_sessions_active")
                          .Help("SMTP sessions open now")
                          .Register(r)
                          .Add({})),
      commands(counter(r, "postline_smtpd_commands_total", "SMTP commands received, by verb")),
      replies(counter(r, "postline_smtpd_replies_total", "SMTP replies sent, by code")),
      messages_accepted(counter(r, "postline_smtpd_messages_accepted_total",
                                "messages committed by the queue and answered 250")
                            .Add({})),
      messages_rejected(counter(r, "postline_smtpd_messages_rejected_total",
                                "messages or recipients refused, by reason")),
      session_duration(prometheus::BuildHistogram()
                           .Name("postline_smtpd_session_duration_seconds")
                           .Help("SMTP session length from accept to close")
                           .Register(r)
                           .Add({}, prometheus::Histogram::BucketBoundaries{0.01, 0.05, 0.1, 0.5, 1, 2.5, 5, 10, 30,
                                                                            60, 300, 600})),
      auth(counter(r, "postline_smtpd_auth_total", "AUTH attempts, by mechanism and outcome")),
      tls_handshakes(counter(r, "postline_smtpd_tls_handshakes_total", "TLS handshakes, by outcome")),
      limits(counter(r, "postline_smtpd_limits_hit_total", "configured limits reached, by limit")),
      burl(counter(r, "postline_smtpd_burl_total", "BURL commands (RFC 4468), by result")) {
  // Families whose label values are fixed in the code exist at zero from the
  // start (dashboards and rate() see 0, not a gap). Commands, replies and AUTH
  // mechanisms depend on what clients send; listeners on what main.cpp starts.
  for (const char* outcome : {"success", "failure"}) tls_handshakes.Add({{"outcome", outcome}});
  for (const char* limit : {"connections", "shutdown", "errors", "command_timeout", "data_timeout", "line_length",
                            "message_size", "inflight_data", "header_size", "auth_failures", "starttls_injection",
                            "messages_per_session"})
    limits.Add({{"limit", limit}});
  for (const char* result : {"ok", "refused", "no_storage", "not_authorized", "not_found", "too_big", "unavailable"})
    burl.Add({{"result", result}});
  for (const char* reason : {"size", "inflight_data", "bare_newline", "header_size", "line_length", "queue_unavailable"})
    messages_rejected.Add({{"reason", reason}});
}

void ConnectionObserver::on_command(std::string_view verb) {
  m_.commands.Add({{"command", std::string(verb)}}).Increment();
  if (verb == "QUIT") quit_seen_ = true;
}

void ConnectionObserver::on_reply(int code) { m_.replies.Add({{"code", std::to_string(code)}}).Increment(); }

void ConnectionObserver::on_message_accepted(std::string_view, uint64_t) { m_.messages_accepted.Increment(); }

void ConnectionObserver::on_message_rejected(std::string_view reason) {
  m_.messages_rejected.Add({{"reason", std::string(reason)}}).Increment();
}

void ConnectionObserver::on_limit(std::string_view limit) { m_.limits.Add({{"limit", std::string(limit)}}).Increment(); }

void ConnectionObserver::on_auth(std::string_view mechanism, std::string_view outcome) {
  m_.auth.Add({{"mechanism", std::string(mechanism)}, {"outcome", std::string(outcome)}}).Increment();
}

void ConnectionObserver::on_burl(std::string_view result) { m_.burl.Add({{"result", std::string(result)}}).Increment(); }

void ConnectionObserver::on_log(int level, std::string_view line) {
  switch (level) {
    case 0: spdlog::debug("[s:{}] {}", id_, line); break;
    case 1: spdlog::info("[s:{}] {}", id_, line); break;
    default: spdlog::warn("[s:{}] {}", id_, line); break;
  }
}

}  // namespace postline::smtp
