// Mailbox names between the wire and the store (UTF-8 inside, modified UTF-7
// for clients that did not enable UTF-8). Shared by the mailbox commands.
#pragma once

#include "services/imap-access/commands/context.h"

#include <string>

namespace postline::imap {

// The store name for a client-supplied name (decodes modified UTF-7). A name
// that is not valid modified UTF-7 (or, after UTF8=ACCEPT, not UTF-8) throws
// Refused, NO [CANNOT]: taken as written it would be a second wire spelling
// of some other name (RFC 3501 5.1.3; Dovecot refuses it too).
std::string from_wire(const SessionState& s, const std::string& name);
// The client's spelling of a store name, already encoded as an astring.
std::string to_wire(const SessionState& s, const std::string& name);

}  // namespace postline::imap
