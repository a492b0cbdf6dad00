// Headers smtpd adds to every message: the Received: trace field (RFC 5321
// §4.4, protocol names from RFC 3848 / RFC 6531), and on submission a Date:
// and Message-ID: when the client left them out (RFC 6409 §8.2, §8.3).
#include "services/smtp-ingress/protocol/session.h"

#include <fmt/format.h>

#include <cctype>

namespace postline::smtp {

namespace {

// Whether the header section has a field named `name` (case-insensitive).
bool has_field(const std::string& message, std::string_view name) {
  size_t pos = 0;
  while (pos < message.size()) {
    if (message.compare(pos, 2, "\r\n") == 0) return false;  // end of header
    size_t eol = message.find("\r\n", pos);
    if (eol == std::string::npos) eol = message.size();
    if (message[pos] != ' ' && message[pos] != '\t' && eol - pos > name.size() &&
        message[pos + name.size()] == ':') {
      bool same = true;
      for (size_t i = 0; i < name.size() && same; ++i)
        same = std::tolower(static_cast<unsigned char>(message[pos + i])) == name[i];
      if (same) return true;
    }
    pos = eol + 2;
  }
  return false;
}

// Values from outside (authd) go into a header: keep them on one line.
std::string one_line(std::string_view s) {
  std::string out;
  for (char ch : s) out += (ch == '\r' || ch == '\n') ? ' ' : ch;
  return out;
}

}  // namespace

std::string Session::protocol_name() const {
  std::string p = tx_.smtputf8 ? "UTF8SMTP" : esmtp_ ? "ESMTP" : "SMTP";
  if (p == "SMTP") return p;
  if (tls_active_) p += "S";
  if (authenticated()) p += "A";
  return p;
}

std::string Session::build_headers(const std::string& queue_id, const std::string& message) const {
  const std::string date = config_.now_rfc5322();
  std::string h = fmt::format("Received: from {} ([{}])\r\n\tby {} (Postline) with {} id {}", helo_,
                              config_.remote_ip, config_.hostname, protocol_name(), queue_id);
  if (tls_active_) h += fmt::format("\r\n\t(using {} with cipher {})", tls_version_, tls_cipher_);
  if (authenticated() && submission()) h += fmt::format("\r\n\t(authenticated user {})", one_line(auth_user_));
  // Naming the recipient only when there is one keeps Bcc recipients private.
  if (tx_.recipients.size() == 1) h += fmt::format("\r\n\tfor <{}>", tx_.recipients.front().address);
  h += fmt::format(";\r\n\t{}\r\n", date);
  if (submission()) {
    if (!has_field(message, "date")) h += "Date: " + date + "\r\n";
    if (!has_field(message, "message-id"))
      h += fmt::format("Message-ID: <{}.{}@{}>\r\n", queue_id, config_.random_token(), config_.hostname);
  }
  return h;
}

}  // namespace postline::smtp
