-- Sharding (docs/DESIGN.md "Sharding"): the mailstore cluster an account's
-- mail lives on, by name (mailstore.shards names the URLs; 'main' is db.url
-- when no shards are configured). moving: `postline account move` is
-- switching the account between shards right now; deliveries for it defer
-- (4xx, retried by the queue) and new IMAP logins wait until it is over.
ALTER TABLE auth_users
  ADD COLUMN shard text NOT NULL DEFAULT 'main' CHECK (shard ~ '^[a-z0-9_-]{1,63}$'),
  ADD COLUMN moving boolean NOT NULL DEFAULT false;
CREATE INDEX auth_users_shard ON auth_users (shard);
