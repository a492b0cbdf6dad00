-- The mailbox store (RFC 3501/9051 state, RFC 7162 MODSEQ). Every per-user
-- table starts its primary key with user_id so the store can be sharded by
-- user (Citus) without cross-user joins. user_id is the auth service's user id;
-- there is no foreign key across components on purpose.

CREATE EXTENSION IF NOT EXISTS pg_trgm;

-- One row per user the store has seen. Its insertion decides who creates the
-- default mailboxes, and it carries per-user limits.
CREATE TABLE mailstore_accounts (
  user_id bigint PRIMARY KEY,
  quota_storage bigint,          -- bytes; NULL = unlimited
  quota_messages bigint,         -- NULL = unlimited
  created_at timestamptz NOT NULL DEFAULT now()
);

-- UIDVALIDITY must differ for every incarnation of a mailbox name (RFC 9051
-- 2.3.1.1), also after DELETE + CREATE of the same name, so it comes from a
-- sequence that never goes back. It must fit in 32 bits and be non-zero.
CREATE SEQUENCE mailstore_uidvalidity_seq MINVALUE 1 MAXVALUE 4294967295 CYCLE;

CREATE TABLE mailstore_mailboxes (
  user_id bigint NOT NULL,
  mailbox_id bigint GENERATED ALWAYS AS IDENTITY,
  name text NOT NULL,             -- UTF-8, '/' hierarchy, 'INBOX' always upper case
  special_use text,               -- '\Sent', '\Drafts', ... (RFC 6154) or NULL
  uidvalidity bigint NOT NULL DEFAULT nextval('mailstore_uidvalidity_seq'),
  uidnext bigint NOT NULL DEFAULT 1,
  highestmodseq bigint NOT NULL DEFAULT 1,
  created_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, mailbox_id),
  UNIQUE (user_id, name),
  CHECK (uidnext BETWEEN 1 AND 4294967296),
  CHECK (uidvalidity BETWEEN 1 AND 4294967295)
);

-- Subscriptions are names, not mailboxes: RFC 9051 6.3.7 allows subscribing to
-- a name that does not (or no longer) exist.
CREATE TABLE mailstore_subscriptions (
  user_id bigint NOT NULL,
  name text NOT NULL,
  PRIMARY KEY (user_id, name)
);

-- Content-addressed message bodies: the PostgreSQL backend of BlobStore. One
-- row however many recipients or COPYs refer to it. Not per user on purpose
-- (deduplication); a sharded deployment moves bodies to an object store.
CREATE TABLE mailstore_blobs (
  sha256 bytea PRIMARY KEY,
  size bigint NOT NULL,
  data bytea NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE mailstore_messages (
  user_id bigint NOT NULL,
  mailbox_id bigint NOT NULL,
  uid bigint NOT NULL,
  blob_sha256 bytea NOT NULL,
  size bigint NOT NULL,                      -- RFC822.SIZE, bytes as stored (CRLF)
  internaldate timestamptz NOT NULL,
  savedate timestamptz NOT NULL DEFAULT now(),  -- RFC 8514
  modseq bigint NOT NULL,
  flags text[] NOT NULL DEFAULT '{}',         -- system flags ('\Seen') and keywords
  -- Parsed once at delivery/APPEND (never at FETCH time). meta_version says
  -- which parser produced the columns below, so a newer imapd can re-derive
  -- them lazily for old rows.
  meta_version integer NOT NULL DEFAULT 1,
  header_size bigint NOT NULL,               -- bytes up to and including the empty line
  envelope text,                             -- IMAP ENVELOPE, ready to send
  bodystructure text,                        -- IMAP BODYSTRUCTURE (with extension data)
  body text,                                 -- IMAP BODY (no extension data)
  mime_parts jsonb,                          -- part tree with byte offsets
  preview text,                              -- RFC 8970
  search_text text NOT NULL DEFAULT '',      -- case-folded UTF-8 for SEARCH (pg_trgm)
  email_id text NOT NULL,                    -- RFC 8474 EMAILID: stable across COPY/MOVE
  PRIMARY KEY (user_id, mailbox_id, uid),
  FOREIGN KEY (user_id, mailbox_id) REFERENCES mailstore_mailboxes (user_id, mailbox_id) ON DELETE CASCADE,
  FOREIGN KEY (blob_sha256) REFERENCES mailstore_blobs (sha256)
);

-- CONDSTORE: "what changed since MODSEQ n" in one mailbox.
CREATE INDEX mailstore_messages_modseq ON mailstore_messages (user_id, mailbox_id, modseq);
-- SEARCH BODY/TEXT/SUBJECT... substrings use the trigram index, not the bodies.
CREATE INDEX mailstore_messages_search ON mailstore_messages USING gin (search_text gin_trgm_ops);
-- Finding blobs no message refers to any more (garbage collection).
CREATE INDEX mailstore_messages_blob ON mailstore_messages (blob_sha256);

-- QRESYNC (RFC 7162 3.2.5): expunged UIDs with the MODSEQ of their expunge.
CREATE TABLE mailstore_expunged (
  user_id bigint NOT NULL,
  mailbox_id bigint NOT NULL,
  uid bigint NOT NULL,
  modseq bigint NOT NULL,
  PRIMARY KEY (user_id, mailbox_id, uid),
  FOREIGN KEY (user_id, mailbox_id) REFERENCES mailstore_mailboxes (user_id, mailbox_id) ON DELETE CASCADE
);
CREATE INDEX mailstore_expunged_modseq ON mailstore_expunged (user_id, mailbox_id, modseq);

-- Exactly-once delivery: the queue's recipient id per user. Kept even when
-- the message or its mailbox is deleted later, so a late retry still finds it.
CREATE TABLE mailstore_deliveries (
  user_id bigint NOT NULL,
  delivery_key text NOT NULL,
  mailbox_id bigint,
  uid bigint,
  delivered_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, delivery_key)
);
