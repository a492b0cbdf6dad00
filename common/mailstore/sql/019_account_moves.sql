-- Sharding (docs/DESIGN.md "Sharding"): accounts moved away from this shard
-- by `postline account move`. A writer that resolved the account before the
-- move and writes after it (a delivery that waited on the switch's locks, an
-- IMAP session that missed the BYE, a ManageSieve session) must fail rather than recreate the
-- account here, where nobody would read it: inserting a mailbox or a message
-- of a moved account raises PL010, which the writer's caller treats as a
-- temporary failure (the queue retries and asks authd again). A move back to
-- this shard removes the row before it copies.
CREATE TABLE mailstore_moved_accounts (
  user_id bigint PRIMARY KEY,
  moved_to text NOT NULL,
  moved_at timestamptz NOT NULL DEFAULT now()
);

CREATE FUNCTION mailstore_refuse_moved() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM mailstore_moved_accounts m WHERE m.user_id IN (SELECT user_id FROM added)) THEN
    RAISE EXCEPTION 'the account moved to another mailstore shard' USING ERRCODE = 'PL010';
  END IF;
  RETURN NULL;
END $$;

CREATE TRIGGER mailstore_messages_refuse_moved AFTER INSERT ON mailstore_messages
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION mailstore_refuse_moved();
CREATE TRIGGER mailstore_mailboxes_refuse_moved AFTER INSERT ON mailstore_mailboxes
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION mailstore_refuse_moved();
CREATE TRIGGER mailstore_sieve_scripts_refuse_moved AFTER INSERT ON mailstore_sieve_scripts
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION mailstore_refuse_moved();
