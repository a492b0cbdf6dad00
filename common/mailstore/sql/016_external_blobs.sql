-- Bodies outside PostgreSQL (issue 21, `mailstore.blob_backend: s3`). With an
-- external blob store, mailstore_blobs stays the catalogue of every body - the
-- row that messages, search rows and sort keys refer to, with its size - and
-- `data` is NULL: the bytes are the object <prefix><hex[0:2]>/<hex> of the
-- SHA-256 in the bucket. Rows written before (or by a PostgreSQL-backed
-- instance) keep their data and stay readable whatever the setting.
--
-- No orphan, no dangling reference (docs/DESIGN.md "Blob storage"):
--   1. a writer records an intent for each body (mailstore_blob_intents,
--      committed, under a shared advisory lock on the body's key), then
--      uploads the object, then inserts the catalogue and message rows and
--      deletes its intents in one transaction (mailstore_finish_blob_intents:
--      an intent that is gone means the sweeper gave up on this writer, and
--      the transaction fails rather than refer to an object that may be gone);
--   2. the sweeper (PgMailStore::sweep_blobs) deletes objects only under the
--      exclusive advisory lock of their key, after checking in a statement of
--      its own that no intent and no catalogue row names them: the object of
--      an intent older than the grace period whose writer never committed, and
--      the object of a catalogue row no message has referred to for the grace
--      period (mark and sweep: `gc_marked_at`).
ALTER TABLE mailstore_blobs ALTER COLUMN data DROP NOT NULL;
ALTER TABLE mailstore_blobs ADD COLUMN gc_marked_at timestamptz;

-- The external bodies, for the sweeper's mark pass; empty while bodies are in PostgreSQL.
CREATE INDEX mailstore_blobs_external ON mailstore_blobs (sha256) WHERE data IS NULL;
CREATE INDEX mailstore_blobs_marked ON mailstore_blobs (gc_marked_at) WHERE gc_marked_at IS NOT NULL;

CREATE TABLE mailstore_blob_intents (
  intent_id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
  sha256 bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX mailstore_blob_intents_sha256 ON mailstore_blob_intents (sha256);
CREATE INDEX mailstore_blob_intents_created ON mailstore_blob_intents (created_at);

-- In the writer's transaction: its intents are done, and its bodies, should
-- the sweeper have marked them unreferenced, are referenced again. Raises
-- PL003 when an intent is missing (the sweeper expired it and may have
-- deleted the object), which rolls the whole write back.
CREATE FUNCTION mailstore_finish_blob_intents(p_ids bigint[], p_shas bytea[]) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint;
BEGIN
  DELETE FROM mailstore_blob_intents WHERE intent_id = ANY(p_ids);
  GET DIAGNOSTICS v_n = ROW_COUNT;
  IF v_n <> cardinality(p_ids) THEN
    RAISE EXCEPTION 'blob upload intent expired before its commit' USING ERRCODE = 'PL003';
  END IF;
  UPDATE mailstore_blobs SET gc_marked_at = NULL WHERE sha256 = ANY(p_shas) AND gc_marked_at IS NOT NULL;
END $$;
