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
      refused_(prometheus::BuildCounter()
                   .Name("postline_imapd_connections_refused_total")
                   .Help("Connections turned away by reason: total (imap.max_connections), per_ip "
                         "(imap.max_unauthenticated_per_ip)")
                   .Register(r)),
      notifications_(prometheus::BuildCounter()
                         .Name("postline_imapd_notifications_sent_total")
                         .Help("NOTIFY (RFC 5465) responses sent: status, list, selected (a pushed resync), overflow")
                         .Register(r)),
      literal_bytes_(prometheus::BuildGauge()
                         .Name("postline_imapd_literal_bytes_buffered")
                         .Help("literal bytes all connections hold now (imap.max_inflight_literals is the ceiling)")
                         .Register(r)
                         .Add({})),
      streamed_(prometheus::BuildCounter()
                    .Name("postline_imapd_fetch_bodies_streamed_total")
                    .Help("FETCH bodies over 4 MiB sent in pieces instead of held whole")
                    .Register(r)
                    .Add({})),
      streamed_bytes_(prometheus::BuildCounter()
                          .Name("postline_imapd_fetch_streamed_bytes_total")
                          .Help("bytes of the FETCH bodies sent in pieces")
                          .Register(r)
                          .Add({})),
      cache_messages_(prometheus::BuildGauge()
                          .Name("postline_imapd_index_cache_messages")
                          .Help("index entries (messages) the mailbox index cache holds (imap.index_cache_messages)")
                          .Register(r)
                          .Add({})),
      cache_mailboxes_(prometheus::BuildGauge()
                           .Name("postline_imapd_index_cache_mailboxes")
                           .Help("mailboxes whose index the cache holds")
                           .Register(r)
                           .Add({})),
      cache_opens_(prometheus::BuildCounter()
                       .Name("postline_imapd_index_cache_opens_total")
                       .Help("mailbox opens (SELECT/EXAMINE) by how the index was read: hit (unchanged), delta "
                             "(changes since the cached snapshot), miss (the whole index)")
                       .Register(r)),
      compress_sessions_(prometheus::BuildCounter()
                             .Name("postline_imapd_compress_sessions_total")
                             .Help("sessions that turned on COMPRESS=DEFLATE (RFC 4978)")
                             .Register(r)
                             .Add({})),
      compress_bytes_(prometheus::BuildCounter()
                          .Name("postline_imapd_compress_bytes_total")
                          .Help("bytes of COMPRESS=DEFLATE sessions by direction (in: from clients, out: to them) "
                                "and form (plain: IMAP bytes, deflate: on the wire under TLS)")
                          .Register(r)),
      compress_in_deflate_(compress_bytes_.Add({{"direction", "in"}, {"form", "deflate"}})),
      compress_in_plain_(compress_bytes_.Add({{"direction", "in"}, {"form", "plain"}})),
      compress_out_plain_(compress_bytes_.Add({{"direction", "out"}, {"form", "plain"}})),
      compress_out_deflate_(compress_bytes_.Add({{"direction", "out"}, {"form", "deflate"}})) {
  // Every family whose label values are fixed here exists at zero from the
  // start (dashboards and rate() see 0, not a gap). Commands and listeners
  // depend on what clients send and what main.cpp starts (listener_started).
  for (const char* outcome : {"success", "failure", "throttled", "disabled", "unavailable", "limit", "moving", "unknown_shard"})
    logins_.Add({{"outcome", outcome}});
  for (const char* kind : {"syntax", "line_too_long", "literal_too_big", "literal_budget", "timeout", "tls_handshake",
                           "deflate"})
    errors_.Add({{"kind", kind}});
  for (const char* reason : {"total", "per_ip"}) refused_.Add({{"reason", reason}});
  for (const char* kind : {"status", "list", "selected", "overflow"}) notifications_.Add({{"kind", kind}});
  for (const char* result : {"hit", "delta", "miss"}) cache_opens_.Add({{"result", result}});
}

void ImapMetrics::listener_started(const std::string& listener) { sessions_.Add({{"listener", listener}}); }

void ImapMetrics::index_cache(uint64_t messages, uint64_t mailboxes, uint64_t hits, uint64_t deltas,
                              uint64_t misses) {
  cache_messages_.Set(static_cast<double>(messages));
  cache_mailboxes_.Set(static_cast<double>(mailboxes));
  auto add = [&](const char* result, uint64_t now, uint64_t& last) {
    if (now > last) cache_opens_.Add({{"result", result}}).Increment(static_cast<double>(now - last));
    last = now;
  };
  add("hit", hits, last_hits_);
  add("delta", deltas, last_deltas_);
  add("miss", misses, last_misses_);
}

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
