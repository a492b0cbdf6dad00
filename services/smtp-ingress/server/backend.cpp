#include "services/smtp-ingress/server/backend.h"

#include "common/async/offload.h"
#include "common/log/log.h"
#include "mail/v1/auth.grpc.pb.h"
#include "mail/v1/queue.grpc.pb.h"

#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <grpcpp/support/client_callback.h>
#include <spdlog/spdlog.h>

#include <algorithm>
#include <future>
#include <thread>

namespace postline::smtp {

namespace pb = postline::mail::v1;

struct Backend::Stubs {
  std::unique_ptr<pb::AuthService::Stub> auth;
  std::unique_ptr<pb::QueueService::Stub> queue;
};

Backend::Backend(BackendOptions options, prometheus::Registry& registry)
    : options_(std::move(options)),
      auth_channel_(grpcutil::make_channel(options_.auth_addr)),
      queue_channel_(grpcutil::make_channel(options_.queue_addr)),
      stubs_(std::make_unique<Stubs>()),
      rpc_metrics_(registry, "postline_smtpd", "client"),
      enqueue_retries_(prometheus::BuildCounter()
                           .Name("postline_smtpd_enqueue_retries_total")
                           .Help("Enqueue calls sent again with the same queue id after a failure that may hide a commit")
                           .Register(registry)
                           .Add({})),
      recipient_lookups_(prometheus::BuildCounter()
                             .Name("postline_smtpd_recipient_cache_total")
                             .Help("RCPT look-ups answered from the recipient cache (hit) or by asking authd (miss)")
                             .Register(registry)),
      cache_hits_(recipient_lookups_.Add({{"result", "hit"}})),
      cache_misses_(recipient_lookups_.Add({{"result", "miss"}})),
      recipients_(options_.recipient_cache_ttl),
      pool_(options_.threads) {
  stubs_->auth = pb::AuthService::NewStub(auth_channel_);
  stubs_->queue = pb::QueueService::NewStub(queue_channel_);
}

Backend::~Backend() {
  cancel_calls(std::chrono::seconds(5));
  pool_.stop();
  pool_.join();
}

void Backend::CallTracker::add(grpc::ClientContext* c) {
  std::lock_guard lock(mutex);
  calls.insert(c);
}

void Backend::CallTracker::remove(grpc::ClientContext* c) {
  std::lock_guard lock(mutex);
  calls.erase(c);
  if (calls.empty()) idle.notify_all();
}

void Backend::cancel_calls(std::chrono::milliseconds wait) {
  std::unique_lock lock(calls_.mutex);
  const std::vector<grpc::ClientContext*> open(calls_.calls.begin(), calls_.calls.end());
  for (auto* c : open)
    if (calls_.calls.count(c)) c->TryCancel();  // still there: not finished by an earlier TryCancel
  calls_.idle.wait_for(lock, wait, [this] { return calls_.calls.empty(); });
}

namespace {
RecipientKind kind_of(pb::RecipientKind k) {
  switch (k) {
    case pb::RECIPIENT_KIND_LOCAL: return RecipientKind::kLocal;
    case pb::RECIPIENT_KIND_REMOTE: return RecipientKind::kRemote;
    default: return RecipientKind::kUnknown;
  }
}
}  // namespace

bool Backend::record_dmarc(const pb::RecordDmarcRequest& req) {
  grpc::ClientContext ctx;
  grpcutil::set_deadline(ctx, std::chrono::seconds(30));
  pb::RecordDmarcResponse resp;
  grpcutil::RpcMetrics::Timer timer(rpc_metrics_, "RecordDmarc");
  grpc::Status status = stubs_->queue->RecordDmarc(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) {
    spdlog::warn("RecordDmarc failed ({} evaluations kept for the next try): {} {}", req.evaluations_size(),
                 grpcutil::code_name(status.error_code()), status.error_message());
    return false;
  }
  return true;
}

boost::asio::awaitable<UrlFetched> Backend::fetch_url(FetchUrlEvent request) {
  auto call = [this, request = std::move(request)] {
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, options_.fetch_url_timeout);
    grpcutil::wait_connected(queue_channel_, std::chrono::seconds(2));
    pb::FetchUrlRequest req;
    req.set_url(request.url);
    req.set_submit_user(request.submit_user);
    req.set_submit_user_id(request.submit_user_id);
    req.set_max_size(static_cast<int64_t>(request.max_size));
    pb::FetchUrlResponse resp;
    grpcutil::RpcMetrics::Timer timer(rpc_metrics_, "FetchUrl");
    grpc::Status status = stubs_->queue->FetchUrl(&ctx, req, &resp);
    timer.done(status);
    UrlFetched out;
    if (!status.ok()) {
      spdlog::warn("FetchUrl failed: {} {}", grpcutil::code_name(status.error_code()), status.error_message());
      out.reason = "queued: " + grpcutil::code_name(status.error_code());
      return out;
    }
    out.reason = resp.reason();
    switch (resp.result()) {
      case pb::FETCH_URL_RESULT_OK:
        out.status = UrlFetched::Status::kOk;
        out.data = std::move(*resp.mutable_data());
        break;
      case pb::FETCH_URL_RESULT_NOT_AUTHORIZED: out.status = UrlFetched::Status::kNotAuthorized; break;
      case pb::FETCH_URL_RESULT_NOT_FOUND: out.status = UrlFetched::Status::kNotFound; break;
      case pb::FETCH_URL_RESULT_TOO_BIG: out.status = UrlFetched::Status::kTooBig; break;
      default: out.status = UrlFetched::Status::kUnavailable; break;  // a bug on queued's side: our fault
    }
    return out;
  };
  co_return co_await async::offload(pool_, std::move(call));
}

boost::asio::awaitable<Resolution> Backend::resolve(std::string address, std::string trace_id) {
  if (recipients_.enabled()) {
    if (auto hit = recipients_.find(address)) {
      cache_hits_.Increment();
      co_return std::move(*hit);
    }
    cache_misses_.Increment();
  }
  const std::string key = address;
  // GCC 12 miscompiles a lambda temporary with non-trivial captures passed
  // straight into a coroutine call inside co_await (the capture is relocated
  // bitwise: invalid free). A named lambda moved in is fine.
  auto call = [this, address = std::move(address), trace_id = std::move(trace_id)] {
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, options_.resolve_timeout);
    if (!trace_id.empty()) ctx.AddMetadata(log::kTraceMetadata, trace_id);
    grpcutil::wait_connected(auth_channel_, std::chrono::seconds(2));
    pb::ResolveRecipientRequest req;
    req.set_address(address);
    pb::ResolveRecipientResponse resp;
    grpcutil::RpcMetrics::Timer timer(rpc_metrics_, "ResolveRecipient");
    grpc::Status status = stubs_->auth->ResolveRecipient(&ctx, req, &resp);
    timer.done(status);
    Resolution r;
    if (!status.ok()) {
      spdlog::warn("ResolveRecipient failed: {} {}", grpcutil::code_name(status.error_code()), status.error_message());
      r.available = false;
      return r;
    }
    r.kind = kind_of(resp.kind());
    if (r.kind == RecipientKind::kUnknown && resp.kind() != pb::RECIPIENT_KIND_UNKNOWN) {
      // UNSPECIFIED from authd is a bug on its side, not an unknown user.
      r.available = false;
      return r;
    }
    for (const auto& t : resp.targets())
      r.targets.push_back({kind_of(t.kind()), t.user_id(), t.address(), t.kind() == pb::RECIPIENT_KIND_LOCAL,
                           t.quota_bytes(), t.quota_messages(), t.shard(), t.moving()});
    return r;
  };
  Resolution result = co_await async::offload(pool_, std::move(call));
  recipients_.store(key, result);
  co_return result;
}

boost::asio::awaitable<AuthOutcome> Backend::authenticate(AuthenticateEvent credentials, std::string remote_ip) {
  auto call = [this, c = std::move(credentials), ip = std::move(remote_ip)] {
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, options_.auth_timeout);
    pb::AuthenticateRequest req;
    req.set_username(c.username);
    req.set_password(c.password);
    req.set_protocol(pb::PROTOCOL_SMTP);
    req.set_mechanism(c.mechanism);
    req.set_remote_ip(ip);
    pb::AuthenticateResponse resp;
    grpcutil::RpcMetrics::Timer timer(rpc_metrics_, "Authenticate");
    grpc::Status status = stubs_->auth->Authenticate(&ctx, req, &resp);
    timer.done(status);
    AuthOutcome o;
    if (!status.ok()) {
      spdlog::warn("Authenticate failed: {} {}", grpcutil::code_name(status.error_code()), status.error_message());
      return o;  // kTemporaryFailure
    }
    switch (resp.result()) {
      case pb::AUTH_RESULT_OK:
        o.result = AuthResult::kOk;
        o.email = resp.email();
        o.user_id = resp.user_id();
        break;
      case pb::AUTH_RESULT_INVALID_CREDENTIALS: o.result = AuthResult::kInvalid; break;
      case pb::AUTH_RESULT_THROTTLED: o.result = AuthResult::kThrottled; break;
      case pb::AUTH_RESULT_DISABLED: o.result = AuthResult::kDisabled; break;
      default: o.result = AuthResult::kTemporaryFailure; break;
    }
    return o;
  };
  AuthOutcome result = co_await async::offload(pool_, std::move(call));
  co_return result;
}

namespace {
// Whether an Enqueue that failed this way may have committed, or may succeed
// when sent again: the connection or queued went away (the reply can be lost
// after the commit), or queued's database was briefly unavailable. The
// contract errors (limits, envelope rules, a queue id reused for another
// message) would fail again.
bool retryable(grpc::StatusCode code) {
  switch (code) {
    case grpc::UNAVAILABLE:
    case grpc::DEADLINE_EXCEEDED:
    case grpc::CANCELLED:
    case grpc::UNKNOWN:
    case grpc::INTERNAL:
    case grpc::ABORTED: return true;
    default: return false;
  }
}
}  // namespace

// What one Enqueue attempt came back with.
struct EnqueueAttempt {
  grpc::Status status;
  pb::EnqueueResponse response;
};

namespace {

// One Enqueue attempt on gRPC's callback API: the chunks are written from
// gRPC's own threads as the transport takes them and the answer is handed to
// `handler` (which posts it back to the session's executor), so no thread of
// ours blocks in the call and no pool thread is woken per message. The chunks
// are shared with the caller: a retry sends the same ones again.
template <typename Handler>
class EnqueueCall final : public grpc::ClientWriteReactor<pb::EnqueueChunk> {
 public:
  EnqueueCall(std::shared_ptr<const std::vector<pb::EnqueueChunk>> chunks, grpcutil::RpcMetrics& metrics,
              Backend::CallTracker& tracker, Handler handler)
      : chunks_(std::move(chunks)), tracker_(tracker), timer_(metrics, "Enqueue"), handler_(std::move(handler)) {}

  void start(pb::QueueService::Stub& stub, std::chrono::milliseconds timeout) {
    grpcutil::set_deadline(ctx_, timeout);
    tracker_.add(&ctx_);
    stub.async()->Enqueue(&ctx_, &response_, this);
    write_next();
    StartCall();
  }

  void OnWriteDone(bool ok) override {
    // A failed write ends the call: OnDone follows with its status.
    if (ok) write_next();
  }

  void OnDone(const grpc::Status& status) override {
    timer_.done(status);
    EnqueueAttempt result{status, std::move(response_)};
    Handler handler = std::move(handler_);
    Backend::CallTracker& tracker = tracker_;
    grpc::ClientContext* ctx = &ctx_;
    std::move(handler)(std::move(result));  // posts to the session's executor
    tracker.remove(ctx);
    delete this;
  }

 private:
  void write_next() {
    const auto& chunks = *chunks_;
    if (next_ >= chunks.size()) {
      if (chunks.empty() && next_++ == 0) StartWritesDone();
      return;
    }
    const pb::EnqueueChunk* chunk = &chunks[next_++];
    // The last chunk carries the half-close: one operation less per message.
    if (next_ == chunks.size()) StartWriteLast(chunk, grpc::WriteOptions());
    else StartWrite(chunk);
  }

  std::shared_ptr<const std::vector<pb::EnqueueChunk>> chunks_;
  Backend::CallTracker& tracker_;
  grpc::ClientContext ctx_;
  pb::EnqueueResponse response_;
  grpcutil::RpcMetrics::Timer timer_;
  Handler handler_;
  size_t next_ = 0;
};

// The message as Enqueue's stream: the envelope in the first chunk, the data
// moved (not copied) into it when it fits one chunk, as almost all mail does.
std::vector<pb::EnqueueChunk> enqueue_chunks(EnqueueEvent& msg) {
  constexpr size_t kChunk = 1024 * 1024;  // well under gRPC's 4 MiB default message limit
  std::vector<pb::EnqueueChunk> chunks(1);
  pb::EnqueueChunk& first = chunks.front();
  first.set_queue_id(msg.queue_id);
  auto* env = first.mutable_envelope();
  const Envelope& e = msg.envelope;
  env->set_mail_from(e.mail_from);
  for (const auto& r : e.recipients) {
    auto* pr = env->add_recipients();
    pr->set_address(r.address);
    pr->set_local(r.local);
    pr->set_user_id(r.user_id);
    pr->set_notify(r.notify);
    pr->set_orcpt(r.orcpt);
    if (r.quota_known) {
      pr->set_quota_known(true);
      pr->set_quota_bytes(r.quota_bytes);
      pr->set_quota_messages(r.quota_messages);
      pr->set_shard(r.shard);
      pr->set_moving(r.moving);
    }
  }
  env->set_helo(e.helo);
  env->set_client_ip(e.client_ip);
  env->set_authenticated_user(e.authenticated_user);
  env->set_dsn_ret(e.dsn_ret);
  env->set_dsn_envid(e.dsn_envid);
  env->set_smtputf8(e.smtputf8);
  env->set_requiretls(e.requiretls);
  env->set_body_type(e.body_type);
  env->set_target_mailbox(e.target_mailbox);
  std::string& data = msg.data;
  if (data.size() <= kChunk) {
    first.set_data(std::move(data));
    return chunks;
  }
  std::string_view rest(data);
  first.set_data(std::string(rest.substr(0, kChunk)));
  rest.remove_prefix(kChunk);
  while (!rest.empty()) {
    const size_t n = std::min(kChunk, rest.size());
    chunks.emplace_back().set_data(std::string(rest.substr(0, n)));
    rest.remove_prefix(n);
  }
  return chunks;
}

}  // namespace

boost::asio::awaitable<EnqueueAttempt> Backend::enqueue_attempt(
    std::shared_ptr<const std::vector<pb::EnqueueChunk>> chunks, std::chrono::milliseconds connect_wait) {
  // After queued restarts the channel may still be waiting out its reconnect
  // back-off; give it a moment so a retrying client is not refused needlessly.
  // Only then does this cost a pool thread: a connected channel is the rule.
  if (queue_channel_->GetState(false) != GRPC_CHANNEL_READY) {
    auto wait = [this, connect_wait] { return grpcutil::wait_connected(queue_channel_, connect_wait); };
    co_await async::offload(pool_, std::move(wait));
  }
  auto initiate = [this, chunks = std::move(chunks)](auto handler) mutable {
    auto ex = boost::asio::get_associated_executor(handler);
    auto done = [handler = std::move(handler), ex](EnqueueAttempt result) mutable {
      boost::asio::post(ex, [handler = std::move(handler), result = std::move(result)]() mutable {
        std::move(handler)(std::move(result));
      });
    };
    auto* call = new EnqueueCall<decltype(done)>(std::move(chunks), rpc_metrics_, calls_, std::move(done));
    call->start(*stubs_->queue, options_.enqueue_timeout);
  };
  EnqueueAttempt result = co_await boost::asio::async_initiate<decltype(boost::asio::use_awaitable),
                                                               void(EnqueueAttempt)>(std::move(initiate),
                                                                                     boost::asio::use_awaitable);
  co_return result;
}

boost::asio::awaitable<EnqueueOutcome> Backend::enqueue(EnqueueEvent message) {
  const std::string queue_id = message.queue_id;
  auto chunks = std::make_shared<const std::vector<pb::EnqueueChunk>>(enqueue_chunks(message));
  // A failure that may hide a commit (the reply lost when queued or the
  // connection died) is retried with the same queue id before the client
  // gets an answer: queued answers a committed queue id again instead of
  // storing it twice, so a committed message is answered 250, never 451
  // (which would make the sender retry and the recipient get two copies).
  using clock = std::chrono::steady_clock;
  const auto give_up = clock::now() + options_.enqueue_retry_window;
  std::chrono::milliseconds pause{100};
  for (int n = 1;; ++n) {
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(give_up - clock::now());
    EnqueueAttempt a =
        co_await enqueue_attempt(chunks, std::clamp(left, std::chrono::milliseconds(0), std::chrono::milliseconds(5000)));
    EnqueueOutcome o;
    if (a.status.ok() && !a.response.queue_id().empty()) {
      if (n > 1) spdlog::info("[q:{}] Enqueue answered on attempt {}", queue_id, n);
      o.committed = true;
      o.queue_id = a.response.queue_id();
      co_return o;
    }
    const bool again = retryable(a.status.error_code()) && clock::now() + pause < give_up;
    // INVALID_ARGUMENT / RESOURCE_EXHAUSTED mean smtpd and queued disagree
    // (limits, envelope rules): still our fault, so 451, but loud.
    const bool contract = a.status.error_code() == grpc::INVALID_ARGUMENT ||
                          a.status.error_code() == grpc::RESOURCE_EXHAUSTED;
    spdlog::log(contract ? spdlog::level::err : spdlog::level::warn, "[q:{}] Enqueue failed (attempt {}): {} {}{}",
                queue_id, n, grpcutil::code_name(a.status.error_code()), a.status.error_message(),
                again ? "; retrying with the same queue id" : "");
    if (!again) co_return o;
    enqueue_retries_.Increment();
    boost::asio::steady_timer timer(co_await boost::asio::this_coro::executor, pause);
    co_await timer.async_wait(boost::asio::use_awaitable);
    pause = std::min(pause * 2, std::chrono::milliseconds(2000));
  }
}

boost::asio::awaitable<SaslAnswer> Backend::sasl(SaslEvent step, std::string remote_ip) {
  auto call = [this, step = std::move(step), ip = std::move(remote_ip)] {
    grpc::ClientContext ctx;
    grpcutil::set_deadline(ctx, options_.auth_timeout);
    pb::SaslStepResponse resp;
    grpc::Status status;
    if (step.start) {
      pb::SaslStartRequest req;
      req.set_mechanism(step.mechanism);
      req.set_initial_response(step.data);
      req.set_has_initial_response(step.has_data);
      req.set_protocol(pb::PROTOCOL_SMTP);
      req.set_remote_ip(ip);
      grpcutil::RpcMetrics::Timer timer(rpc_metrics_, "SaslStart");
      status = stubs_->auth->SaslStart(&ctx, req, &resp);
      timer.done(status);
    } else {
      pb::SaslStepRequest req;
      req.set_conversation_id(step.conversation_id);
      req.set_response(step.data);
      grpcutil::RpcMetrics::Timer timer(rpc_metrics_, "SaslStep");
      status = stubs_->auth->SaslStep(&ctx, req, &resp);
      timer.done(status);
    }
    SaslAnswer a;
    if (!status.ok()) {
      // NOT_FOUND: the conversation expired or lives on another authd — a
      // failed login, not an outage (auth.proto).
      if (status.error_code() == grpc::StatusCode::NOT_FOUND || status.error_code() == grpc::INVALID_ARGUMENT) {
        a.state = SaslAnswer::State::kFailure;
        a.result = AuthResult::kInvalid;
      } else {
        spdlog::warn("SASL {} failed: {} {}", step.start ? "SaslStart" : "SaslStep",
                     grpcutil::code_name(status.error_code()), status.error_message());
      }
      return a;
    }
    switch (resp.state()) {
      case pb::SASL_STATE_CONTINUE:
        a.state = SaslAnswer::State::kContinue;
        a.challenge = resp.challenge();
        a.conversation_id = resp.conversation_id();
        break;
      case pb::SASL_STATE_SUCCESS:
        a.state = SaslAnswer::State::kSuccess;
        a.challenge = resp.challenge();
        a.email = resp.email();
        a.user_id = resp.user_id();
        break;
      case pb::SASL_STATE_FAILURE:
        a.state = SaslAnswer::State::kFailure;
        switch (resp.result()) {
          case pb::AUTH_RESULT_THROTTLED: a.result = AuthResult::kThrottled; break;
          case pb::AUTH_RESULT_DISABLED: a.result = AuthResult::kDisabled; break;
          case pb::AUTH_RESULT_TEMPORARY_FAILURE: a.result = AuthResult::kTemporaryFailure; break;
          default: a.result = AuthResult::kInvalid; break;
        }
        break;
      default:
        break;  // kUnavailable
    }
    return a;
  };
  SaslAnswer result = co_await async::offload(pool_, std::move(call));
  co_return result;
}


bool Backend::ready() {
  return grpcutil::health_serving(auth_channel_, std::chrono::milliseconds(500)) &&
         grpcutil::health_serving(queue_channel_, std::chrono::milliseconds(500));
}

}  // namespace postline::smtp
