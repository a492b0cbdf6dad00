// SEARCH criteria compiled to one parameterised SQL statement over
// mailstore_messages (flags, dates, sizes are columns) joined with
// mailstore_search (the case-folded text, pg_trgm GIN-indexed): text keys
// never read a message body. User data only ever travels as parameters.
#pragma once

#include "common/db/pq.h"
#include "common/mailstore/mail_store.h"

#include <string>
#include <vector>

namespace postline::mailstore::pg {

struct CompiledSearch {
  std::string sql;        // returns (uid, modseq) ordered by uid; $1 user, $2 mailbox
  db::pq::Params params;  // $1.. in order
};

// Whether the criteria have a text key (TEXT, BODY, HEADER): the statement
// reads mailstore_search, so the mailbox's search backlog must be indexed first.
bool uses_text(const SearchCriterion& criteria);

// Text keys are folded with fold_search_key (message_meta.h), like the stored text.
CompiledSearch compile_search(UserId user, MailboxId mailbox, const SearchCriterion& criteria);

// SORT: the same criteria, ordered in SQL by the stored sort keys
// (mailstore_sort_keys, LEFT JOINed), then by UID. Returns (uid, missing,
// blob_sha256 when missing, else NULL): `missing` is true for a body stored
// before migration 012, whose keys the caller computes and inserts before
// asking again.
CompiledSearch compile_sort(UserId user, MailboxId mailbox, const SearchCriterion& criteria,
                            const std::vector<SortCriterion>& keys);

// THREAD: the threading keys of the matching messages by UID: (uid, missing,
// blob_sha256, sent date (the internal date when there is none) as Unix
// seconds, base_subject, reply_or_forward, message_id, thread_refs).
CompiledSearch compile_thread_keys(UserId user, MailboxId mailbox, const SearchCriterion& criteria);

}  // namespace postline::mailstore::pg
