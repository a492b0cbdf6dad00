#include "services/delivery-queue/rpc/queue_service.h"

#include "common/log/printable.h"
#include "common/urlauth/urlauth.h"
#include "services/delivery-queue/reports/reporter.h"

#include <openssl/crypto.h>
#include <spdlog/spdlog.h>

#include <algorithm>

namespace postline::queue {
namespace v1 = postline::mail::v1;

grpc::Status unavailable(const std::string& what, const std::exception& e) {
  // The detail is for our log; smtpd only needs to know it is temporary.
  spdlog::error("{}: {}", what, log::printable(e.what()));
  return grpc::Status(grpc::StatusCode::UNAVAILABLE, "queue database unavailable");
}

namespace {

// RFC 5321 4.5.3.1.3: a path is at most 256 octets; a little slack for
// SMTPUTF8 addresses whose octets run longer.
constexpr size_t kMaxAddress = 512;
constexpr size_t kMaxField = 1024;
constexpr size_t kMaxMailboxName = 200;

// Control characters would corrupt SMTP commands and headers we build from
// these fields (and NUL would be cut by libpq); invalid UTF-8 is refused by
// PostgreSQL, which would turn one bad peer into a 451 loop.
bool has_control(const std::string& s) {
  if (std::any_of(s.begin(), s.end(), [](unsigned char c) { return c < 0x20 || c == 0x7f; })) return true;
  size_t i = 0;
  while (i < s.size()) {
    const auto c = static_cast<unsigned char>(s[i]);
    size_t n = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (n == 0 || i + n > s.size()) return true;
    for (size_t k = 1; k < n; ++k)
      if ((static_cast<unsigned char>(s[i + k]) & 0xc0) != 0x80) return true;
    i += n;
  }
  return false;
}

void fill_message(const MessageView& m, v1::QueuedMessage* out) {
  out->set_queue_id(m.queue_id);
  auto* env = out->mutable_envelope();
  env->set_mail_from(m.mail_from);
  env->set_helo(m.helo);
  env->set_client_ip(m.client_ip);
  env->set_authenticated_user(m.authenticated_user);
  env->set_dsn_ret(m.dsn_ret);
  env->set_dsn_envid(m.dsn_envid);
  env->set_smtputf8(m.smtputf8);
  env->set_requiretls(m.requiretls);
  env->set_body_type(m.body_type);
  env->set_target_mailbox(m.target_mailbox);
  out->set_size(m.size);
  out->set_created_unix(m.created_unix);
  out->set_header_message_id(m.header_message_id);
  out->set_header_subject(m.header_subject);
  out->set_held(m.held);
  out->set_requeued_unix(m.requeued_unix);
  for (const auto& r : m.recipients) {
    auto* pr = out->add_recipients();
    pr->set_id(r.id);
    pr->set_address(r.address);
    pr->set_local(r.local);
    pr->set_held(r.held);
    pr->set_held_since_unix(r.held_since_unix);
    pr->set_domain(r.domain);
    pr->set_state(to_proto(r.state));
    pr->set_attempts(r.attempts);
    pr->set_last_reply(r.last_reply);
    pr->set_next_attempt_unix(r.next_attempt_unix);
    for (const auto& a : r.history) {
      auto* pa = pr->add_history();
      pa->set_started_unix(a.started_unix);
      pa->set_duration_ms(a.duration_ms);
      pa->set_mx_host(a.mx_host);
      pa->set_reply(a.reply);
      pa->set_outcome(to_proto(a.outcome));
      pa->set_remote_reply(a.remote_reply);
    }
    auto* er = env->add_recipients();
    er->set_address(r.address);
    er->set_local(r.local);
    er->set_notify(r.notify);
    er->set_orcpt(r.orcpt);
  }
}

std::optional<State> from_proto(v1::RecipientState s) {
  switch (s) {
    case v1::RECIPIENT_STATE_QUEUED: return State::kQueued;
    case v1::RECIPIENT_STATE_DELIVERING: return State::kDelivering;
    case v1::RECIPIENT_STATE_DELIVERED: return State::kDelivered;
    case v1::RECIPIENT_STATE_DEFERRED: return State::kDeferred;
    case v1::RECIPIENT_STATE_BOUNCED: return State::kBounced;
    case v1::RECIPIENT_STATE_EXPIRED: return State::kExpired;
    default: return std::nullopt;
  }
}

// Bulk commands change at most this many messages per call (the CLI says so
// when a call reaches it: run it again for the rest).
constexpr int kMaxBulkMessages = 100000;

bool filter_given(const v1::MessageFilter& f) {
  return f.match_sender() || !f.recipient().empty() || !f.domain().empty() || !f.message_id().empty() ||
         f.older_than_seconds() != 0 || f.newer_than_seconds() != 0 ||
         f.state() != v1::RECIPIENT_STATE_UNSPECIFIED || f.held_only() || f.any_state() ||
         !f.authenticated_user().empty();
}

// "" when `in` is a usable filter, else what is wrong (INVALID_ARGUMENT).
std::string to_filter(const v1::MessageFilter& in, MessageFilter& out) {
  for (const auto* text : {&in.sender(), &in.recipient(), &in.domain(), &in.message_id(), &in.authenticated_user()})
    if (text->size() > kMaxAddress || has_control(*text)) return "invalid filter value";
  if (in.older_than_seconds() < 0 || in.newer_than_seconds() < 0) return "filter ages must not be negative";
  if (in.older_than_seconds() && in.newer_than_seconds() && in.older_than_seconds() >= in.newer_than_seconds())
    return "older_than must be shorter than newer_than (no message can match)";
  if (in.match_sender()) out.sender = in.sender();
  out.recipient = in.recipient();
  out.domain = in.domain();
  out.message_id = in.message_id();
  out.older_than_seconds = in.older_than_seconds();
  out.newer_than_seconds = in.newer_than_seconds();
  if (in.state() != v1::RECIPIENT_STATE_UNSPECIFIED) {
    out.state = from_proto(in.state());
    if (!out.state) return "unknown recipient state in the filter";
  }
  out.held_only = in.held_only();
  if (in.any_state() && out.state) return "any_state and a recipient state exclude each other";
  if (in.any_state() && in.held_only()) return "any_state and held_only exclude each other";
  out.any_state = in.any_state();
  out.authenticated_user = in.authenticated_user();
  return "";
}

// "" when `in` names exactly one of: queue ids, a filter, all.
std::string to_selection(const v1::MessageSelection& in, Selection& out) {
  const bool ids = in.queue_ids_size() > 0;
  const bool filter = in.has_filter() && filter_given(in.filter());
  if (ids + filter + in.all() != 1) return "give queue ids, a filter or all (exactly one of them)";
  for (const auto& id : in.queue_ids()) {
    if (!valid_queue_id(id)) return "invalid queue id '" + log::printable(id, 80) + "'";
    out.queue_ids.push_back(id);
  }
  // Actions change pending recipients only; "any state" is for listing.
  if (filter && in.filter().any_state()) return "any_state is for listing only, not for queue actions";
  if (filter) return to_filter(in.filter(), out.filter);
  return "";
}

grpc::Status not_found(const std::vector<std::string>& missing) {
  std::string names;
  for (const auto& id : missing) names += (names.empty() ? "" : ", ") + id;
  return grpc::Status(grpc::StatusCode::NOT_FOUND, "no message " + names + " in the queue");
}

}  // namespace

v1::RecipientState to_proto(State s) {
  switch (s) {
    case State::kQueued: return v1::RECIPIENT_STATE_QUEUED;
    case State::kDelivering: return v1::RECIPIENT_STATE_DELIVERING;
    case State::kDelivered: return v1::RECIPIENT_STATE_DELIVERED;
    case State::kDeferred: return v1::RECIPIENT_STATE_DEFERRED;
    case State::kBounced: return v1::RECIPIENT_STATE_BOUNCED;
    case State::kExpired: return v1::RECIPIENT_STATE_EXPIRED;
  }
  return v1::RECIPIENT_STATE_UNSPECIFIED;
}

std::string validate_envelope(const v1::Envelope& env, int max_recipients) {
  if (env.mail_from().size() > kMaxAddress || has_control(env.mail_from())) return "invalid mail_from";
  if (env.recipients().empty()) return "no recipients";
  if (env.recipients_size() > max_recipients)
    return "too many recipients (" + std::to_string(env.recipients_size()) + " > " + std::to_string(max_recipients) +
           ")";
  for (const auto& r : env.recipients()) {
    if (r.address().empty() || r.address().size() > kMaxAddress || has_control(r.address()))
      return "invalid recipient address";
    if (r.local() && r.user_id() <= 0) return "local recipient " + r.address() + " without user_id";
    if (!r.local() && r.address().find('@') == std::string::npos)
      return "remote recipient " + r.address() + " has no domain";
    if (r.notify().size() > kMaxField || r.orcpt().size() > kMaxField || has_control(r.notify()) ||
        has_control(r.orcpt()))
      return "invalid DSN parameters for " + r.address();
  }
  for (const auto* f : {&env.helo(), &env.client_ip(), &env.authenticated_user(), &env.dsn_ret(), &env.dsn_envid(),
                        &env.body_type()})
    if (f->size() > kMaxField || has_control(*f)) return "invalid envelope field";
  // A mailbox name for local delivery (the mailstore creates it if missing).
  // IMAP wildcards cannot be in a name; 200 octets is plenty for "Junk" and
  // any folder a future sieve-like rule might pick.
  if (const auto& box = env.target_mailbox();
      box.size() > kMaxMailboxName || has_control(box) || box.find_first_of("*%") != std::string::npos ||
      (!box.empty() && (box.front() == '/' || box.back() == '/')))
    return "invalid target_mailbox";
  return "";
}

QueueServiceImpl::QueueServiceImpl(db::Pool& pool, ServiceLimits limits, DsnSender dsn_sender, QueueMetrics* metrics,
                                   grpcutil::RpcMetrics* rpc_metrics, std::function<void()> wake,
                                   std::string admin_token)
    : pool_(pool),
      limits_(limits),
      dsn_sender_(std::move(dsn_sender)),
      metrics_(metrics),
      rpc_metrics_(rpc_metrics),
      wake_(std::move(wake)),
      admin_token_(std::move(admin_token)) {}

bool QueueServiceImpl::authorized(grpc::ServerContext* ctx) const {
  if (admin_token_.empty() || !ctx) return true;
  const auto& md = ctx->client_metadata();
  auto it = md.find("authorization");
  if (it == md.end()) return false;
  const std::string given(it->second.data(), it->second.size());
  const std::string want = "Bearer " + admin_token_;
  // Constant time: the token is a secret.
  return given.size() == want.size() && CRYPTO_memcmp(given.data(), want.data(), want.size()) == 0;
}

namespace {
const grpc::Status kUnauthenticated(grpc::StatusCode::UNAUTHENTICATED, "queue administration needs the admin token");
}

grpc::Status QueueServiceImpl::Enqueue(grpc::ServerContext* ctx, grpc::ServerReader<v1::EnqueueChunk>* reader,
                                       v1::EnqueueResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "Enqueue");
  auto status = do_enqueue(ctx, reader, response);
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::do_enqueue(grpc::ServerContext* ctx, grpc::ServerReader<v1::EnqueueChunk>* reader,
                                          v1::EnqueueResponse* response) {
  v1::EnqueueChunk chunk;
  if (!reader->Read(&chunk)) return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "empty Enqueue stream");
  if (!chunk.has_envelope())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "the first chunk must carry the envelope");
  const v1::Envelope env = chunk.envelope();
  if (auto why = validate_envelope(env, limits_.max_recipients); !why.empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
  if (!chunk.queue_id().empty() && !valid_queue_id(chunk.queue_id()))
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "invalid queue_id");

  NewMessage msg;
  msg.queue_id = chunk.queue_id();
  msg.mail_from = env.mail_from();
  msg.helo = env.helo();
  msg.client_ip = env.client_ip();
  msg.authenticated_user = env.authenticated_user();
  msg.dsn_ret = env.dsn_ret();
  msg.dsn_envid = env.dsn_envid();
  msg.smtputf8 = env.smtputf8();
  msg.requiretls = env.requiretls();
  msg.body_type = env.body_type();
  msg.target_mailbox = env.target_mailbox();
  for (const auto& r : env.recipients())
    msg.recipients.push_back({r.address(), r.local(), r.user_id(), r.notify(), r.orcpt(), false,
                              r.local() && r.quota_known() && !r.moving() &&
                                  (r.shard().empty() ? std::string("main") : r.shard()) == enqueue_shard_,
                              std::max<int64_t>(0, r.quota_bytes()),
                              std::max<int64_t>(0, r.quota_messages())});
  // Sharding: local recipients on another shard than the Enqueue
  // transaction's are delivered right after its commit (docs/queue.md).
  bool handoff = false;
  if (batcher_ && handoff_accepts_ && handoff_offer_)
    for (size_t i = 0; i < msg.recipients.size(); ++i) {
      const auto& r = env.recipients(static_cast<int>(i));
      auto& nr = msg.recipients[i];
      const std::string shard = r.shard().empty() ? std::string("main") : r.shard();
      if (!r.local() || !r.quota_known() || r.moving() || r.user_id() <= 0 || shard == enqueue_shard_ ||
          notify_wants(r.notify(), DsnAction::kDelivered) || !handoff_accepts_(shard))
        continue;
      nr.handoff_shard = shard;
      nr.handoff_grace = handoff_grace_;
      handoff = true;
    }

  auto append = [&](const std::string& data) {
    if (msg.body.size() + data.size() > limits_.max_message_size) return false;
    msg.body += data;
    return true;
  };
  const auto too_big = grpc::Status(grpc::StatusCode::RESOURCE_EXHAUSTED,
                                    "message exceeds " + std::to_string(limits_.max_message_size) + " bytes");
  // The first chunk (the whole message, up to smtpd's 1 MiB chunks) is moved,
  // not copied.
  if (chunk.data().size() > limits_.max_message_size) return too_big;
  msg.body = std::move(*chunk.mutable_data());
  while (reader->Read(&chunk)) {
    if (chunk.has_envelope())
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "only the first chunk may carry the envelope");
    if (!append(chunk.data())) return too_big;
  }
  // A stream that broke off looks like one that ended; only the cancellation
  // tells them apart. Committing a truncated message would be worse than 451.
  if (ctx->IsCancelled()) return grpc::Status(grpc::StatusCode::CANCELLED, "stream cancelled");

  EnqueueResult result;
  try {
    if (batcher_) {
      // The id is fixed before the first try: the delivery keys derive from
      // it, and a retry (the connection lost, maybe after COMMIT) must find
      // its own commit as a duplicate.
      if (msg.queue_id.empty()) msg.queue_id = generate_queue_id();
      result = batcher_->submit(msg);
    } else {
      result = pool_.with([&](pqxx::connection& c) { return enqueue(c, msg); });
    }
  } catch (const QueueIdConflict& e) {
    return grpc::Status(grpc::StatusCode::ALREADY_EXISTS, e.what());
  } catch (const std::exception& e) {
    return unavailable("Enqueue", e);
  }
  response->set_queue_id(result.queue_id);
  response->set_size(static_cast<int64_t>(msg.body.size()));
  if (result.duplicate) {
    spdlog::info("[q:{}] Enqueue retried for a committed message: answered again", result.queue_id);
    return grpc::Status::OK;
  }
  spdlog::info("[q:{}] queued from=<{}> size={} nrcpt={} client={}", result.queue_id,
               log::printable(msg.mail_from, 512), msg.body.size(),
               msg.recipients.size(), msg.client_ip);
  if (metrics_) metrics_->enqueued();
  // After the commit (the 250 stays "durable in the queue"): the hand-off.
  if (handoff) handoff_offer_(std::make_shared<const NewMessage>(msg), std::move(result.recipient_ids));
  if (wake_ && result.pending) wake_();
  // Aggregate reports addressed to local users are parsed on the reporter's
  // own thread; here only a look at the header block.
  if (reporter_ && std::any_of(msg.recipients.begin(), msg.recipients.end(), [](const auto& r) { return r.local; }))
    reporter_->offer(msg.body);
  return grpc::Status::OK;
}

grpc::Status QueueServiceImpl::GetMessage(grpc::ServerContext* ctx, const v1::GetMessageRequest* request,
                                          v1::GetMessageResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "GetMessage");
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  grpc::Status status;
  try {
    auto m = pool_.with([&](pqxx::connection& c) { return get_message(c, request->queue_id(), true); });
    if (!m)
      status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no message " + request->queue_id() + " in the queue");
    else
      fill_message(*m, response->mutable_message());
  } catch (const std::exception& e) {
    status = unavailable("GetMessage", e);
  }
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::ListMessages(grpc::ServerContext* ctx, const v1::ListMessagesRequest* request,
                                            v1::ListMessagesResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "ListMessages");
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  grpc::Status status;
  int limit = request->limit() <= 0 ? 1000 : std::min(request->limit(), 10000);
  try {
    MessageFilter filter;
    if (request->has_filter()) {
      if (auto why = to_filter(request->filter(), filter); !why.empty()) {
        status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
        if (timer) timer->done(status);
        return status;
      }
    } else {
      filter.state = from_proto(request->state());
    }
    Page page{request->page_after(), request->page_before()};
    if (!page.after.empty() && !page.before.empty()) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_after and page_before exclude each other");
    } else if ((!page.after.empty() && !valid_queue_id(page.after)) ||
               (!page.before.empty() && !valid_queue_id(page.before))) {
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "page_after/page_before: not a queue id");
    }
    if (!status.ok()) {
      if (timer) timer->done(status);
      return status;
    }
    auto list = pool_.with([&](pqxx::connection& c) {
      return list_messages(c, filter, limit, request->with_history(), request->newest_first(), page);
    });
    for (const auto& m : list) fill_message(m, response->add_messages());
  } catch (const PageCursorGone& e) {
    status = grpc::Status(grpc::StatusCode::NOT_FOUND, e.what());
  } catch (const std::exception& e) {
    status = unavailable("ListMessages", e);
  }
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::Retry(grpc::ServerContext* ctx, const v1::RetryRequest* request,
                                     v1::RetryResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "Retry");
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  // queue_id / all are the older form of a selection.
  v1::MessageSelection selection = request->selection();
  if (!request->has_selection()) {
    if (!request->queue_id().empty()) selection.add_queue_ids(request->queue_id());
    selection.set_all(request->all());
  }
  v1::QueueActionResponse changed;
  auto status = run_action(AdminAction::kRetry, selection, false, &changed);
  response->set_recipients(changed.recipients());
  response->set_messages(changed.messages());
  *response->mutable_queue_ids() = changed.queue_ids();
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::Hold(grpc::ServerContext* ctx, const v1::QueueActionRequest* request,
                                    v1::QueueActionResponse* response) {
  return action_rpc(ctx, "Hold", AdminAction::kHold, *request, response);
}

grpc::Status QueueServiceImpl::Release(grpc::ServerContext* ctx, const v1::QueueActionRequest* request,
                                       v1::QueueActionResponse* response) {
  return action_rpc(ctx, "Release", AdminAction::kRelease, *request, response);
}

grpc::Status QueueServiceImpl::Requeue(grpc::ServerContext* ctx, const v1::QueueActionRequest* request,
                                       v1::QueueActionResponse* response) {
  return action_rpc(ctx, "Requeue", AdminAction::kRequeue, *request, response);
}

grpc::Status QueueServiceImpl::action_rpc(grpc::ServerContext* ctx, const char* method, AdminAction action,
                                          const v1::QueueActionRequest& request, v1::QueueActionResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, method);
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  auto status = run_action(action, request.selection(), request.dry_run(), response);
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::run_action(AdminAction action, const v1::MessageSelection& selection, bool dry_run,
                                          v1::QueueActionResponse* response) {
  Selection sel;
  if (auto why = to_selection(selection, sel); !why.empty())
    return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
  std::vector<std::string> missing;
  ActionCount count;
  try {
    pool_.with([&](pqxx::connection& c) {
      pqxx::work tx(c);
      auto messages = resolve_selection(tx, sel, kMaxBulkMessages, &missing);
      if (!missing.empty()) return;  // nothing changes (the transaction rolls back)
      count = apply_action(tx, action, messages);
      if (!dry_run) tx.commit();  // a dry run counts by doing it and rolling back
    });
  } catch (const std::exception& e) {
    return unavailable(std::string("queue ") + std::string(admin_action_name(action)), e);
  }
  if (!missing.empty()) return not_found(missing);
  response->set_messages(count.messages);
  response->set_recipients(count.recipients);
  for (const auto& id : count.queue_ids) response->add_queue_ids(id);
  if (dry_run) return grpc::Status::OK;
  for (const auto& id : count.queue_ids)
    spdlog::info("[q:{}] {} by the postmaster", id,
                 action == AdminAction::kHold      ? "held"
                 : action == AdminAction::kRelease ? "released"
                 : action == AdminAction::kRequeue ? "requeued"
                                                   : "retried now");
  if (metrics_) metrics_->admin_action(std::string(admin_action_name(action)), count.messages);
  if (action != AdminAction::kHold && count.recipients > 0 && wake_) wake_();
  return grpc::Status::OK;
}

grpc::Status QueueServiceImpl::ReadMessage(grpc::ServerContext* ctx, const v1::ReadMessageRequest* request,
                                           grpc::ServerWriter<v1::ReadMessageChunk>* writer) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "ReadMessage");
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  grpc::Status status;
  try {
    std::optional<MessageView> view;
    std::optional<StoredBody> body;
    pool_.with([&](pqxx::connection& c) {
      view = get_message(c, request->queue_id(), false);
      if (view) body = message_body(c, request->queue_id());
    });
    if (!view || !body) {
      status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no message " + request->queue_id() + " in the queue");
    } else {
      // 1 MiB per chunk: far under gRPC's 4 MiB default message limit, so a
      // message of any size the queue takes can be read.
      constexpr size_t kChunk = 1024 * 1024;
      v1::ReadMessageChunk first;
      fill_message(*view, first.mutable_message());
      first.set_body_stored(body->stored);
      const std::string_view bytes = body->body;
      first.set_data(std::string(bytes.substr(0, kChunk)));
      bool ok = writer->Write(first);
      for (size_t at = kChunk; ok && at < bytes.size(); at += kChunk) {
        v1::ReadMessageChunk chunk;
        chunk.set_data(std::string(bytes.substr(at, kChunk)));
        ok = writer->Write(chunk);
      }
      if (!ok) status = grpc::Status(grpc::StatusCode::CANCELLED, "the reader went away");
    }
  } catch (const std::exception& e) {
    status = unavailable("ReadMessage", e);
  }
  if (timer) timer->done(status);
  return status;
}

grpc::Status QueueServiceImpl::Flush(grpc::ServerContext* ctx, const v1::FlushRequest*, v1::FlushResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "Flush");
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  grpc::Status status;
  try {
    response->set_recipients(pool_.with([&](pqxx::connection& c) { return retry_now(c, ""); }));
    if (wake_) wake_();
  } catch (const std::exception& e) {
    status = unavailable("Flush", e);
  }
  if (timer) timer->done(status);
  return status;
}

v1::FetchUrlResponse fetch_url(mailstore::MailStore& store, RecipientResolver& resolver,
                               const v1::FetchUrlRequest& request, int64_t now,
                               const std::function<bool(int64_t, const std::string&)>& place) {
  v1::FetchUrlResponse out;
  auto refuse = [&](v1::FetchUrlResult result, std::string reason) {
    out.set_result(result);
    out.set_reason(std::move(reason));
    return out;
  };
  auto url = urlauth::parse_urlauth_url(request.url());
  if (!url || url->token.empty()) return refuse(v1::FETCH_URL_RESULT_NOT_AUTHORIZED, "not an authorized IMAP URL");
  if (!urlauth::access_permits(url->access, urlauth::Fetcher::kSubmission, request.submit_user()))
    return refuse(v1::FETCH_URL_RESULT_NOT_AUTHORIZED, "access identifier does not admit this submitter");
  // Whose mailbox: the submitter's own (the usual case), else the URL's user
  // as authd knows it (an address that is a user, not an alias of one).
  mailstore::UserId owner = 0;
  std::string owner_address;
  auto same = [](std::string_view a, std::string_view b) {
    return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) {
             return std::tolower(static_cast<unsigned char>(x)) == std::tolower(static_cast<unsigned char>(y));
           });
  };
  if (request.submit_user_id() > 0 && same(url->owner, request.submit_user())) {
    owner = request.submit_user_id();
    owner_address = request.submit_user();
  } else {
    const Resolution r = resolver.resolve(url->owner);
    if (r.kind == Resolution::kTemporaryFailure) throw std::runtime_error("authd did not answer");
    if (r.kind != Resolution::kLocal || !same(r.address, url->owner))
      return refuse(v1::FETCH_URL_RESULT_NOT_AUTHORIZED, "the URL's user is not a user here");
    owner = r.user_id;
    owner_address = r.address;
  }
  // Sharding: the owner's shard from authd's directory, asked every time
  // (queued may never have placed this account, or placed it before a move).
  if (place) {
    const auto target = resolver.local_target(owner_address, owner, "");
    if (!target) throw std::runtime_error("authd did not answer (the account's shard)");
    if (target->moving) throw std::runtime_error("the account is being moved between shards");
    if (!place(owner, target->shard)) throw std::runtime_error("the account's shard is unknown here");
  }
  urlauth::Fetched f = urlauth::fetch_authorized(store, owner, *url, now);
  if (f.status == urlauth::FetchStatus::kInvalid)
    return refuse(v1::FETCH_URL_RESULT_NOT_AUTHORIZED, "token, expiry or mailbox does not verify");
  if (f.status == urlauth::FetchStatus::kNotFound)
    return refuse(v1::FETCH_URL_RESULT_NOT_FOUND, "no such message or part");
  if (request.max_size() > 0 && f.bytes.size() > static_cast<uint64_t>(request.max_size()))
    return refuse(v1::FETCH_URL_RESULT_TOO_BIG, "larger than the message size limit");
  out.set_result(v1::FETCH_URL_RESULT_OK);
  out.set_data(std::move(f.bytes));
  return out;
}

grpc::Status QueueServiceImpl::FetchUrl(grpc::ServerContext*, const v1::FetchUrlRequest* request,
                                        v1::FetchUrlResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "FetchUrl");
  grpc::Status status;
  if (!url_store_ || !url_resolver_) {
    status = grpc::Status(grpc::StatusCode::UNIMPLEMENTED, "FetchUrl is not configured");
  } else {
    try {
      const int64_t now =
          std::chrono::duration_cast<std::chrono::seconds>(std::chrono::system_clock::now().time_since_epoch())
              .count();
      *response = fetch_url(*url_store_, *url_resolver_, *request, now, url_place_);
      if (response->result() != v1::FETCH_URL_RESULT_OK)
        spdlog::info("FetchUrl for {} refused: {}", log::printable(request->submit_user()), response->reason());
    } catch (const std::exception& e) {
      status = unavailable("FetchUrl", e);
    }
  }
  if (timer) timer->done(status);
  return status;
}

bool QueueServiceImpl::delete_one(const std::string& queue_id, bool bounce, int64_t* pending) {
  bool bounced = false;
  bool found = pool_.with([&](pqxx::connection& c) {
    pqxx::work tx(c);
    auto deleted = delete_message(tx, queue_id);
    if (!deleted) return false;
    *pending = static_cast<int64_t>(deleted->pending.size());
    const auto& msg = deleted->message;
    if (bounce && !deleted->pending.empty() && !msg.is_dsn && !msg.mail_from.empty()) {
      std::vector<DsnRecipient> rcpts;
      for (const auto& r : deleted->pending) {
        if (!notify_wants(r.notify, DsnAction::kFailed)) continue;
        DsnRecipient d;
        d.address = r.address;
        d.orcpt = r.orcpt;
        d.action = DsnAction::kFailed;
        d.status = "5.0.0";
        d.diagnostic = "message deleted from the queue by the postmaster";
        d.last_attempt = Clock::now();
        rcpts.push_back(std::move(d));
      }
      if (!rcpts.empty()) {
        enqueue(tx, make_dsn_message(dsn_sender_, msg, std::move(rcpts), Clock::now()));
        bounced = true;
      }
    }
    tx.commit();
    spdlog::info("[q:{}] deleted by the postmaster ({} pending recipient(s){})", msg.queue_id,
                 deleted->pending.size(), bounced ? ", sender notified" : "");
    return true;
  });
  if (bounced) {
    if (metrics_) metrics_->dsn_sent(DsnAction::kFailed);
    if (wake_) wake_();  // the DSN is due now
  }
  return found;
}

grpc::Status QueueServiceImpl::DeleteMessage(grpc::ServerContext* ctx, const v1::DeleteMessageRequest* request,
                                             v1::DeleteMessageResponse* response) {
  std::optional<grpcutil::RpcMetrics::Timer> timer;
  if (rpc_metrics_) timer.emplace(*rpc_metrics_, "DeleteMessage");
  if (!authorized(ctx)) {
    if (timer) timer->done(kUnauthenticated);
    return kUnauthenticated;
  }
  grpc::Status status;
  Selection sel;
  if (request->has_selection()) {
    if (auto why = to_selection(request->selection(), sel); !why.empty())
      status = grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, why);
  } else {
    sel.queue_ids.push_back(request->queue_id());
  }
  try {
    std::vector<std::string> missing;
    std::vector<SelectedMessage> messages;
    if (status.ok())
      pool_.with([&](pqxx::connection& c) {
        pqxx::read_transaction tx(c);
        messages = resolve_selection(tx, sel, kMaxBulkMessages, &missing);
      });
    if (!status.ok()) {
    } else if (!missing.empty()) {
      status = not_found(missing);
    } else if (request->dry_run()) {
      response->set_messages(static_cast<int64_t>(messages.size()));
      for (const auto& m : messages) response->add_queue_ids(m.queue_id);
    } else {
      // One transaction per message: each waits only for its own recipients
      // in flight, and one message's DSN never holds up the others.
      int64_t recipients = 0, deleted = 0;
      for (const auto& m : messages) {
        int64_t pending = 0;
        if (!delete_one(m.queue_id, request->bounce(), &pending)) continue;  // gone meanwhile
        recipients += pending;
        ++deleted;
        response->add_queue_ids(m.queue_id);
      }
      response->set_recipients(recipients);
      response->set_messages(deleted);
      if (metrics_) metrics_->admin_action("delete", deleted);
      if (deleted == 0 && !request->has_selection())
        status = grpc::Status(grpc::StatusCode::NOT_FOUND, "no message " + request->queue_id());
    }
  } catch (const std::exception& e) {
    status = unavailable("DeleteMessage", e);
  }
  if (timer) timer->done(status);
  return status;
}

}  // namespace postline::queue
