-- SEARCH text is a function of the message bytes, so it is stored once per
-- distinct body, keyed like the blob, instead of in every message row:
--  * delivery inserts it before taking the mailbox row lock, so the costly
--    trigram GIN insert no longer serialises deliveries into one mailbox;
--  * a message sent to many local recipients (or COPYed) is indexed once.
-- Queries join mailstore_messages.blob_sha256 to it. Rows live as long as
-- their blob (blobs are never deleted yet).
CREATE TABLE mailstore_search (
  sha256 bytea PRIMARY KEY REFERENCES mailstore_blobs (sha256),
  search_text text NOT NULL
);
INSERT INTO mailstore_search (sha256, search_text)
  SELECT DISTINCT ON (blob_sha256) blob_sha256, search_text FROM mailstore_messages ORDER BY blob_sha256;
CREATE INDEX mailstore_search_trgm ON mailstore_search USING gin (search_text gin_trgm_ops);
DROP INDEX mailstore_messages_search;
ALTER TABLE mailstore_messages DROP COLUMN search_text;
