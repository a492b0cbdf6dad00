// SEARCH criteria compiled to one parameterised SQL statement over
// mailstore_messages (flags, dates, sizes are columns) joined with
// mailstore_search (the case-folded text, pg_trgm GIN-indexed): text keys
// never read a message body. User data only ever travels as parameters.
#pragma once

#include "common/db/pq.h"
#include "common/mailstore/mail_store.h"

#include <string>

namespace postline::mailstore::pg {

struct CompiledSearch {
  std::string sql;        // returns (uid, modseq) ordered by uid; $1 user, $2 mailbox
  db::pq::Params params;  // $1.. in order
};

// Text keys are folded with fold_search_key (message_meta.h), like the stored text.
CompiledSearch compile_search(UserId user, MailboxId mailbox, const SearchCriterion& criteria);

}  // namespace postline::mailstore::pg
