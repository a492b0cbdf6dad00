// AUTHENTICATE (RFC 5804 2.1), UNAUTHENTICATE (2.14.1), STARTTLS (2.2).
// SASL is relayed to authd (SaslStart/SaslStep through the connection): the
// session only moves base64 strings between the client and authd, so every
// mechanism authd offers works and throttling is authd's (docs/managesieve.md).
// Credentials are never logged.
#include "common/log/printable.h"
#include "common/mailauth/text_util.h"
#include "services/managesieve/protocol/session.h"

#include <algorithm>

namespace postline::managesieve {

void Session::cmd_authenticate(const Command& cmd) {
  const AuthenticateArgs args = parse_authenticate(cmd);
  if (!may_authenticate()) {
    observer_->protocol_error("auth_before_tls");
    observer_->info("AUTHENTICATE refused before TLS");
    reply(Status::kNo, "ENCRYPT-NEEDED", "Authentication needs TLS: use STARTTLS first");
    return;
  }
  const auto& offered = mechanisms_.empty() ? std::vector<std::string>{"PLAIN"} : mechanisms_;
  if (std::find(offered.begin(), offered.end(), args.mechanism) == offered.end()) {
    observer_->protocol_error("unsupported_mechanism");
    observer_->info("AUTHENTICATE with unsupported mechanism " + log::printable(args.mechanism, 32));
    reply(Status::kNo, "", "Unsupported SASL mechanism");
    return;
  }
  std::optional<std::string> initial;
  if (args.initial_response) {
    initial = mailauth::base64_decode(*args.initial_response);
    if (!initial) {
      observer_->login("failure");
      observer_->info("AUTHENTICATE " + args.mechanism + ": invalid base64 in the initial response");
      reply(Status::kNo, "", "Invalid base64 in the initial response");
      return;
    }
  }
  sasl_active_ = true;
  sasl_mechanism_ = args.mechanism;
  sasl_request_ = SaslRequest{};
  sasl_request_.start = true;
  sasl_request_.mechanism = args.mechanism;
  sasl_request_.initial = std::move(initial);
  sasl_due_ = true;
}

void Session::end_sasl() {
  sasl_active_ = false;
  sasl_due_ = false;
  sasl_waiting_client_ = false;
  sasl_request_ = SaslRequest{};
}

void Session::login_failed(const char* outcome) {
  observer_->login(outcome);
  // Slows down password guessing on this connection (authd throttles across
  // connections): 1 s per failure so far, at most 5 s.
  failed_logins_ = std::min(failed_logins_ + 1, 5);
  pause_ = std::chrono::seconds(failed_logins_);
  pause_due_ = true;
}

void Session::sasl_answer(Parser::Event ev) {
  sasl_waiting_client_ = false;
  SaslAnswer answer;
  bool malformed = ev.kind != Parser::Kind::kCommand;
  if (!malformed) {
    try {
      answer = parse_sasl_answer(ev.tokens);
    } catch (const SyntaxError&) {
      malformed = true;
    }
  }
  if (malformed) {
    end_sasl();
    observer_->protocol_error(ev.kind == Parser::Kind::kLineTooLong ? "line_too_long" : "syntax");
    observer_->info("AUTHENTICATE " + sasl_mechanism_ + ": malformed client response");
    login_failed("failure");
    reply(Status::kNo, "", "Malformed SASL response");
    return;
  }
  if (answer.cancel) {
    // RFC 5804 2.1: "*" cancels; the server answers NO. authd forgets the
    // conversation after 60 s.
    end_sasl();
    observer_->login("cancelled");
    observer_->info("AUTHENTICATE " + sasl_mechanism_ + " cancelled by the client");
    reply(Status::kNo, "", "Authentication cancelled");
    return;
  }
  auto decoded = mailauth::base64_decode(answer.data);
  if (!decoded) {
    end_sasl();
    observer_->info("AUTHENTICATE " + sasl_mechanism_ + ": invalid base64 in the client response");
    login_failed("failure");
    reply(Status::kNo, "", "Invalid base64 in the SASL response");
    return;
  }
  sasl_request_.start = false;
  sasl_request_.response = std::move(*decoded);
  sasl_due_ = true;
}

void Session::sasl_reply(SaslReply r) {
  if (!sasl_active_) return;
  switch (r.state) {
    case SaslReply::State::kContinue:
      sasl_request_ = SaslRequest{};
      sasl_request_.start = false;
      sasl_request_.conversation_id = r.conversation_id;
      // RFC 5804 2.1: the challenge is a string of base64; the client answers
      // with one string (or "*").
      output_ += string_arg(mailauth::base64_encode(r.challenge)) + "\r\n";
      sasl_waiting_client_ = true;
      return;
    case SaslReply::State::kSuccess: {
      const std::string mechanism = sasl_mechanism_;
      end_sasl();
      if (r.outcome.moving || !observer_->place_user(r.outcome.user_id, r.outcome.shard)) {
        observer_->login("unavailable");
        observer_->info(mechanism + " login refused for " + log::printable(r.outcome.email) +
                        (r.outcome.moving ? ": the account is being moved between shards" : ": unknown mailstore shard"));
        reply(Status::kNo, "TRYLATER", r.outcome.moving ? "Account being moved, try again shortly" : "Mail store unavailable");
        return;
      }
      if (!observer_->admit_user(r.outcome.user_id)) {
        observer_->login("limit");
        observer_->info(mechanism + " login refused for " + log::printable(r.outcome.email) +
                        ": managesieve.max_connections_per_user reached");
        reply(Status::kNo, "TRYLATER", "Too many connections for this account");
        return;
      }
      holds_login_ = true;
      user_id_ = r.outcome.user_id;
      user_ = r.outcome.email;
      failed_logins_ = 0;
      update_limits();
      observer_->login("success");
      observer_->info("logged in as " + log::printable(user_) + " (" + mechanism + ")");
      // RFC 5804 2.1: final server data (SCRAM's server-final) in OK (SASL ...).
      reply(Status::kOk, r.challenge.empty() ? std::string() : "SASL " + string_arg(mailauth::base64_encode(r.challenge)),
            "Logged in");
      return;
    }
    case SaslReply::State::kFailure: {
      const std::string mechanism = sasl_mechanism_;
      end_sasl();
      switch (r.outcome.status) {
        case AuthStatus::kInvalid:
          observer_->info(mechanism + " login failed: invalid credentials");
          login_failed("failure");
          reply(Status::kNo, "", "Authentication failed");
          return;
        case AuthStatus::kThrottled:
          observer_->info(mechanism + " login failed: throttled");
          login_failed("throttled");
          reply(Status::kNo, "TRYLATER", "Too many failed logins, try again later");
          return;
        case AuthStatus::kDisabled:
          observer_->info(mechanism + " login failed: account disabled");
          observer_->login("disabled");
          reply(Status::kNo, "", "Account disabled");
          return;
        case AuthStatus::kOk:
        case AuthStatus::kUnavailable:
          observer_->info(mechanism + " login failed: authentication service unavailable");
          observer_->login("unavailable");
          reply(Status::kNo, "TRYLATER", "Authentication service unavailable, try again later");
          return;
      }
      return;
    }
  }
}

void Session::cmd_unauthenticate(const Command& cmd) {
  parse_no_args(cmd);
  // RFC 5804 2.14.1: back to the non-authenticated state on the same
  // connection; TLS stays.
  observer_->info(log::printable(user_) + " unauthenticated");
  release_login();
  user_id_ = 0;
  user_.clear();
  update_limits();
  reply(Status::kOk, "", "Unauthenticate completed");
}

void Session::cmd_starttls(const Command& cmd) {
  parse_no_args(cmd);
  if (tls_) {
    observer_->info("STARTTLS refused: TLS is already active");
    reply(Status::kNo, "", "TLS is already active");
    return;
  }
  if (!settings_.tls_available) {
    observer_->info("STARTTLS refused: no certificate configured");
    reply(Status::kNo, "", "TLS is not available");
    return;
  }
  reply(Status::kOk, "", "Begin TLS negotiation now");
  // Whatever the client sent after STARTTLS came in plaintext and must not be
  // run after the handshake as if it had come over TLS (CVE-2011-0411 class).
  parser_.reset();
  starttls_due_ = true;
}

void Session::tls_started(bool ok) {
  if (!ok) {
    observer_->protocol_error("tls_handshake");
    end_reason_ = "tls_failed";
    closing_ = true;
    return;
  }
  tls_ = true;
  // RFC 5804 2.2: the capabilities again (now with the SASL mechanisms), then OK.
  output_ += capabilities() + managesieve::ok("TLS negotiation successful");
}

}  // namespace postline::managesieve
