-- METADATA and METADATA-SERVER (RFC 5464): annotations of a mailbox, or of
-- the account (mailbox_id 0: the "server" annotations of the empty mailbox
-- name). /private and /shared entries alike belong to user_id: Postline has
-- no mailbox sharing, so /shared entries are seen by their owner only.
-- Entry names are stored lower-cased (they are case-insensitive, RFC 5464
-- 3.2); values are any octets (literal8 may carry NUL).
--
-- Numbered 013 while 012 is taken by another change in flight: the migration
-- runner applies whatever versions are missing, in order, and does not need
-- them contiguous (common/db/migrations.cpp).
CREATE TABLE mailstore_metadata (
  user_id bigint NOT NULL,
  mailbox_id bigint NOT NULL,  -- 0: server annotations
  entry text NOT NULL,
  value bytea NOT NULL,
  PRIMARY KEY (user_id, mailbox_id, entry)
);

-- A foreign key cannot allow mailbox 0, so the annotations of a deleted
-- mailbox go with it through this trigger, whoever deletes the row. RENAME
-- keeps the mailbox id: its annotations follow without anything to do. A
-- mailbox created again under the same name gets a new id and starts empty.
CREATE FUNCTION mailstore_metadata_mailbox_gone() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM mailstore_metadata WHERE user_id = OLD.user_id AND mailbox_id = OLD.mailbox_id;
  RETURN OLD;
END $$;
CREATE TRIGGER mailstore_metadata_mailbox_gone AFTER DELETE ON mailstore_mailboxes
  FOR EACH ROW EXECUTE FUNCTION mailstore_metadata_mailbox_gone();

-- SETMETADATA in one statement (so one transaction: all or nothing).
-- p_mailbox NULL or '' = server annotations. p_set_entries/p_set_values are
-- the values to set, p_del_entries the entries to remove (NIL); the caller
-- passes each entry once. Returns the mailbox id (0 for the server: the
-- change notification names it), -1 for no such mailbox, -2 for too many
-- entries (nothing written): the change may not leave more than p_max entries
-- unless it leaves no more than there were (removals always work).
CREATE FUNCTION mailstore_set_metadata(p_user bigint, p_mailbox text, p_set_entries text[], p_set_values bytea[],
                                       p_del_entries text[], p_max bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
  v_mailbox bigint := 0;
  v_before bigint;
  v_after bigint;
BEGIN
  IF p_mailbox IS NOT NULL AND p_mailbox <> '' THEN
    -- KEY SHARE: a concurrent DELETE of the mailbox waits for us (and then
    -- removes what we wrote), but deliveries updating the row do not.
    SELECT b.mailbox_id INTO v_mailbox FROM mailstore_mailboxes b
     WHERE b.user_id = p_user AND b.name = p_mailbox FOR KEY SHARE;
    IF NOT FOUND THEN
      RETURN -1;
    END IF;
  END IF;
  -- Concurrent SETMETADATAs of one mailbox count one after the other.
  PERFORM pg_advisory_xact_lock(hashtextextended('mailstore_metadata:' || p_user || ':' || v_mailbox, 0));
  SELECT count(*) INTO v_before FROM mailstore_metadata m WHERE m.user_id = p_user AND m.mailbox_id = v_mailbox;
  SELECT v_before
         - (SELECT count(*) FROM mailstore_metadata m WHERE m.user_id = p_user AND m.mailbox_id = v_mailbox
             AND (m.entry = ANY(p_del_entries) OR m.entry = ANY(p_set_entries)))
         + coalesce(cardinality(p_set_entries), 0)
    INTO v_after;
  IF v_after > p_max AND v_after > v_before THEN
    RETURN -2;
  END IF;
  DELETE FROM mailstore_metadata m
   WHERE m.user_id = p_user AND m.mailbox_id = v_mailbox AND m.entry = ANY(p_del_entries);
  INSERT INTO mailstore_metadata (user_id, mailbox_id, entry, value)
    SELECT p_user, v_mailbox, e, v FROM unnest(p_set_entries, p_set_values) AS n(e, v)
    ON CONFLICT (user_id, mailbox_id, entry) DO UPDATE SET value = EXCLUDED.value;
  RETURN v_mailbox;
END $$;
