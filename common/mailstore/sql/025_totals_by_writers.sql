-- The per-mailbox totals of new messages (006_usage_totals.sql) are added by
-- the writers themselves, in the UPDATE of the mailbox row each of them makes
-- anyway to take its UIDs, instead of by the statement trigger on INSERT
-- (issue 14). The trigger cost a second row version of the mailbox per
-- delivery, a transition table and a plpgsql call: measured on 1,000
-- one-row INSERTs, 44-72 us of the 95 us each took.
--
-- Every writer of mailstore_messages rows must now count what it inserts:
-- mailstore_deliver, mailstore_append and mailstore_copy do (below; the
-- functions are replaced whole, so they are repeated from 024 and 008 with
-- only that change), and `postline account move` copies the mailbox rows,
-- totals included, after the messages. Deletes keep their trigger
-- (mailstore_messages_totals_delete): EXPUNGE, MOVE's source side and
-- cascades all go through it.
DROP TRIGGER mailstore_messages_totals_insert ON mailstore_messages;
DROP FUNCTION mailstore_totals_add();

CREATE OR REPLACE FUNCTION mailstore_deliver(
    p_user bigint, p_mailbox text, p_special text, p_quota_bytes bigint, p_quota_messages bigint,
    p_keys text[], p_shas bytea[], p_sizes bigint[], p_header_sizes bigint[], p_previews text[],
    p_email_ids text[], p_structures bytea[], p_sent_days bigint[], p_headers bytea[], p_meta_version bigint,
    p_sysflags bigint[] DEFAULT NULL, p_keywords text[] DEFAULT NULL, p_unless_sieve boolean DEFAULT false)
RETURNS TABLE (item bigint, status integer, mailbox_id bigint, uid bigint, modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint := cardinality(p_keys);
  v_status integer[] := array_fill(0, ARRAY[v_n::integer]);
  v_take bigint[] := '{}';
  v_bytes bigint; v_msgs bigint; v_size bigint;
  v_id bigint; v_uv bigint; v_first bigint; v_modseq bigint;
  v_take_bytes bigint := 0;
BEGIN
  -- Before anything is written: a user with an active Sieve script gets
  -- status 5 for every item (the caller runs the script instead).
  IF p_unless_sieve AND EXISTS (SELECT 1 FROM mailstore_sieve_active a WHERE a.user_id = p_user) THEN
    RETURN QUERY SELECT g::bigint, 5, 0::bigint, 0::bigint, 0::bigint FROM generate_series(1, v_n::integer) AS g;
    RETURN;
  END IF;
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
    v_take_bytes := v_take_bytes + v_size;
  END LOOP;
  IF cardinality(v_take) > 0 THEN
    FOR attempt IN 1..2 LOOP
      UPDATE mailstore_mailboxes b SET uidnext = b.uidnext + cardinality(v_take), highestmodseq = b.highestmodseq + 1,
             total_bytes = b.total_bytes + v_take_bytes, total_messages = b.total_messages + cardinality(v_take)
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
        p_previews, p_email_ids, p_structures, p_sent_days, p_headers,
        coalesce(p_sysflags, array_fill(0::bigint, ARRAY[v_n::integer])),
        coalesce(p_keywords, array_fill(''::text, ARRAY[v_n::integer])),
        array_fill('-9223372036854775808'::bigint, ARRAY[v_n::integer]),
        p_meta_version);
    FOR k IN 1..cardinality(v_take) LOOP
      UPDATE mailstore_deliveries d SET mailbox_id = v_id, uid = v_first + k - 1
       WHERE d.user_id = p_user AND d.delivery_key = p_keys[v_take[k]];
    END LOOP;
  END IF;
  -- The answer, one row per item. A loop of RETURN NEXT, not RETURN QUERY:
  -- the query was planned again on every call (its custom plan never lost to
  -- a generic one: 80 us of planning per delivery). A duplicate's earlier
  -- mailbox and UID: one primary-key probe each.
  FOR i IN 1..v_n LOOP
    item := i;
    status := v_status[i];
    mailbox_id := 0; uid := 0; modseq := 0;
    IF v_status[i] = 0 THEN
      mailbox_id := v_id;
      uid := v_first + array_position(v_take, i::bigint) - 1;
      modseq := v_modseq;
    ELSIF v_status[i] = 1 THEN
      SELECT d.mailbox_id, d.uid INTO mailbox_id, uid FROM mailstore_deliveries d
       WHERE d.user_id = p_user AND d.delivery_key = p_keys[i];
    END IF;
    RETURN NEXT;
  END LOOP;
END $$;

CREATE OR REPLACE FUNCTION mailstore_append(
    p_user bigint, p_mailbox text, p_quota_bytes bigint, p_quota_messages bigint,
    p_shas bytea[], p_sizes bigint[], p_header_sizes bigint[], p_previews text[], p_email_ids text[],
    p_structures bytea[], p_sent_days bigint[], p_headers bytea[], p_sysflags bigint[], p_keywords text[],
    p_internaldates bigint[], p_meta_version bigint)
RETURNS TABLE (mailbox_id bigint, uidvalidity bigint, uid bigint, modseq bigint)
LANGUAGE plpgsql AS $$
DECLARE
  v_n bigint := cardinality(p_shas);
  v_id bigint; v_uv bigint; v_first bigint; v_modseq bigint; v_bytes bigint; v_msgs bigint;
  v_add bigint := COALESCE((SELECT sum(x) FROM unnest(p_sizes) x), 0);
BEGIN
  IF p_quota_bytes > 0 OR p_quota_messages > 0 THEN
    SELECT u.bytes, u.messages INTO v_bytes, v_msgs FROM mailstore_usage(p_user) u;
    IF (p_quota_bytes > 0 AND v_bytes + v_add > p_quota_bytes)
       OR (p_quota_messages > 0 AND v_msgs + v_n > p_quota_messages) THEN
      RAISE EXCEPTION 'over quota' USING ERRCODE = 'PL002';
    END IF;
  END IF;
  UPDATE mailstore_mailboxes b SET uidnext = b.uidnext + v_n, highestmodseq = b.highestmodseq + 1,
         total_bytes = b.total_bytes + v_add, total_messages = b.total_messages + v_n
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

CREATE OR REPLACE FUNCTION mailstore_copy(
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
  UPDATE mailstore_mailboxes b SET uidnext = b.uidnext + v_n, highestmodseq = b.highestmodseq + 1,
         total_bytes = b.total_bytes + v_add_bytes, total_messages = b.total_messages + v_n
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
