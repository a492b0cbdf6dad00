-- Sieve scripts (issue 19; docs/sieve.md): a user's scripts by name, uploaded
-- through ManageSieve (RFC 5804) or `postline sieve put`, and which one is
-- active (at most one per user, RFC 5804 1.4). queued runs the active script
-- at local delivery.
--
-- The script is stored as octets (bytea): exactly what was uploaded, whatever
-- it holds (ManageSieve checks the text before it gets here). `sha256` is the
-- digest of those octets: queued caches compiled scripts by it, so a delivery
-- only needs the digest to know that its cached copy is current. Names are
-- compared octet for octet (RFC 5804 1.6 names are UTF-8 strings; the caller
-- validates them).
CREATE TABLE mailstore_sieve_scripts (
  user_id bigint NOT NULL,
  name text NOT NULL CHECK (name <> ''),
  script bytea NOT NULL,
  size bigint NOT NULL GENERATED ALWAYS AS (octet_length(script)) STORED,
  sha256 bytea NOT NULL GENERATED ALWAYS AS (sha256(script)) STORED,
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, name)
);

-- The active script, one row per user that has one. A row of its own rather
-- than a flag: "at most one" is the primary key, SETACTIVE is one upsert,
-- RENAMESCRIPT of the active script carries the row along (ON UPDATE CASCADE)
-- and deleting the script deactivates it (ON DELETE CASCADE). A delivery asks
-- this small table by primary key.
CREATE TABLE mailstore_sieve_active (
  user_id bigint PRIMARY KEY,
  name text NOT NULL,
  FOREIGN KEY (user_id, name) REFERENCES mailstore_sieve_scripts (user_id, name)
    ON UPDATE CASCADE ON DELETE CASCADE
);
