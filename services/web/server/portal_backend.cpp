#include "services/web/server/portal_backend.h"

#include "common/dns/resolver.h"
#include "common/dnsrecords/check.h"
#include "common/grpc/grpc.h"
#include "common/mailauth/text_util.h"
#include "common/log/printable.h"
#include "common/mailstore/pg/pg_mail_store.h"
#include "common/mailstore/pg/sharded_mail_store.h"
#include "common/mailstore/pg/sharded_sieve_scripts.h"
#include "mail/v1/auth.grpc.pb.h"
#include "mail/v1/queue.grpc.pb.h"

#include <spdlog/spdlog.h>

#include <mutex>

namespace postline::web {

namespace pb = mail::v1;
using namespace portal;

namespace {

RecipientState state_of(pb::RecipientState s) {
  switch (s) {
    case pb::RECIPIENT_STATE_QUEUED: return RecipientState::kQueued;
    case pb::RECIPIENT_STATE_DELIVERING: return RecipientState::kDelivering;
    case pb::RECIPIENT_STATE_DELIVERED: return RecipientState::kDelivered;
    case pb::RECIPIENT_STATE_DEFERRED: return RecipientState::kDeferred;
    case pb::RECIPIENT_STATE_BOUNCED: return RecipientState::kBounced;
    case pb::RECIPIENT_STATE_EXPIRED: return RecipientState::kExpired;
    default: return RecipientState::kUnknown;
  }
}

SentMessage from_proto(const pb::QueuedMessage& m) {
  SentMessage out;
  out.queue_id = m.queue_id();
  out.created_unix = m.created_unix();
  out.mail_from = m.envelope().mail_from();
  out.submitter = m.envelope().authenticated_user();
  out.message_id = m.header_message_id();
  out.subject = m.header_subject();
  out.size = m.size();
  for (const auto& r : m.recipients()) {
    SentRecipient sr;
    sr.address = r.address();
    sr.state = state_of(r.state());
    sr.local = r.local();
    sr.next_attempt_unix = r.next_attempt_unix();
    sr.last_reply = r.last_reply();
    for (const auto& a : r.history()) {
      Attempt at;
      at.started_unix = a.started_unix();
      at.mx_host = a.mx_host();
      at.reply = a.reply();
      at.outcome = state_of(a.outcome());
      at.remote_reply = a.remote_reply();
      sr.attempts.push_back(std::move(at));
    }
    out.recipients.push_back(std::move(sr));
  }
  return out;
}

// A failed call: the user's mistake (Refused, authd's message shown) or an outage.
[[noreturn]] void failed(const char* method, const grpc::Status& status) {
  switch (status.error_code()) {
    case grpc::StatusCode::INVALID_ARGUMENT:
    case grpc::StatusCode::ALREADY_EXISTS:
    case grpc::StatusCode::NOT_FOUND:
    case grpc::StatusCode::FAILED_PRECONDITION:
      throw Refused(status.error_message());
    default:
      spdlog::warn("portal: {} failed: {} {}", method, grpcutil::code_name(status.error_code()),
                   log::printable(status.error_message()));
      throw Unavailable(std::string(method) + " failed");
  }
}

}  // namespace

struct GrpcPortalBackend::Impl {
  PortalBackendOptions options;
  std::unique_ptr<pb::AuthService::Stub> auth;
  std::unique_ptr<pb::AdminService::Stub> admin;
  std::unique_ptr<pb::QueueService::Stub> queue;
  grpcutil::RpcMetrics metrics;
  std::mutex store_mutex;
  std::unique_ptr<mailstore::pg::ShardedMailStore> store;  // opened at first use
  std::unique_ptr<mailstore::pg::ShardedSieveScriptStore> scripts;  // the filters page; opened at first use

  // The user's Sieve scripts on the user's shard (authd's GetQuota names it).
  template <typename Fn>
  auto with_scripts(int64_t user_id, Fn&& fn);

  std::shared_ptr<grpc::Channel> auth_channel, queue_channel;

  Impl(PortalBackendOptions o, prometheus::Registry& registry)
      : options(std::move(o)),
        metrics(registry, "postline_webd", "client"),
        auth_channel(grpcutil::make_channel(options.auth_addr)),
        queue_channel(grpcutil::make_channel(options.queue_addr)) {
    auth = pb::AuthService::NewStub(auth_channel);
    admin = pb::AdminService::NewStub(auth_channel);
    queue = pb::QueueService::NewStub(queue_channel);
  }

  void prepare(grpc::ClientContext& ctx, bool admin_call) {
    grpcutil::set_deadline(ctx, std::chrono::seconds(10));
    if (admin_call && !options.admin_token.empty()) ctx.AddMetadata("authorization", "Bearer " + options.admin_token);
  }
};

GrpcPortalBackend::GrpcPortalBackend(PortalBackendOptions options, prometheus::Registry& registry)
    : impl_(std::make_unique<Impl>(std::move(options), registry)) {}

GrpcPortalBackend::~GrpcPortalBackend() = default;

LoginResult GrpcPortalBackend::authenticate(const std::string& username, const std::string& password,
                                            const std::string& client_ip) {
  pb::AuthenticateRequest req;
  req.set_username(username);
  req.set_password(password);
  req.set_protocol(pb::PROTOCOL_WEB);
  req.set_mechanism("PLAIN");  // a password in a form inside TLS: what PLAIN is
  req.set_remote_ip(client_ip);
  pb::AuthenticateResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, false);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "Authenticate");
  const grpc::Status status = impl_->auth->Authenticate(&ctx, req, &resp);
  timer.done(status);
  LoginResult out;
  if (!status.ok()) {
    spdlog::warn("portal: authd Authenticate failed: {} {}", grpcutil::code_name(status.error_code()),
                 log::printable(status.error_message()));
    return out;  // kUnavailable
  }
  switch (resp.result()) {
    case pb::AUTH_RESULT_OK:
      out.outcome = LoginOutcome::kOk;
      out.user_id = resp.user_id();
      out.email = resp.email();
      out.admin = resp.admin();
      break;
    case pb::AUTH_RESULT_INVALID_CREDENTIALS: out.outcome = LoginOutcome::kInvalid; break;
    case pb::AUTH_RESULT_THROTTLED: out.outcome = LoginOutcome::kThrottled; break;
    case pb::AUTH_RESULT_DISABLED: out.outcome = LoginOutcome::kDisabled; break;
    default: break;
  }
  return out;
}

std::vector<SentMessage> GrpcPortalBackend::sent_messages(const std::string& email, int limit,
                                                         const PageCursor& page) {
  pb::ListMessagesRequest req;
  req.set_limit(limit);
  req.set_with_history(true);
  req.set_newest_first(true);
  req.mutable_filter()->set_any_state(true);
  req.mutable_filter()->set_authenticated_user(email);
  req.set_page_after(page.after);
  req.set_page_before(page.before);
  pb::ListMessagesResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "ListMessages");
  const grpc::Status status = impl_->queue->ListMessages(&ctx, req, &resp);
  timer.done(status);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND && !(page.after.empty() && page.before.empty()))
    throw PageGone(status.error_message());
  if (!status.ok()) {
    spdlog::warn("portal: queued ListMessages failed: {} {}", grpcutil::code_name(status.error_code()),
                 log::printable(status.error_message()));
    throw Unavailable("ListMessages failed");
  }
  std::vector<SentMessage> out;
  for (const auto& m : resp.messages()) out.push_back(from_proto(m));
  return out;
}

std::optional<SentMessage> GrpcPortalBackend::message(const std::string& queue_id) {
  pb::GetMessageRequest req;
  req.set_queue_id(queue_id);
  pb::GetMessageResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "GetMessage");
  const grpc::Status status = impl_->queue->GetMessage(&ctx, req, &resp);
  timer.done(status);
  // NOT_FOUND, and INVALID_ARGUMENT for an id that is not one: no such message.
  if (status.error_code() == grpc::StatusCode::NOT_FOUND || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
    return std::nullopt;
  if (!status.ok()) {
    spdlog::warn("portal: queued GetMessage failed: {} {}", grpcutil::code_name(status.error_code()),
                 log::printable(status.error_message()));
    throw Unavailable("GetMessage failed");
  }
  return from_proto(resp.message());
}

std::vector<AppPasswordInfo> GrpcPortalBackend::app_passwords(const std::string& email) {
  pb::ListAppPasswordsRequest req;
  req.set_email(email);
  pb::ListAppPasswordsResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "ListAppPasswords");
  const grpc::Status status = impl_->admin->ListAppPasswords(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) failed("ListAppPasswords", status);
  std::vector<AppPasswordInfo> out;
  for (const auto& p : resp.app_passwords()) out.push_back({p.label(), p.created_at(), p.last_used_at()});
  return out;
}

std::string GrpcPortalBackend::add_app_password(const std::string& email, const std::string& label) {
  pb::AddAppPasswordRequest req;
  req.set_email(email);
  req.set_label(label);
  pb::AddAppPasswordResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "AddAppPassword");
  const grpc::Status status = impl_->admin->AddAppPassword(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) failed("AddAppPassword", status);
  return resp.password();
}

void GrpcPortalBackend::remove_app_password(const std::string& email, const std::string& label) {
  pb::RemoveAppPasswordRequest req;
  req.set_email(email);
  req.set_label(label);
  pb::RemoveAppPasswordResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "RemoveAppPassword");
  const grpc::Status status = impl_->admin->RemoveAppPassword(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) failed("RemoveAppPassword", status);
}

void GrpcPortalBackend::set_password(const std::string& email, const std::string& password) {
  pb::SetPasswordRequest req;
  req.set_email(email);
  req.set_password(password);
  pb::SetPasswordResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "SetPassword");
  const grpc::Status status = impl_->admin->SetPassword(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) failed("SetPassword", status);
}

QuotaInfo GrpcPortalBackend::quota(int64_t user_id, const std::string& email) {
  pb::GetQuotaRequest req;
  req.set_acting_user_id(user_id);
  pb::QuotaResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, false);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "GetQuota");
  const grpc::Status status = impl_->auth->GetQuota(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) failed("GetQuota", status);
  QuotaInfo q;
  q.limit_bytes = resp.quota_bytes();
  q.limit_messages = resp.quota_messages();
  if (impl_->options.db_url.empty()) return q;
  try {
    std::lock_guard lock(impl_->store_mutex);
    if (!impl_->store) {
      impl_->store = std::make_unique<mailstore::pg::ShardedMailStore>(
          mailstore::pg::parse_shards(impl_->options.shards, impl_->options.db_url), "", [](const std::string& url) {
            mailstore::pg::PgOptions o;
            o.url = url;
            o.pool_size = 2;
            o.index_cache_messages = 0;  // webd reads totals only
            return std::make_unique<mailstore::pg::PgMailStore>(o);
          });
    }
    const int64_t whose = resp.user_id() ? resp.user_id() : user_id;
    impl_->store->assign(whose, resp.shard());
    const auto usage = impl_->store->usage(whose);
    q.used_bytes = usage.bytes;
    q.used_messages = usage.messages;
  } catch (const std::exception& e) {
    // Limits are still worth showing; usage says "not known".
    spdlog::warn("portal: mailstore usage of {} failed: {}", log::printable(email), e.what());
  }
  return q;
}

// ---- the filters page -----------------------------------------------------------

template <typename Fn>
auto GrpcPortalBackend::Impl::with_scripts(int64_t user_id, Fn&& fn) {
  if (options.db_url.empty()) throw portal::Unavailable("the mailstore is not configured (db.url)");
  pb::GetQuotaRequest req;
  req.set_acting_user_id(user_id);
  pb::QuotaResponse resp;
  grpc::ClientContext ctx;
  prepare(ctx, false);
  grpcutil::RpcMetrics::Timer timer(metrics, "GetQuota");
  const grpc::Status status = auth->GetQuota(&ctx, req, &resp);
  timer.done(status);
  if (!status.ok()) failed("GetQuota", status);
  try {
    std::lock_guard lock(store_mutex);
    if (!scripts) {
      scripts = std::make_unique<mailstore::pg::ShardedSieveScriptStore>(
          mailstore::pg::parse_shards(options.shards, options.db_url), "", 2);
    }
    scripts->assign(user_id, resp.shard());
    return fn(*scripts);
  } catch (const std::exception& e) {
    spdlog::warn("portal: Sieve scripts of user {}: {}", user_id, log::printable(e.what(), 300));
    throw portal::Unavailable("the mailstore is not available");
  }
}

portal::FilterScripts GrpcPortalBackend::filter_scripts(int64_t user_id, const std::string& name) {
  return impl_->with_scripts(user_id, [&](mailstore::SieveScriptStore& s) {
    portal::FilterScripts out;
    out.active = s.active_script(user_id);
    out.named = out.active && out.active->first == name ? out.active->second : s.get_script(user_id, name);
    return out;
  });
}

void GrpcPortalBackend::save_active_sieve_script(int64_t user_id, const std::string& name, const std::string& text) {
  impl_->with_scripts(user_id, [&](mailstore::SieveScriptStore& s) {
    s.put_script(user_id, name, text);
    if (!s.set_active_script(user_id, name)) throw std::runtime_error("the script vanished before it was activated");
    return 0;
  });
}

// ---- administration -----------------------------------------------------------

// One AdminService/QueueService call with the admin token: `rpc(ctx)` makes
// it; failures as Refused (the user's mistake, in authd's words) or Unavailable.
template <typename Rpc>
void admin_call(GrpcPortalBackend::Impl& impl, const char* method, Rpc&& rpc) {
  grpc::ClientContext ctx;
  impl.prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl.metrics, method);
  const grpc::Status status = rpc(ctx);
  timer.done(status);
  if (!status.ok()) failed(method, status);
}

bool GrpcPortalBackend::is_admin(const std::string& email) {
  pb::GetUserRequest req;
  req.set_email(email);
  pb::GetUserResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "GetUser");
  const grpc::Status status = impl_->admin->GetUser(&ctx, req, &resp);
  timer.done(status);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND) return false;  // removed since sign-in
  if (!status.ok()) failed("GetUser", status);
  return resp.user().admin() && !resp.user().disabled();
}

std::vector<DomainInfo> GrpcPortalBackend::domains() {
  pb::ListDomainsRequest req;
  pb::ListDomainsResponse resp;
  admin_call(*impl_, "ListDomains", [&](grpc::ClientContext& c) { return impl_->admin->ListDomains(&c, req, &resp); });
  std::vector<DomainInfo> out;
  for (const auto& d : resp.domains()) out.push_back({d.name(), d.user_count(), d.alias_count(), d.catch_all()});
  return out;
}

void GrpcPortalBackend::add_domain(const std::string& name) {
  pb::AddDomainRequest req;
  req.set_name(name);
  pb::AddDomainResponse resp;
  admin_call(*impl_, "AddDomain", [&](grpc::ClientContext& c) { return impl_->admin->AddDomain(&c, req, &resp); });
}

namespace {

std::string domain_part(std::string_view address) {
  const auto at = address.rfind('@');
  return at == std::string_view::npos ? std::string() : mailauth::to_lower(address.substr(at + 1));
}

}  // namespace

// As `postline domain remove` lists it (tools/postline/cmd_domain.cpp): the
// users, aliases and catch-all authd's foreign keys remove with the domain,
// and, beyond the CLI, the other domains' aliases that deliver into it.
std::optional<DomainRemoval> GrpcPortalBackend::domain_removal(const std::string& name) {
  const std::string wanted = mailauth::normalize_domain(name).value_or(name);
  pb::ListDomainsRequest dreq;
  pb::ListDomainsResponse domains;
  admin_call(*impl_, "ListDomains", [&](grpc::ClientContext& c) { return impl_->admin->ListDomains(&c, dreq, &domains); });
  const pb::Domain* found = nullptr;
  for (const auto& d : domains.domains())
    if (d.name() == wanted) found = &d;
  if (!found) return std::nullopt;
  DomainRemoval plan;
  plan.name = found->name();
  plan.catch_all = found->catch_all();
  pb::ListUsersRequest ureq;
  ureq.set_domain(plan.name);
  pb::ListUsersResponse users;
  admin_call(*impl_, "ListUsers", [&](grpc::ClientContext& c) { return impl_->admin->ListUsers(&c, ureq, &users); });
  for (const auto& u : users.users()) plan.users.push_back(u.email());
  pb::ListAliasesRequest areq;  // every domain's: those elsewhere that point here are named too
  pb::ListAliasesResponse aliases;
  admin_call(*impl_, "ListAliases", [&](grpc::ClientContext& c) { return impl_->admin->ListAliases(&c, areq, &aliases); });
  for (const auto& a : aliases.aliases()) {
    if (domain_part(a.address()) == plan.name) {
      plan.aliases.push_back(a.address());
      continue;
    }
    for (const auto& t : a.targets())
      if (domain_part(t) == plan.name) {
        plan.aliases_elsewhere.push_back(a.address() + " -> " + t);
      }
  }
  return plan;
}

void GrpcPortalBackend::remove_domain(const std::string& name, bool force) {
  pb::RemoveDomainRequest req;
  req.set_name(name);
  req.set_force(force);
  pb::RemoveDomainResponse resp;
  admin_call(*impl_, "RemoveDomain", [&](grpc::ClientContext& c) { return impl_->admin->RemoveDomain(&c, req, &resp); });
}

void GrpcPortalBackend::set_catch_all(const std::string& domain, const std::string& target) {
  pb::SetCatchAllRequest req;
  req.set_domain(domain);
  req.set_target(target);
  pb::SetCatchAllResponse resp;
  admin_call(*impl_, "SetCatchAll", [&](grpc::ClientContext& c) { return impl_->admin->SetCatchAll(&c, req, &resp); });
}

// As `postline user remove` lists it (tools/postline/cmd_user.cpp): its app
// passwords go; its mail and the aliases delivering to it stay.
std::optional<UserRemoval> GrpcPortalBackend::user_removal(const std::string& email) {
  pb::GetUserRequest greq;
  greq.set_email(email);
  pb::GetUserResponse got;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "GetUser");
  const grpc::Status status = impl_->admin->GetUser(&ctx, greq, &got);
  timer.done(status);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
    return std::nullopt;
  if (!status.ok()) failed("GetUser", status);
  UserRemoval plan;
  plan.email = got.user().email();
  plan.user_id = got.user().id();
  pb::ListAppPasswordsRequest preq;
  preq.set_email(plan.email);
  pb::ListAppPasswordsResponse passwords;
  admin_call(*impl_, "ListAppPasswords",
             [&](grpc::ClientContext& c) { return impl_->admin->ListAppPasswords(&c, preq, &passwords); });
  for (const auto& p : passwords.app_passwords()) plan.app_passwords.push_back(p.label());
  pb::ListAliasesRequest areq;
  pb::ListAliasesResponse aliases;
  admin_call(*impl_, "ListAliases", [&](grpc::ClientContext& c) { return impl_->admin->ListAliases(&c, areq, &aliases); });
  const std::string lower = mailauth::to_lower(plan.email);
  for (const auto& a : aliases.aliases())
    for (const auto& t : a.targets())
      if (mailauth::to_lower(t) == lower) plan.aliases_to_it.push_back(a.address());
  return plan;
}

void GrpcPortalBackend::remove_user(const std::string& email) {
  pb::RemoveUserRequest req;
  req.set_email(email);
  pb::RemoveUserResponse resp;
  admin_call(*impl_, "RemoveUser", [&](grpc::ClientContext& c) { return impl_->admin->RemoveUser(&c, req, &resp); });
}

std::vector<UserInfo> GrpcPortalBackend::users() {
  pb::ListUsersRequest req;
  pb::ListUsersResponse resp;
  admin_call(*impl_, "ListUsers", [&](grpc::ClientContext& c) { return impl_->admin->ListUsers(&c, req, &resp); });
  std::vector<UserInfo> out;
  for (const auto& u : resp.users())
    out.push_back({u.email(), u.disabled(), u.admin(), u.quota_bytes(), u.last_login_at(), u.quota_messages()});
  return out;
}

void GrpcPortalBackend::add_user(const NewUser& user) {
  pb::AddUserRequest req;
  req.set_email(user.email);
  req.set_password(user.password);
  req.set_quota_bytes(user.quota_bytes);
  req.set_quota_messages(user.quota_messages);
  req.set_admin(user.admin);
  pb::AddUserResponse resp;
  admin_call(*impl_, "AddUser", [&](grpc::ClientContext& c) { return impl_->admin->AddUser(&c, req, &resp); });
}

void GrpcPortalBackend::set_quota(const std::string& email, const QuotaChange& change) {
  pb::UpdateUserRequest req;
  req.set_email(email);
  if (change.bytes) req.set_quota_bytes(*change.bytes);
  if (change.messages) req.set_quota_messages(*change.messages);
  pb::UpdateUserResponse resp;
  admin_call(*impl_, "UpdateUser", [&](grpc::ClientContext& c) { return impl_->admin->UpdateUser(&c, req, &resp); });
}

void GrpcPortalBackend::set_disabled(const std::string& email, bool disabled) {
  pb::UpdateUserRequest req;
  req.set_email(email);
  req.set_disabled(disabled);
  pb::UpdateUserResponse resp;
  admin_call(*impl_, "UpdateUser", [&](grpc::ClientContext& c) { return impl_->admin->UpdateUser(&c, req, &resp); });
}

void GrpcPortalBackend::remove_alias(const std::string& address, const std::string& target) {
  pb::RemoveAliasRequest req;
  req.set_address(address);
  req.set_target(target);
  pb::RemoveAliasResponse resp;
  admin_call(*impl_, "RemoveAlias", [&](grpc::ClientContext& c) { return impl_->admin->RemoveAlias(&c, req, &resp); });
}

std::vector<AliasInfo> GrpcPortalBackend::aliases() {
  pb::ListAliasesRequest req;
  pb::ListAliasesResponse resp;
  admin_call(*impl_, "ListAliases", [&](grpc::ClientContext& c) { return impl_->admin->ListAliases(&c, req, &resp); });
  std::vector<AliasInfo> out;
  for (const auto& a : resp.aliases()) out.push_back({a.address(), {a.targets().begin(), a.targets().end()}});
  return out;
}

void GrpcPortalBackend::add_alias(const std::string& address, const std::string& target) {
  pb::AddAliasRequest req;
  req.set_address(address);
  req.add_targets(target);
  pb::AddAliasResponse resp;
  admin_call(*impl_, "AddAlias", [&](grpc::ClientContext& c) { return impl_->admin->AddAlias(&c, req, &resp); });
}

std::vector<SentMessage> GrpcPortalBackend::queue(int limit, const QueueFilter& filter, const PageCursor& page) {
  pb::ListMessagesRequest req;  // state UNSPECIFIED: messages with a pending recipient
  req.set_limit(limit);
  auto* f = req.mutable_filter();  // empty: the same (MessageFilter.state UNSPECIFIED is "pending")
  if (!filter.sender.empty()) {
    f->set_match_sender(true);
    f->set_sender(filter.sender == "<>" ? "" : filter.sender);  // "<>": the null sender
  }
  f->set_recipient(filter.recipient);
  f->set_domain(filter.domain);
  f->set_message_id(filter.message_id);
  f->set_older_than_seconds(filter.older_than_seconds);
  static const std::pair<const char*, pb::RecipientState> kStates[] = {
      {"queued", pb::RECIPIENT_STATE_QUEUED},       {"deferred", pb::RECIPIENT_STATE_DEFERRED},
      {"delivering", pb::RECIPIENT_STATE_DELIVERING}, {"delivered", pb::RECIPIENT_STATE_DELIVERED},
      {"bounced", pb::RECIPIENT_STATE_BOUNCED},     {"expired", pb::RECIPIENT_STATE_EXPIRED}};
  for (const auto& [name, state] : kStates)
    if (filter.state == name) f->set_state(state);
  if (filter.state == "held") f->set_held_only(true);
  if (filter.state == "any") f->set_any_state(true);
  req.set_page_after(page.after);
  req.set_page_before(page.before);
  req.set_with_history(true);
  pb::ListMessagesResponse resp;
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "ListMessages");
  const grpc::Status status = impl_->queue->ListMessages(&ctx, req, &resp);
  timer.done(status);
  if (status.error_code() == grpc::StatusCode::NOT_FOUND && !(page.after.empty() && page.before.empty()))
    throw PageGone(status.error_message());  // the cursor's message left the queue
  if (!status.ok()) {
    try {
      failed("ListMessages", status);
    } catch (const Refused& e) {
      throw Refused(std::string("queue: ") + e.what());  // queued's words about the filter
    }
  }
  std::vector<SentMessage> out;
  for (const auto& m : resp.messages()) out.push_back(from_proto(m));
  return out;
}

int64_t GrpcPortalBackend::queue_action(QueueAction action, const std::string& queue_id) {
  try {
    switch (action) {
      case QueueAction::kRetry: {
        pb::RetryRequest req;
        req.mutable_selection()->add_queue_ids(queue_id);
        pb::RetryResponse resp;
        admin_call(*impl_, "Retry", [&](grpc::ClientContext& c) { return impl_->queue->Retry(&c, req, &resp); });
        return resp.messages();
      }
      case QueueAction::kDelete: {
        pb::DeleteMessageRequest req;
        req.set_queue_id(queue_id);
        pb::DeleteMessageResponse resp;
        admin_call(*impl_, "DeleteMessage", [&](grpc::ClientContext& c) { return impl_->queue->DeleteMessage(&c, req, &resp); });
        return resp.messages();
      }
      case QueueAction::kHold:
      case QueueAction::kRelease: {
        pb::QueueActionRequest req;
        req.mutable_selection()->add_queue_ids(queue_id);
        pb::QueueActionResponse resp;
        if (action == QueueAction::kHold) admin_call(*impl_, "Hold", [&](grpc::ClientContext& c) { return impl_->queue->Hold(&c, req, &resp); });
        else admin_call(*impl_, "Release", [&](grpc::ClientContext& c) { return impl_->queue->Release(&c, req, &resp); });
        return resp.messages();
      }
    }
  } catch (const Refused& e) {
    throw Refused(std::string("queue: ") + e.what());
  }
  return 0;
}

std::optional<QueuedContent> GrpcPortalBackend::read_message(const std::string& queue_id, size_t max_bytes,
                                                             const std::string& viewer) {
  pb::ReadMessageRequest req;
  req.set_queue_id(queue_id);
  grpc::ClientContext ctx;
  impl_->prepare(ctx, true);
  grpcutil::RpcMetrics::Timer timer(impl_->metrics, "ReadMessage");
  auto reader = impl_->queue->ReadMessage(&ctx, req);
  QueuedContent out;
  bool first = true, enough = false;
  pb::ReadMessageChunk chunk;
  while (reader->Read(&chunk)) {
    if (first) {
      out.message = from_proto(chunk.message());
      out.body_stored = chunk.body_stored();
      first = false;
    }
    const std::string& data = chunk.data();
    const size_t room = max_bytes - out.data.size();
    out.data.append(data, 0, std::min(room, data.size()));
    if (data.size() > room) {
      // Enough: the rest (up to the message's size) stays in queued.
      out.cut = true;
      enough = true;
      ctx.TryCancel();
      break;
    }
  }
  const grpc::Status status = reader->Finish();
  timer.done(enough ? grpc::Status::OK : status);
  if (!enough) {
    if (status.error_code() == grpc::StatusCode::NOT_FOUND || status.error_code() == grpc::StatusCode::INVALID_ARGUMENT)
      return std::nullopt;
    if (!status.ok()) failed("ReadMessage", status);
    if (first) return std::nullopt;  // an empty stream: nothing to show
  }
  spdlog::info("portal: {} viewed queued message {} ({} of {} bytes)", log::printable(viewer),
               log::printable(queue_id), out.data.size(), out.message.size);
  return out;
}

namespace {

// A name DNS can hold with at least two labels ("localhost" is no MX target).
std::optional<std::string> dns_name(const std::string& text) {
  auto name = mailauth::normalize_domain(text);
  if (!name || name->find('.') == std::string::npos) return std::nullopt;
  return name;
}

DnsRecordView record_view(const dnsrecords::Record& r) {
  DnsRecordView v;
  v.purpose = r.purpose;
  v.name = r.name;
  v.type = dnsrecords::type_name(r.type);
  v.value = r.value;
  v.note = r.note;
  v.required = r.required;
  return v;
}

}  // namespace

DomainDns GrpcPortalBackend::dns(const std::string& domain, bool check) {
  const PortalBackendOptions& o = impl_->options;
  dnsrecords::DomainSetup s;
  auto name = dns_name(domain);
  if (!name) throw Refused("'" + domain + "' is not a domain name");
  s.domain = *name;
  auto host = dns_name(o.mail_host);
  if (!host)
    throw Refused("the mail server's name is '" + o.mail_host +
                  "': set smtp.hostname (POSTLINE_SMTP_HOSTNAME) to its public name");
  s.host = *host;
  s.outbound_host = dns_name(o.outbound_host).value_or(s.host);
  s.mta_sts_mode = o.mta_sts_mode;
  s.mta_sts_max_age = o.mta_sts_max_age;
  DomainDns out;
  out.domain = s.domain;
  out.host = s.host;
  try {
    s.dkim = dnsrecords::dkim_selectors(o.dkim_keys, s.domain);
  } catch (const std::exception& e) {
    // webd may not hold queued's key files; the rest of the page still helps.
    out.warning = std::string("queue.dkim_keys: ") + e.what();
  }
  const auto records = dnsrecords::records_for(s);
  out.zone_file = dnsrecords::zone_file(s, records);
  if (!check) {
    for (const auto& r : records) out.records.push_back(record_view(r));
    return out;
  }
  try {
    dns::Resolver(o.dns_servers).check();
  } catch (const std::exception& e) {
    throw Refused(std::string("dns.servers: ") + e.what());
  }
  out.resolver = o.dns_servers.empty() ? "the system resolver" : o.dns_servers.front();
  dns::MailauthLookup lookup(o.dns_servers);
  for (const auto& c : dnsrecords::check_domain(lookup, s).records) {
    DnsRecordView v = record_view(c.record);
    v.verdict = dnsrecords::verdict_name(c.finding.verdict);
    v.fails = c.fails;
    v.found = c.finding.found;
    v.detail = c.finding.detail;
    out.records.push_back(std::move(v));
  }
  return out;
}

std::vector<ServiceHealth> GrpcPortalBackend::health() {
  std::vector<ServiceHealth> out;
  const auto timeout = std::chrono::milliseconds(1000);
  out.push_back({"authd", impl_->options.auth_addr, grpcutil::health_serving(impl_->auth_channel, timeout),
                 "gRPC health"});
  out.push_back({"queued", impl_->options.queue_addr, grpcutil::health_serving(impl_->queue_channel, timeout),
                 "gRPC health"});
  ServiceHealth db{"mailstore database", "db.url", false, "not configured"};
  if (!impl_->options.db_url.empty()) {
    try {
      mailstore::pg::check_schema(impl_->options.db_url);  // reachable, and the schema this build knows
      db.ok = true;
      db.detail = "reachable, schema current";
    } catch (const std::exception& e) {
      db.detail = e.what();
    }
  }
  out.push_back(std::move(db));
  for (const auto& u : impl_->options.health_urls) {
    const ProbeResult r = probe_readyz(u, timeout);
    out.push_back({u.name, u.url, r.readiness == Readiness::kReady, r.detail, readiness_name(r.readiness)});
  }
  return out;
}

}  // namespace postline::web
