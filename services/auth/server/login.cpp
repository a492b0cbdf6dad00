#include "services/auth/server/login.h"

#include "common/log/printable.h"

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
    case mail::v1::PROTOCOL_WEB: return "web";
    case mail::v1::PROTOCOL_MANAGESIEVE: return "managesieve";
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
  spdlog::info("[u:{}] audit login outcome={} user=\"{}\" protocol={} mechanism={} ip={}{}", log::tag_value(account),
               outcome_label(result), printable(account), req.protocol, printable(req.mechanism, 32), printable(req.remote_ip, 64),
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
                            const std::optional<LoginRecord>& record, bool credentials_ok, int64_t app_id,
                            int account_failures) {
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
    out.display_name = record->display_name;
    out.quota_bytes = record->quota_bytes;
    out.quota_messages = record->quota_messages;
    out.admin = record->admin;
    out.shard = record->shard;
    out.moving = record->moving;
    bool app_stale = false;
    if (app_id > 0) {
      for (const auto& a : record->apps)
        if (a.id == app_id) {
          detail = "app_password=\"" + printable(a.label, 64) + "\"";
          app_stale = a.use_stale;
        }
    }
    // Bookkeeping, not authorisation: writes happen only when there is
    // something to change, and failing to write does not refuse the owner.
    try {
      if (account_failures > 0) ctx.throttle.record_success(account);
      if (record->login_stale || app_stale) ctx.accounts.record_login(record->id, app_id);
    } catch (const std::exception& e) {
      spdlog::warn("login bookkeeping for \"{}\" failed: {}", printable(account), e.what());
    }
  }
  ctx.metrics.login(req.protocol, req.mechanism, outcome_label(out.result));
  audit_login(req, account, out.result, detail);
  return out;
}

void throttle_gate(ServiceContext& ctx, const LoginRequest& req, const std::string& account,
                   std::function<void(const ThrottleVerdict&)> next, std::function<void(LoginOutcome)> blocked) {
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
    timer->async_wait(
        [timer, verdict, next = std::move(next)](const boost::system::error_code&) { next(verdict); });
    return;
  }
  next(verdict);
}

namespace {

// App passwords are high-entropy server-generated secrets: a SHA-256 compare
// is enough and costs nothing, so it runs here rather than on the hash pool.
// Every app password is compared (no early exit). 0: none matched.
int64_t matching_app_password(const LoginRecord& record, const std::string& password) {
  if (record.apps.empty()) return 0;
  const std::string digest = sha256(password);
  int64_t app_id = 0;
  for (const auto& app : record.apps)
    if (app.secret_sha256.size() == digest.size() &&
        sodium_memcmp(app.secret_sha256.data(), digest.data(), digest.size()) == 0)
      app_id = app.id;
  return app_id;
}

}  // namespace

void password_login(ServiceContext& ctx, LoginRequest req, std::function<void(LoginOutcome)> done) {
  asio::post(ctx.db_pool, [&ctx, req = std::move(req), done = std::move(done)]() mutable {
    const std::string account = account_key(ctx, req.username);
    auto shared = std::make_shared<LoginRequest>(std::move(req));
    auto finish = std::make_shared<std::function<void(LoginOutcome)>>(std::move(done));

    auto verify = [&ctx, shared, finish, account](const ThrottleVerdict& verdict) {
      const int account_failures = verdict.account_failures;
      std::optional<LoginRecord> record;
      try {
        auto parsed = normalise_address(shared->username, ctx.settings.address_policy);
        if (parsed.ok()) record = ctx.accounts.login_record(parsed.value.str());
        if (record) {
          if (const int64_t app_id = matching_app_password(*record, shared->password)) {
            (*finish)(conclude_login(ctx, *shared, account, record, true, app_id, account_failures));
            return;
          }
          // Only a success was ever remembered, and only for this very stored
          // hash: a hit means argon2id would say yes. Disabled, throttle and
          // everything else are still decided from the fresh row.
          if (ctx.verify_cache.enabled()) {
            const bool hit = ctx.verify_cache.check(record->id, record->password_hash, shared->password);
            ctx.metrics.verify_cache(hit, ctx.verify_cache.size());
            if (hit) {
              (*finish)(conclude_login(ctx, *shared, account, record, true, 0, account_failures));
              return;
            }
          }
        }
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
      asio::post(ctx.hash_pool, [&ctx, shared, finish, account, account_failures,
                                 record = std::move(record)]() mutable {
        const auto start = std::chrono::steady_clock::now();
        bool ok = false;
        std::string new_hash;
        try {
          if (record) {
            ok = ctx.hasher.verify(record->password_hash, shared->password);
            if (ok && ctx.hasher.needs_rehash(record->password_hash)) new_hash = ctx.hasher.hash(shared->password);
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
        asio::post(ctx.db_pool, [&ctx, shared, finish, account, account_failures, record = std::move(record), ok,
                                 new_hash = std::move(new_hash)]() {
          try {
            std::string verified_hash = record ? record->password_hash : std::string();
            if (!new_hash.empty() && record &&
                ctx.accounts.upgrade_hash(record->id, record->password_hash, new_hash))
              verified_hash = new_hash;
            // Remembered only after argon2id said yes, keyed by the hash now
            // stored (if a concurrent change won the upgrade race, the entry
            // names a hash that is no longer there and never matches).
            if (ok && record) ctx.verify_cache.remember(record->id, verified_hash, shared->password);
            (*finish)(conclude_login(ctx, *shared, account, record, ok, 0, account_failures));
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
