-- postline auth schema: domains, users, aliases, app passwords, login throttling.
-- Addresses are stored normalised (see services/auth/core/address.h): domain in
-- lower-case A-label form, local part lower-cased unless the operator made local
-- parts case-sensitive. Every lookup compares normalised text, so plain btree
-- indexes serve them.

CREATE TABLE auth_domains (
  id          bigserial PRIMARY KEY,
  name        text NOT NULL UNIQUE,
  -- Where mail for unknown local parts of this domain goes (an address, local or
  -- remote). NULL: unknown local parts are refused at RCPT.
  catch_all   text,
  created_at  timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE auth_users (
  id            bigserial PRIMARY KEY,
  domain_id     bigint NOT NULL REFERENCES auth_domains(id) ON DELETE CASCADE,
  email         text NOT NULL UNIQUE,
  -- libsodium crypto_pwhash_str output: "$argon2id$v=19$m=...,t=...,p=1$salt$hash".
  -- The parameters live in the string so they can be raised and rehashed at login.
  password_hash text NOT NULL,
  -- SCRAM-SHA-256 (RFC 5802/7677) credentials, derived when the password is set.
  -- App passwords share this salt and iteration count so one server-first message
  -- serves every credential of the account.
  scram_salt       bytea,
  scram_iterations integer,
  scram_stored_key bytea,
  scram_server_key bytea,
  display_name  text NOT NULL DEFAULT '',
  quota_bytes   bigint NOT NULL DEFAULT 0 CHECK (quota_bytes >= 0),  -- 0 = unlimited
  disabled      boolean NOT NULL DEFAULT false,
  created_at    timestamptz NOT NULL DEFAULT now(),
  updated_at    timestamptz NOT NULL DEFAULT now(),
  last_login_at timestamptz
);
CREATE INDEX auth_users_domain_idx ON auth_users (domain_id);

-- One row per (alias, target); an alias with three targets has three rows.
CREATE TABLE auth_aliases (
  id         bigserial PRIMARY KEY,
  domain_id  bigint NOT NULL REFERENCES auth_domains(id) ON DELETE CASCADE,
  address    text NOT NULL,
  target     text NOT NULL,
  created_at timestamptz NOT NULL DEFAULT now(),
  UNIQUE (address, target)
);

-- Server-generated app passwords (high entropy, so SHA-256 suffices; no argon2
-- cost per login). Each also carries SCRAM keys under the user's SCRAM salt.
CREATE TABLE auth_app_passwords (
  id               bigserial PRIMARY KEY,
  user_id          bigint NOT NULL REFERENCES auth_users(id) ON DELETE CASCADE,
  label            text NOT NULL,
  secret_sha256    bytea NOT NULL,
  scram_stored_key bytea,
  scram_server_key bytea,
  created_at       timestamptz NOT NULL DEFAULT now(),
  last_used_at     timestamptz,
  UNIQUE (user_id, label)
);

-- Failed-login state shared by every authd replica. scope 'ip' keys by source
-- address, scope 'account' by normalised login name. Rows expire: authd deletes
-- rows whose window and block have both passed.
CREATE TABLE auth_login_throttle (
  scope           text NOT NULL CHECK (scope IN ('ip', 'account')),
  key             text NOT NULL,
  failures        integer NOT NULL DEFAULT 0,
  first_failure_at timestamptz NOT NULL DEFAULT now(),
  last_failure_at timestamptz NOT NULL DEFAULT now(),
  blocked_until   timestamptz,
  PRIMARY KEY (scope, key)
);
CREATE INDEX auth_login_throttle_expiry_idx ON auth_login_throttle (last_failure_at);
