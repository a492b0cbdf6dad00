#include "services/delivery-queue/delivery/local_mailbox.h"

namespace postline::queue {

std::string_view legacy_header_mailbox(std::string_view message) {
  // smtpd removed every inbound copy of this field on every listener and
  // wrote its own only for a Junk verdict, so in an old row its presence is
  // trustworthy; only "Junk" was ever written.
  constexpr std::string_view kField = "X-Postline-Mailbox: Junk\r\n";
  size_t pos = 0;
  while (pos < message.size() && message.substr(pos, 2) != "\r\n") {
    if (message.substr(pos, kField.size()) == kField) return "Junk";
    size_t eol = message.find("\r\n", pos);
    if (eol == std::string_view::npos) break;
    pos = eol + 2;
  }
  return "INBOX";
}

std::string local_mailbox(const MessageData& message) {
  if (!message.target_mailbox) return std::string(legacy_header_mailbox(message.body));
  return message.target_mailbox->empty() ? "INBOX" : *message.target_mailbox;
}

std::string delivered_reply(const std::string& mailbox, int64_t uid, bool duplicate) {
  return duplicate ? "250 2.0.0 already delivered (uid " + std::to_string(uid) + ")"
                   : "250 2.0.0 delivered to " + mailbox + " uid " + std::to_string(uid);
}

}  // namespace postline::queue
