#include "services/auth/server/login.h"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <spdlog/spdlog.h>
#include <sodium.h>

#include <chrono>

namespace postline::auth {

using mail::v1::AuthResult;

std::string protocol_label(mail::v1::Protocol p) {
  switch (p) {
    case mail::v1::PROTOCOL_SMTP: return "smtp";
    case mail::v1::PROTOCOL_IMAP: return "imap";
    default: return "unspecified";
  }
}

std::string outcome_label(AuthResult r) {
  switch (r) {
    case mail::v1::AUTH_RESULT_OK: return "ok";
    case mail::v1::AUTH_RESULT_INVALID_CREDENTIALS: return "invalid_credentials";
    case mail::v1::AUTH_RESULT_THROTTLED: return "throttled";
    case mail::v1::AUTH_RESULT_DISABLED: return "disabled";
    case mail::v1::AUTH_RESULT_TEMPORARY_FAILURE: return "temporary_failure";
    default: return "unspecified";
  }
}

std::string account_key(const ServiceContext& ctx, const std::string& username) {
  auto parsed = normalise_address(username, ctx.settings.address_policy);
  if (parsed.ok()) return parsed.value.str();
  std::string raw = username.substr(0, 320);
  for (auto& c : raw)
    if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
  return raw;
}

namespace {

void audit_login(const LoginRequest& req, const std::string& account, AuthResult result, const std::string& detail) {
  spdlog::info("audit login outcome={} user=\"{}\" protocol={} mechanism={} ip={}{}", outcome_label(result),
               printable(account), req.protocol, printable(req.mechanism, 32), printable(req.remote_ip, 64),
               detail.empty() ? "" : " detail=" + detail);
}

LoginOutcome temporary_failure(ServiceContext& ctx, const LoginRequest& req, const std::string& account,
                               const std::string& why) {
  spdlog::error("login for \"{}\" failed on our side: {}", printable(account), why);
  ctx.metrics.login(req.protocol, req.mechanism, outcome_label(mail::v1::AUTH_RESULT_TEMPORARY_FAILURE));
  audit_login(req, account, mail::v1::AUTH_RESULT_TEMPORARY_FAILURE, "internal_error");
  return {};
}

}  // namespace

LoginOutcome conclude_login(ServiceContext& ctx, const LoginRequest& req, const std::string& account,
                            const std::optional<LoginRecord>& record, bool credentials_ok, int64_t app_id) {
  LoginOutcome out;
  std::string detail;
  if (!credentials_ok || !record) {
    out.result = mail::v1::AUTH_RESULT_INVALID_CREDENTIALS;
    // The log may say which (operators need it); the client never learns it.
    detail = record ? "wrong_password" : "unknown_user";
    ctx.throttle.record_failure(req.remote_ip, account);
  } else if (record->disabled) {
    out.result = mail::v1::AUTH_RESULT_DISABLED;
  } else {
    out.result = mail::v1::AUTH_RESULT_OK;
    out.user_id = record->id;
    out.email = record->email;
    ctx.throttle.record_success(account);
    ctx.accounts.record_login(record->id, app_id);
    if (app_id > 0) {
      for (const auto& a : record->apps)
        if (a.id == app_id) detail = "app_password=\"" + printable(a.label, 64) + "\"";
    }
    if (auto user = ctx.accounts.get_user(record->email)) {
      out.display_name = user->display_name;
      out.quota_bytes = user->quota_bytes;
      out.quota_messages = user->quota_messages;
      out.admin = user->admin;
    }
  }
  ctx.metrics.login(req.protocol, req.mechanism, outcome_label(out.result));
  audit_login(req, account, out.result, detail);
  return out;
}

void throttle_gate(ServiceContext& ctx, const LoginRequest& req, const std::string& account,
                   std::function<void()> next, std::function<void(LoginOutcome)> blocked) {
  ThrottleVerdict verdict;
  try {
    verdict = ctx.throttle.check(req.remote_ip, account);
  } catch (const std::exception& e) {
    blocked(temporary_failure(ctx, req, account, e.what()));
    return;
  }
  if (verdict.blocked) {
    ctx.metrics.throttled("blocked");
    ctx.metrics.login(req.protocol, req.mechanism, outcome_label(mail::v1::AUTH_RESULT_THROTTLED));
    audit_login(req, account, mail::v1::AUTH_RESULT_THROTTLED, "ip_blocked");
    LoginOutcome out;
    out.result = mail::v1::AUTH_RESULT_THROTTLED;
    blocked(out);
    return;
  }
  if (verdict.delay.count() > 0) {
    ctx.metrics.throttled("delayed");
    // Leave the hash and the reply some room inside the caller's deadline.
    if (req.deadline != std::chrono::system_clock::time_point::max() &&
        std::chrono::system_clock::now() + verdict.delay + std::chrono::milliseconds(500) > req.deadline) {
      ctx.metrics.login(req.protocol, req.mechanism, outcome_label(mail::v1::AUTH_RESULT_THROTTLED));
      audit_login(req, account, mail::v1::AUTH_RESULT_THROTTLED, "delay_exceeds_deadline");
      LoginOutcome out;
      out.result = mail::v1::AUTH_RESULT_THROTTLED;
      blocked(out);
      return;
    }
    auto timer = std::make_shared<asio::steady_timer>(ctx.db_pool.get_executor(), verdict.delay);
    timer->async_wait([timer, next = std::move(next)](const boost::system::error_code&) { next(); });
    return;
  }
  next();
}

void password_login(ServiceContext& ctx, LoginRequest req, std::function<void(LoginOutcome)> done) {
  asio::post(ctx.db_pool, [&ctx, req = std::move(req), done = std::move(done)]() mutable {
    const std::string account = account_key(ctx, req.username);
    auto shared = std::make_shared<LoginRequest>(std::move(req));
    auto finish = std::make_shared<std::function<void(LoginOutcome)>>(std::move(done));

    auto verify = [&ctx, shared, finish, account]() {
      std::optional<LoginRecord> record;
      try {
        auto parsed = normalise_address(shared->username, ctx.settings.address_policy);
        if (parsed.ok()) record = ctx.accounts.login_record(parsed.value.str());
      } catch (const std::exception& e) {
        (*finish)(temporary_failure(ctx, *shared, account, e.what()));
        return;
      }
      // Fail fast rather than queue without bound when logins outpace hashing.
      if (ctx.hash_pending.fetch_add(1) >= ctx.settings.hash_queue_limit) {
        ctx.hash_pending.fetch_sub(1);
        (*finish)(temporary_failure(ctx, *shared, account, "password hashing overloaded"));
        return;
      }
      asio::post(ctx.hash_pool, [&ctx, shared, finish, account, record = std::move(record)]() mutable {
        const auto start = std::chrono::steady_clock::now();
        bool ok = false;
        int64_t app_id = 0;
        std::string new_hash;
        try {
          if (record) {
            // App passwords are high-entropy server-generated secrets: a SHA-256
            // compare is enough and costs nothing. Checked in full every time.
            const std::string digest = sha256(shared->password);
            for (const auto& app : record->apps)
              if (app.secret_sha256.size() == digest.size() &&
                  sodium_memcmp(app.secret_sha256.data(), digest.data(), digest.size()) == 0)
                app_id = app.id;
            if (app_id > 0) {
              ok = true;
            } else {
              ok = ctx.hasher.verify(record->password_hash, shared->password);
              if (ok && ctx.hasher.needs_rehash(record->password_hash)) new_hash = ctx.hasher.hash(shared->password);
            }
          } else {
            ctx.hasher.dummy_verify(shared->password);
          }
        } catch (const std::exception& e) {
          ctx.hash_pending.fetch_sub(1);
          (*finish)(temporary_failure(ctx, *shared, account, e.what()));
          return;
        }
        ctx.hash_pending.fetch_sub(1);
        ctx.metrics.hash_duration(std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
        asio::post(ctx.db_pool, [&ctx, shared, finish, account, record = std::move(record), ok, app_id,
                                 new_hash = std::move(new_hash)]() {
          try {
            if (!new_hash.empty() && record) ctx.accounts.upgrade_hash(record->id, record->password_hash, new_hash);
            (*finish)(conclude_login(ctx, *shared, account, record, ok, app_id));
          } catch (const std::exception& e) {
            (*finish)(temporary_failure(ctx, *shared, account, e.what()));
          }
        });
      });
    };
    throttle_gate(ctx, *shared, account, verify, [finish](LoginOutcome out) { (*finish)(out); });
  });
}

}  // namespace postline::auth
