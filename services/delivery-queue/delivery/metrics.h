// The queue's Prometheus metrics (names fixed in docs/HELPERS.md; dashboards
// and alerts depend on them).
#pragma once

#include "services/delivery-queue/dsn/dsn.h"
#include "services/delivery-queue/delivery/retry.h"
#include "services/delivery-queue/policy/transport_result.h"
#include "services/delivery-queue/store/queue_store.h"

#include <prometheus/counter.h>
#include <prometheus/gauge.h>
#include <prometheus/histogram.h>
#include <prometheus/registry.h>

#include <string>

namespace postline::queue {

class QueueMetrics {
 public:
  explicit QueueMetrics(prometheus::Registry& registry);

  void enqueued() { enqueued_.Increment(); }
  // One Enqueue transaction committed `messages` messages (group commit).
  void enqueue_committed(size_t messages) {
    enqueue_commits_.Increment();
    enqueue_committed_messages_.Increment(static_cast<double>(messages));
  }
  // klass: "local" | "remote"
  void delivery(State outcome, const std::string& klass, double seconds);
  void dsn_sent(DsnAction type);
  // A local delivery refused by the quota; result: "deferred" | "bounced".
  void over_quota(const std::string& result) { over_quota_.Add({{"result", result}}).Increment(); }
  void set_stats(const QueueStats& s);
  // An operator's queue command changed `messages` messages; action: hold |
  // release | requeue | retry | delete.
  void admin_action(const std::string& action, int64_t messages) {
    admin_actions_.Add({{"action", action}}).Increment(static_cast<double>(messages));
  }
  // Outbound SMTP connections opened, and transactions over an open one.
  // The background search indexer (search_indexer.h): bodies indexed, failed batches.
  void search_indexed(size_t bodies) { search_indexed_.Increment(static_cast<double>(bodies)); }
  void search_index_failed() { search_index_failures_.Increment(); }
  // One transport-security policy evaluation (MTA-STS, DANE, none) of a
  // remote delivery attempt, by policy type and RFC 8460 result type.
  void transport_policy(const TransportPolicyResult& r) {
    transport_policy_.Add({{"policy", policy_type_name(r.policy_type)}, {"result", result_type_name(r.result)}})
        .Increment();
  }
  // Sieve at local delivery (sieve_delivery.h). result: ok | compile_error |
  // runtime_error (the message kept in INBOX) | replayed (a retry found the run
  // committed) | failed (database trouble: deferred, nothing applied).
  void sieve_run(const std::string& result) { sieve_runs_.Add({{"result", result}}).Increment(); }
  // action: keep | implicit_keep | fileinto | discard | redirect | vacation | reject | ereject
  // Recipients on other shards delivered right after the Enqueue commit
  // (immediate_delivery.h), by result: delivered | workers (left to a worker:
  // over quota, a Sieve script, a failure) | full (the hand-off queue was full).
  void immediate(const std::string& result, size_t n = 1) {
    immediate_.Add({{"result", result}}).Increment(static_cast<double>(n));
  }
  void sieve_action(const std::string& action) { sieve_actions_.Add({{"action", action}}).Increment(); }
  void smtp_connections(int opened, int reused) {
    if (opened > 0) opened_.Increment(opened);
    if (reused > 0) reused_.Increment(reused);
  }

 private:
  prometheus::Counter& enqueued_;
  prometheus::Counter& enqueue_commits_;
  prometheus::Counter& enqueue_committed_messages_;
  prometheus::Family<prometheus::Counter>& deliveries_;
  prometheus::Family<prometheus::Gauge>& depth_;
  prometheus::Gauge& oldest_;
  prometheus::Gauge& held_;
  prometheus::Family<prometheus::Counter>& admin_actions_;
  prometheus::Family<prometheus::Histogram>& duration_;
  prometheus::Family<prometheus::Counter>& dsn_;
  prometheus::Family<prometheus::Counter>& over_quota_;
  prometheus::Family<prometheus::Counter>& smtp_connections_;
  prometheus::Counter& opened_;
  prometheus::Counter& reused_;
  prometheus::Family<prometheus::Counter>& transport_policy_;
  prometheus::Counter& search_indexed_;
  prometheus::Counter& search_index_failures_;
  prometheus::Family<prometheus::Counter>& sieve_runs_;
  prometheus::Family<prometheus::Counter>& sieve_actions_;
  prometheus::Family<prometheus::Counter>& immediate_;
};

}  // namespace postline::queue
