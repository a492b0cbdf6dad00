-- Message bodies and search text are large and TOASTed. PostgreSQL's default
-- pglz compresses and (what FETCH feels) decompresses several times slower
-- than lz4, so new values use lz4 (existing rows stay as they are and remain
-- readable). A server built without lz4 keeps pglz: the migration must not
-- fail there.
DO $$
BEGIN
  ALTER TABLE mailstore_blobs ALTER COLUMN data SET COMPRESSION lz4;
  ALTER TABLE mailstore_search ALTER COLUMN search_text SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available in this PostgreSQL build: bodies stay pglz-compressed';
END
$$;
