-- Operator tools (issue 17): hold/release/requeue, filters, and attempts that
-- say whether their reply came from the remote.
--
-- held_at: the recipient is on hold (postsuper -h) since then; NULL = not held.
-- Kept on the recipient, not the message, because the claim reads only
-- queue_recipients: the due index below leaves held rows out, so a large held
-- backlog costs the claim nothing. Hold and release change every pending
-- recipient of a message together (one statement).
ALTER TABLE queue_recipients ADD COLUMN held_at timestamptz;
-- attempts at the last `queue requeue`: the retry schedule starts over from
-- here (attempts - backoff_base is the step), while `attempts` stays the total.
ALTER TABLE queue_recipients ADD COLUMN backoff_base integer NOT NULL DEFAULT 0;
-- `queue requeue` restarts the message's lifetime (queue.max_lifetime counts
-- from here when set, else from created_at), as postsuper -r does.
ALTER TABLE queue_messages ADD COLUMN requeued_at timestamptz;
-- The Message-ID header (without <>), taken at Enqueue for `--message-id`.
-- NULL for rows enqueued before this migration (not matched by the filter).
ALTER TABLE queue_messages ADD COLUMN header_message_id text;
-- The reply came from the remote server (true) or is our own decision (false:
-- DNS, connection trouble, SMTPUTF8 not offered). NULL before this migration.
ALTER TABLE queue_attempts ADD COLUMN remote_reply boolean;

DROP INDEX queue_recipients_due;
CREATE INDEX queue_recipients_due ON queue_recipients (next_attempt_at)
  WHERE state IN ('queued', 'deferred') AND held_at IS NULL;
CREATE INDEX queue_recipients_held ON queue_recipients (message_id) WHERE held_at IS NOT NULL;
CREATE INDEX queue_messages_header_message_id ON queue_messages (header_message_id)
  WHERE header_message_id IS NOT NULL;
