-- Sieve at local delivery (issue 19, docs/sieve.md "How delivery runs
-- scripts"): the state queued keeps for a user's scripts, and delivery with
-- flags and "unless the user has an active script".
--
-- One row per Sieve run of a queue recipient (run_key "s/<queue id>/<queue
-- recipient id>", common/mailstore/delivery_key.h), written in the transaction
-- that carries out the run (its deliveries, the redirects and vacation
-- replies it queues, the rows below), so a retry after a crash finds the run
-- done and repeats nothing; `rejected` and `reply` are what the queue records
-- for the recipient then. Pruned after queue.max_lifetime has passed.
CREATE TABLE mailstore_sieve_runs (
  user_id bigint NOT NULL,
  run_key text NOT NULL,
  rejected boolean NOT NULL,
  reply text NOT NULL,
  ran_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (user_id, run_key)
);
CREATE INDEX mailstore_sieve_runs_ran_at ON mailstore_sieve_runs (ran_at);

-- Vacation (RFC 5230 4.2): when a sender last got a reply for a handle. The
-- key is the interpreter's (user, handle, lower-cased sender), stored as its
-- SHA-256 (a handle may be long). Pruned after the longest period (90 days).
CREATE TABLE mailstore_sieve_vacation (
  user_id bigint NOT NULL,
  key_sha256 bytea NOT NULL,
  replied_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, key_sha256)
);
CREATE INDEX mailstore_sieve_vacation_replied_at ON mailstore_sieve_vacation (replied_at);

-- duplicate (RFC 7352): until when a message id counts as seen for a handle.
CREATE TABLE mailstore_sieve_duplicates (
  user_id bigint NOT NULL,
  key_sha256 bytea NOT NULL,
  expires_at timestamptz NOT NULL,
  PRIMARY KEY (user_id, key_sha256)
);
CREATE INDEX mailstore_sieve_duplicates_expires_at ON mailstore_sieve_duplicates (expires_at);

-- mailstore_deliver as in 010, with three parameters more (defaults keep the
-- old calls working): the new messages' flags (system bits and space-separated
-- sorted keywords, one per item; NULL = none), and p_unless_sieve: when the
-- user has an active Sieve script nothing is written and every item gets
-- status 5. The Enqueue-time delivery asks that way, so learning that a user
-- has no script costs no statement of its own (issue 14).
DROP FUNCTION mailstore_deliver(bigint, text, text, bigint, bigint, text[], bytea[], bigint[], bigint[], text[],
                                text[], bytea[], bigint[], bytea[], bigint);
CREATE FUNCTION mailstore_deliver(
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
