// QueueService (proto/mail/v1/queue.proto) on gRPC's synchronous server API:
// every handler does blocking PostgreSQL work, and gRPC's own thread pool is
// the bounded pool that runs it. Every RPC ends in a grpc::Status; a database
// fault is UNAVAILABLE (smtpd answers 451 4.3.0), never a 5xx-worthy code.
#pragma once

#include "common/db/pool.h"
#include "common/db/pq.h"
#include "common/grpc/grpc.h"
#include "services/delivery-queue/delivery/metrics.h"
#include "services/delivery-queue/dsn/dsn.h"
#include "services/delivery-queue/rpc/enqueue_batcher.h"
#include "services/delivery-queue/store/queue_store.h"

#include "common/mailstore/mail_store.h"
#include "services/delivery-queue/delivery/interfaces.h"

#include "mail/v1/queue.grpc.pb.h"

namespace postline::queue::reports {
class Reporter;
}

#include <functional>
#include <memory>

namespace postline::queue {

struct ServiceLimits {
  uint64_t max_message_size = 64 * 1024 * 1024;
  int max_recipients = 1000;
};

class QueueServiceImpl final : public postline::mail::v1::QueueService::Service {
 public:
  // wake: called after a commit that makes recipients due (new mail, retry).
  // admin_token: when not empty, every RPC but Enqueue needs the metadata
  // "authorization: Bearer <token>" (the same token as authd's AdminService).
  QueueServiceImpl(db::Pool& pool, ServiceLimits limits, DsnSender dsn_sender, QueueMetrics* metrics,
                   grpcutil::RpcMetrics* rpc_metrics, std::function<void()> wake, std::string admin_token = "");

  // Enqueue through `batcher` (libpq, group commit, local deliveries inside
  // the transaction) instead of `pool`. queued's main() always sets it;
  // without, Enqueue takes the libpqxx path (tests of the admin RPCs).
  void use_batcher(EnqueueBatcher& batcher) { batcher_ = &batcher; }
  // Sharding: local recipients on this mailstore shard (the one on db.url,
  // where Enqueue's transaction runs) may be delivered inside Enqueue;
  // recipients on other shards, or being moved, wait for a worker. "" = none.
  void set_enqueue_shard(std::string shard) { enqueue_shard_ = std::move(shard); }
  // Sharding: local recipients on other shards that `accepts` (not being
  // moved, limits known from smtpd, no NOTIFY=SUCCESS) are marked
  // NewRecipient::handoff_shard and the committed message is handed to
  // `offer` (delivery/immediate_delivery.h) before the answer; they are
  // due for the workers `grace` after the commit (queue.handoff_grace).
  void use_handoff(std::function<bool(const std::string&)> accepts,
                   std::function<void(std::shared_ptr<const NewMessage>, std::vector<int64_t>)> offer,
                   std::chrono::seconds grace = std::chrono::seconds(10)) {
    handoff_accepts_ = std::move(accepts);
    handoff_offer_ = std::move(offer);
    handoff_grace_ = grace;
  }
  // FetchUrl (BURL) reads through `store` and resolves a URL's user other
  // than the submitter through `resolver`. Without, FetchUrl is UNIMPLEMENTED.
  // Sharding: with `place`, the owner's shard is asked of authd's directory
  // (resolver.local_target) before the read and handed to `place` (the
  // router's assign; false: a shard this process does not know).
  void use_url_fetcher(mailstore::MailStore& store, RecipientResolver& resolver,
                       std::function<bool(int64_t, const std::string&)> place = {}) {
    url_store_ = &store;
    url_resolver_ = &resolver;
    url_place_ = std::move(place);
  }

  // DMARC/TLS reporting (reports/): RecordDmarc, ListReports, SendReports,
  // and received reports offered after Enqueue. Without, those RPCs are
  // UNIMPLEMENTED.
  void use_reporter(reports::Reporter& reporter) { reporter_ = &reporter; }

  grpc::Status Enqueue(grpc::ServerContext* ctx, grpc::ServerReader<mail::v1::EnqueueChunk>* reader,
                       mail::v1::EnqueueResponse* response) override;
  grpc::Status GetMessage(grpc::ServerContext* ctx, const mail::v1::GetMessageRequest* request,
                          mail::v1::GetMessageResponse* response) override;
  grpc::Status ListMessages(grpc::ServerContext* ctx, const mail::v1::ListMessagesRequest* request,
                            mail::v1::ListMessagesResponse* response) override;
  grpc::Status Retry(grpc::ServerContext* ctx, const mail::v1::RetryRequest* request,
                     mail::v1::RetryResponse* response) override;
  grpc::Status DeleteMessage(grpc::ServerContext* ctx, const mail::v1::DeleteMessageRequest* request,
                             mail::v1::DeleteMessageResponse* response) override;
  grpc::Status Flush(grpc::ServerContext* ctx, const mail::v1::FlushRequest* request,
                     mail::v1::FlushResponse* response) override;
  grpc::Status FetchUrl(grpc::ServerContext* ctx, const mail::v1::FetchUrlRequest* request,
                        mail::v1::FetchUrlResponse* response) override;
  grpc::Status Hold(grpc::ServerContext* ctx, const mail::v1::QueueActionRequest* request,
                    mail::v1::QueueActionResponse* response) override;
  grpc::Status Release(grpc::ServerContext* ctx, const mail::v1::QueueActionRequest* request,
                       mail::v1::QueueActionResponse* response) override;
  grpc::Status Requeue(grpc::ServerContext* ctx, const mail::v1::QueueActionRequest* request,
                       mail::v1::QueueActionResponse* response) override;
  grpc::Status ReadMessage(grpc::ServerContext* ctx, const mail::v1::ReadMessageRequest* request,
                           grpc::ServerWriter<mail::v1::ReadMessageChunk>* writer) override;
  // rpc/report_rpcs.cpp
  grpc::Status RecordDmarc(grpc::ServerContext* ctx, const mail::v1::RecordDmarcRequest* request,
                           mail::v1::RecordDmarcResponse* response) override;
  grpc::Status ListReports(grpc::ServerContext* ctx, const mail::v1::ListReportsRequest* request,
                           mail::v1::ListReportsResponse* response) override;
  grpc::Status SendReports(grpc::ServerContext* ctx, const mail::v1::SendReportsRequest* request,
                           mail::v1::SendReportsResponse* response) override;

 private:
  grpc::Status action_rpc(grpc::ServerContext* ctx, const char* method, AdminAction action,
                          const mail::v1::QueueActionRequest& request, mail::v1::QueueActionResponse* response);
  grpc::Status run_action(AdminAction action, const mail::v1::MessageSelection& selection, bool dry_run,
                          mail::v1::QueueActionResponse* response);
  // Deletes one message (and bounces its pending recipients when asked);
  // false when it is not there. Throws on database errors.
  bool delete_one(const std::string& queue_id, bool bounce, int64_t* pending);
  grpc::Status do_enqueue(grpc::ServerContext* ctx, grpc::ServerReader<mail::v1::EnqueueChunk>* reader,
                          mail::v1::EnqueueResponse* response);
  db::Pool& pool_;
  ServiceLimits limits_;
  DsnSender dsn_sender_;
  QueueMetrics* metrics_;
  grpcutil::RpcMetrics* rpc_metrics_;
  std::function<void()> wake_;
  std::string admin_token_;
  EnqueueBatcher* batcher_ = nullptr;
  std::string enqueue_shard_ = "main";
  std::function<bool(const std::string&)> handoff_accepts_;
  std::function<void(std::shared_ptr<const NewMessage>, std::vector<int64_t>)> handoff_offer_;
  std::chrono::seconds handoff_grace_{10};
  mailstore::MailStore* url_store_ = nullptr;
  RecipientResolver* url_resolver_ = nullptr;
  std::function<bool(int64_t, const std::string&)> url_place_;
  reports::Reporter* reporter_ = nullptr;
  bool authorized(grpc::ServerContext* ctx) const;
};

// Validation of an Enqueue envelope, separate so it is unit-testable.
// Returns "" when valid, else the reason (INVALID_ARGUMENT's message).
std::string validate_envelope(const mail::v1::Envelope& env, int max_recipients);

mail::v1::RecipientState to_proto(State s);

// A database fault as the RPC's answer (UNAVAILABLE), logged with `what`.
grpc::Status unavailable(const std::string& what, const std::exception& e);

// FetchUrl's work without gRPC (unit-testable): verify `request`'s URL and
// read its bytes. Throws what the store throws (db::Unavailable).
// `place` (sharding, see use_url_fetcher): the owner is placed on the shard
// authd names before the read; authd unreachable, the account being moved or
// a shard unknown here throw (UNAVAILABLE: smtpd answers 4xx, BURL is retried).
mail::v1::FetchUrlResponse fetch_url(mailstore::MailStore& store, RecipientResolver& resolver,
                                     const mail::v1::FetchUrlRequest& request, int64_t now,
                                     const std::function<bool(int64_t, const std::string&)>& place = {});

}  // namespace postline::queue
