-- Per-mailbox totals kept by statement triggers, so QUOTA usage and the quota
-- check at delivery read a user's few mailbox rows instead of summing every
-- message (which grew linearly with the mailbox and ran under the account lock).
-- Every writer locks the mailbox row before inserting or deleting its messages
-- (UID/MODSEQ allocation, EXPUNGE's FOR UPDATE), so the trigger's UPDATE of
-- that row takes no new lock and adds no lock-order hazard. Message rows never
-- change size or mailbox after insert (MOVE is insert + delete), so INSERT and
-- DELETE triggers are all that is needed.
ALTER TABLE mailstore_mailboxes
  ADD COLUMN total_bytes bigint NOT NULL DEFAULT 0,
  ADD COLUMN total_messages bigint NOT NULL DEFAULT 0;

UPDATE mailstore_mailboxes b SET total_bytes = t.bytes, total_messages = t.n
  FROM (SELECT user_id, mailbox_id, sum(size) AS bytes, count(*) AS n
          FROM mailstore_messages GROUP BY user_id, mailbox_id) t
 WHERE b.user_id = t.user_id AND b.mailbox_id = t.mailbox_id;

CREATE FUNCTION mailstore_totals_add() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE mailstore_mailboxes b
     SET total_bytes = b.total_bytes + d.bytes, total_messages = b.total_messages + d.n
    FROM (SELECT user_id, mailbox_id, sum(size) AS bytes, count(*) AS n
            FROM added GROUP BY user_id, mailbox_id) d
   WHERE b.user_id = d.user_id AND b.mailbox_id = d.mailbox_id;
  RETURN NULL;
END $$;

CREATE FUNCTION mailstore_totals_remove() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE mailstore_mailboxes b
     SET total_bytes = b.total_bytes - d.bytes, total_messages = b.total_messages - d.n
    FROM (SELECT user_id, mailbox_id, sum(size) AS bytes, count(*) AS n
            FROM removed GROUP BY user_id, mailbox_id) d
   WHERE b.user_id = d.user_id AND b.mailbox_id = d.mailbox_id;
  RETURN NULL;
END $$;

CREATE TRIGGER mailstore_messages_totals_insert AFTER INSERT ON mailstore_messages
  REFERENCING NEW TABLE AS added FOR EACH STATEMENT EXECUTE FUNCTION mailstore_totals_add();
CREATE TRIGGER mailstore_messages_totals_delete AFTER DELETE ON mailstore_messages
  REFERENCING OLD TABLE AS removed FOR EACH STATEMENT EXECUTE FUNCTION mailstore_totals_remove();
