-- Server-side secrets shared by every authd replica.
-- scram_fake_salt: keys the salt shown to SCRAM clients for accounts that do not
-- exist, so every replica (and every restart) shows the same salt for the same
-- name, exactly like a real account. gen_random_uuid() draws from PostgreSQL's
-- strong random source; two of them give 244 random bits.
CREATE TABLE auth_secrets (
  name  text PRIMARY KEY,
  value text NOT NULL
);
INSERT INTO auth_secrets (name, value)
VALUES ('scram_fake_salt', replace(gen_random_uuid()::text || gen_random_uuid()::text, '-', ''));
