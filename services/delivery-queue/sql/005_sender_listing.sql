-- The web portal's "sent mail" (issue 18): ListMessages with a filter on the
-- submitter (Envelope.authenticated_user) and any recipient state, newest
-- first. Without this index each page view would scan every message kept for
-- queue.keep_finished.
-- Not partial: the filter's condition (lower(authenticated_user) = $1) does not
-- imply a predicate such as authenticated_user <> '' to the planner.
CREATE INDEX queue_messages_authenticated_user ON queue_messages (lower(authenticated_user), created_at);
-- The Subject header (RFC 2047-decoded, at most 200 characters), taken at
-- Enqueue like header_message_id, so the portal can name a message whose body
-- was never stored (delivered during Enqueue). '' for rows from before 005.
ALTER TABLE queue_messages ADD COLUMN header_subject text NOT NULL DEFAULT '';
