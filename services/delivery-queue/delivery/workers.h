// Delivery workers: queue.workers threads that claim due recipients, deliver
// them (local: mailstore; remote: RemoteDelivery), record the outcome and
// enqueue DSNs in the same transaction as the outcome.
//
// Waking: wake() from this process (after an Enqueue or a DSN commits) and a
// LISTEN connection on postline_queue, where other instances' RemoteWake (one
// coalesced NOTIFY after their Enqueue commits, never inside them) and admin
// retries arrive; when idle a worker sleeps until the next recipient is due,
// at most poll_interval.
//
// Exactly once: a recipient's row lock is held while it is delivered; a local
// delivery is keyed in the mailstore by the recipient id, so if the process
// dies after the mailbox commit but before the queue commit, the retry finds
// the delivery done (duplicate) and only marks the recipient delivered.
#pragma once

#include "common/db/pool.h"
#include "services/delivery-queue/delivery/interfaces.h"
#include "services/delivery-queue/delivery/metrics.h"
#include "services/delivery-queue/delivery/retry.h"

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace postline::queue {

struct WorkerConfig {
  int workers = 4;
  int batch_size = 16;
  std::chrono::milliseconds poll_interval{5000};
  RetryPolicy policy;
  std::chrono::seconds delay_warning{4 * 3600};  // 0 = never
  std::string hostname = "localhost";
  std::string bounce_from = "MAILER-DAEMON";
  std::chrono::seconds keep_finished{7 * 86400};  // 0 = keep forever
  // Concurrent SMTP sessions to one destination domain, across every
  // instance sharing the database (advisory-lock slots, see queue_store.h).
  int max_per_domain = 10;
};

class Workers {
 public:
  // `pool` must hold at least 2 connections per worker (claim + delivery).
  // remote/resolver/metrics may be null (tests): remote recipients then defer.
  Workers(db::Pool& pool, WorkerConfig config, LocalDelivery* local, RemoteDelivery* remote,
          RecipientResolver* resolver, QueueMetrics* metrics);
  ~Workers();

  // Sieve at local delivery (null: none). Before start().
  void use_sieve(LocalSieve* sieve) { sieve_ = sieve; }
  // Called after a claim's commit queued messages of its own (Sieve's on
  // other shards): other instances' workers are woken through it. Before start().
  void on_queued(std::function<void()> fn) { on_queued_ = std::move(fn); }

  void start();
  // Stops claiming, lets in-flight batches finish, joins every thread.
  void stop();
  // New mail or a retry request: scan now.
  void wake();

  // One claim-deliver-commit round on the calling thread; returns the number of
  // recipients handled (0: nothing due). Exposed for tests.
  int run_once();

 private:
  void worker_loop();
  void listener_loop();
  bool wait_for_work(uint64_t seen, std::chrono::milliseconds timeout);

  db::Pool& pool_;
  WorkerConfig config_;
  LocalDelivery* local_;
  RemoteDelivery* remote_;
  RecipientResolver* resolver_;
  QueueMetrics* metrics_;
  LocalSieve* sieve_ = nullptr;
  std::function<void()> on_queued_;

  std::mutex mutex_;
  std::condition_variable cv_;
  uint64_t wake_seq_ = 0;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
  uint64_t reconnects_ = 0;  // the listener thread's LISTEN connections so far

  // Open destination sessions and their slots within one run_once().
  struct Destinations;
  // Delivers one claimed batch and commits it; returns the recipients handled.
  int deliver_claim(Claim& claim, Destinations& destinations);
};

}  // namespace postline::queue
