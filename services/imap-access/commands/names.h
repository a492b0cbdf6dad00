// Mailbox names between the wire and the store (UTF-8 inside, modified UTF-7
// for clients that did not enable UTF-8). Shared by the mailbox commands.
#pragma once

#include "services/imap-access/commands/context.h"

#include <string>

namespace postline::imap {

// The store name for a client-supplied name (decodes modified UTF-7; a name
// that is not valid modified UTF-7 is taken as written, as Dovecot does).
std::string from_wire(const SessionState& s, const std::string& name);
// The client's spelling of a store name, already encoded as an astring.
std::string to_wire(const SessionState& s, const std::string& name);

}  // namespace postline::imap
