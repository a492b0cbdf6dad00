#include "services/delivery-queue/delivery/metrics.h"

namespace postline::queue {

QueueMetrics::QueueMetrics(prometheus::Registry& registry)
    : enqueued_(prometheus::BuildCounter()
                    .Name("postline_queued_messages_enqueued_total")
                    .Help("Messages committed to the queue")
                    .Register(registry)
                    .Add({})),
      enqueue_commits_(prometheus::BuildCounter()
                           .Name("postline_queued_enqueue_commits_total")
                           .Help("Enqueue transactions committed (group commit: several messages each)")
                           .Register(registry)
                           .Add({})),
      enqueue_committed_messages_(prometheus::BuildCounter()
                                      .Name("postline_queued_enqueue_committed_messages_total")
                                      .Help("Messages committed by Enqueue transactions (divided by the commits: the batch size)")
                                      .Register(registry)
                                      .Add({})),
      deliveries_(prometheus::BuildCounter()
                      .Name("postline_queued_deliveries_total")
                      .Help("Delivery attempts by outcome and destination class (local|remote)")
                      .Register(registry)),
      depth_(prometheus::BuildGauge()
                 .Name("postline_queued_queue_depth")
                 .Help("Queue recipients by state")
                 .Register(registry)),
      oldest_(prometheus::BuildGauge()
                  .Name("postline_queued_oldest_message_age_seconds")
                  .Help("Age of the oldest message that still has a pending recipient (held messages not counted)")
                  .Register(registry)
                  .Add({})),
      held_(prometheus::BuildGauge()
                .Name("postline_queued_held_messages")
                .Help("Messages on hold (postline queue hold): never attempted until released")
                .Register(registry)
                .Add({})),
      admin_actions_(prometheus::BuildCounter()
                         .Name("postline_queued_admin_actions_total")
                         .Help("Messages changed by operator queue commands, by action "
                               "(hold|release|requeue|retry|delete)")
                         .Register(registry)),
      duration_(prometheus::BuildHistogram()
                    .Name("postline_queued_delivery_duration_seconds")
                    .Help("Duration of one delivery attempt by destination class")
                    .Register(registry)),
      dsn_(prometheus::BuildCounter()
               .Name("postline_queued_dsn_sent_total")
               .Help("Delivery status notifications generated, by type")
               .Register(registry)),
      over_quota_(prometheus::BuildCounter()
                      .Name("postline_queued_over_quota_total")
                      .Help("Local deliveries refused by the recipient's quota, by result (deferred|bounced)")
                      .Register(registry)),
      smtp_connections_(prometheus::BuildCounter()
                            .Name("postline_queued_smtp_connections_total")
                            .Help("Outbound SMTP: connections opened (reused=false) and messages sent over an "
                                  "already open connection (reused=true)")
                            .Register(registry)),
      opened_(smtp_connections_.Add({{"reused", "false"}})),
      reused_(smtp_connections_.Add({{"reused", "true"}})),
      transport_policy_(prometheus::BuildCounter()
                            .Name("postline_queued_transport_policy_total")
                            .Help("Transport-security policy evaluations of remote deliveries, by policy "
                                  "(sts|tlsa|no-policy-found) and RFC 8460 result type (success, "
                                  "starttls-not-supported, certificate-host-mismatch, validation-failure, ...)")
                            .Register(registry)),
      search_indexed_(prometheus::BuildCounter()
                          .Name("postline_queued_search_indexed_total")
                          .Help("Message bodies whose search index the background indexer built after delivery")
                          .Register(registry)
                          .Add({})),
      search_index_failures_(prometheus::BuildCounter()
                                 .Name("postline_queued_search_index_failures_total")
                                 .Help("Search indexing batches that failed (tried again on the next round)")
                                 .Register(registry)
                                 .Add({})),
      sieve_runs_(prometheus::BuildCounter()
                      .Name("postline_queued_sieve_runs_total")
                      .Help("Sieve runs at local delivery by result (ok|compile_error|runtime_error: kept in "
                            "INBOX|replayed: a retry found the run done|failed: deferred)")
                      .Register(registry)),
      sieve_actions_(prometheus::BuildCounter()
                         .Name("postline_queued_sieve_actions_total")
                         .Help("Actions of Sieve runs carried out at local delivery, by action")
                         .Register(registry)),
      immediate_(prometheus::BuildCounter()
                     .Name("postline_queued_immediate_deliveries_total")
                     .Help("Local recipients on shards other than db.url's delivered right after the Enqueue commit, "
                           "by result (delivered|workers: left to a worker|full: hand-off queue full)")
                     .Register(registry)) {
  // Pre-create the common series so dashboards and rate() see zeros, not gaps.
  for (const char* klass : {"local", "remote"})
    for (State s : {State::kDelivered, State::kDeferred, State::kBounced, State::kExpired})
      deliveries_.Add({{"outcome", std::string(state_name(s))}, {"class", klass}});
  for (DsnAction a : {DsnAction::kFailed, DsnAction::kDelayed, DsnAction::kDelivered, DsnAction::kRelayed})
    dsn_.Add({{"type", std::string(dsn_action_name(a))}});
  for (const char* result : {"deferred", "bounced"}) over_quota_.Add({{"result", result}});
  for (const char* action : {"hold", "release", "requeue", "retry", "delete"}) admin_actions_.Add({{"action", action}});
  for (PolicyType t : {PolicyType::kSts, PolicyType::kTlsa, PolicyType::kNoPolicyFound})
    transport_policy_.Add({{"policy", policy_type_name(t)}, {"result", "success"}});
  for (const char* result : {"ok", "compile_error", "runtime_error", "replayed", "failed"})
    sieve_runs_.Add({{"result", result}});
  for (const char* result : {"delivered", "workers", "full"}) immediate_.Add({{"result", result}});
}

void QueueMetrics::delivery(State outcome, const std::string& klass, double seconds) {
  deliveries_.Add({{"outcome", std::string(state_name(outcome))}, {"class", klass}}).Increment();
  static const prometheus::Histogram::BucketBoundaries buckets = {0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5,
                                                                  1,     2.5,  5,     10,   30,  60,  300};
  duration_.Add({{"class", klass}}, buckets).Observe(seconds);
}

void QueueMetrics::dsn_sent(DsnAction type) { dsn_.Add({{"type", std::string(dsn_action_name(type))}}).Increment(); }

void QueueMetrics::set_stats(const QueueStats& s) {
  for (const auto& [state, n] : s.depth) depth_.Add({{"state", std::string(state_name(state))}}).Set(static_cast<double>(n));
  oldest_.Set(s.oldest_pending_age_seconds);
  held_.Set(static_cast<double>(s.held_messages));
}

}  // namespace postline::queue
