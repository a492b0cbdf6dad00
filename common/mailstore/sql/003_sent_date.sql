-- SEARCH SENTBEFORE/SENTON/SENTSINCE compare the Date: header's calendar day
-- (RFC 9051 6.4.4: time and timezone disregarded); parsed once at delivery.
-- NULL when the header is missing or unparsable (such messages match none).
ALTER TABLE mailstore_messages ADD COLUMN sent_date date;
