#include "services/imap-access/commands/names.h"

#include "common/mailstore/accounts.h"
#include "services/imap-access/protocol/mailbox_name.h"

namespace postline::imap {

std::string from_wire(const SessionState& s, const std::string& name) {
  if (s.utf8_accept) {
    if (!valid_utf8(name)) throw Refused("Mailbox name is not valid UTF-8", "CANNOT");
    return mailstore::normalize_mailbox_name(name);
  }
  auto decoded = mutf7_decode(name);
  if (!decoded) {
    throw Refused("Mailbox name is not valid modified UTF-7 (8-bit names need ENABLE UTF8=ACCEPT)", "CANNOT");
  }
  return mailstore::normalize_mailbox_name(*decoded);
}

std::string to_wire(const SessionState& s, const std::string& name) {
  return astring(s.utf8_accept ? name : mutf7_encode(name));
}

}  // namespace postline::imap
