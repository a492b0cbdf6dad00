#include "services/imap-access/commands/names.h"

#include "common/mailstore/accounts.h"
#include "services/imap-access/protocol/mailbox_name.h"

namespace postline::imap {

std::string from_wire(const SessionState& s, const std::string& name) {
  if (s.utf8_accept) return mailstore::normalize_mailbox_name(name);
  auto decoded = mutf7_decode(name);
  return mailstore::normalize_mailbox_name(decoded ? *decoded : name);
}

std::string to_wire(const SessionState& s, const std::string& name) {
  return astring(s.utf8_accept ? name : mutf7_encode(name));
}

}  // namespace postline::imap
