-- QUOTA (RFC 9208) MESSAGE resource and IMAP quota administration.
-- quota_messages: how many messages the account may store in all its
-- mailboxes; 0 = unlimited, like quota_bytes.
-- admin: the account may read and set other accounts' quotas over IMAP
-- (GETQUOTA/SETQUOTA "user/<address>"); set only with `postline user set`.
ALTER TABLE auth_users
  ADD COLUMN quota_messages bigint NOT NULL DEFAULT 0 CHECK (quota_messages >= 0),
  ADD COLUMN admin boolean NOT NULL DEFAULT false;
