// LOGIN, AUTHENTICATE (PLAIN RFC 4616, LOGIN, SCRAM-SHA-256 RFC 7677; SASL-IR
// RFC 4959), STARTTLS. Passwords go to authd (AuthService.Authenticate; PLAIN
// and LOGIN are decoded here); SCRAM is relayed to authd's SaslStart/SaslStep.
// Credentials are never logged.
#include "services/imap-access/commands/registry.h"

#include "common/mailstore/accounts.h"

#include <spdlog/spdlog.h>

namespace postline::imap {

namespace {

bool plaintext_allowed(const Context& ctx) {
  return ctx.session.tls || ctx.services.settings.allow_plaintext_auth;
}

// Shared by LOGIN and AUTHENTICATE once the credentials are known.
// Turns authd's verdict into the tagged result (and the session state, the
// login metric). `user` is only for the log.
asio::awaitable<Result> complete_login(Context& ctx, AuthOutcome outcome, const std::string& user,
                                       const char* mechanism) {
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
  auto bootstrap = [user_id](mailstore::MailStore& st) {
    st.ensure_account(user_id);
    return 0;
  };
  co_await ctx.store(std::move(bootstrap));
  ctx.session.state = State::kAuthenticated;
  ctx.session.user_id = user_id;
  ctx.session.quota_bytes = outcome.quota_bytes;
  ctx.session.quota_messages = outcome.quota_messages;
  ctx.session.admin = outcome.admin;
  ctx.session.quota_read_at = std::chrono::steady_clock::now();
  ctx.session.username = outcome.email.empty() ? user : outcome.email;
  spdlog::info("[s:{}] logged in as {} ({}){}", ctx.session.session_id, ctx.session.username, mechanism,
               outcome.admin ? " [admin]" : "");
  co_return Result::ok("Logged in", "CAPABILITY " + capabilities(ctx.session, ctx.services.settings));
}

asio::awaitable<Result> finish_login(Context& ctx, const std::string& user, const std::string& password,
                                     const char* mechanism) {
  const std::string mech(mechanism);
  AuthOutcome outcome = co_await ctx.services.auth->authenticate(user, password, mech, ctx.session.remote_ip);
  Result result = co_await complete_login(ctx, std::move(outcome), user, mechanism);
  co_return result;
}

std::string base64_encode(std::string_view in) {
  static constexpr char kAlphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
  std::string out;
  out.reserve((in.size() + 2) / 3 * 4);
  for (size_t i = 0; i < in.size(); i += 3) {
    uint32_t n = static_cast<uint8_t>(in[i]) << 16;
    if (i + 1 < in.size()) n |= static_cast<uint8_t>(in[i + 1]) << 8;
    if (i + 2 < in.size()) n |= static_cast<uint8_t>(in[i + 2]);
    out += kAlphabet[(n >> 18) & 63];
    out += kAlphabet[(n >> 12) & 63];
    out += i + 1 < in.size() ? kAlphabet[(n >> 6) & 63] : '=';
    out += i + 2 < in.size() ? kAlphabet[n & 63] : '=';
  }
  return out;
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

namespace {

// One SASL round trip with the client: "+ base64(challenge)" (RFC 9051 7.5,
// "+ " alone for an empty challenge), then the client's line. A client "*"
// cancels (tagged BAD), so does invalid base64 (RFC 9051 6.2.2).
struct ClientAnswer {
  std::optional<std::string> data;  // decoded answer
  std::optional<Result> error;      // BAD: cancelled, bad base64, connection lost
};

asio::awaitable<ClientAnswer> ask_client(Context& ctx, const std::string& challenge) {
  std::string prompt = base64_encode(challenge);
  auto line = co_await ctx.continuation(prompt);
  ClientAnswer answer;
  if (!line) {
    answer.error = Result::bad("Connection lost during authentication");
  } else if (*line == "*") {
    answer.error = Result::bad("Authentication cancelled");
  } else if (auto decoded = base64_decode(*line)) {
    answer.data = std::move(*decoded);
  } else {
    answer.error = Result::bad("Invalid base64 in authentication data");
  }
  co_return answer;
}

// SCRAM-SHA-256 relayed to authd. The server-final message ("v=...") that
// authd returns with SUCCESS is sent as one more continuation request and the
// client's empty answer is awaited before the tagged OK (RFC 9051 6.2.2 allows
// either that or success data in the OK; a continuation works with every
// client, including those that ignore response-code data).
asio::awaitable<Result> authenticate_sasl(Context& ctx, const std::string& mechanism,
                                          std::optional<std::string> initial) {
  const std::string remote_ip = ctx.session.remote_ip;
  Authenticator::SaslReply reply = co_await ctx.services.auth->sasl_start(mechanism, std::move(initial), remote_ip);
  while (reply.state == Authenticator::SaslReply::State::kContinue) {
    // An abandoned conversation expires in authd after 60 s.
    ClientAnswer answer = co_await ask_client(ctx, reply.challenge);
    if (answer.error) co_return *answer.error;
    const std::string conversation = reply.conversation_id;
    reply = co_await ctx.services.auth->sasl_step(conversation, *answer.data);
  }
  if (reply.state == Authenticator::SaslReply::State::kSuccess && !reply.challenge.empty()) {
    ClientAnswer answer = co_await ask_client(ctx, reply.challenge);
    if (answer.error) co_return *answer.error;
    if (!answer.data->empty()) co_return Result::bad("Expected an empty response after the server's final message");
  }
  const std::string user = reply.outcome.email.empty() ? "(unknown)" : reply.outcome.email;
  Result result = co_await complete_login(ctx, std::move(reply.outcome), user, "SCRAM-SHA-256");
  co_return result;
}

}  // namespace

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
  std::optional<std::string> decoded_ir;
  auto decode_initial = [&]() -> std::optional<Result> {
    if (!initial) return std::nullopt;
    if (*initial == "*") return Result::bad("Authentication cancelled");
    decoded_ir = base64_decode(*initial);
    if (!decoded_ir) return Result::bad("Invalid base64 in authentication data");
    return std::nullopt;
  };
  if (mechanism == "SCRAM-SHA-256") {
    // Not offered before STARTTLS either (capability.cpp): the session would be cleartext.
    if (!plaintext_allowed(ctx)) co_return Result::no("Authentication is disabled before STARTTLS", "PRIVACYREQUIRED");
    if (auto bad = decode_initial()) co_return *bad;
    Result result = co_await authenticate_sasl(ctx, mechanism, std::move(decoded_ir));
    co_return result;
  }
  if (mechanism == "LOGIN") {
    // draft-murchison-sasl-login: "Username:", "Password:"; an initial
    // response is the user name. Decoded here and checked with Authenticate,
    // like PLAIN (authd README), so the quota comes with the answer.
    if (!plaintext_allowed(ctx)) co_return Result::no("LOGIN is disabled before STARTTLS", "PRIVACYREQUIRED");
    if (auto bad = decode_initial()) co_return *bad;
    std::string user;
    if (decoded_ir) {
      user = *decoded_ir;
    } else {
      const std::string username_prompt = "Username:";
      ClientAnswer answer = co_await ask_client(ctx, username_prompt);
      if (answer.error) co_return *answer.error;
      user = *answer.data;
    }
    const std::string password_prompt = "Password:";
    ClientAnswer answer = co_await ask_client(ctx, password_prompt);
    if (answer.error) co_return *answer.error;
    const std::string password = *answer.data;
    Result result = co_await finish_login(ctx, user, password, "LOGIN");
    co_return result;
  }
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
