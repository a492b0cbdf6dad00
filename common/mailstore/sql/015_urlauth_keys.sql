-- URLAUTH (RFC 4467): the mailbox access key of the INTERNAL mechanism, one
-- per mailbox of a user (common/urlauth signs URLs with it: HMAC-SHA256).
-- Made by the first GENURLAUTH of the mailbox, removed by RESETKEY (the next
-- GENURLAUTH makes a new one, so every URL authorized before stops working),
-- removed with the mailbox (foreign key), kept through RENAME (same id).
CREATE TABLE mailstore_urlauth_keys (
  user_id bigint NOT NULL,
  mailbox_id bigint NOT NULL,
  access_key bytea NOT NULL CHECK (octet_length(access_key) = 32),
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, mailbox_id),
  FOREIGN KEY (user_id, mailbox_id) REFERENCES mailstore_mailboxes (user_id, mailbox_id) ON DELETE CASCADE
);
