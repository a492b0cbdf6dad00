-- QRESYNC history is kept bounded: imapd prunes expunged-UID rows older than
-- imap.expunged_history (mailstore prune_expunged). expunged_at says when a
-- row was written (rows from before this migration count from now).
-- expunged_pruned_modseq is the highest MODSEQ whose row was pruned from the
-- mailbox: a client resyncing from a MODSEQ below it gets every missing UID
-- below UIDNEXT as VANISHED (EARLIER) instead of the exact list (RFC 7162
-- 3.2.5.2 allows that superset); at or above it the history is exact.
ALTER TABLE mailstore_expunged ADD COLUMN expunged_at timestamptz NOT NULL DEFAULT now();
CREATE INDEX mailstore_expunged_age ON mailstore_expunged (expunged_at);
ALTER TABLE mailstore_mailboxes ADD COLUMN expunged_pruned_modseq bigint NOT NULL DEFAULT 0;
