-- Queued bodies live from Enqueue to the last delivery, and are written once and
-- read once or twice. PostgreSQL's default pglz spends more CPU compressing a
-- large body at Enqueue (inside the transaction smtpd waits on for its 250) and
-- decompressing it at delivery than lz4 does, for little space on a table that
-- empties itself; the mailstore made the same choice (common/mailstore/sql/007).
-- New rows only; existing ones stay readable. A server built without lz4 keeps
-- pglz: the migration must not fail there.
DO $$
BEGIN
  ALTER TABLE queue_messages ALTER COLUMN body SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available in this PostgreSQL build: queued bodies stay pglz-compressed';
END
$$;
