-- Sharding (docs/DESIGN.md "Sharding"): the move copies the Sieve delivery
-- state too (run records with their outbox, vacation and duplicate history),
-- so a delivery that resolved the account before the move must not write a
-- run record on the old shard either - a run whose only actions are discard
-- or redirect inserts no message, so 019's triggers would not stop it.
-- PL010, as there: the queue retries and asks authd again.
CREATE TRIGGER mailstore_sieve_runs_refuse_moved AFTER INSERT ON mailstore_sieve_runs
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION mailstore_refuse_moved();
