// EHLO / HELO (RFC 5321 §4.1.1.1). The EHLO reply advertises exactly the
// extensions usable on this connection at this moment: STARTTLS only before
// TLS and only when a certificate exists, AUTH only on submission and only
// once the connection is encrypted (RFC 8314 §3, RFC 4954 §4), REQUIRETLS only
// over TLS (RFC 8689 §3).
#include "services/smtp-ingress/protocol/address.h"
#include "services/smtp-ingress/protocol/reply.h"
#include "services/smtp-ingress/protocol/session.h"

#include <fmt/format.h>

namespace postline::smtp {

void Session::cmd_ehlo(std::string_view args, bool extended) {
  while (!args.empty() && args.back() == ' ') args.remove_suffix(1);
  if (!valid_helo(args)) {
    error_reply(501, "5.5.4", extended ? "Syntax: EHLO hostname" : "Syntax: HELO hostname");
    return;
  }
  // A new EHLO resets any transaction (RFC 5321 §4.1.4).
  reset_transaction();
  helo_ = std::string(args);
  esmtp_ = extended;
  if (!extended) {
    raw_reply(250, format_reply(250, "", config_.hostname));
    return;
  }
  std::vector<std::string> lines = {config_.hostname + " greets " + helo_,
                                    "PIPELINING",
                                    fmt::format("SIZE {}", config_.max_message_size),
                                    "8BITMIME",
                                    "SMTPUTF8",
                                    "ENHANCEDSTATUSCODES"};
  if (starttls_offered()) lines.push_back("STARTTLS");
  if (auth_offered() && !authenticated()) lines.push_back("AUTH SCRAM-SHA-256 PLAIN LOGIN");
  lines.push_back("CHUNKING");
  // RFC 4468: BURL with IMAP URLAUTH URLs of this server, once authenticated.
  if (burl_offered()) lines.push_back("BURL imap");
  lines.push_back("DSN");
  // RFC 8689 3: REQUIRETLS only on a session that is encrypted already.
  if (tls_active_) lines.push_back("REQUIRETLS");
  raw_reply(250, format_multiline(250, "", lines));
}

}  // namespace postline::smtp
