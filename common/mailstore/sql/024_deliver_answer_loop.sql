-- mailstore_deliver as in 023, except how it answers (issue 14): RETURN
-- QUERY over generate_series with per-item CASEs was given a custom plan on
-- every call (pg_stat_statements with track_planning: plans = calls + 1,
-- ~80 us of planning per delivery, a tenth of the function's time); a loop
-- of RETURN NEXT needs no plan. The OUT columns (item, status, mailbox_id,
-- uid, modseq) are the loop's variables, so the probes qualify theirs (d.).
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
