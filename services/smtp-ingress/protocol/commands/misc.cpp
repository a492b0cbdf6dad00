// The small commands: RSET, NOOP, QUIT (RFC 5321 §4.1.1.5-10), HELP, and
// VRFY / EXPN, which never reveal whether a mailbox exists (§3.5.3, §7.3):
// VRFY gets 252, EXPN is refused.
#include "services/smtp-ingress/protocol/reply.h"
#include "services/smtp-ingress/protocol/session.h"

namespace postline::smtp {

void Session::cmd_rset(std::string_view args) {
  if (!args.empty()) return error_reply(501, "5.5.4", "Syntax: RSET");
  reset_transaction();
  reply(250, "2.0.0", "Ok");
}

void Session::cmd_noop(std::string_view) {
  // RFC 5321 §4.1.1.9: a parameter is allowed and ignored.
  reply(250, "2.0.0", "Ok");
}

void Session::cmd_quit(std::string_view) {
  close_with(221, "2.0.0", config_.hostname + " Bye");
}

void Session::cmd_help(std::string_view) {
  raw_reply(214, format_multiline(214, "2.0.0",
                                  {"Commands: EHLO HELO MAIL RCPT DATA BDAT RSET NOOP QUIT STARTTLS AUTH HELP VRFY",
                                   "See RFC 5321"}));
}

void Session::cmd_vrfy(std::string_view args) {
  if (args.empty()) return error_reply(501, "5.5.4", "Syntax: VRFY address");
  reply(252, "2.5.0", "Cannot VRFY user, but will accept message and attempt delivery");
}

void Session::cmd_expn(std::string_view) {
  error_reply(502, "5.5.1", "EXPN not available");
}

}  // namespace postline::smtp
