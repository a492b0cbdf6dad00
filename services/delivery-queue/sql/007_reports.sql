-- Reporting (issue 20): DMARC aggregate reports (RFC 7489 7.2) and SMTP TLS
-- reports (RFC 8460), sent and received. Owned by the queue: queued records,
-- builds, sends (through the queue itself) and stores; services/delivery-queue/reports.
--
-- Outgoing: counters per report period (reports.period, one UTC day by
-- default). Each row is one aggregate line of a report; queued adds to
-- `messages` / `sessions` in batches (ON CONFLICT ... + excluded), so a
-- busy MX writes a few upserts every reports.flush_interval, not one row per
-- message.
CREATE TABLE dmarc_report_rows (
  period_start  timestamptz NOT NULL,
  policy_domain text NOT NULL,          -- where the DMARC record was found
  source_ip     text NOT NULL,
  header_from   text NOT NULL,
  envelope_from text NOT NULL,
  envelope_to   text NOT NULL,
  disposition   text NOT NULL,          -- none | quarantine | reject (what we did)
  dkim_aligned  text NOT NULL,          -- pass | fail (policy_evaluated)
  spf_aligned   text NOT NULL,
  reason        text NOT NULL,          -- policy override type ('' = none)
  dkim_auth     text NOT NULL,          -- "domain selector result" per signature, '\n'-joined
  spf_auth      text NOT NULL,          -- "domain scope result"
  messages      bigint NOT NULL,
  PRIMARY KEY (period_start, policy_domain, source_ip, header_from, envelope_from, envelope_to,
               disposition, dkim_aligned, spf_aligned, reason, dkim_auth, spf_auth)
);

-- The policy as last seen in the period (policy_published) and its rua.
CREATE TABLE dmarc_report_policies (
  period_start  timestamptz NOT NULL,
  policy_domain text NOT NULL,
  rua           text NOT NULL,
  adkim text NOT NULL, aspf text NOT NULL, p text NOT NULL, sp text NOT NULL,
  pct integer NOT NULL, fo text NOT NULL,
  PRIMARY KEY (period_start, policy_domain)
);

-- TLS outcomes of remote delivery per policy domain (RFC 8460 4.3).
CREATE TABLE tls_report_rows (
  period_start   timestamptz NOT NULL,
  policy_domain  text NOT NULL,
  policy_type    text NOT NULL,          -- sts | tlsa | no-policy-found
  policy_strings text NOT NULL,          -- '\n'-joined
  mx_host        text NOT NULL,          -- the receiving MX host name
  receiving_ip   text NOT NULL,
  result_type    text NOT NULL,          -- '' = successful sessions
  sessions       bigint NOT NULL,
  PRIMARY KEY (period_start, policy_domain, policy_type, policy_strings, mx_host, receiving_ip, result_type)
);

-- One row per report that was built (or given up on) for a domain and
-- period: the claim that makes a report go out once, whichever replica runs
-- the job (the job itself runs under an advisory lock).
CREATE TABLE report_runs (
  kind          text NOT NULL,           -- dmarc | tlsrpt
  policy_domain text NOT NULL,
  period_start  timestamptz NOT NULL,
  report_id     text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  outcome       text NOT NULL,           -- sent | no_rua | too_large | unverified | dns_error
  detail        text NOT NULL DEFAULT '',
  PRIMARY KEY (kind, policy_domain, period_start)
);

-- Incoming: aggregate reports other organisations sent about our domains.
CREATE TABLE received_reports (
  id            bigserial PRIMARY KEY,
  kind          text NOT NULL,           -- dmarc | tlsrpt
  received_at   timestamptz NOT NULL DEFAULT now(),
  policy_domain text NOT NULL,
  org_name      text NOT NULL,
  report_id     text NOT NULL,
  contact       text NOT NULL,
  begin_at      timestamptz NOT NULL,
  end_at        timestamptz NOT NULL,
  total         bigint NOT NULL,         -- dmarc: messages; tlsrpt: sessions
  failed        bigint NOT NULL,         -- dmarc: messages failing DMARC; tlsrpt: failed sessions
  detail        jsonb NOT NULL,          -- the report as parsed (postline ... reports --json)
  UNIQUE (kind, org_name, report_id, policy_domain)
);
CREATE INDEX received_reports_domain ON received_reports (policy_domain, received_at);
