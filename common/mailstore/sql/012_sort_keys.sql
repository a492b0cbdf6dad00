-- SORT (RFC 5256, RFC 5957 SORT=DISPLAY) and THREAD (RFC 5256) keys. Like the
-- search text, they are a function of the message bytes, so they are kept
-- once per distinct body, keyed like the blob, and inserted with it before
-- the mailbox row is locked (message_meta.h SortKeys says what each is).
-- A table of its own rather than columns of mailstore_search: SORT reads
-- these narrow rows for a whole mailbox, and the search rows carry up to
-- 256 KiB of text each.
--
-- Bodies stored before this migration have no row. They are not backfilled
-- here (the keys come from parsing the message, which SQL cannot do): the
-- first SORT or THREAD that meets such a message computes its keys from the
-- blob and inserts them (pg_mail_store.cpp), once; every later one reads them.
CREATE TABLE mailstore_sort_keys (
  sha256 bytea PRIMARY KEY REFERENCES mailstore_blobs (sha256),
  base_subject text NOT NULL,            -- RFC 5256 2.1, case-folded
  reply_or_forward boolean NOT NULL,     -- the base subject lost a re:/fwd: marker
  from_mailbox text NOT NULL,            -- local part of the first From, lowercased
  to_mailbox text NOT NULL,
  cc_mailbox text NOT NULL,
  display_from text NOT NULL,            -- RFC 5957, case-folded
  display_to text NOT NULL,
  sent_at bigint,                        -- Date: as Unix seconds (UTC); NULL: use the internal date
  message_id text NOT NULL,              -- '' when none
  thread_refs text[] NOT NULL            -- References (or In-Reply-To) msg-ids, oldest first
);
