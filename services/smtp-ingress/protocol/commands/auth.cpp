// AUTH (RFC 4954) with SCRAM-SHA-256 (RFC 7677), PLAIN (RFC 4616) and LOGIN.
// Offered only on submission, only under TLS (unless
// smtp.allow_plaintext_auth). PLAIN and LOGIN are decoded here and checked with
// authd's Authenticate; SCRAM is a multi-step exchange that authd runs (it
// holds the salted keys), so each client message is relayed as a SaslEvent
// (SaslStart / SaslStep). authd also throttles by client IP. Credentials never
// reach a log line or an observer.
#include "services/smtp-ingress/protocol/base64.h"
#include "services/smtp-ingress/protocol/commands/params.h"
#include "services/smtp-ingress/protocol/session.h"
#include "common/log/printable.h"

#include <fmt/format.h>

namespace postline::smtp {

void Session::cmd_auth(std::string_view args) {
  if (!auth_offered()) {
    if (submission()) return error_reply(530, "5.7.0", "Must issue a STARTTLS command first");
    return error_reply(503, "5.5.1", "Authentication not enabled on this port");
  }
  if (helo_.empty()) return error_reply(503, "5.5.1", "Send EHLO first");
  if (authenticated()) return error_reply(503, "5.5.1", "Already authenticated");
  if (tx_.active) return error_reply(503, "5.5.1", "AUTH not allowed during a mail transaction");
  size_t sp = args.find(' ');
  const std::string mech = detail::upper(args.substr(0, sp));
  std::string_view initial = sp == std::string_view::npos ? std::string_view() : args.substr(sp + 1);
  const bool has_initial = sp != std::string_view::npos;
  if (mech != "PLAIN" && mech != "LOGIN" && mech != "SCRAM-SHA-256") {
    observer_->on_auth(mech == "CRAM-MD5" ? mech : "other", "unsupported");
    return error_reply(504, "5.5.4", "Unrecognized authentication type");
  }
  auth_mechanism_ = mech;
  auth_step_ = 0;
  auth_username_.clear();
  if (mech == "SCRAM-SHA-256") {
    SaslEvent ev{true, mech, "", has_initial, ""};
    sasl_conversation_.clear();
    sasl_final_sent_ = false;
    if (has_initial && initial != "=") {
      auto decoded = base64_decode(initial);
      if (!decoded) {
        observer_->on_auth(mech, "malformed");
        return error_reply(501, "5.5.2", "Invalid base64 data");
      }
      ev.data = std::move(*decoded);
    }
    pending_ = Pending::kSasl;
    return emit(std::move(ev));
  }
  if (!has_initial) {
    mode_ = Mode::kAuthResponse;
    raw_reply(334, mech == "PLAIN" ? "334 \r\n" : "334 VXNlcm5hbWU6\r\n");  // "Username:"
    return;
  }
  auth_response(initial == "=" ? std::string_view() : initial);
}

// One client response: the initial response or a line after a 334.
void Session::auth_response(std::string_view line) {
  mode_ = Mode::kCommand;
  if (line == "*") {
    observer_->on_auth(auth_mechanism_, "cancelled");
    return error_reply(501, "5.7.0", "Authentication cancelled");
  }
  if (auth_mechanism_ == "SCRAM-SHA-256" && sasl_final_sent_) {
    // The client acknowledges our server-final message with an empty line.
    sasl_final_sent_ = false;
    if (!line.empty()) {
      observer_->on_auth(auth_mechanism_, "malformed");
      return error_reply(501, "5.5.2", "Expected an empty response");
    }
    return auth_result(AuthResult::kOk, sasl_email_, sasl_user_id_);
  }
  auto decoded = base64_decode(line);
  if (!decoded) {
    observer_->on_auth(auth_mechanism_, "malformed");
    return error_reply(501, "5.5.2", "Invalid base64 data");
  }
  if (auth_mechanism_ == "SCRAM-SHA-256") {
    pending_ = Pending::kSasl;
    return emit(SaslEvent{false, auth_mechanism_, sasl_conversation_, true, std::move(*decoded)});
  }
  if (auth_mechanism_ == "PLAIN") {
    // authzid NUL authcid NUL passwd
    size_t a = decoded->find('\0');
    size_t b = a == std::string::npos ? std::string::npos : decoded->find('\0', a + 1);
    if (b == std::string::npos || decoded->find('\0', b + 1) != std::string::npos) {
      observer_->on_auth(auth_mechanism_, "malformed");
      return error_reply(501, "5.5.2", "Invalid PLAIN response");
    }
    return auth_decoded("PLAIN", std::string_view(*decoded).substr(0, a),
                        std::string_view(*decoded).substr(a + 1, b - a - 1), std::string_view(*decoded).substr(b + 1));
  }
  // LOGIN: username, then password.
  if (auth_step_ == 0) {
    auth_username_ = std::move(*decoded);
    auth_step_ = 1;
    mode_ = Mode::kAuthResponse;
    raw_reply(334, "334 UGFzc3dvcmQ6\r\n");  // "Password:"
    return;
  }
  auth_decoded("LOGIN", "", auth_username_, *decoded);
}

void Session::auth_decoded(std::string_view mechanism, std::string_view authzid, std::string_view user,
                           std::string_view pass) {
  // Acting on behalf of another identity (authzid) is not supported.
  if ((!authzid.empty() && authzid != user) || user.empty() || pass.empty() || user.size() > 320) {
    observer_->on_auth(mechanism, "failed");
    log(1, fmt::format("authentication failed ({}): malformed credentials", mechanism));
    reply(535, "5.7.8", "Authentication credentials invalid");
    return auth_fail_count();
  }
  // `user` may view auth_username_ itself (LOGIN): copy before assigning.
  AuthenticateEvent ev{std::string(mechanism), std::string(user), std::string(pass)};
  auth_username_ = ev.username;
  pending_ = Pending::kAuth;
  emit(std::move(ev));
}

void Session::auth_fail_count() {
  if (++auth_failures_ >= config_.max_auth_failures && !closed_) {
    observer_->on_limit("auth_failures");
    log(2, fmt::format("too many authentication failures ({}), disconnecting", auth_failures_));
    close_with(421, "4.7.0", config_.hostname + " Error: too many authentication failures");
  }
}

void Session::on_authenticated(const AuthOutcome& o) {
  if (pending_ != Pending::kAuth) return;
  pending_ = Pending::kNone;
  event_pending_ = false;
  auth_result(o.result, o.email, o.user_id);
  process();
}

void Session::on_sasl(const SaslAnswer& a) {
  if (pending_ != Pending::kSasl) return;
  pending_ = Pending::kNone;
  event_pending_ = false;
  switch (a.state) {
    case SaslAnswer::State::kContinue:
      sasl_conversation_ = a.conversation_id;
      mode_ = Mode::kAuthResponse;
      raw_reply(334, "334 " + base64_encode(a.challenge) + "\r\n");
      break;
    case SaslAnswer::State::kSuccess:
      if (!a.challenge.empty()) {
        // RFC 4954 §4: additional data with success goes in a 334, not the 235.
        sasl_final_sent_ = true;
        sasl_email_ = a.email;
        sasl_user_id_ = a.user_id;
        mode_ = Mode::kAuthResponse;
        raw_reply(334, "334 " + base64_encode(a.challenge) + "\r\n");
      } else {
        auth_result(AuthResult::kOk, a.email, a.user_id);
      }
      break;
    case SaslAnswer::State::kFailure:
      auth_result(a.result == AuthResult::kOk ? AuthResult::kInvalid : a.result, "", 0);
      break;
    case SaslAnswer::State::kUnavailable:
      auth_result(AuthResult::kTemporaryFailure, "", 0);
      break;
  }
  process();
}

void Session::auth_result(AuthResult result, const std::string& email, int64_t user_id) {
  switch (result) {
    case AuthResult::kOk:
      auth_user_ = email.empty() ? auth_username_ : email;
      auth_user_id_ = user_id;
      observer_->on_auth(auth_mechanism_, "ok");
      log(1, fmt::format("[c:{}] [u:{}] authenticated as {} ({})", client_address(), log::tag_value(auth_user_),
                         auth_user_, auth_mechanism_));
      reply(235, "2.7.0", "Authentication successful");
      break;
    case AuthResult::kInvalid:
    case AuthResult::kDisabled:
      observer_->on_auth(auth_mechanism_, "failed");
      log(1, fmt::format("authentication failed for {} ({})", auth_username_.empty() ? "?" : auth_username_,
                         auth_mechanism_));
      reply(535, "5.7.8", "Authentication credentials invalid");
      auth_fail_count();
      break;
    case AuthResult::kThrottled:
      observer_->on_auth(auth_mechanism_, "throttled");
      log(2, fmt::format("authentication throttled ({})", auth_mechanism_));
      reply(454, "4.7.0", "Too many failed attempts, try again later");
      auth_fail_count();
      break;
    case AuthResult::kTemporaryFailure:
      observer_->on_auth(auth_mechanism_, "error");
      log(2, "authentication unavailable: authd failed");
      reply(454, "4.7.0", "Temporary authentication failure");
      break;
    case AuthResult::kTooManySessions:
      observer_->on_auth(auth_mechanism_, "limit");
      log(1, fmt::format("authentication refused for {} ({}): smtp.max_sessions_per_user reached",
                         email.empty() ? auth_username_ : email, auth_mechanism_));
      reply(454, "4.7.0", "Too many sessions for this account, try again later");
      break;
  }
  auth_username_.clear();
  sasl_conversation_.clear();
  sasl_email_.clear();
  sasl_user_id_ = 0;
}

}  // namespace postline::smtp
