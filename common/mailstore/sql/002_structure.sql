-- The MIME part tree (common/mime serialize_structure: offsets, lines, content
-- fields, envelopes) in its compact binary form, so FETCH BODY[section],
-- ENVELOPE and BODYSTRUCTURE never reparse a message: they are rendered from
-- this at FETCH time. NULL for rows written before the parser existed
-- (meta_version 1): imapd parses those on demand.
--
-- The pre-rendered text columns go: a rendering can carry raw 8-bit header
-- bytes (literals), which a text column cannot hold.
ALTER TABLE mailstore_messages ADD COLUMN structure bytea;
ALTER TABLE mailstore_messages DROP COLUMN envelope, DROP COLUMN bodystructure, DROP COLUMN body,
  DROP COLUMN mime_parts;
