// smtpd's view of the other services: authd (ResolveRecipient, Authenticate)
// and queued (Enqueue). Enqueue, once per message, uses gRPC's callback API:
// nothing blocks and the answer is posted back to the session's executor. The
// other calls (authd's, BURL's FetchUrl) are synchronous stub calls on a
// bounded thread pool via postline::async::offload, so the I/O thread never
// blocks and the pool size bounds concurrent RPCs. Every failure maps to the "try again later" answer
// of the protocol layer (Resolution::available = false, kTemporaryFailure,
// committed = false): our faults are never 5xx.
#pragma once

#include "services/smtp-ingress/server/recipient_cache.h"
#include "common/grpc/grpc.h"
#include "services/smtp-ingress/protocol/events.h"

#include <boost/asio/awaitable.hpp>
#include <boost/asio/thread_pool.hpp>
#include <grpcpp/grpcpp.h>
#include <prometheus/counter.h>
#include <prometheus/registry.h>

#include <chrono>
#include <condition_variable>
#include <mutex>
#include <set>
#include <memory>
#include <string>
#include <vector>

namespace postline::mail::v1 {
class AuthService;
class QueueService;
class RecordDmarcRequest;
class EnqueueChunk;
}  // namespace postline::mail::v1

namespace postline::smtp {

struct EnqueueAttempt;

struct BackendOptions {
  std::string auth_addr;
  std::string queue_addr;
  size_t threads = 16;
  std::chrono::milliseconds resolve_timeout{5000};
  std::chrono::milliseconds auth_timeout{15000};  // argon2 is slow on purpose
  std::chrono::milliseconds enqueue_timeout{120000};
  std::chrono::milliseconds fetch_url_timeout{60000};  // BURL: up to smtp.max_message_size from the mailstore
  // How long a failed Enqueue that may have committed is retried (same queue
  // id) before the client gets 451; well inside the client's 10-minute wait
  // for the reply to the final dot (RFC 5321 4.5.3.2.6). smtp.enqueue_retry_window.
  std::chrono::milliseconds enqueue_retry_window{30000};
  // authd's ResolveRecipient answers are reused this long (smtp.recipient_cache_ttl; 0 = off).
  std::chrono::milliseconds recipient_cache_ttl{5000};
};

class Backend {
 public:
  Backend(BackendOptions options, prometheus::Registry& registry);
  ~Backend();

  // `trace_id` (the transaction's queue id) goes to authd as x-postline-trace
  // metadata, so its log can name the message the look-up was for.
  boost::asio::awaitable<Resolution> resolve(std::string address, std::string trace_id = {});
  boost::asio::awaitable<AuthOutcome> authenticate(AuthenticateEvent credentials, std::string remote_ip);
  boost::asio::awaitable<EnqueueOutcome> enqueue(EnqueueEvent message);
  boost::asio::awaitable<SaslAnswer> sasl(SaslEvent step, std::string remote_ip);
  // BURL: queued's FetchUrl (verifies the URLAUTH URL, reads the mailstore).
  boost::asio::awaitable<UrlFetched> fetch_url(FetchUrlEvent request);

  // DMARC evaluations for queued's aggregate reports; blocking (the
  // DmarcReportSink's own thread calls it). False when the call failed.
  bool record_dmarc(const mail::v1::RecordDmarcRequest& request);

  // Both channels connect within a short deadline (readiness; HTTP thread).
  bool ready();

  // Cancels the Enqueue calls still in flight and waits (up to `wait`) until
  // each has posted its answer to its session's executor. Call it after the
  // io_context stopped and before it is destroyed (main.cpp), so no answer
  // arrives at an executor that is gone.
  void cancel_calls(std::chrono::milliseconds wait);

  // The Enqueue calls in flight (their contexts), for cancel_calls.
  struct CallTracker {
    // Recursive: gRPC may finish a cancelled call (OnDone -> remove) inside TryCancel.
    std::recursive_mutex mutex;
    std::condition_variable_any idle;
    std::set<grpc::ClientContext*> calls;
    void add(grpc::ClientContext* c);
    void remove(grpc::ClientContext* c);
  };

 private:
  struct Stubs;
  // One Enqueue call (gRPC callback API, no thread blocks in it); waits for
  // the channel on a pool thread first only when it is not connected.
  boost::asio::awaitable<EnqueueAttempt> enqueue_attempt(
      std::shared_ptr<const std::vector<mail::v1::EnqueueChunk>> chunks, std::chrono::milliseconds connect_wait);
  BackendOptions options_;
  std::shared_ptr<grpc::Channel> auth_channel_, queue_channel_;
  std::unique_ptr<Stubs> stubs_;
  grpcutil::RpcMetrics rpc_metrics_;
  prometheus::Counter& enqueue_retries_;
  prometheus::Family<prometheus::Counter>& recipient_lookups_;
  prometheus::Counter& cache_hits_;
  prometheus::Counter& cache_misses_;
  RecipientCache recipients_;
  CallTracker calls_;
  boost::asio::thread_pool pool_;
};

}  // namespace postline::smtp
