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

CompiledSearch compile_search(UserId user, MailboxId mailbox, const SearchCriterion& criteria);

// The search text is folded and whitespace-collapsed; a key is folded the same way.
std::string fold_search_key(const std::string& s);

}  // namespace postline::mailstore::pg
