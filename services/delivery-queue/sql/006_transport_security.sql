-- Outbound transport security (issue 20): the MTA-STS policy cache (RFC 8461 5.1) and
-- REQUIRETLS (RFC 8689) on queued messages.

-- One row per policy domain: the policy as fetched over HTTPS, the TXT id it was fetched
-- under (a new id means a new fetch) and until when it applies (fetched_at + max_age),
-- whatever the TXT record does meanwhile.
CREATE TABLE queue_mta_sts_policies (
  domain     text PRIMARY KEY,          -- the recipient domain, lower-case
  policy_id  text NOT NULL,             -- id= of the _mta-sts TXT record
  policy     text NOT NULL,             -- the policy file
  max_age    bigint NOT NULL,           -- seconds (at most 31557600)
  fetched_at timestamptz NOT NULL,
  expires_at timestamptz NOT NULL
);

-- MAIL FROM ... REQUIRETLS: deliver only over TLS authenticated by MTA-STS or DANE to a
-- server that offers REQUIRETLS, else bounce (5.7.30).
ALTER TABLE queue_messages ADD COLUMN requiretls boolean NOT NULL DEFAULT false;
