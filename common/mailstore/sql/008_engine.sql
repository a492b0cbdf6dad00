-- The storage engine (issue 13): an index that SELECT and FETCH FLAGS read
-- without touching anything else, a header cache for the FETCH items clients
-- list folders with, and the write paths as server-side functions so each
-- IMAP write is one round trip.
--
-- 1. Flags: system flags as bits (sysflags: 1 \Seen, 2 \Answered, 4 \Flagged,
--    8 \Deleted, 16 \Draft; mailstore::SystemFlag), keywords as a sorted text
--    array or NULL. Compact in the index and cheap to test in SEARCH.
ALTER TABLE mailstore_messages
  ADD COLUMN sysflags smallint NOT NULL DEFAULT 0,
  ADD COLUMN keywords text[],
  -- The header section (up to and including the blank line) when it is at most
  -- 64 KiB: FETCH BODY[HEADER.FIELDS (...)], RFC822.HEADER and friends read it
  -- here instead of cutting it out of the compressed body.
  ADD COLUMN header bytea;

UPDATE mailstore_messages m SET
  sysflags = (CASE WHEN '\Seen' = ANY(m.flags) THEN 1 ELSE 0 END)
           | (CASE WHEN '\Answered' = ANY(m.flags) THEN 2 ELSE 0 END)
           | (CASE WHEN '\Flagged' = ANY(m.flags) THEN 4 ELSE 0 END)
           | (CASE WHEN '\Deleted' = ANY(m.flags) THEN 8 ELSE 0 END)
           | (CASE WHEN '\Draft' = ANY(m.flags) THEN 16 ELSE 0 END),
  keywords = NULLIF(ARRAY(SELECT f FROM unnest(m.flags) f WHERE left(f, 1) <> '\' ORDER BY f COLLATE "C"), '{}'),
  header = CASE WHEN m.header_size <= 65536
                THEN (SELECT substring(b.data FROM 1 FOR m.header_size::integer) FROM mailstore_blobs b
                       WHERE b.sha256 = m.blob_sha256) END;
ALTER TABLE mailstore_messages DROP COLUMN flags;

-- SELECT and the resync after a change read (uid, modseq, sysflags, keywords)
-- for a whole mailbox: with these columns in the index that is an index-only
-- scan, which never touches the wide message rows.
CREATE INDEX mailstore_messages_index ON mailstore_messages (user_id, mailbox_id, uid)
  INCLUDE (modseq, sysflags, keywords);

-- STATUS UNSEEN / DELETED count these without reading the mailbox.
CREATE INDEX mailstore_messages_unseen ON mailstore_messages (user_id, mailbox_id) WHERE (sysflags & 1) = 0;
CREATE INDEX mailstore_messages_deleted ON mailstore_messages (user_id, mailbox_id) WHERE (sysflags & 8) <> 0;

-- Bodies are stored uncompressed from now on (rows written before stay as they
-- are and stay readable). Measured with bench/imap_fetch.py on the dev
-- machine: reading bodies back costs PostgreSQL about a tenth less CPU without
-- decompressing, and byte ranges (BODY[1], BINARY[1], partials) fetch only the
-- TOAST chunks they need instead of decompressing from the start. What
-- compression saved is mostly text; the bulk of mail by size is attachments,
-- base64 of already-compressed files, which lz4 barely shrinks. Dovecot's
-- default storage is uncompressed too. An operator who prefers the disk space:
-- ALTER TABLE mailstore_blobs ALTER COLUMN data SET STORAGE EXTENDED.
ALTER TABLE mailstore_blobs ALTER COLUMN data SET STORAGE EXTERNAL;

DO $$
BEGIN
  ALTER TABLE mailstore_messages ALTER COLUMN header SET COMPRESSION lz4;
  ALTER TABLE mailstore_messages ALTER COLUMN structure SET COMPRESSION lz4;
EXCEPTION WHEN feature_not_supported OR invalid_parameter_value THEN
  RAISE NOTICE 'lz4 is not available in this PostgreSQL build: headers stay pglz-compressed';
END
$$;

-- UID lists arrive as arrays; they are matched with IN (SELECT unnest(...)),
-- a hashed semi-join, never uid = ANY(array), which is a linear search per
-- row (quadratic for STORE 1:* on a big mailbox).
--
-- Errors the functions below raise for the caller to map (class PL is ours):
--   PL001 no such mailbox, PL002 over quota.

-- Keyword set arithmetic; NULL is the empty set, results are sorted bytewise.
CREATE FUNCTION mailstore_kw_union(a text[], b text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT NULLIF(ARRAY(SELECT DISTINCT k COLLATE "C" FROM unnest(coalesce(a, '{}') || coalesce(b, '{}')) k
                      ORDER BY 1), '{}')
$$;
CREATE FUNCTION mailstore_kw_minus(a text[], b text[]) RETURNS text[]
LANGUAGE sql IMMUTABLE AS $$
  SELECT NULLIF(ARRAY(SELECT k FROM unnest(coalesce(a, '{}')) k WHERE NOT (k = ANY(coalesce(b, '{}')))
                      ORDER BY k COLLATE "C"), '{}')
$$;

-- Creates the account and its default mailboxes (subscribed) the first time a
-- user is seen. The names come from the caller (mailstore default_mailboxes(),
-- the one list). The account row's key makes a concurrent second caller wait
-- and then do nothing.
CREATE FUNCTION mailstore_ensure_account(p_user bigint, p_names text[], p_special text[]) RETURNS boolean
LANGUAGE plpgsql AS $$
BEGIN
  INSERT INTO mailstore_accounts (user_id) VALUES (p_user) ON CONFLICT (user_id) DO NOTHING;
  IF NOT FOUND THEN RETURN false; END IF;
  INSERT INTO mailstore_mailboxes (user_id, name, special_use)
    SELECT p_user, n, NULLIF(s, '') FROM unnest(p_names, p_special) AS d(n, s)
    ON CONFLICT (user_id, name) DO NOTHING;
  INSERT INTO mailstore_subscriptions (user_id, name) SELECT p_user, n FROM unnest(p_names) n
    ON CONFLICT DO NOTHING;
  RETURN true;
END $$;

-- The user's stored bytes and messages (per-mailbox totals kept by triggers, 006).
CREATE FUNCTION mailstore_usage(p_user bigint, OUT bytes bigint, OUT messages bigint)
LANGUAGE sql STABLE AS $$
  SELECT COALESCE(sum(total_bytes), 0)::bigint, COALESCE(sum(total_messages), 0)::bigint
    FROM mailstore_mailboxes WHERE user_id = p_user
$$;

-- A write of several messages (MULTIAPPEND, a delivery batch) is one call
-- with one array per column (element i describes message i): one round
-- trip, and one UID range, one MODSEQ and one update of the mailbox row per
-- batch. The mailbox row is locked by that update until commit, which keeps
-- MODSEQs visible in order (mail_store.h). No NULLs inside the arrays: an
-- empty preview, header or keyword list and a sent day or internal date of
-- -2^63 stand for "none". Keywords of one message are one space-separated
-- text (keywords are atoms: no spaces).
CREATE FUNCTION mailstore_insert_batch(
    p_user bigint, p_mailbox bigint, p_first_uid bigint, p_modseq bigint, p_take bigint[],
    p_shas bytea[], p_sizes bigint[], p_header_sizes bigint[], p_previews text[], p_email_ids text[],
    p_structures bytea[], p_sent_days bigint[], p_headers bytea[], p_sysflags bigint[], p_keywords text[],
    p_internaldates bigint[], p_meta_version bigint)
RETURNS void LANGUAGE sql AS $$
  INSERT INTO mailstore_messages (user_id, mailbox_id, uid, blob_sha256, size, internaldate, modseq,
      sysflags, keywords, meta_version, header_size, preview, email_id, structure, sent_date, header)
  SELECT p_user, p_mailbox, p_first_uid + k.pos - 1, t.sha, t.size,
         CASE WHEN t.idate = -9223372036854775808 THEN now() ELSE to_timestamp(t.idate) END, p_modseq,
         t.sys::smallint, NULLIF(string_to_array(t.kw, ' '), '{}'), p_meta_version::integer, t.hsize,
         NULLIF(t.preview, ''), t.email_id, t.structure,
         CASE WHEN t.day = -9223372036854775808 THEN NULL ELSE DATE '1970-01-01' + t.day::integer END,
         NULLIF(t.header, ''::bytea)
    FROM unnest(p_take) WITH ORDINALITY AS k(item, pos)
    JOIN unnest(p_shas, p_sizes, p_header_sizes, p_previews, p_email_ids, p_structures, p_sent_days, p_headers,
                p_sysflags, p_keywords, p_internaldates)
         WITH ORDINALITY AS t(sha, size, hsize, preview, email_id, structure, day, header, sys, kw, idate, item)
      ON t.item = k.item
$$;

-- APPEND / MULTIAPPEND (RFC 3502: all or nothing). The quota is a soft
-- limit: no lock across the user's mailboxes. Returns (mailbox_id,
-- uidvalidity, first uid, modseq); message i got first uid + i - 1.
CREATE FUNCTION mailstore_append(
    p_user bigint, p_mailbox text, p_quota_bytes bigint, p_quota_messages bigint,
    p_shas bytea[], p_sizes bigint[], p_header_sizes bigint[], p_previews text[], p_email_ids text[],
    p_structures bytea[], p_sent_days bigint[], p_headers bytea[], p_sysflags bigint[], p_keywords text[],
    p_internaldates bigint[], p_meta_version bigint)
RETURNS TABLE (mailbox_id bigint, uidvalidity bigint, uid bigint, modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint := cardinality(p_shas);
  v_id bigint; v_uv bigint; v_first bigint; v_modseq bigint; v_bytes bigint; v_msgs bigint;
BEGIN
  IF p_quota_bytes > 0 OR p_quota_messages > 0 THEN
    SELECT u.bytes, u.messages INTO v_bytes, v_msgs FROM mailstore_usage(p_user) u;
    IF (p_quota_bytes > 0 AND v_bytes + (SELECT sum(x) FROM unnest(p_sizes) x) > p_quota_bytes)
       OR (p_quota_messages > 0 AND v_msgs + v_n > p_quota_messages) THEN
      RAISE EXCEPTION 'over quota' USING ERRCODE = 'PL002';
    END IF;
  END IF;
  UPDATE mailstore_mailboxes b SET uidnext = b.uidnext + v_n, highestmodseq = b.highestmodseq + 1
   WHERE b.user_id = p_user AND b.name = p_mailbox
   RETURNING b.mailbox_id, b.uidvalidity, b.uidnext - v_n, b.highestmodseq INTO v_id, v_uv, v_first, v_modseq;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'PL001';
  END IF;
  PERFORM mailstore_insert_batch(p_user, v_id, v_first, v_modseq, ARRAY(SELECT generate_series(1, v_n)),
      p_shas, p_sizes, p_header_sizes, p_previews, p_email_ids, p_structures, p_sent_days, p_headers, p_sysflags,
      p_keywords, p_internaldates, p_meta_version);
  RETURN QUERY SELECT v_id, v_uv, v_first, v_modseq;
END $$;

-- Delivery from the queue: several messages for one user and mailbox,
-- exactly once per (user, key), item by item in order. Returns one row per
-- item: status 0 delivered, 1 duplicate (mailbox_id/uid of the first
-- delivery), 2 over the byte quota, 3 larger than the byte quota, 4 over the
-- message quota (2-4: nothing inserted, the key stays unclaimed so a retry
-- may succeed). Keys are claimed first: a concurrent delivery of the same key
-- waits for the other transaction and then sees the conflict. The quota is
-- strict: the account row lock serialises quota-checked deliveries of one
-- user. A missing mailbox is created (a default one the user deleted, such as
-- Junk, comes back with its special use; p_special '' for none).
CREATE FUNCTION mailstore_deliver(
    p_user bigint, p_mailbox text, p_special text, p_quota_bytes bigint, p_quota_messages bigint,
    p_keys text[], p_shas bytea[], p_sizes bigint[], p_header_sizes bigint[], p_previews text[],
    p_email_ids text[], p_structures bytea[], p_sent_days bigint[], p_headers bytea[], p_meta_version bigint)
RETURNS TABLE (item bigint, status integer, mailbox_id bigint, uid bigint, modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint := cardinality(p_keys);
  v_status integer[] := array_fill(0, ARRAY[v_n::integer]);
  v_take bigint[] := '{}';
  v_bytes bigint; v_msgs bigint; v_size bigint;
  v_id bigint; v_uv bigint; v_first bigint; v_modseq bigint;
BEGIN
  FOR i IN 1..v_n LOOP
    INSERT INTO mailstore_deliveries (user_id, delivery_key) VALUES (p_user, p_keys[i]) ON CONFLICT DO NOTHING;
    IF NOT FOUND THEN v_status[i] := 1; END IF;
  END LOOP;
  IF p_quota_bytes > 0 OR p_quota_messages > 0 THEN
    PERFORM 1 FROM mailstore_accounts ac WHERE ac.user_id = p_user FOR UPDATE;
    SELECT u.bytes, u.messages INTO v_bytes, v_msgs FROM mailstore_usage(p_user) u;
  END IF;
  FOR i IN 1..v_n LOOP
    CONTINUE WHEN v_status[i] = 1;
    v_size := p_sizes[i];
    IF p_quota_bytes > 0 AND (v_size > p_quota_bytes OR v_bytes + v_size > p_quota_bytes) THEN
      v_status[i] := CASE WHEN v_size > p_quota_bytes THEN 3 ELSE 2 END;
    ELSIF p_quota_messages > 0 AND v_msgs + 1 > p_quota_messages THEN
      v_status[i] := 4;
    END IF;
    IF v_status[i] <> 0 THEN
      DELETE FROM mailstore_deliveries d WHERE d.user_id = p_user AND d.delivery_key = p_keys[i];
      CONTINUE;
    END IF;
    v_bytes := v_bytes + v_size;
    v_msgs := v_msgs + 1;
    v_take := v_take || i::bigint;
  END LOOP;
  IF cardinality(v_take) > 0 THEN
    FOR attempt IN 1..2 LOOP
      UPDATE mailstore_mailboxes b SET uidnext = b.uidnext + cardinality(v_take), highestmodseq = b.highestmodseq + 1
       WHERE b.user_id = p_user AND b.name = p_mailbox
       RETURNING b.mailbox_id, b.uidvalidity, b.uidnext - cardinality(v_take), b.highestmodseq
            INTO v_id, v_uv, v_first, v_modseq;
      EXIT WHEN FOUND;
      INSERT INTO mailstore_mailboxes (user_id, name, special_use) VALUES (p_user, p_mailbox, NULLIF(p_special, ''))
        ON CONFLICT DO NOTHING;
    END LOOP;
    IF v_id IS NULL THEN
      RAISE EXCEPTION 'mailbox vanished during delivery' USING ERRCODE = 'PL001';
    END IF;
    PERFORM mailstore_insert_batch(p_user, v_id, v_first, v_modseq, v_take, p_shas, p_sizes, p_header_sizes,
        p_previews, p_email_ids, p_structures, p_sent_days, p_headers, array_fill(0::bigint, ARRAY[v_n::integer]),
        array_fill(''::text, ARRAY[v_n::integer]), array_fill('-9223372036854775808'::bigint, ARRAY[v_n::integer]),
        p_meta_version);
    UPDATE mailstore_deliveries d SET mailbox_id = v_id, uid = v_first + k.pos - 1
      FROM unnest(v_take) WITH ORDINALITY AS k(i, pos)
     WHERE d.user_id = p_user AND d.delivery_key = p_keys[k.i];
  END IF;
  RETURN QUERY
    SELECT i::bigint, v_status[i],
           CASE v_status[i] WHEN 0 THEN v_id WHEN 1 THEN d.mailbox_id ELSE 0 END,
           CASE v_status[i] WHEN 0 THEN v_first + array_position(v_take, i::bigint) - 1
                            WHEN 1 THEN d.uid ELSE 0 END,
           CASE v_status[i] WHEN 0 THEN v_modseq ELSE 0 END
      FROM generate_series(1, v_n::integer) AS i
      LEFT JOIN mailstore_deliveries d ON v_status[i] = 1 AND d.user_id = p_user AND d.delivery_key = p_keys[i]
     ORDER BY i;
END $$;

-- STORE (RFC 9051 6.4.6, RFC 7162 UNCHANGEDSINCE). p_mode 0 replace, 1 add,
-- 2 remove. Returns the rows that changed (modified = false, with their new
-- flags and MODSEQ) and the UNCHANGEDSINCE failures (modified = true).
-- p_async: the commit does not wait for its WAL flush (a crash may lose the
-- last fraction of a second of flag changes, never a message; Dovecot does
-- not fsync its index either).
CREATE FUNCTION mailstore_store_flags(
    p_user bigint, p_mailbox bigint, p_uids bigint[], p_mode bigint, p_sys bigint, p_keywords text[],
    p_unchanged bigint, p_async boolean)
RETURNS TABLE (uid bigint, sysflags smallint, keywords text[], modseq bigint, modified boolean)
LANGUAGE plpgsql AS $$
DECLARE
  v_modseq bigint;
BEGIN
  IF p_async THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  -- The mailbox row first: MODSEQs are assigned in commit order per mailbox.
  SELECT b.highestmodseq + 1 INTO v_modseq FROM mailstore_mailboxes b
   WHERE b.user_id = p_user AND b.mailbox_id = p_mailbox FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  RETURN QUERY
  WITH target AS (
    SELECT m.uid AS t_uid,
           CASE p_mode WHEN 0 THEN p_sys::smallint WHEN 1 THEN (m.sysflags | p_sys)::smallint
                       ELSE (m.sysflags & ~p_sys)::smallint END AS new_sys,
           CASE WHEN p_mode = 0 THEN p_keywords
                WHEN p_keywords IS NULL THEN m.keywords
                WHEN p_mode = 1 THEN mailstore_kw_union(m.keywords, p_keywords)
                ELSE mailstore_kw_minus(m.keywords, p_keywords) END AS new_kw
      FROM mailstore_messages m
     WHERE m.user_id = p_user AND m.mailbox_id = p_mailbox AND m.uid IN (SELECT unnest(p_uids))
       AND (p_unchanged IS NULL OR m.modseq <= p_unchanged)
  )
  UPDATE mailstore_messages m SET sysflags = t.new_sys, keywords = t.new_kw, modseq = v_modseq
    FROM target t
   WHERE m.user_id = p_user AND m.mailbox_id = p_mailbox AND m.uid = t.t_uid
     AND (m.sysflags <> t.new_sys OR m.keywords IS DISTINCT FROM t.new_kw)
  RETURNING m.uid, m.sysflags, m.keywords, m.modseq, false;
  IF FOUND THEN
    UPDATE mailstore_mailboxes b SET highestmodseq = v_modseq WHERE b.user_id = p_user AND b.mailbox_id = p_mailbox;
  END IF;
  IF p_unchanged IS NOT NULL THEN
    RETURN QUERY SELECT m.uid, m.sysflags, m.keywords, m.modseq, true FROM mailstore_messages m
                  WHERE m.user_id = p_user AND m.mailbox_id = p_mailbox AND m.uid IN (SELECT unnest(p_uids))
                    AND m.modseq > p_unchanged AND m.modseq <> v_modseq;
  END IF;
END $$;

-- EXPUNGE: removes the messages flagged \Deleted (only among p_uids when not
-- NULL; every listed message when p_only_deleted is false) and records them
-- with the new MODSEQ for QRESYNC. Returns (uid, modseq) ascending.
CREATE FUNCTION mailstore_expunge(
    p_user bigint, p_mailbox bigint, p_uids bigint[], p_only_deleted boolean, p_async boolean)
RETURNS TABLE (uid bigint, modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_modseq bigint;
BEGIN
  IF p_async THEN PERFORM set_config('synchronous_commit', 'off', true); END IF;
  SELECT b.highestmodseq + 1 INTO v_modseq FROM mailstore_mailboxes b
   WHERE b.user_id = p_user AND b.mailbox_id = p_mailbox FOR UPDATE;
  IF NOT FOUND THEN RETURN; END IF;
  RETURN QUERY
  WITH gone AS (
    DELETE FROM mailstore_messages m
     WHERE m.user_id = p_user AND m.mailbox_id = p_mailbox
       AND (p_uids IS NULL OR m.uid IN (SELECT unnest(p_uids)))
       AND (NOT p_only_deleted OR (m.sysflags & 8) <> 0)
    RETURNING m.uid
  ), recorded AS (
    INSERT INTO mailstore_expunged AS e (user_id, mailbox_id, uid, modseq)
    SELECT p_user, p_mailbox, g.uid, v_modseq FROM gone g
    ON CONFLICT ON CONSTRAINT mailstore_expunged_pkey DO UPDATE SET modseq = EXCLUDED.modseq, expunged_at = now()
    RETURNING e.uid
  )
  SELECT r.uid, v_modseq FROM recorded r ORDER BY r.uid;
  IF FOUND THEN
    UPDATE mailstore_mailboxes b SET highestmodseq = v_modseq WHERE b.user_id = p_user AND b.mailbox_id = p_mailbox;
  END IF;
END $$;

-- COPY / MOVE (RFC 9051 6.4.7, RFC 6851) of the listed source messages that
-- exist into p_dest (by name). Flags are kept; bodies are shared (the row
-- points at the same blob). Both mailbox rows are locked in id order, so a
-- concurrent MOVE the other way cannot deadlock with this one. Returns one
-- row per copied message (ascending source UID); with nothing to copy, one
-- row with NULL UIDs that still carries the destination's UIDVALIDITY.
CREATE FUNCTION mailstore_copy(
    p_user bigint, p_src bigint, p_uids bigint[], p_dest text, p_move boolean,
    p_quota_bytes bigint, p_quota_messages bigint)
RETURNS TABLE (src_uid bigint, dest_uid bigint, uidvalidity bigint, dest_id bigint, dest_modseq bigint,
               src_modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_dest bigint; v_uids bigint[]; v_n bigint; v_uv bigint; v_first bigint; v_dmodseq bigint; v_smodseq bigint;
  v_add_bytes bigint; v_bytes bigint; v_msgs bigint;
BEGIN
  SELECT b.mailbox_id INTO v_dest FROM mailstore_mailboxes b WHERE b.user_id = p_user AND b.name = p_dest;
  IF NOT FOUND THEN
    RAISE EXCEPTION 'no such mailbox' USING ERRCODE = 'PL001';
  END IF;
  PERFORM 1 FROM mailstore_mailboxes b WHERE b.user_id = p_user AND b.mailbox_id IN (p_src, v_dest)
    ORDER BY b.mailbox_id FOR UPDATE;
  SELECT array_agg(m.uid ORDER BY m.uid), COALESCE(sum(m.size), 0) INTO v_uids, v_add_bytes
    FROM mailstore_messages m WHERE m.user_id = p_user AND m.mailbox_id = p_src AND m.uid IN (SELECT unnest(p_uids));
  v_n := COALESCE(cardinality(v_uids), 0);
  IF v_n > 0 AND NOT p_move AND (p_quota_bytes > 0 OR p_quota_messages > 0) THEN
    SELECT u.bytes, u.messages INTO v_bytes, v_msgs FROM mailstore_usage(p_user) u;
    IF (p_quota_bytes > 0 AND v_bytes + v_add_bytes > p_quota_bytes)
       OR (p_quota_messages > 0 AND v_msgs + v_n > p_quota_messages) THEN
      RAISE EXCEPTION 'over quota' USING ERRCODE = 'PL002';
    END IF;
  END IF;
  IF v_n = 0 THEN
    RETURN QUERY SELECT NULL::bigint, NULL::bigint, b.uidvalidity, v_dest, NULL::bigint, NULL::bigint
                   FROM mailstore_mailboxes b WHERE b.user_id = p_user AND b.mailbox_id = v_dest;
    RETURN;
  END IF;
  UPDATE mailstore_mailboxes b SET uidnext = b.uidnext + v_n, highestmodseq = b.highestmodseq + 1
   WHERE b.user_id = p_user AND b.mailbox_id = v_dest
   RETURNING b.uidvalidity, b.uidnext - v_n, b.highestmodseq INTO v_uv, v_first, v_dmodseq;
  INSERT INTO mailstore_messages (user_id, mailbox_id, uid, blob_sha256, size, internaldate, savedate, modseq,
      sysflags, keywords, meta_version, header_size, preview, email_id, structure, sent_date, header)
  SELECT m.user_id, v_dest, v_first + s.ord - 1, m.blob_sha256, m.size, m.internaldate, now(), v_dmodseq,
         m.sysflags, m.keywords, m.meta_version, m.header_size, m.preview, m.email_id, m.structure, m.sent_date,
         m.header
    FROM unnest(v_uids) WITH ORDINALITY AS s(uid, ord)
    JOIN mailstore_messages m ON m.user_id = p_user AND m.mailbox_id = p_src AND m.uid = s.uid;
  IF p_move THEN
    UPDATE mailstore_mailboxes b SET highestmodseq = b.highestmodseq + 1
     WHERE b.user_id = p_user AND b.mailbox_id = p_src RETURNING b.highestmodseq INTO v_smodseq;
    DELETE FROM mailstore_messages m WHERE m.user_id = p_user AND m.mailbox_id = p_src AND m.uid IN (SELECT unnest(v_uids));
    INSERT INTO mailstore_expunged AS e (user_id, mailbox_id, uid, modseq)
      SELECT p_user, p_src, u, v_smodseq FROM unnest(v_uids) u
      ON CONFLICT ON CONSTRAINT mailstore_expunged_pkey DO UPDATE SET modseq = EXCLUDED.modseq, expunged_at = now();
  END IF;
  RETURN QUERY SELECT s.uid, v_first + s.ord - 1, v_uv, v_dest, v_dmodseq, v_smodseq
                 FROM unnest(v_uids) WITH ORDINALITY AS s(uid, ord) ORDER BY s.ord;
END $$;
