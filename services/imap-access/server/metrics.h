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
  // A connection turned away: total (imap.max_connections), per_ip
  // (imap.max_unauthenticated_per_ip); LOGINs over imap.max_connections_per_user
  // are counted as login outcome "limit".
  // The sessions_total series of a listener, at zero (main.cpp, once it listens).
  void listener_started(const std::string& listener);
  void connection_refused(const std::string& reason) { refused_.Add({{"reason", reason}}).Increment(); }
  void notification(const std::string& kind) override;
  void body_streamed(uint64_t bytes) override {
    streamed_.Increment();
    streamed_bytes_.Increment(static_cast<double>(bytes));
  }
  // The mailstore's index cache (imap.index_cache_messages): what it holds
  // now and how opens were answered since the last call (cumulative totals in).
  void index_cache(uint64_t messages, uint64_t mailboxes, uint64_t hits, uint64_t deltas, uint64_t misses);
  // COMPRESS=DEFLATE (RFC 4978): a session turned it on; bytes each way
  // before (plain) and after (deflate) the codec, added as they pass.
  void compress_started() { compress_sessions_.Increment(); }
  void compress_in(uint64_t deflate_bytes, uint64_t plain_bytes) {
    compress_in_deflate_.Increment(static_cast<double>(deflate_bytes));
    compress_in_plain_.Increment(static_cast<double>(plain_bytes));
  }
  void compress_out(uint64_t plain_bytes, uint64_t deflate_bytes) {
    compress_out_plain_.Increment(static_cast<double>(plain_bytes));
    compress_out_deflate_.Increment(static_cast<double>(deflate_bytes));
  }
  // imap.max_inflight_literals in use now (all connections).
  void literal_bytes(uint64_t bytes) { literal_bytes_.Set(static_cast<double>(bytes)); }

 private:
  prometheus::Family<prometheus::Counter>& sessions_;
  prometheus::Gauge& active_;
  prometheus::Family<prometheus::Counter>& commands_;
  prometheus::Family<prometheus::Histogram>& durations_;
  prometheus::Family<prometheus::Counter>& logins_;
  prometheus::Family<prometheus::Counter>& errors_;
  prometheus::Family<prometheus::Counter>& refused_;
  prometheus::Family<prometheus::Counter>& notifications_;
  prometheus::Gauge& literal_bytes_;
  prometheus::Counter& streamed_;
  prometheus::Counter& streamed_bytes_;
  prometheus::Gauge& cache_messages_;
  prometheus::Gauge& cache_mailboxes_;
  prometheus::Family<prometheus::Counter>& cache_opens_;
  prometheus::Counter& compress_sessions_;
  prometheus::Family<prometheus::Counter>& compress_bytes_;
  prometheus::Counter& compress_in_deflate_;
  prometheus::Counter& compress_in_plain_;
  prometheus::Counter& compress_out_plain_;
  prometheus::Counter& compress_out_deflate_;
  uint64_t last_hits_ = 0, last_deltas_ = 0, last_misses_ = 0;
};

}  // namespace postline::imap
