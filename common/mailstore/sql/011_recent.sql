-- \Recent (RFC 3501 2.3.2, issue 15). A message is recent for exactly one
-- session: the first that selects its mailbox read-write after it arrived
-- (or that sees it arrive while selected). Each mailbox keeps one mark, the
-- lowest UID no session has claimed; a claim moves it to the UIDNEXT the
-- session saw, and the UIDs in between are that session's (Dovecot keeps
-- the same mark in its index header). A row of its own, not a column of
-- mailstore_mailboxes: a claim must not wait for the mailbox row that every
-- delivery locks through its commit. No row means 1: all mail is unclaimed.
CREATE TABLE mailstore_recent (
  user_id bigint NOT NULL,
  mailbox_id bigint NOT NULL,
  first_recent_uid bigint NOT NULL,
  PRIMARY KEY (user_id, mailbox_id),
  FOREIGN KEY (user_id, mailbox_id) REFERENCES mailstore_mailboxes (user_id, mailbox_id) ON DELETE CASCADE
);

-- Mail that was there before this migration is not new to anyone.
INSERT INTO mailstore_recent (user_id, mailbox_id, first_recent_uid)
  SELECT user_id, mailbox_id, uidnext FROM mailstore_mailboxes;

-- Moves the mark to p_up_to; returns where it was, NULL when it was there
-- already (nothing claimed, nothing written). The row lock orders concurrent
-- claims: each UID goes to one session.
CREATE FUNCTION mailstore_claim_recent(p_user bigint, p_mailbox bigint, p_up_to bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_was bigint;
BEGIN
  -- Every selected session asks after new mail; all but the first find the
  -- mark moved already, and need no lock to see it.
  SELECT r.first_recent_uid INTO v_was FROM mailstore_recent r
   WHERE r.user_id = p_user AND r.mailbox_id = p_mailbox;
  IF FOUND AND v_was >= p_up_to THEN
    RETURN NULL;
  END IF;
  SELECT r.first_recent_uid INTO v_was FROM mailstore_recent r
   WHERE r.user_id = p_user AND r.mailbox_id = p_mailbox FOR UPDATE;
  IF NOT FOUND THEN
    INSERT INTO mailstore_recent (user_id, mailbox_id, first_recent_uid)
      SELECT p_user, p_mailbox, p_up_to
       WHERE EXISTS (SELECT 1 FROM mailstore_mailboxes b WHERE b.user_id = p_user AND b.mailbox_id = p_mailbox)
      ON CONFLICT DO NOTHING;
    IF FOUND THEN
      RETURN 1;
    END IF;
    -- A concurrent first claim won the insert (or the mailbox is gone): take its row.
    SELECT r.first_recent_uid INTO v_was FROM mailstore_recent r
     WHERE r.user_id = p_user AND r.mailbox_id = p_mailbox FOR UPDATE;
    IF NOT FOUND THEN
      RETURN NULL;
    END IF;
  END IF;
  IF v_was >= p_up_to THEN
    RETURN NULL;
  END IF;
  UPDATE mailstore_recent r SET first_recent_uid = p_up_to
   WHERE r.user_id = p_user AND r.mailbox_id = p_mailbox;
  RETURN v_was;
END $$;
