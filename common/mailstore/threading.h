// THREAD=ORDEREDSUBJECT and THREAD=REFERENCES (RFC 5256 3), computed from the
// threading keys both stores keep per message (message_meta.h SortKeys), so
// PgMailStore fetches those keys in one query and never reads a body, and
// MemoryMailStore answers exactly the same.
#pragma once

#include "common/mailstore/mail_store.h"

#include <cstdint>
#include <string>
#include <vector>

namespace postline::mailstore {

struct ThreadInput {
  Uid uid = 0;
  int64_t sent = 0;  // the sent date, the internal date when there is none (RFC 5256 2.2)
  std::string subject;  // base subject
  bool reply_or_forward = false;
  std::string message_id;               // "" when none
  std::vector<std::string> references;  // parent chain, oldest first
};

// `messages` in mailbox order (ascending UID, which breaks ties of dates).
std::vector<ThreadNode> compute_threads(const std::vector<ThreadInput>& messages, ThreadAlgorithm algorithm);

}  // namespace postline::mailstore
