// LOGIN, AUTHENTICATE (PLAIN, RFC 4616, with SASL-IR RFC 4959), STARTTLS.
// Credentials go to authd (AuthService.Authenticate); they are never logged.
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/accounts.h"

#include <spdlog/spdlog.h>

namespace postline::imap {

namespace {

bool plaintext_allowed(const Context& ctx) {
  return ctx.session.tls || ctx.services.settings.allow_plaintext_auth;
}

// Shared by LOGIN and AUTHENTICATE once the credentials are known.
asio::awaitable<Result> finish_login(Context& ctx, const std::string& user, const std::string& password,
                                     const char* mechanism) {
  const std::string mech(mechanism);
  AuthOutcome outcome = co_await ctx.services.auth->authenticate(user, password, mech, ctx.session.remote_ip);
  const char* label = "failure";
  Result result;
  switch (outcome.status) {
    case AuthStatus::kOk: label = "success"; break;
    case AuthStatus::kInvalid:
      result = Result::no("Authentication failed", "AUTHENTICATIONFAILED");
      break;
    case AuthStatus::kThrottled:
      label = "throttled";
      result = Result::no("Too many failed logins, try again later", "UNAVAILABLE");
      break;
    case AuthStatus::kDisabled:
      label = "disabled";
      result = Result::no("Account disabled", "AUTHORIZATIONFAILED");
      break;
    case AuthStatus::kUnavailable:
      label = "unavailable";
      result = Result::no("Authentication service unavailable, try again later", "UNAVAILABLE");
      break;
  }
  if (ctx.services.observer) ctx.services.observer->login(label);
  if (outcome.status != AuthStatus::kOk) {
    spdlog::info("[s:{}] {} login failed for {}: {}", ctx.session.session_id, mechanism, user, label);
    co_return result;
  }
  const int64_t user_id = outcome.user_id;
  // First login creates the default mailboxes (INBOX, Sent, Drafts, ...).
  auto bootstrap = [user_id](pqxx::connection& c) {
    pqxx::work tx(c);
    mailstore::ensure_account(tx, user_id);
    tx.commit();
    return 0;
  };
  co_await ctx.db(std::move(bootstrap));
  ctx.session.state = State::kAuthenticated;
  ctx.session.user_id = user_id;
  ctx.session.quota_bytes = outcome.quota_bytes;
  ctx.session.username = outcome.email.empty() ? user : outcome.email;
  spdlog::info("[s:{}] logged in as {} ({})", ctx.session.session_id, ctx.session.username, mechanism);
  co_return Result::ok("Logged in", "CAPABILITY " + capabilities(ctx.session, ctx.services.settings));
}

// base64 (RFC 4648) for SASL; nullopt on invalid input.
std::optional<std::string> base64_decode(std::string_view in) {
  auto val = [](char c) -> int {
    if (c >= 'A' && c <= 'Z') return c - 'A';
    if (c >= 'a' && c <= 'z') return c - 'a' + 26;
    if (c >= '0' && c <= '9') return c - '0' + 52;
    if (c == '+') return 62;
    if (c == '/') return 63;
    return -1;
  };
  if (in.size() % 4 != 0) return std::nullopt;
  std::string out;
  for (size_t i = 0; i < in.size(); i += 4) {
    int v[4];
    int pad = 0;
    for (int k = 0; k < 4; ++k) {
      char c = in[i + k];
      if (c == '=' && i + 4 == in.size() && k >= 2) {
        v[k] = 0;
        ++pad;
      } else {
        if (pad) return std::nullopt;
        v[k] = val(c);
        if (v[k] < 0) return std::nullopt;
      }
    }
    uint32_t n = (v[0] << 18) | (v[1] << 12) | (v[2] << 6) | v[3];
    out += static_cast<char>(n >> 16);
    if (pad < 2) out += static_cast<char>((n >> 8) & 0xff);
    if (pad < 1) out += static_cast<char>(n & 0xff);
  }
  return out;
}

}  // namespace

asio::awaitable<Result> cmd_login(Context& ctx) {
  ctx.args.sp();
  std::string user = ctx.args.astring();
  ctx.args.sp();
  std::string password = ctx.args.astring();
  ctx.args.end();
  if (!plaintext_allowed(ctx)) co_return Result::no("LOGIN is disabled before STARTTLS", "PRIVACYREQUIRED");
  co_return co_await finish_login(ctx, user, password, "LOGIN");
}

asio::awaitable<Result> cmd_authenticate(Context& ctx) {
  ctx.args.sp();
  std::string mechanism = to_upper(ctx.args.atom());
  std::optional<std::string> initial;
  if (ctx.args.try_sp()) {
    // SASL-IR (RFC 4959): "=" is an empty initial response.
    std::string ir = ctx.args.atom();
    initial = ir == "=" ? "" : ir;
  }
  ctx.args.end();
  if (mechanism != "PLAIN") co_return Result::no("Unsupported authentication mechanism", "CANNOT");
  if (!plaintext_allowed(ctx)) co_return Result::no("PLAIN is disabled before STARTTLS", "PRIVACYREQUIRED");
  std::string encoded;
  if (initial) {
    encoded = *initial;
  } else {
    std::string prompt;
    auto line = co_await ctx.continuation(prompt);
    if (!line) co_return Result::bad("Connection lost during authentication");
    encoded = *line;
  }
  if (encoded == "*") co_return Result::bad("Authentication cancelled");
  auto decoded = base64_decode(encoded);
  if (!decoded) co_return Result::bad("Invalid base64 in authentication data");
  // message = [authzid] NUL authcid NUL passwd
  auto first = decoded->find('\0');
  auto second = first == std::string::npos ? std::string::npos : decoded->find('\0', first + 1);
  if (second == std::string::npos) co_return Result::bad("Malformed PLAIN authentication data");
  std::string authzid = decoded->substr(0, first);
  std::string authcid = decoded->substr(first + 1, second - first - 1);
  std::string password = decoded->substr(second + 1);
  // Acting as another user (proxy authorisation) is not supported.
  if (!authzid.empty() && authzid != authcid)
    co_return Result::no("Authorization identity must match", "AUTHORIZATIONFAILED");
  co_return co_await finish_login(ctx, authcid, password, "PLAIN");
}

asio::awaitable<Result> cmd_starttls(Context& ctx) {
  ctx.args.end();
  if (ctx.session.tls) co_return Result::bad("TLS is already active");
  if (!ctx.services.tls_context) co_return Result::no("TLS is not configured");
  ctx.effect = Effect::kStartTls;
  co_return Result::ok("Begin TLS negotiation now");
}

}  // namespace postline::imap
