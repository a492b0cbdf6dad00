-- The trigram index moves from the search text to its distinct words
-- (issue 14). pg_trgm never makes a trigram across whitespace, so the set of
-- trigrams of " w1 w2 ... wn " (each distinct whitespace-separated token once,
-- space-delimited) is exactly the set of the whole text's: the index holds the
-- same entries, and building them costs the distinct words instead of every
-- word of the text (extracting and sorting the trigrams of a 128 KiB body was
-- more than half of PostgreSQL's CPU per delivered message). SEARCH narrows
-- with one LIKE per word of the key against search_words (index), then checks
-- the key against search_text itself (search_sql.cpp).
ALTER TABLE mailstore_search ADD COLUMN search_words text;
UPDATE mailstore_search SET search_words =
  ' ' || array_to_string(ARRAY(SELECT DISTINCT w FROM regexp_split_to_table(search_text, '[ \t\n\r\f\v]+') w
                               WHERE w <> ''), ' ') || ' ';
ALTER TABLE mailstore_search ALTER COLUMN search_words SET NOT NULL;
DROP INDEX mailstore_search_trgm;
CREATE INDEX mailstore_search_words_trgm ON mailstore_search USING gin (search_words gin_trgm_ops);

-- A plpgsql body keeps its INSERT's plan for the session; as LANGUAGE sql the
-- function was parsed and planned again on every call (fmgr_sql: 4 % of the
-- CPU of a delivery).
CREATE OR REPLACE FUNCTION mailstore_insert_batch(
    p_user bigint, p_mailbox bigint, p_first_uid bigint, p_modseq bigint, p_take bigint[],
    p_shas bytea[], p_sizes bigint[], p_header_sizes bigint[], p_previews text[], p_email_ids text[],
    p_structures bytea[], p_sent_days bigint[], p_headers bytea[], p_sysflags bigint[], p_keywords text[],
    p_internaldates bigint[], p_meta_version bigint)
RETURNS void LANGUAGE plpgsql AS $$
BEGIN
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
      ON t.item = k.item;
END $$;
