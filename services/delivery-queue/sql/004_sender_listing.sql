-- The web portal's "sent mail" (issue 18): ListMessages with a filter on the
-- submitter (Envelope.authenticated_user) and any recipient state, newest
-- first. Without this index each page view would scan every message kept for
-- queue.keep_finished.
CREATE INDEX queue_messages_authenticated_user ON queue_messages (lower(authenticated_user), created_at)
  WHERE authenticated_user <> '';
