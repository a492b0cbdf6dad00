#include "services/auth/server/auth_service.h"

#include <boost/asio/post.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "common/log/log.h"
#include "services/auth/core/sasl.h"

namespace postline::auth {
namespace {

using Timer = grpcutil::RpcMetrics::Timer;
using mail::v1::SaslStepResponse;

constexpr size_t kMaxUsername = 320;   // 64 + @ + 255
constexpr size_t kMaxPassword = 4096;  // generous; bounds hashing input
constexpr size_t kMaxSaslMessage = 8192;

std::string mechanism_label(const std::string& m) {
  if (m.empty()) return "password";
  auto c = sasl::canonical_mechanism(m);
  return c.empty() ? "other" : c;
}

std::string random_id() {
  unsigned char raw[16];
  randombytes_buf(raw, sizeof raw);
  char hex[sizeof raw * 2 + 1];
  sodium_bin2hex(hex, sizeof hex, raw, sizeof raw);
  return hex;
}

// "[t:<id>] " when the caller named the message this call is for (smtpd's
// RCPT look-up, queued's delivery: x-postline-trace metadata), else "".
std::string trace_tag(const grpc::CallbackServerContext* context) {
  const auto& md = context->client_metadata();
  auto it = md.find(log::kTraceMetadata);
  if (it == md.end() || it->second.empty()) return {};
  return "[t:" + log::tag_value(std::string_view(it->second.data(), it->second.size()), 64) + "] ";
}

std::string_view kind_name(mail::v1::RecipientKind k) {
  switch (k) {
    case mail::v1::RECIPIENT_KIND_LOCAL: return "local";
    case mail::v1::RECIPIENT_KIND_REMOTE: return "remote";
    case mail::v1::RECIPIENT_KIND_UNKNOWN: return "unknown";
    default: return "unspecified";
  }
}

void finish(grpc::ServerUnaryReactor* reactor, const std::shared_ptr<Timer>& timer, const grpc::Status& status) {
  timer->done(status);
  reactor->Finish(status);
}

// Salt shown for accounts without SCRAM keys (unknown users): a keyed hash of
// the name, stable across requests and replicas, so asking twice (or asking two
// replicas) does not reveal that the account is fake.
std::string fake_salt(const std::string& secret, const std::string& account) {
  static const std::string process_secret = [] {
    std::string s(32, '\0');
    randombytes_buf(s.data(), s.size());
    return s;
  }();
  unsigned char out[crypto_auth_hmacsha256_BYTES];
  const std::string& key = secret.empty() ? process_secret : secret;
  crypto_auth_hmacsha256_state st;
  crypto_auth_hmacsha256_init(&st, reinterpret_cast<const unsigned char*>(key.data()), key.size());
  crypto_auth_hmacsha256_update(&st, reinterpret_cast<const unsigned char*>(account.data()), account.size());
  crypto_auth_hmacsha256_final(&st, out);
  return std::string(reinterpret_cast<const char*>(out), 16);
}

}  // namespace

std::string SaslConversations::put(std::shared_ptr<SaslConversation> c) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  expire_locked(now);
  if (open_.size() >= limit_) return {};
  c->expires = now + ttl_;
  std::string id = random_id();
  open_[id] = std::move(c);
  return id;
}

std::shared_ptr<SaslConversation> SaslConversations::take(const std::string& id) {
  const auto now = std::chrono::steady_clock::now();
  std::lock_guard lock(mutex_);
  auto it = open_.find(id);
  if (it == open_.end()) return nullptr;
  auto c = std::move(it->second);
  open_.erase(it);
  if (c->expires < now) return nullptr;
  return c;
}

void SaslConversations::expire_locked(std::chrono::steady_clock::time_point now) {
  for (auto it = open_.begin(); it != open_.end();) {
    if (it->second->expires < now) it = open_.erase(it);
    else ++it;
  }
}

grpc::ServerUnaryReactor* AuthServiceImpl::Authenticate(grpc::CallbackServerContext* context,
                                                        const mail::v1::AuthenticateRequest* req,
                                                        mail::v1::AuthenticateResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "Authenticate");
  if (req->username().empty() || req->username().size() > kMaxUsername) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "username must be 1-320 bytes"));
    return reactor;
  }
  if (req->password().size() > kMaxPassword) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "password longer than 4096 bytes"));
    return reactor;
  }
  LoginRequest lr{req->username(), req->password(), protocol_label(req->protocol()), mechanism_label(req->mechanism()),
                  req->remote_ip(), context->deadline()};
  password_login(ctx_, std::move(lr), [resp, reactor, timer](LoginOutcome out) {
    resp->set_result(out.result);
    resp->set_user_id(out.user_id);
    resp->set_email(out.email);
    resp->set_display_name(out.display_name);
    resp->set_quota_bytes(out.quota_bytes);
    resp->set_quota_messages(out.quota_messages);
    resp->set_admin(out.admin);
    resp->set_shard(out.shard);
    resp->set_moving(out.moving);
    finish(reactor, timer, grpc::Status::OK);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthServiceImpl::ResolveRecipient(grpc::CallbackServerContext* context,
                                                            const mail::v1::ResolveRecipientRequest* req,
                                                            mail::v1::ResolveRecipientResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "ResolveRecipient");
  auto parsed = normalise_address(req->address(), ctx_.settings.address_policy);
  // Debug, not info: smtpd and queued log every recipient at info already;
  // this line only ties authd's answer to the message (docs/operations.md, "Logs").
  std::string trace = trace_tag(context);
  if (!parsed.ok()) {
    // A local part we never create (quoted, odd characters) can still be a valid
    // SMTP address: UNKNOWN in our domains (550, not a retry loop), REMOTE in
    // others. Only an address without a usable domain is the caller's error.
    const std::string& text = req->address();
    const auto at = text.rfind('@');
    auto domain = at == std::string::npos ? Parsed<std::string>{{}, "no domain"} : normalise_domain(text.substr(at + 1));
    if (!domain.ok()) {
      finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "bad address: " + parsed.error));
      return reactor;
    }
    asio::post(ctx_.db_pool, [this, text, domain = domain.value, resp, reactor, timer, trace]() {
      try {
        if (ctx_.accounts.is_hosted(domain)) {
          resp->set_kind(mail::v1::RECIPIENT_KIND_UNKNOWN);
        } else {
          resp->set_kind(mail::v1::RECIPIENT_KIND_REMOTE);
          auto* target = resp->add_targets();
          target->set_kind(mail::v1::RECIPIENT_KIND_REMOTE);
          target->set_address(text.substr(0, text.rfind('@')) + "@" + domain);
        }
        spdlog::debug("{}ResolveRecipient <{}>: {}", trace, printable(text, 512), kind_name(resp->kind()));
        finish(reactor, timer, grpc::Status::OK);
      } catch (const std::exception& e) {
        spdlog::error("{}ResolveRecipient: {}", trace, e.what());
        finish(reactor, timer, grpc::Status(grpc::UNAVAILABLE, "cannot resolve recipient now: database unavailable"));
      }
    });
    return reactor;
  }
  asio::post(ctx_.db_pool, [this, address = std::move(parsed.value), resp, reactor, timer, trace = std::move(trace)]() {
    try {
      auto res = ctx_.accounts.resolve(address);
      switch (res.kind) {
        case Resolution::Kind::kLocal: resp->set_kind(mail::v1::RECIPIENT_KIND_LOCAL); break;
        case Resolution::Kind::kRemote: resp->set_kind(mail::v1::RECIPIENT_KIND_REMOTE); break;
        case Resolution::Kind::kUnknown: resp->set_kind(mail::v1::RECIPIENT_KIND_UNKNOWN); break;
      }
      for (const auto& t : res.targets) {
        auto* target = resp->add_targets();
        target->set_kind(t.local ? mail::v1::RECIPIENT_KIND_LOCAL : mail::v1::RECIPIENT_KIND_REMOTE);
        target->set_user_id(t.user_id);
        target->set_address(t.address);
        target->set_quota_bytes(t.quota_bytes);
        target->set_quota_messages(t.quota_messages);
        target->set_shard(t.shard);
        target->set_moving(t.moving);
      }
      if (spdlog::should_log(spdlog::level::debug)) {
        std::string users;
        for (const auto& t : res.targets)
          if (t.local) users += (users.empty() ? "" : ",") + std::to_string(t.user_id);
        spdlog::debug("{}ResolveRecipient <{}>: {}{}", trace, printable(address.str(), 512), kind_name(resp->kind()),
                      users.empty() ? "" : " user_id=" + users);
      }
      finish(reactor, timer, grpc::Status::OK);
    } catch (const std::exception& e) {
      spdlog::error("{}ResolveRecipient {}: {}", trace, printable(address.str()), e.what());
      finish(reactor, timer, grpc::Status(grpc::UNAVAILABLE, "cannot resolve recipient now: database unavailable"));
    }
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthServiceImpl::ListMechanisms(grpc::CallbackServerContext* context,
                                                          const mail::v1::ListMechanismsRequest* req,
                                                          mail::v1::ListMechanismsResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "ListMechanisms");
  for (const auto& m : sasl::mechanisms(req->secure_transport(), ctx_.settings.allow_plaintext_mechanisms))
    resp->add_mechanisms(m);
  finish(reactor, timer, grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AuthServiceImpl::SaslStart(grpc::CallbackServerContext* context,
                                                     const mail::v1::SaslStartRequest* req,
                                                     mail::v1::SaslStepResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "SaslStart");
  const std::string mech = sasl::canonical_mechanism(req->mechanism());
  if (mech.empty()) {
    finish(reactor, timer,
           grpc::Status(grpc::INVALID_ARGUMENT, "unsupported SASL mechanism '" + printable(req->mechanism(), 32) +
                                                    "' (supported: SCRAM-SHA-256, PLAIN, LOGIN)"));
    return reactor;
  }
  if (req->initial_response().size() > kMaxSaslMessage) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "SASL initial response longer than 8192 bytes"));
    return reactor;
  }
  auto conv = std::make_shared<SaslConversation>();
  conv->mechanism = mech;
  conv->request.protocol = protocol_label(req->protocol());
  conv->request.mechanism = mech;
  conv->request.remote_ip = req->remote_ip();
  conv->request.deadline = context->deadline();
  if (mech == sasl::kScramSha256 || mech == sasl::kPlain) {
    if (!req->has_initial_response()) {
      // Both mechanisms are client-first: ask for the first message with an empty challenge.
      conv->stage = SaslConversation::Stage::kLoginPassword;  // "waiting for the client's first message"
      const std::string id = conversations_.put(conv);
      if (id.empty()) {
        finish(reactor, timer, grpc::Status(grpc::RESOURCE_EXHAUSTED, "too many SASL exchanges in progress"));
        return reactor;
      }
      resp->set_state(mail::v1::SASL_STATE_CONTINUE);
      resp->set_conversation_id(id);
      finish(reactor, timer, grpc::Status::OK);
      return reactor;
    }
    conv->stage = SaslConversation::Stage::kLoginPassword;
    advance(conv, req->initial_response(), resp, reactor, timer);
    return reactor;
  }
  // LOGIN: some clients put the username in the initial response.
  if (req->has_initial_response() && !req->initial_response().empty()) {
    conv->request.username = req->initial_response();
    conv->stage = SaslConversation::Stage::kLoginPassword;
    resp->set_challenge(std::string(sasl::kLoginPasswordChallenge));
  } else {
    conv->stage = SaslConversation::Stage::kLoginUsername;
    resp->set_challenge(std::string(sasl::kLoginUsernameChallenge));
  }
  const std::string id = conversations_.put(conv);
  if (id.empty()) {
    finish(reactor, timer, grpc::Status(grpc::RESOURCE_EXHAUSTED, "too many SASL exchanges in progress"));
    return reactor;
  }
  resp->set_state(mail::v1::SASL_STATE_CONTINUE);
  resp->set_conversation_id(id);
  finish(reactor, timer, grpc::Status::OK);
  return reactor;
}

grpc::ServerUnaryReactor* AuthServiceImpl::SaslStep(grpc::CallbackServerContext* context,
                                                    const mail::v1::SaslStepRequest* req,
                                                    mail::v1::SaslStepResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "SaslStep");
  if (req->response().size() > kMaxSaslMessage) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "SASL response longer than 8192 bytes"));
    return reactor;
  }
  auto conv = conversations_.take(req->conversation_id());
  if (!conv) {
    finish(reactor, timer,
           grpc::Status(grpc::NOT_FOUND, "no such SASL conversation (expired, finished, or started on another authd)"));
    return reactor;
  }
  conv->request.deadline = context->deadline();
  advance(std::move(conv), req->response(), resp, reactor, timer);
  return reactor;
}

void AuthServiceImpl::finish_outcome(const LoginOutcome& out, SaslStepResponse* resp, grpc::ServerUnaryReactor* reactor,
                                     std::shared_ptr<Timer> timer, const std::string& server_final) {
  resp->set_result(out.result);
  if (out.result == mail::v1::AUTH_RESULT_OK) {
    resp->set_state(mail::v1::SASL_STATE_SUCCESS);
    resp->set_user_id(out.user_id);
    resp->set_email(out.email);
    resp->set_challenge(server_final);
    resp->set_quota_bytes(out.quota_bytes);
    resp->set_quota_messages(out.quota_messages);
    resp->set_admin(out.admin);
    resp->set_shard(out.shard);
    resp->set_moving(out.moving);
  } else {
    resp->set_state(mail::v1::SASL_STATE_FAILURE);
  }
  finish(reactor, timer, grpc::Status::OK);
}

void AuthServiceImpl::advance(std::shared_ptr<SaslConversation> conv, std::string data, SaslStepResponse* resp,
                              grpc::ServerUnaryReactor* reactor, std::shared_ptr<Timer> timer) {
  auto fail_malformed = [&](const std::string& why) {
    spdlog::info("audit login outcome=invalid_credentials user=\"{}\" protocol={} mechanism={} ip={} detail=\"{}\"",
                 printable(conv->request.username), conv->request.protocol, conv->mechanism,
                 printable(conv->request.remote_ip, 64), printable(why));
    ctx_.metrics.login(conv->request.protocol, conv->mechanism, "invalid_credentials");
    LoginOutcome out;
    out.result = mail::v1::AUTH_RESULT_INVALID_CREDENTIALS;
    finish_outcome(out, resp, reactor, timer);
  };
  auto password = [&](LoginRequest lr) {
    password_login(ctx_, std::move(lr),
                   [this, resp, reactor, timer](LoginOutcome out) { finish_outcome(out, resp, reactor, timer); });
  };

  if (conv->mechanism == sasl::kPlain) {
    auto creds = sasl::parse_plain(data);
    if (!creds.ok()) return fail_malformed(creds.error);
    conv->request.username = creds.authcid;
    conv->request.password = creds.password;
    return password(conv->request);
  }
  if (conv->mechanism == sasl::kLogin) {
    if (conv->stage == SaslConversation::Stage::kLoginUsername) {
      if (data.empty() || data.size() > kMaxUsername) return fail_malformed("empty or overlong LOGIN username");
      conv->request.username = data;
      conv->stage = SaslConversation::Stage::kLoginPassword;
      const std::string id = conversations_.put(conv);
      if (id.empty()) {
        finish(reactor, timer, grpc::Status(grpc::RESOURCE_EXHAUSTED, "too many SASL exchanges in progress"));
        return;
      }
      resp->set_state(mail::v1::SASL_STATE_CONTINUE);
      resp->set_challenge(std::string(sasl::kLoginPasswordChallenge));
      resp->set_conversation_id(id);
      finish(reactor, timer, grpc::Status::OK);
      return;
    }
    if (conv->request.username.size() > kMaxUsername) return fail_malformed("overlong LOGIN username");
    conv->request.password = data;
    return password(conv->request);
  }
  // SCRAM-SHA-256
  if (conv->stage == SaslConversation::Stage::kScramFinal) return scram_final(conv, std::move(data), resp, reactor, timer);
  scram_first(conv, std::move(data), resp, reactor, timer);
}

void AuthServiceImpl::scram_first(std::shared_ptr<SaslConversation> conv, std::string data, SaslStepResponse* resp,
                                  grpc::ServerUnaryReactor* reactor, std::shared_ptr<Timer> timer) {
  auto step = conv->scram.client_first(data);
  if (!step.ok) {
    spdlog::info("audit login outcome=invalid_credentials user=\"\" protocol={} mechanism={} ip={} detail=\"{}\"",
                 conv->request.protocol, conv->mechanism, printable(conv->request.remote_ip, 64), printable(step.error));
    ctx_.metrics.login(conv->request.protocol, conv->mechanism, "invalid_credentials");
    LoginOutcome out;
    out.result = mail::v1::AUTH_RESULT_INVALID_CREDENTIALS;
    finish_outcome(out, resp, reactor, timer);
    return;
  }
  conv->request.username = conv->scram.username();
  if (!conv->scram.authzid().empty() && conv->scram.authzid() != conv->scram.username()) {
    LoginOutcome out;
    out.result = mail::v1::AUTH_RESULT_INVALID_CREDENTIALS;
    ctx_.metrics.login(conv->request.protocol, conv->mechanism, "invalid_credentials");
    finish_outcome(out, resp, reactor, timer);
    return;
  }
  asio::post(ctx_.db_pool, [this, conv, resp, reactor, timer]() {
    conv->account = account_key(ctx_, conv->request.username);
    auto next = [this, conv, resp, reactor, timer](const ThrottleVerdict& verdict) {
      conv->account_failures = verdict.account_failures;
      try {
        auto parsed = normalise_address(conv->request.username, ctx_.settings.address_policy);
        if (parsed.ok()) conv->record = ctx_.accounts.login_record(parsed.value.str());
      } catch (const std::exception& e) {
        spdlog::error("SCRAM lookup failed: {}", e.what());
        finish_outcome(LoginOutcome{}, resp, reactor, timer);
        return;
      }
      std::vector<scram::Credentials> candidates;
      std::string salt;
      int iterations = ctx_.settings.scram_iterations;
      if (conv->record && conv->record->scram.stored_key.size() == 32 && !conv->record->scram.salt.empty()) {
        salt = conv->record->scram.salt;
        iterations = conv->record->scram.iterations;
        candidates.push_back(conv->record->scram);
        for (const auto& app : conv->record->apps) candidates.push_back(app.scram);
      } else {
        // Unknown user (or no SCRAM keys yet): the same exchange, ending in failure.
        salt = fake_salt(ctx_.settings.fake_salt_secret, conv->account);
      }
      auto step = conv->scram.server_first(salt, iterations, std::move(candidates));
      conv->stage = SaslConversation::Stage::kScramFinal;
      const std::string id = conversations_.put(conv);
      if (id.empty()) {
        finish(reactor, timer, grpc::Status(grpc::RESOURCE_EXHAUSTED, "too many SASL exchanges in progress"));
        return;
      }
      resp->set_state(mail::v1::SASL_STATE_CONTINUE);
      resp->set_challenge(step.message);
      resp->set_conversation_id(id);
      finish(reactor, timer, grpc::Status::OK);
    };
    throttle_gate(ctx_, conv->request, conv->account, next,
                  [this, resp, reactor, timer](LoginOutcome out) { finish_outcome(out, resp, reactor, timer); });
  });
}

void AuthServiceImpl::scram_final(std::shared_ptr<SaslConversation> conv, std::string data, SaslStepResponse* resp,
                                  grpc::ServerUnaryReactor* reactor, std::shared_ptr<Timer> timer) {
  asio::post(ctx_.db_pool, [this, conv, data = std::move(data), resp, reactor, timer]() {
    try {
      // A few HMACs: cheap, so not part of the argon2id latency histogram.
      auto step = conv->scram.client_final(data);
      int64_t app_id = 0;
      if (step.ok && conv->scram.matched() > 0 && conv->record)
        app_id = conv->record->apps.at(static_cast<size_t>(conv->scram.matched() - 1)).id;
      if (!step.ok) spdlog::debug("SCRAM for \"{}\" failed: {}", printable(conv->account), step.error);
      auto out = conclude_login(ctx_, conv->request, conv->account, conv->record, step.ok, app_id,
                                conv->account_failures);
      finish_outcome(out, resp, reactor, timer, out.result == mail::v1::AUTH_RESULT_OK ? step.message : "");
    } catch (const std::exception& e) {
      spdlog::error("SCRAM final step failed: {}", e.what());
      finish_outcome(LoginOutcome{}, resp, reactor, timer);
    }
  });
}

namespace {

// Whose limits a GetQuota/SetQuota is about, after authorisation. A non-admin
// is refused before the other address is looked up, so it cannot probe which
// accounts exist. A disabled or vanished acting user is refused too.
grpc::Status quota_subject(ServiceContext& ctx, int64_t acting_id, const std::string& address, bool set,
                           UserRow& acting, UserRow& subject) {
  auto actor = ctx.accounts.get_user_by_id(acting_id);
  if (!actor || actor->disabled) return grpc::Status(grpc::PERMISSION_DENIED, "acting user unknown or disabled");
  acting = *actor;
  if (set && !acting.admin) return grpc::Status(grpc::PERMISSION_DENIED, "only admins may set quotas");
  if (address.empty()) {
    subject = acting;
    return grpc::Status::OK;
  }
  auto parsed = normalise_address(address, ctx.settings.address_policy);
  if (!parsed.ok()) {
    if (!acting.admin) return grpc::Status(grpc::PERMISSION_DENIED, "not an admin");
    return grpc::Status(grpc::INVALID_ARGUMENT, "address: " + parsed.error);
  }
  const std::string email = parsed.value.str();
  if (email == acting.email) {
    subject = acting;
    return grpc::Status::OK;
  }
  if (!acting.admin) return grpc::Status(grpc::PERMISSION_DENIED, "not an admin");
  auto user = ctx.accounts.get_user(email);
  if (!user) return grpc::Status(grpc::NOT_FOUND, "no such user " + email);
  subject = *user;
  return grpc::Status::OK;
}

void fill_quota(mail::v1::QuotaResponse* resp, const UserRow& u) {
  resp->set_user_id(u.id);
  resp->set_email(u.email);
  resp->set_quota_bytes(u.quota_bytes);
  resp->set_quota_messages(u.quota_messages);
  resp->set_shard(u.shard);
}

}  // namespace

grpc::ServerUnaryReactor* AuthServiceImpl::GetQuota(grpc::CallbackServerContext* context,
                                                    const mail::v1::GetQuotaRequest* req,
                                                    mail::v1::QuotaResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "GetQuota");
  if (req->address().size() > kMaxUsername) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "address longer than 320 bytes"));
    return reactor;
  }
  asio::post(ctx_.db_pool, [this, req, resp, reactor, timer]() {
    try {
      UserRow acting, subject;
      auto status = quota_subject(ctx_, req->acting_user_id(), req->address(), false, acting, subject);
      if (status.ok()) fill_quota(resp, subject);
      finish(reactor, timer, status);
    } catch (const std::exception& e) {
      spdlog::error("GetQuota: {}", e.what());
      finish(reactor, timer, grpc::Status(grpc::UNAVAILABLE, "cannot read the quota now: database unavailable"));
    }
  });
  return reactor;
}

grpc::ServerUnaryReactor* AuthServiceImpl::SetQuota(grpc::CallbackServerContext* context,
                                                    const mail::v1::SetQuotaRequest* req,
                                                    mail::v1::QuotaResponse* resp) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, "SetQuota");
  if (req->address().size() > kMaxUsername) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "address longer than 320 bytes"));
    return reactor;
  }
  if (req->quota_bytes() < 0 || req->quota_messages() < 0) {
    finish(reactor, timer, grpc::Status(grpc::INVALID_ARGUMENT, "quota limits must not be negative"));
    return reactor;
  }
  const std::string peer = printable(context->peer(), 64);
  asio::post(ctx_.db_pool, [this, req, resp, reactor, timer, peer]() {
    try {
      UserRow acting, subject;
      auto status = quota_subject(ctx_, req->acting_user_id(), req->address(), true, acting, subject);
      if (!status.ok()) {
        // Refusals are audited too: a user trying SETQUOTA is worth knowing about.
        spdlog::info("audit quota action=set_quota outcome=denied actor_id={} actor=\"{}\" target=\"{}\" reason=\"{}\" peer={}",
                     req->acting_user_id(), printable(acting.email), printable(req->address()),
                     printable(status.error_message()), peer);
        finish(reactor, timer, status);
        return;
      }
      auto row = ctx_.accounts.set_limits(subject.email, req->quota_bytes(), req->quota_messages());
      spdlog::info("audit quota action=set_quota outcome=ok actor=\"{}\" email={} quota_bytes={} quota_messages={} "
                   "old_quota_bytes={} old_quota_messages={} peer={}",
                   printable(acting.email), row.email, row.quota_bytes, row.quota_messages, subject.quota_bytes,
                   subject.quota_messages, peer);
      fill_quota(resp, row);
      finish(reactor, timer, grpc::Status::OK);
    } catch (const StoreError& e) {
      finish(reactor, timer,
             grpc::Status(e.kind() == StoreError::Kind::kNotFound ? grpc::NOT_FOUND : grpc::INVALID_ARGUMENT, e.what()));
    } catch (const std::exception& e) {
      spdlog::error("SetQuota: {}", e.what());
      finish(reactor, timer, grpc::Status(grpc::UNAVAILABLE, "cannot set the quota now: database unavailable"));
    }
  });
  return reactor;
}

}  // namespace postline::auth
