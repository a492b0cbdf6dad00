-- The mailbox local recipients of a message are delivered into (smtpd's spam
-- verdict: 'Junk'; '' = INBOX), from Envelope.target_mailbox.
--
-- NULL marks rows enqueued before this migration: for those, local delivery
-- still honours the "X-Postline-Mailbox: Junk" header that smtpd used to write
-- into the message. Every row enqueued from now on has a non-NULL value.
ALTER TABLE queue_messages ADD COLUMN target_mailbox text;
