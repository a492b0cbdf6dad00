#include "services/imap-access/server/metrics.h"

namespace postline::imap {

ImapMetrics::ImapMetrics(prometheus::Registry& r)
    : sessions_(prometheus::BuildCounter()
                    .Name("postline_imapd_sessions_total")
                    .Help("IMAP connections accepted, by listener")
                    .Register(r)),
      active_(prometheus::BuildGauge()
                  .Name("postline_imapd_sessions_active")
                  .Help("IMAP connections open now")
                  .Register(r)
                  .Add({})),
      commands_(prometheus::BuildCounter()
                    .Name("postline_imapd_commands_total")
                    .Help("IMAP commands by name and tagged status")
                    .Register(r)),
      durations_(prometheus::BuildHistogram()
                     .Name("postline_imapd_command_duration_seconds")
                     .Help("IMAP command latency")
                     .Register(r)),
      logins_(prometheus::BuildCounter()
                  .Name("postline_imapd_logins_total")
                  .Help("IMAP logins by outcome")
                  .Register(r)),
      errors_(prometheus::BuildCounter()
                  .Name("postline_imapd_protocol_errors_total")
                  .Help("Client protocol errors by kind (bad syntax, over-long line, literal too big, timeout)")
                  .Register(r)),
      notifications_(prometheus::BuildCounter()
                         .Name("postline_imapd_notifications_sent_total")
                         .Help("NOTIFY (RFC 5465) responses sent: status, list, selected (a pushed resync), overflow")
                         .Register(r)),
      literal_bytes_(prometheus::BuildGauge()
                         .Name("postline_imapd_literal_bytes_buffered")
                         .Help("literal bytes all connections hold now (imap.max_inflight_literals is the ceiling)")
                         .Register(r)
                         .Add({})) {}

void ImapMetrics::session_started(const std::string& listener) {
  sessions_.Add({{"listener", listener}}).Increment();
  active_.Increment();
}

void ImapMetrics::session_ended() { active_.Decrement(); }

void ImapMetrics::command(const std::string& name, const std::string& status,
                          std::chrono::steady_clock::duration took) {
  commands_.Add({{"command", name}, {"status", status}}).Increment();
  static const prometheus::Histogram::BucketBoundaries kBuckets = {0.001, 0.005, 0.01, 0.025, 0.05, 0.1,
                                                                   0.25,  0.5,   1,    2.5,   5,    10};
  durations_.Add({{"command", name}}, kBuckets).Observe(std::chrono::duration<double>(took).count());
}

void ImapMetrics::login(const std::string& outcome) { logins_.Add({{"outcome", outcome}}).Increment(); }

void ImapMetrics::notification(const std::string& kind) { notifications_.Add({{"kind", kind}}).Increment(); }

void ImapMetrics::protocol_error(const std::string& kind) { errors_.Add({{"kind", kind}}).Increment(); }

}  // namespace postline::imap
