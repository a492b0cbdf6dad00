-- smtpd's shared antispam state (issue 9). smtpd is otherwise stateless; these
-- tables are what lets every smtpd replica give the same greylisting and rate
-- limit answers. Both are caches of recent behaviour: losing them costs at most
-- one more greylisting delay, never mail.

-- Greylisting triplets (client network, envelope sender, recipient). The
-- client is recorded as its /24 (IPv4) or /64 (IPv6): large senders retry from
-- a sibling address of the same pool, and per-address triplets would greylist
-- them for ever.
CREATE TABLE smtp_greylist (
  client_net text        NOT NULL,
  sender     text        NOT NULL,  -- lower-case; '' for the null sender
  recipient  text        NOT NULL,  -- lower-case
  first_seen timestamptz NOT NULL DEFAULT now(),
  last_seen  timestamptz NOT NULL DEFAULT now(),
  -- A retry after the delay succeeded: the triplet is whitelisted until it has
  -- not been seen for spam.greylist_whitelist_ttl.
  passed     boolean     NOT NULL DEFAULT false,
  PRIMARY KEY (client_net, sender, recipient)
);
CREATE INDEX smtp_greylist_last_seen ON smtp_greylist (last_seen);

-- Fixed-window counters for rate limits: key is 'ip:<address>' or
-- 'sender:<authenticated user>', window_start the start of the window.
CREATE TABLE smtp_rate_counters (
  key          text        NOT NULL,
  window_start timestamptz NOT NULL,
  messages     integer     NOT NULL DEFAULT 0,
  recipients   integer     NOT NULL DEFAULT 0,
  PRIMARY KEY (key, window_start)
);
CREATE INDEX smtp_rate_counters_window ON smtp_rate_counters (window_start);
