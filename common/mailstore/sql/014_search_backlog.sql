-- Search indexing leaves the delivery path (issue 14). A delivery or APPEND
-- stores the body and one 32-byte row here; the search text and its trigram
-- entries (mailstore_search) are built after the commit, by queued's indexer
-- in batches (pg_mail_store.h index_search_backlog), in transactions that do
-- not wait for their WAL flush - the index is derived from the blobs, so a
-- crash can only lose work that is done again. The 250 no longer waits for
-- the text copy of the body, its TOAST chunks and its GIN entries.
--
-- SEARCH still finds a message from the moment it is visible: before a text
-- key runs over a mailbox, the searching session indexes that mailbox's
-- bodies still listed here (waiting for the rows the indexer holds, so a
-- body being indexed is found too).
CREATE TABLE mailstore_search_backlog (
  sha256 bytea PRIMARY KEY REFERENCES mailstore_blobs (sha256),
  queued_at timestamptz NOT NULL DEFAULT now()
);
