-- Sieve at delivery on every shard (docs/DESIGN.md "Sharding", docs/sieve.md
-- "How delivery runs scripts"): on a shard other than the one on db.url, the
-- run's transaction cannot also hold the queue rows of the messages it sends
-- (redirects, the vacation reply): the queue is in another database. Those
-- messages are kept here with the run record, in the run's transaction, and
-- queued by the worker in the same queue transaction that records the
-- recipient as delivered. A retry after a crash between the two commits finds
-- the run record and queues them from here: exactly once, as on the default
-- shard. Deleted with their run record (pruning).
CREATE TABLE mailstore_sieve_outbox (
  user_id bigint NOT NULL,
  run_key text NOT NULL,
  n integer NOT NULL,
  queue_id text NOT NULL,
  mail_from text NOT NULL,
  helo text NOT NULL,
  client_ip text NOT NULL,
  authenticated_user text NOT NULL,
  dsn_ret text NOT NULL,
  dsn_envid text NOT NULL,
  smtputf8 boolean NOT NULL,
  body_type text NOT NULL,
  is_dsn boolean NOT NULL,
  target_mailbox text NOT NULL,
  recipients text[] NOT NULL,
  notify text[] NOT NULL,
  orcpt text[] NOT NULL,
  body bytea NOT NULL,
  PRIMARY KEY (user_id, run_key, n),
  FOREIGN KEY (user_id, run_key) REFERENCES mailstore_sieve_runs (user_id, run_key) ON DELETE CASCADE
);
