#include "services/auth/server/admin_service.h"

#include <boost/asio/post.hpp>
#include <sodium.h>
#include <spdlog/spdlog.h>

#include "services/auth/core/scram.h"

namespace postline::auth {
namespace {

using Timer = grpcutil::RpcMetrics::Timer;

constexpr size_t kMaxPassword = 4096;

grpc::Status from_store_error(const StoreError& e) {
  switch (e.kind()) {
    case StoreError::Kind::kNotFound: return grpc::Status(grpc::NOT_FOUND, e.what());
    case StoreError::Kind::kAlreadyExists: return grpc::Status(grpc::ALREADY_EXISTS, e.what());
    case StoreError::Kind::kFailedPrecondition: return grpc::Status(grpc::FAILED_PRECONDITION, e.what());
    case StoreError::Kind::kInvalidArgument: return grpc::Status(grpc::INVALID_ARGUMENT, e.what());
  }
  return grpc::Status(grpc::INTERNAL, e.what());
}

// Parsed address or an INVALID_ARGUMENT naming the field.
struct AddressArg {
  std::string value;
  grpc::Status status;
};

AddressArg address_arg(const ServiceContext& ctx, const std::string& field, const std::string& text) {
  auto parsed = normalise_address(text, ctx.settings.address_policy);
  if (!parsed.ok()) return {"", grpc::Status(grpc::INVALID_ARGUMENT, field + ": " + parsed.error)};
  return {parsed.value.str(), grpc::Status::OK};
}

AddressArg domain_arg(const std::string& field, const std::string& text) {
  auto parsed = normalise_domain(text);
  if (!parsed.ok()) return {"", grpc::Status(grpc::INVALID_ARGUMENT, field + ": " + parsed.error)};
  return {parsed.value, grpc::Status::OK};
}

grpc::Status check_password(const PasswordPolicy& policy, const std::string& password, const std::string& email) {
  if (password.empty()) return grpc::Status(grpc::INVALID_ARGUMENT, "password must not be empty");
  if (password.size() > kMaxPassword) return grpc::Status(grpc::INVALID_ARGUMENT, "password longer than 4096 bytes");
  if (auto why = password_problem(policy, password, email)) return grpc::Status(grpc::INVALID_ARGUMENT, *why);
  return grpc::Status::OK;
}

void fill_user(mail::v1::User* out, const UserRow& u) {
  out->set_id(u.id);
  out->set_email(u.email);
  out->set_disabled(u.disabled);
  out->set_quota_bytes(u.quota_bytes);
  out->set_display_name(u.display_name);
  out->set_last_login_at(u.last_login_at);
  out->set_quota_messages(u.quota_messages);
  out->set_admin(u.admin);
  out->set_shard(u.shard);
  out->set_moving(u.moving);
}

std::string iso(Clock::time_point t) {
  if (t.time_since_epoch().count() == 0) return {};
  const std::time_t tt = Clock::to_time_t(t);
  std::tm tm{};
  gmtime_r(&tt, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

}  // namespace

std::string generate_app_password() {
  static constexpr char kAlphabet[] = "abcdefghjkmnpqrstuvwxyz23456789";  // no l/1/o/0/i
  constexpr uint32_t n = sizeof kAlphabet - 1;
  std::string out;
  for (int i = 0; i < 20; ++i) {
    if (i > 0 && i % 4 == 0) out += '-';
    out += kAlphabet[randombytes_uniform(n)];
  }
  return out;
}

template <typename Fn>
grpc::ServerUnaryReactor* AdminServiceImpl::run(grpc::CallbackServerContext* context, const char* method,
                                                asio::thread_pool& pool, Fn fn) {
  auto* reactor = context->DefaultReactor();
  auto timer = std::make_shared<Timer>(ctx_.rpc_metrics, method);
  auto done = [reactor, timer](const grpc::Status& s) {
    timer->done(s);
    reactor->Finish(s);
  };
  if (!ctx_.settings.admin_token.empty()) {
    std::string presented;
    auto it = context->client_metadata().find("authorization");
    if (it != context->client_metadata().end()) presented.assign(it->second.data(), it->second.size());
    const std::string expected = "Bearer " + ctx_.settings.admin_token;
    if (!secret_equal(presented, expected)) {
      spdlog::warn("audit admin action={} outcome=denied peer={} detail=\"missing or wrong bearer token\"", method,
                   printable(context->peer(), 64));
      done(grpc::Status(grpc::UNAUTHENTICATED,
                        "admin API needs a valid bearer token (see auth.admin_token_file / --admin-token-file)"));
      return reactor;
    }
  }
  std::string peer = printable(context->peer(), 64);
  asio::post(pool, [this, fn = std::move(fn), done, method, peer]() mutable {
    grpc::Status status;
    try {
      status = fn(peer);
    } catch (const StoreError& e) {
      status = from_store_error(e);
    } catch (const db::Unavailable& e) {
      spdlog::error("{}: {}", method, e.what());
      status = grpc::Status(grpc::UNAVAILABLE, "database unavailable, try again");
    } catch (const pqxx::sql_error& e) {
      spdlog::error("{}: SQL error: {}", method, e.what());
      status = grpc::Status(grpc::INTERNAL, std::string(method) + " failed with a database error (see authd log)");
    } catch (const std::exception& e) {
      spdlog::error("{}: {}", method, e.what());
      status = grpc::Status(grpc::INTERNAL, std::string(method) + " failed: " + e.what());
    }
    done(status);
  });
  return reactor;
}

grpc::ServerUnaryReactor* AdminServiceImpl::AddDomain(grpc::CallbackServerContext* c, const mail::v1::AddDomainRequest* req,
                                                      mail::v1::AddDomainResponse* resp) {
  return run(c, "AddDomain", ctx_.db_pool, [this, req, resp](const std::string& peer) {
    auto d = domain_arg("domain", req->name());
    if (!d.status.ok()) return d.status;
    ctx_.accounts.add_domain(d.value);
    resp->mutable_domain()->set_name(d.value);
    spdlog::info("audit admin action=add_domain domain={} peer={}", d.value, peer);
    ctx_.refresh_counts();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListDomains(grpc::CallbackServerContext* c,
                                                        const mail::v1::ListDomainsRequest* req,
                                                        mail::v1::ListDomainsResponse* resp) {
  return run(c, "ListDomains", ctx_.db_pool, [this, resp](const std::string&) {
    for (const auto& d : ctx_.accounts.list_domains()) {
      auto* out = resp->add_domains();
      out->set_name(d.name);
      out->set_user_count(d.user_count);
      out->set_alias_count(d.alias_count);
      out->set_catch_all(d.catch_all);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RemoveDomain(grpc::CallbackServerContext* c,
                                                         const mail::v1::RemoveDomainRequest* req,
                                                         mail::v1::RemoveDomainResponse* resp) {
  return run(c, "RemoveDomain", ctx_.db_pool, [this, req](const std::string& peer) {
    auto d = domain_arg("domain", req->name());
    if (!d.status.ok()) return d.status;
    ctx_.accounts.remove_domain(d.value, req->force());
    spdlog::info("audit admin action=remove_domain domain={} force={} peer={}", d.value, req->force(), peer);
    ctx_.refresh_counts();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::AddUser(grpc::CallbackServerContext* c, const mail::v1::AddUserRequest* req,
                                                    mail::v1::AddUserResponse* resp) {
  // Hashing: runs on the hash pool.
  return run(c, "AddUser", ctx_.hash_pool, [this, req, resp](const std::string& peer) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    if (auto s = check_password(ctx_.settings.password_policy, req->password(), e.value); !s.ok()) return s;
    if (req->quota_bytes() < 0) return grpc::Status(grpc::INVALID_ARGUMENT, "quota_bytes must not be negative");
    if (req->quota_messages() < 0) return grpc::Status(grpc::INVALID_ARGUMENT, "quota_messages must not be negative");
    NewUser u;
    u.email = e.value;
    const auto start = std::chrono::steady_clock::now();
    u.password_hash = ctx_.hasher.hash(req->password());
    ctx_.metrics.hash_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    u.scram = scram::derive(req->password(), {}, ctx_.settings.scram_iterations);
    u.quota_bytes = req->quota_bytes();
    u.display_name = req->display_name();
    u.quota_messages = req->quota_messages();
    u.admin = req->admin();
    u.shard = req->shard().empty() ? ctx_.settings.default_shard : req->shard();
    auto row = ctx_.accounts.add_user(u);
    fill_user(resp->mutable_user(), row);
    spdlog::info("audit admin action=add_user email={} quota_bytes={} quota_messages={} admin={} shard={} peer={}",
                 row.email, row.quota_bytes, row.quota_messages, row.admin, row.shard, peer);
    ctx_.refresh_counts();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListUsers(grpc::CallbackServerContext* c, const mail::v1::ListUsersRequest* req,
                                                      mail::v1::ListUsersResponse* resp) {
  return run(c, "ListUsers", ctx_.db_pool, [this, req, resp](const std::string&) {
    std::string domain;
    if (!req->domain().empty()) {
      auto d = domain_arg("domain", req->domain());
      if (!d.status.ok()) return d.status;
      domain = d.value;
    }
    for (const auto& u : ctx_.accounts.list_users(domain)) fill_user(resp->add_users(), u);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::GetUser(grpc::CallbackServerContext* c, const mail::v1::GetUserRequest* req,
                                                    mail::v1::GetUserResponse* resp) {
  return run(c, "GetUser", ctx_.db_pool, [this, req, resp](const std::string&) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    auto row = ctx_.accounts.get_user(e.value);
    if (!row) return grpc::Status(grpc::NOT_FOUND, "no such user " + e.value);
    fill_user(resp->mutable_user(), *row);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RemoveUser(grpc::CallbackServerContext* c,
                                                       const mail::v1::RemoveUserRequest* req,
                                                       mail::v1::RemoveUserResponse* resp) {
  return run(c, "RemoveUser", ctx_.db_pool, [this, req](const std::string& peer) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    ctx_.accounts.remove_user(e.value);
    spdlog::info("audit admin action=remove_user email={} peer={}", e.value, peer);
    ctx_.refresh_counts();
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetPassword(grpc::CallbackServerContext* c,
                                                        const mail::v1::SetPasswordRequest* req,
                                                        mail::v1::SetPasswordResponse* resp) {
  return run(c, "SetPassword", ctx_.hash_pool, [this, req](const std::string& peer) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    if (auto s = check_password(ctx_.settings.password_policy, req->password(), e.value); !s.ok()) return s;
    const auto start = std::chrono::steady_clock::now();
    const std::string hash = ctx_.hasher.hash(req->password());
    ctx_.metrics.hash_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    ctx_.accounts.set_password(e.value, hash, scram::derive(req->password(), {}, ctx_.settings.scram_iterations));
    spdlog::info("audit admin action=set_password email={} app_passwords=revoked peer={}", e.value, peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::UpdateUser(grpc::CallbackServerContext* c,
                                                       const mail::v1::UpdateUserRequest* req,
                                                       mail::v1::UpdateUserResponse* resp) {
  return run(c, "UpdateUser", ctx_.db_pool, [this, req, resp](const std::string& peer) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    if (req->has_quota_bytes() && req->quota_bytes() < 0)
      return grpc::Status(grpc::INVALID_ARGUMENT, "quota_bytes must not be negative");
    if (req->has_quota_messages() && req->quota_messages() < 0)
      return grpc::Status(grpc::INVALID_ARGUMENT, "quota_messages must not be negative");
    if (!req->has_disabled() && !req->has_quota_bytes() && !req->has_display_name() && !req->has_quota_messages() &&
        !req->has_admin() && !req->has_shard() && !req->has_moving())
      return grpc::Status(grpc::INVALID_ARGUMENT,
                          "nothing to change: set disabled, quota_bytes, quota_messages, admin, display_name, shard or "
                          "moving");
    if (req->has_disabled()) ctx_.accounts.set_disabled(e.value, req->disabled());
    if (req->has_quota_bytes()) ctx_.accounts.set_quota(e.value, req->quota_bytes());
    if (req->has_quota_messages()) ctx_.accounts.set_quota_messages(e.value, req->quota_messages());
    if (req->has_admin()) ctx_.accounts.set_admin(e.value, req->admin());
    if (req->has_display_name()) ctx_.accounts.set_display_name(e.value, req->display_name());
    if (req->has_shard() || req->has_moving())
      ctx_.accounts.set_shard(e.value, req->has_shard() ? std::optional<std::string>(req->shard()) : std::nullopt,
                              req->has_moving() ? std::optional<bool>(req->moving()) : std::nullopt);
    auto row = ctx_.accounts.get_user(e.value);
    if (!row) return grpc::Status(grpc::NOT_FOUND, "no such user " + e.value);
    fill_user(resp->mutable_user(), *row);
    spdlog::info("audit admin action=update_user email={}{}{}{}{}{}{}{} peer={}", e.value,
                 req->has_disabled() ? fmt::format(" disabled={}", req->disabled()) : "",
                 req->has_quota_bytes() ? fmt::format(" quota_bytes={}", req->quota_bytes()) : "",
                 req->has_quota_messages() ? fmt::format(" quota_messages={}", req->quota_messages()) : "",
                 req->has_admin() ? fmt::format(" admin={}", req->admin()) : "",
                 req->has_shard() ? " shard=" + printable(req->shard()) : "",
                 req->has_moving() ? fmt::format(" moving={}", req->moving()) : "",
                 req->has_display_name() ? " display_name=\"" + printable(req->display_name()) + "\"" : "", peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::SetCatchAll(grpc::CallbackServerContext* c,
                                                        const mail::v1::SetCatchAllRequest* req,
                                                        mail::v1::SetCatchAllResponse* resp) {
  return run(c, "SetCatchAll", ctx_.db_pool, [this, req](const std::string& peer) {
    auto d = domain_arg("domain", req->domain());
    if (!d.status.ok()) return d.status;
    std::string target;
    if (!req->target().empty()) {
      auto t = address_arg(ctx_, "target", req->target());
      if (!t.status.ok()) return t.status;
      target = t.value;
    }
    ctx_.accounts.set_catch_all(d.value, target);
    spdlog::info("audit admin action=set_catch_all domain={} target={} peer={}", d.value,
                 target.empty() ? "(none)" : target, peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::AddAlias(grpc::CallbackServerContext* c, const mail::v1::AddAliasRequest* req,
                                                     mail::v1::AddAliasResponse* resp) {
  return run(c, "AddAlias", ctx_.db_pool, [this, req, resp](const std::string& peer) {
    auto a = address_arg(ctx_, "alias", req->address());
    if (!a.status.ok()) return a.status;
    if (req->targets().empty()) return grpc::Status(grpc::INVALID_ARGUMENT, "an alias needs at least one target");
    std::vector<std::string> targets;
    for (const auto& t : req->targets()) {
      auto n = address_arg(ctx_, "target", t);
      if (!n.status.ok()) return n.status;
      targets.push_back(n.value);
    }
    ctx_.accounts.add_alias(a.value, targets);
    resp->mutable_alias()->set_address(a.value);
    std::string joined;
    for (const auto& t : targets) {
      resp->mutable_alias()->add_targets(t);
      joined += (joined.empty() ? "" : ",") + t;
    }
    spdlog::info("audit admin action=add_alias alias={} targets={} peer={}", a.value, joined, peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListAliases(grpc::CallbackServerContext* c,
                                                        const mail::v1::ListAliasesRequest* req,
                                                        mail::v1::ListAliasesResponse* resp) {
  return run(c, "ListAliases", ctx_.db_pool, [this, req, resp](const std::string&) {
    std::string domain;
    if (!req->domain().empty()) {
      auto d = domain_arg("domain", req->domain());
      if (!d.status.ok()) return d.status;
      domain = d.value;
    }
    for (const auto& a : ctx_.accounts.list_aliases(domain)) {
      auto* out = resp->add_aliases();
      out->set_address(a.address);
      for (const auto& t : a.targets) out->add_targets(t);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RemoveAlias(grpc::CallbackServerContext* c,
                                                        const mail::v1::RemoveAliasRequest* req,
                                                        mail::v1::RemoveAliasResponse* resp) {
  return run(c, "RemoveAlias", ctx_.db_pool, [this, req](const std::string& peer) {
    auto a = address_arg(ctx_, "alias", req->address());
    if (!a.status.ok()) return a.status;
    std::string target;
    if (!req->target().empty()) {
      auto t = address_arg(ctx_, "target", req->target());
      if (!t.status.ok()) return t.status;
      target = t.value;
    }
    ctx_.accounts.remove_alias(a.value, target);
    spdlog::info("audit admin action=remove_alias alias={} target={} peer={}", a.value, target.empty() ? "(all)" : target,
                 peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::AddAppPassword(grpc::CallbackServerContext* c,
                                                           const mail::v1::AddAppPasswordRequest* req,
                                                           mail::v1::AddAppPasswordResponse* resp) {
  // PBKDF2 for the SCRAM keys: on the hash pool.
  return run(c, "AddAppPassword", ctx_.hash_pool, [this, req, resp](const std::string& peer) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    if (req->label().empty() || req->label().size() > 64)
      return grpc::Status(grpc::INVALID_ARGUMENT, "label must be 1-64 characters (e.g. \"phone\")");
    auto params = ctx_.accounts.scram_params(e.value);
    if (!params) return grpc::Status(grpc::NOT_FOUND, "no such user " + e.value);
    const std::string password = generate_app_password();
    scram::Credentials creds;
    if (!params->salt.empty() && params->iterations > 0) creds = scram::derive(password, params->salt, params->iterations);
    ctx_.accounts.add_app_password(e.value, req->label(), sha256(password), creds);
    resp->mutable_app_password()->set_label(req->label());
    resp->set_password(password);
    spdlog::info("audit admin action=add_app_password email={} label=\"{}\" peer={}", e.value, printable(req->label(), 64),
                 peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListAppPasswords(grpc::CallbackServerContext* c,
                                                             const mail::v1::ListAppPasswordsRequest* req,
                                                             mail::v1::ListAppPasswordsResponse* resp) {
  return run(c, "ListAppPasswords", ctx_.db_pool, [this, req, resp](const std::string&) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    for (const auto& a : ctx_.accounts.list_app_passwords(e.value)) {
      auto* out = resp->add_app_passwords();
      out->set_label(a.label);
      out->set_created_at(a.created_at);
      out->set_last_used_at(a.last_used_at);
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::RemoveAppPassword(grpc::CallbackServerContext* c,
                                                              const mail::v1::RemoveAppPasswordRequest* req,
                                                              mail::v1::RemoveAppPasswordResponse* resp) {
  return run(c, "RemoveAppPassword", ctx_.db_pool, [this, req](const std::string& peer) {
    auto e = address_arg(ctx_, "email", req->email());
    if (!e.status.ok()) return e.status;
    ctx_.accounts.remove_app_password(e.value, req->label());
    spdlog::info("audit admin action=remove_app_password email={} label=\"{}\" peer={}", e.value,
                 printable(req->label(), 64), peer);
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::ListThrottles(grpc::CallbackServerContext* c,
                                                          const mail::v1::ListThrottlesRequest* req,
                                                          mail::v1::ListThrottlesResponse* resp) {
  return run(c, "ListThrottles", ctx_.db_pool, [this, resp](const std::string&) {
    for (const auto& row : ctx_.throttle.list()) {
      auto* out = resp->add_entries();
      out->set_scope(row.scope);
      out->set_key(row.key);
      out->set_failures(row.state.failures);
      out->set_last_failure_at(iso(row.state.last_failure));
      if (row.state.blocked_until > Clock::now()) out->set_blocked_until(iso(row.state.blocked_until));
    }
    return grpc::Status::OK;
  });
}

grpc::ServerUnaryReactor* AdminServiceImpl::Unblock(grpc::CallbackServerContext* c, const mail::v1::UnblockRequest* req,
                                                    mail::v1::UnblockResponse* resp) {
  return run(c, "Unblock", ctx_.db_pool, [this, req, resp](const std::string& peer) {
    if (req->key().empty()) return grpc::Status(grpc::INVALID_ARGUMENT, "key: give an IP address or a login name");
    // Account rows are keyed by the normalised address; accept any spelling.
    std::string key = req->key();
    auto parsed = normalise_address(key, ctx_.settings.address_policy);
    if (parsed.ok()) key = parsed.value.str();
    const int removed = ctx_.throttle.unblock(key);
    resp->set_removed(removed);
    if (removed == 0) return grpc::Status(grpc::NOT_FOUND, "nothing is throttled for " + key);
    spdlog::info("audit admin action=unblock key=\"{}\" peer={}", printable(key), peer);
    return grpc::Status::OK;
  });
}

}  // namespace postline::auth
