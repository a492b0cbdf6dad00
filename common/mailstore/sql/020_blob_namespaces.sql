-- Sharding with bodies in S3 (docs/DESIGN.md "Sharding", "Bodies in S3 across
-- shards"): every database (shard) owns the objects of its own namespace,
-- <s3_prefix><namespace><hex[0:2]>/<hex>, and only its own sweeper deletes
-- there, judging by its own catalogue, intents and advisory locks. No two
-- shards share an object, so a sweeper never deletes what another shard
-- references; `postline account move` copies each object of the account into
-- the target's namespace (under the target's upload intents) before the target
-- commits its catalogue rows, and the source's objects are collected by the
-- source's sweeper once its rows are gone.
--
-- The namespace is a property of the database, not of the configuration, so
-- renaming a shard in mailstore.shards cannot lose its bodies. A database that
-- holds external bodies already (written before this migration, with the
-- plain prefix) keeps the empty namespace: its objects stay where they are.
CREATE TABLE mailstore_blob_namespace (
  only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
  namespace text NOT NULL CHECK (namespace ~ '^([a-z0-9-]+/)?$')
);
INSERT INTO mailstore_blob_namespace (namespace)
SELECT CASE WHEN EXISTS (SELECT 1 FROM mailstore_blobs WHERE data IS NULL) THEN ''
            ELSE 'db-' || substr(md5(random()::text || clock_timestamp()::text || pg_backend_pid()::text), 1, 16) || '/'
       END;
