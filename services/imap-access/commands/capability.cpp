#include "services/imap-access/commands/registry.h"

namespace postline::imap {

bool may_authenticate(const SessionState& s, const Settings& settings) {
  if (s.tls || settings.allow_plaintext_auth) return true;
  if (!settings.allow_plaintext_auth_from_loopback) return false;
  const std::string& ip = s.remote_ip;
  return ip.rfind("127.", 0) == 0 || ip == "::1" || ip.rfind("::ffff:127.", 0) == 0;
}

std::string capabilities(const SessionState& s, const Settings& settings) {
  std::string caps = "IMAP4rev1 IMAP4rev2 SASL-IR LITERAL+ ID ENABLE IDLE";
  if (s.state == State::kNotAuthenticated) {
    if (settings.tls_available && !s.tls) caps += " STARTTLS";
    // RFC 9051 6.2.3: without TLS (and unless the operator allows it, or the
    // client is on this host) no plaintext mechanism is offered and LOGIN is
    // disabled.
    // SCRAM-SHA-256 would be safe for the password, but the session after it
    // would not be: all mechanisms follow the same rule.
    if (may_authenticate(s, settings)) caps += " AUTH=PLAIN AUTH=LOGIN AUTH=SCRAM-SHA-256";
    else caps += " LOGINDISABLED";
    return caps;
  }
  caps += " UTF8=ACCEPT NAMESPACE UNSELECT UNAUTHENTICATE UIDPLUS MULTIAPPEND CATENATE URLAUTH REPLACE WITHIN SEARCHRES MOVE CHILDREN SPECIAL-USE LIST-EXTENDED LIST-STATUS ESEARCH"
          " SORT SORT=DISPLAY ESORT CONTEXT=SEARCH CONTEXT=SORT THREAD=ORDEREDSUBJECT THREAD=REFERENCES"
          " CONDSTORE QRESYNC STATUS=SIZE SAVEDATE OBJECTID BINARY PREVIEW QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE COMPRESS=DEFLATE NOTIFY METADATA METADATA-SERVER APPENDLIMIT=" +
          std::to_string(settings.max_literal);
  return caps;
}

}  // namespace postline::imap
