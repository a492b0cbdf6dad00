// Turning a sequence set (message numbers or UIDs) into the messages of the
// session's view. Shared by FETCH, STORE, COPY, MOVE, UID EXPUNGE.
#pragma once

#include "services/imap-access/protocol/selected.h"
#include "services/imap-access/protocol/sequence_set.h"

#include <optional>
#include <string>
#include <vector>

namespace postline::imap {

struct Selected {
  uint32_t msn;
  uint32_t uid;
};

// Fills `out` in ascending order. Returns an error text for a message number
// beyond the mailbox (RFC 9051: BAD); UIDs that do not exist are skipped.
std::optional<std::string> select_messages(const SelectedMailbox& sel, const SequenceSet& set, bool by_uid,
                                           std::vector<Selected>& out);
// The error select_messages would give, without listing the messages (so a
// command can refuse before it changes anything, at the cost of its ranges).
std::optional<std::string> check_message_numbers(const SelectedMailbox& sel, const SequenceSet& set, bool by_uid);

}  // namespace postline::imap
