// STARTTLS (RFC 3207). Whatever the client pipelined after the command is
// thrown away before the handshake (the CVE-2011-0411 command-injection
// class): nothing sent in clear text may be executed under TLS. Afterwards the
// session forgets everything learned before (EHLO, transaction), §4.2.
#include "services/smtp-ingress/protocol/session.h"

#include <fmt/format.h>

namespace postline::smtp {

void Session::cmd_starttls(std::string_view args) {
  if (!args.empty()) return error_reply(501, "5.5.4", "Syntax: STARTTLS");
  if (tls_active_) return error_reply(503, "5.5.1", "TLS already active");
  if (!starttls_offered()) return error_reply(502, "5.5.1", "STARTTLS not available");
  if (!in_.empty()) {
    observer_->on_limit("starttls_injection");
    log(2, fmt::format("discarding {} octets pipelined after STARTTLS", in_.size()));
    in_.clear();
  }
  reply(220, "2.0.0", "Ready to start TLS");
  awaiting_tls_ = true;
  emit(StartTlsEvent{});
}

void Session::on_tls_started(std::string version, std::string cipher) {
  if (!awaiting_tls_) return;
  awaiting_tls_ = false;
  event_pending_ = false;
  in_.clear();
  tls_active_ = true;
  tls_version_ = std::move(version);
  tls_cipher_ = std::move(cipher);
  helo_.clear();
  esmtp_ = false;
  auth_user_.clear();
  auth_user_id_ = 0;  // only possible with smtp.allow_plaintext_auth
  reset_transaction();
}

}  // namespace postline::smtp
