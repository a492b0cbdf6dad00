// LOGIN, AUTHENTICATE (PLAIN RFC 4616, LOGIN, SCRAM-SHA-256 RFC 7677; SASL-IR
// RFC 4959), STARTTLS. Passwords go to authd (AuthService.Authenticate; PLAIN
// and LOGIN are decoded here); SCRAM is relayed to authd's SaslStart/SaslStep.
// Credentials are never logged.
#include "services/imap-access/commands/registry.h"

#include "common/log/printable.h"
#include "common/mailstore/accounts.h"
#include "services/imap-access/protocol/command_args.h"

#include <spdlog/spdlog.h>

namespace postline::imap {

namespace {

bool plaintext_allowed(const Context& ctx) { return may_authenticate(ctx.session, ctx.services.settings); }

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
  if (ctx.services.observer && outcome.status != AuthStatus::kOk) ctx.services.observer->login(label);
  if (outcome.status != AuthStatus::kOk) {
    spdlog::info("[s:{}] [c:{}] {} login failed for {}: {}", ctx.session.session_id, ctx.session.remote_address,
                 mechanism, log::printable(user), label);
    co_return result;
  }
  const int64_t user_id = outcome.user_id;
  // Sharding: while `postline account move` switches the account between
  // shards, a login would land on the side that is about to go; the client
  // retries after the few seconds the switch takes.
  if (outcome.moving) {
    if (ctx.services.observer) ctx.services.observer->login("moving");
    spdlog::info("[s:{}] {} login refused for {}: the account is being moved between shards", ctx.session.session_id,
                 mechanism, log::printable(outcome.email.empty() ? user : outcome.email));
    co_return Result::no("Account being moved, try again in a few seconds", "UNAVAILABLE");
  }
  if (ctx.services.assign_shard) {
    try {
      ctx.services.assign_shard(user_id, outcome.shard);
    } catch (const std::exception& e) {
      if (ctx.services.observer) ctx.services.observer->login("unknown_shard");
      spdlog::error("[s:{}] {} login refused for {}: {}", ctx.session.session_id, mechanism,
                    log::printable(outcome.email.empty() ? user : outcome.email), log::printable(e.what()));
      co_return Result::no("Mail store unavailable, try again later", "UNAVAILABLE");
    }
  }
  // imap.max_connections_per_user: one account cannot take every slot of
  // the server (1,000 IDLE sessions would lock everybody else out).
  if (auto& slots = ctx.services.user_slots) {
    if (!slots->try_add(std::to_string(user_id))) {
      if (ctx.services.observer) ctx.services.observer->login("limit");
      spdlog::info("[s:{}] {} login refused for {}: imap.max_connections_per_user reached", ctx.session.session_id,
                   mechanism, log::printable(outcome.email.empty() ? user : outcome.email));
      co_return Result::no("Too many connections for this account", "LIMIT");
    }
    ctx.session.holds_user_slot = true;
  }
  // First login creates the default mailboxes (INBOX, Sent, Drafts, ...).
  auto bootstrap = [user_id](mailstore::MailStore& st) {
    st.ensure_account(user_id);
    return 0;
  };
  try {
    co_await ctx.store(std::move(bootstrap));
  } catch (...) {
    ctx.session.user_id = user_id;  // whose slot it is
    release_user_slot(ctx.session, ctx.services);
    ctx.session.user_id = 0;
    throw;
  }
  if (ctx.services.observer) ctx.services.observer->login(label);
  ctx.session.state = State::kAuthenticated;
  ctx.session.user_id = user_id;
  ctx.session.quota_bytes = outcome.quota_bytes;
  ctx.session.quota_messages = outcome.quota_messages;
  ctx.session.admin = outcome.admin;
  ctx.session.quota_read_at = std::chrono::steady_clock::now();
  ctx.session.username = outcome.email.empty() ? user : outcome.email;
  ctx.session.shard = outcome.shard.empty() ? "main" : outcome.shard;
  spdlog::info("[s:{}] [c:{}] [u:{}] logged in as {} ({}){}", ctx.session.session_id, ctx.session.remote_address,
               log::tag_value(ctx.session.username), log::printable(ctx.session.username), mechanism,
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

// LOGIN's userid and password are bounded and NUL-free by the parser
// (protocol/command_args.h); SASL PLAIN and LOGIN credentials arrive base64
// encoded and are held to the same rule here: NUL could only be a client's
// attempt to smuggle a second field past authd.
bool valid_credential(const std::string& s) {
  return s.size() <= kMaxCredentialOctets && s.find('\0') == std::string::npos;
}

}  // namespace

void release_user_slot(SessionState& session, Services& services) {
  if (!session.holds_user_slot) return;
  session.holds_user_slot = false;
  if (services.user_slots) services.user_slots->remove(std::to_string(session.user_id));
}

asio::awaitable<Result> cmd_login(Context& ctx) {
  const LoginArgs args = parse_login_args(ctx.args);
  if (!plaintext_allowed(ctx)) co_return Result::no("LOGIN is disabled before STARTTLS", "PRIVACYREQUIRED");
  co_return co_await finish_login(ctx, args.userid, args.password, "LOGIN");
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
  } else if (auto decoded = decode_sasl_base64(*line)) {
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
  // The initial response (SASL-IR, RFC 4959) comes decoded; invalid base64
  // and "*" in it are syntax errors (BAD) before anything is sent to authd.
  AuthenticateArgs args = parse_authenticate_args(ctx.args);
  const std::string mechanism = args.mechanism;
  if (mechanism == "SCRAM-SHA-256") {
    // Not offered before STARTTLS either (capability.cpp): the session would be cleartext.
    if (!plaintext_allowed(ctx)) co_return Result::no("Authentication is disabled before STARTTLS", "PRIVACYREQUIRED");
    Result result = co_await authenticate_sasl(ctx, mechanism, std::move(args.initial_response));
    co_return result;
  }
  if (mechanism == "LOGIN") {
    // draft-murchison-sasl-login: "Username:", "Password:"; an initial
    // response is the user name. Decoded here and checked with Authenticate,
    // like PLAIN (authd README), so the quota comes with the answer.
    if (!plaintext_allowed(ctx)) co_return Result::no("LOGIN is disabled before STARTTLS", "PRIVACYREQUIRED");
    std::string user;
    if (args.initial_response) {
      user = std::move(*args.initial_response);
    } else {
      const std::string username_prompt = "Username:";
      ClientAnswer answer = co_await ask_client(ctx, username_prompt);
      if (answer.error) co_return *answer.error;
      user = *answer.data;
    }
    if (!valid_credential(user)) co_return Result::bad("Invalid user name");
    const std::string password_prompt = "Password:";
    ClientAnswer answer = co_await ask_client(ctx, password_prompt);
    if (answer.error) co_return *answer.error;
    const std::string password = *answer.data;
    if (!valid_credential(password)) co_return Result::bad("Invalid password");
    Result result = co_await finish_login(ctx, user, password, "LOGIN");
    co_return result;
  }
  if (mechanism != "PLAIN") co_return Result::no("Unsupported authentication mechanism", "CANNOT");
  if (!plaintext_allowed(ctx)) co_return Result::no("PLAIN is disabled before STARTTLS", "PRIVACYREQUIRED");
  std::string decoded;
  if (args.initial_response) {
    decoded = std::move(*args.initial_response);
  } else {
    // An empty challenge: "+ " (RFC 4616 sends none).
    const std::string no_challenge;
    ClientAnswer answer = co_await ask_client(ctx, no_challenge);
    if (answer.error) co_return *answer.error;
    decoded = std::move(*answer.data);
  }
  // message = [authzid] NUL authcid NUL passwd (RFC 4616 2); no field holds a NUL.
  auto first = decoded.find('\0');
  auto second = first == std::string::npos ? std::string::npos : decoded.find('\0', first + 1);
  if (second == std::string::npos) co_return Result::bad("Malformed PLAIN authentication data");
  std::string authzid = decoded.substr(0, first);
  std::string authcid = decoded.substr(first + 1, second - first - 1);
  std::string password = decoded.substr(second + 1);
  if (!valid_credential(authzid) || !valid_credential(authcid) || !valid_credential(password))
    co_return Result::bad("Malformed PLAIN authentication data");
  // Acting as another user (proxy authorisation) is not supported.
  if (!authzid.empty() && authzid != authcid)
    co_return Result::no("Authorization identity must match", "AUTHORIZATIONFAILED");
  co_return co_await finish_login(ctx, authcid, password, "PLAIN");
}

// UNAUTHENTICATE (RFC 8437): back to the not-authenticated state on the same
// connection, so a client (an admin tool, a proxy) can log in as someone else.
// Everything that belongs to the login goes: the user, the selected mailbox
// (without an expunge, like UNSELECT), what was ENABLEd, NOTIFY; what belongs
// to the connection stays: TLS, the session id, the count of bad commands.
asio::awaitable<Result> cmd_unauthenticate(Context& ctx) {
  parse_no_args(ctx.args);
  SessionState& s = ctx.session;
  spdlog::info("[s:{}] {} unauthenticated", s.session_id, log::printable(s.username));
  release_user_slot(s, ctx.services);
  s.selected.reset();
  if (s.notify) ++s.notify_generation;  // the connection drops its NOTIFY watch
  s.notify.reset();
  s.user_id = 0;
  s.username.clear();
  s.quota_bytes = s.quota_messages = 0;
  s.admin = false;
  s.quota_read_at = {};
  s.utf8_accept = s.rev2 = s.condstore = s.qresync = false;
  s.mailbox_dirty = false;
  s.state = State::kNotAuthenticated;
  co_return Result::ok("UNAUTHENTICATE completed");
}

asio::awaitable<Result> cmd_starttls(Context& ctx) {
  parse_no_args(ctx.args);
  if (ctx.session.tls) co_return Result::bad("TLS is already active");
  // The stack is IMAP -> deflate -> TLS (RFC 4978 4); TLS under a running
  // deflate stream cannot be set up. The command table already refuses
  // STARTTLS once logged in, where COMPRESS is allowed; this keeps it so.
  if (ctx.session.compressed) co_return Result::bad("STARTTLS is not possible after COMPRESS");
  if (!ctx.services.tls_context) co_return Result::no("TLS is not configured");
  ctx.effect = Effect::kStartTls;
  co_return Result::ok("Begin TLS negotiation now");
}

}  // namespace postline::imap
