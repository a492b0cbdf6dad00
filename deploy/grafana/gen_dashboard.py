#!/usr/bin/python3
"""Writes deploy/grafana/dashboards/postline.json (run after editing the panels below).

Every PromQL expression here may only use metric names the services export
(docs/HELPERS.md); tests/deploy/test_grafana.py checks that on the JSON.
"""
import json
import pathlib

OUT = pathlib.Path(__file__).resolve().parent / "dashboards" / "postline.json"
DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"


def rate(metric, by=None, matchers=""):
    inner = f"rate({metric}{{{matchers}}}[{RI}])" if matchers else f"rate({metric}[{RI}])"
    return f"sum by ({by}) ({inner})" if by else f"sum({inner})"


def quantile(q, hist, by=""):
    labels = "le" + (", " + by if by else "")
    return f"histogram_quantile({q}, sum by ({labels}) (rate({hist}_bucket[{RI}])))"


class Builder:
    def __init__(self):
        self.panels = []
        self.x = 0
        self.y = 0
        self.line_h = 0  # height of the partly filled line of panels, if any
        self.next_id = 1

    def row(self, title):
        if self.x > 0:  # close a partly filled line first
            self.y += self.line_h
            self.x = 0
        self.panels.append({"type": "row", "title": title, "id": self._id(), "collapsed": False,
                            "gridPos": {"h": 1, "w": 24, "x": 0, "y": self.y}, "panels": []})
        self.y += 1
        self.x = 0

    def _id(self):
        self.next_id += 1
        return self.next_id - 1

    def panel(self, title, targets, unit="short", kind="timeseries", w=8, h=8, description=""):
        if self.x + w > 24:
            self.x = 0
            self.y += self.line_h
        p = {
            "type": kind,
            "title": title,
            "description": description,
            "id": self._id(),
            "datasource": DS,
            "gridPos": {"h": h, "w": w, "x": self.x, "y": self.y},
            "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
            "options": {},
            "targets": [
                {"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i)}
                for i, (expr, legend) in enumerate(targets)
            ],
        }
        if kind == "timeseries":
            p["options"] = {"legend": {"displayMode": "list", "placement": "bottom"},
                            "tooltip": {"mode": "multi"}}
        self.panels.append(p)
        self.line_h = h
        self.x += w
        if self.x >= 24:
            self.x = 0
            self.y += h


def build():
    b = Builder()
    b.row("Overview")
    b.panel("Targets up", [('sum by (job) (up{job=~"postline-.*"})', "{{job}}")], kind="stat", w=6, h=5,
            description="Scraped instances per service that answer /metrics.")
    b.panel("Ready", [('sum by (job) (postline_ready{job=~"postline-.*"})', "{{job}}")], kind="stat", w=6, h=5,
            description="Instances whose /readyz says 200 (postline_ready, asked at each scrape). Fewer than "
                        "Targets up: a dependency does not answer (alert PostlineNotReady).")
    b.panel("Waiting recipients",
            [('max(sum by (instance) (postline_queued_queue_depth{state=~"queued|deferred|delivering"}))', "waiting")],
            kind="stat", w=4, h=5)
    b.panel("Oldest queued message", [("max(postline_queued_oldest_message_age_seconds)", "oldest")],
            unit="s", kind="stat", w=4, h=5)
    b.panel("Accounts / domains", [("max(postline_authd_accounts)", "accounts"),
                                   ("max(postline_authd_domains)", "domains")], kind="stat", w=4, h=5)
    b.panel("Versions running", [(f"count by (version) (postline_{svc}_build_info)", f"{svc} {{{{version}}}}")
                                 for svc in ("smtpd", "queued", "imapd", "managesieved", "authd", "webd")],
            kind="stat", w=12, h=5, description="Instances per service and version (postline_<svc>_build_info); "
                                                "two versions of one service at once: a rollout in progress.")
    b.panel("Certificate lifetime left",
            [("min by (job, setting, file) (postline_tls_certificate_not_after_timestamp_seconds) - time()",
              "{{job}} {{setting}} {{file}}")],
            unit="s", kind="stat", w=12, h=5,
            description="Time until each loaded certificate's notAfter (alerts at 14 and 3 days).")

    b.row("SMTP (postline-smtpd)")
    b.panel("Sessions started /s", [(rate("postline_smtpd_sessions_total", "listener"), "{{listener}}")],
            unit="ops")
    b.panel("Active sessions", [("sum(postline_smtpd_sessions_active)", "active")])
    b.panel("Messages accepted and rejected /s", [
        (rate("postline_smtpd_messages_accepted_total"), "accepted"),
        (rate("postline_smtpd_messages_rejected_total", "reason"), "rejected: {{reason}}"),
    ], unit="ops")
    b.panel("Replies by code /s", [(rate("postline_smtpd_replies_total", "code"), "{{code}}")], unit="ops")
    b.panel("Commands /s", [(rate("postline_smtpd_commands_total", "command"), "{{command}}")], unit="ops")
    b.panel("Session duration", [
        (quantile(0.5, "postline_smtpd_session_duration_seconds"), "p50"),
        (quantile(0.95, "postline_smtpd_session_duration_seconds"), "p95"),
    ], unit="s")
    b.panel("SMTP AUTH /s", [(rate("postline_smtpd_auth_total", "mechanism, outcome"), "{{mechanism}} {{outcome}}")],
            unit="ops")
    b.panel("TLS handshakes /s", [(rate("postline_smtpd_tls_handshakes_total", "outcome"), "{{outcome}}")],
            unit="ops")
    b.panel("Limits reached /s", [(rate("postline_smtpd_limits_hit_total", "limit"), "{{limit}}")], unit="ops")
    b.panel("Recipient cache /s", [(rate("postline_smtpd_recipient_cache_total", "result"), "{{result}}")],
            unit="ops", description="RCPT look-ups answered from the cache (hit) or by authd (miss).")
    b.panel("Enqueue retries and BURL /s", [
        (rate("postline_smtpd_enqueue_retries_total"), "enqueue retried"),
        (rate("postline_smtpd_burl_total", "result"), "BURL {{result}}"),
    ], unit="ops")

    b.row("Antispam (postline-smtpd MX)")
    b.panel("SPF / DKIM / DMARC results /s",
            [(rate("postline_smtpd_auth_results_total", "method, result"), "{{method}} {{result}}")], unit="ops", w=12)
    b.panel("Spam verdicts /s", [(rate("postline_smtpd_spam_verdicts_total", "action"), "{{action}}")], unit="ops",
            w=12)
    b.panel("DNSBL lookups /s", [(rate("postline_smtpd_dnsbl_lookups_total", "zone, outcome"), "{{zone}} {{outcome}}")],
            unit="ops")
    b.panel("DNS answers from smtpd's cache /s",
            [(rate("postline_smtpd_dns_cache_lookups_total", "result"), "{{result}}")], unit="ops")
    b.panel("Greylisting and rate limits /s", [
        (rate("postline_smtpd_greylist_total", "outcome"), "greylist {{outcome}}"),
        (rate("postline_smtpd_rate_limited_total", "kind"), "rate limited by {{kind}}"),
    ], unit="ops")
    b.panel("Rspamd /s", [
        (rate("postline_smtpd_rspamd_checks_total", "action"), "{{action}}"),
        (rate("postline_smtpd_rspamd_errors_total"), "errors"),
        (rate("postline_smtpd_forged_headers_removed_total"), "forged Authentication-Results removed"),
    ], unit="ops")
    b.panel("DMARC evaluations for reports /s", [
        (rate("postline_smtpd_dmarc_report_evaluations_total", "outcome"), "smtpd {{outcome}}"),
        (rate("postline_queued_dmarc_evaluations_total", "disposition"), "queued recorded: {{disposition}}"),
    ], unit="ops", description="DMARC evaluations on their way to aggregate reports (reports.send): smtpd sent, "
                               "dropped (buffer full) or retried them; queued recorded them by disposition.")

    b.row("Queue and delivery (postline-queued)")
    b.panel("Queue depth by state", [
        ('max by (state) (postline_queued_queue_depth{state=~"queued|deferred|delivering"})', "{{state}}")])
    b.panel("Oldest queued message", [("max(postline_queued_oldest_message_age_seconds)", "oldest")], unit="s")
    b.panel("Enqueued /s", [
        (rate("postline_queued_messages_enqueued_total"), "enqueued"),
        (rate("postline_queued_enqueue_committed_messages_total") + " / " + rate("postline_queued_enqueue_commits_total"),
         "messages per commit (group commit)"),
    ], unit="ops")
    b.panel("Delivery outcomes /s",
            [(rate("postline_queued_deliveries_total", "outcome, class"), "{{class}} {{outcome}}")], unit="ops")
    failed = rate("postline_queued_deliveries_total", None, 'outcome!="delivered"')
    b.panel("Delivery failure ratio", [(failed + " / " + rate("postline_queued_deliveries_total"), "not delivered")],
            unit="percentunit")
    b.panel("Delivery duration", [
        (quantile(0.5, "postline_queued_delivery_duration_seconds"), "p50"),
        (quantile(0.95, "postline_queued_delivery_duration_seconds"), "p95"),
    ], unit="s")
    b.panel("DSNs sent /s", [(rate("postline_queued_dsn_sent_total", "type"), "{{type}}")], unit="ops")
    b.panel("Over quota /s", [(rate("postline_queued_over_quota_total", "result"), "{{result}}")], unit="ops",
            description="Local deliveries refused by the recipient's quota: deferred (retried) or bounced.")
    b.panel("Outbound SMTP connection reuse", [
        (rate("postline_queued_smtp_connections_total", None, 'reused="false"'), "connections opened /s"),
        (rate("postline_queued_smtp_connections_total", None, 'reused="true"'), "messages over an open one /s"),
    ], unit="ops")
    b.panel("Transport security (MTA-STS, DANE) /s", [
        (rate("postline_queued_transport_policy_total", "policy, result"), "{{policy}} {{result}}"),
    ], unit="ops",
        description="One per outbound connection or MX host skipped: policy sts|tlsa|no-policy-found and the "
                    "RFC 8460 result type. Anything but success under sts/tlsa is a misconfigured or attacked "
                    "destination; enforce and DANE failures defer the mail (docs/queue.md, Transport security).")
    b.panel("Search indexing /s", [
        (rate("postline_queued_search_indexed_total"), "bodies indexed"),
        (rate("postline_queued_search_index_failures_total"), "failed batches"),
    ], unit="ops")
    b.panel("DMARC and TLS reports /s", [
        (rate("postline_queued_reports_sent_total", "kind, outcome"), "sent {{kind}} {{outcome}}"),
        (rate("postline_queued_reports_received_total", "kind, outcome"), "received {{kind}} {{outcome}}"),
    ], unit="ops", description="Aggregate reports (RFC 7489, RFC 8460) queued built for other domains, by outcome "
                               "(sent, no_rua, unverified, too_large, dns_error, error), and reports others sent "
                               "us (stored, duplicate, not_ours, invalid, dropped, error).")
    b.panel("Outbound TLS sessions /s (TLS-RPT)",
            [(rate("postline_queued_tls_sessions_total", "policy_type, result"), "{{policy_type}} {{result}}")],
            unit="ops", description="TLS outcome of every outbound MX session, as TLS reports count it: success "
                                    "or an RFC 8460 result type (starttls-not-supported, validation-failure, ...).")
    b.panel("Operator actions and held mail", [
        ("max(postline_queued_held_messages)", "messages held"),
        ("sum by (action) (increase(postline_queued_admin_actions_total[$__rate_interval]))", "{{action}}"),
    ], description="postline queue hold/release/requeue/retry/delete: held messages (gauge) and the "
                   "messages each command changed.")
    b.panel("Sieve runs /s", [
        (rate("postline_queued_sieve_runs_total", "result"), "{{result}}"),
    ], unit="ops", description="Sieve at local delivery (docs/sieve.md): ok; compile_error and runtime_error kept "
                               "the message in INBOX (the log names the script and line); replayed: a retry found "
                               "the run already committed; failed: database trouble, the recipient was deferred.")
    b.panel("Delivered right after Enqueue into other shards /s", [
        (rate("postline_queued_immediate_deliveries_total", "result"), "{{result}}"),
    ], unit="ops", description="Sharding (docs/queue.md): local recipients on shards other than db.url's, handed "
                               "to queued's in-process delivery after the Enqueue commit. delivered; workers: left "
                               "to a worker (over quota, a Sieve script, a failure); full: the hand-off queue was "
                               "full (the workers take them after a 10 s grace).")
    b.panel("Sieve actions /s", [(rate("postline_queued_sieve_actions_total", "action"), "{{action}}")], unit="ops",
            description="What users' and the administrator's scripts did: keep, fileinto, discard, redirect, "
                        "vacation, reject.")

    b.row("IMAP (postline-imapd)")
    b.panel("Active sessions", [("sum(postline_imapd_sessions_active)", "active")])
    b.panel("Sessions started /s", [(rate("postline_imapd_sessions_total", "listener"), "{{listener}}")],
            unit="ops")
    b.panel("Logins /s", [(rate("postline_imapd_logins_total", "outcome"), "{{outcome}}")], unit="ops")
    b.panel("Commands /s", [(rate("postline_imapd_commands_total", "command, status"), "{{command}} {{status}}")],
            unit="ops", w=12)
    b.panel("Command latency p95", [
        (quantile(0.95, "postline_imapd_command_duration_seconds", "command"), "{{command}}")], unit="s", w=12)
    b.panel("Protocol errors and refused connections /s", [
        (rate("postline_imapd_protocol_errors_total", "kind"), "{{kind}}"),
        (rate("postline_imapd_connections_refused_total", "reason"), "refused: {{reason}}"),
    ], unit="ops")
    b.panel("NOTIFY responses /s", [(rate("postline_imapd_notifications_sent_total", "kind"), "{{kind}}")],
            unit="ops")
    b.panel("Literal bytes buffered", [("sum(postline_imapd_literal_bytes_buffered)", "buffered")], unit="bytes",
            description="Bytes of literals all connections hold now; imap.max_inflight_literals is the ceiling.")
    b.panel("Index cache", [
        ("sum(postline_imapd_index_cache_messages)", "messages held"),
        ("sum(postline_imapd_index_cache_mailboxes)", "mailboxes held"),
    ])
    b.panel("Index cache opens /s", [(rate("postline_imapd_index_cache_opens_total", "result"), "{{result}}")],
            unit="ops")
    b.panel("Streamed FETCH bodies", [
        (rate("postline_imapd_fetch_bodies_streamed_total"), "bodies /s"),
        (rate("postline_imapd_fetch_streamed_bytes_total"), "bytes /s"),
    ], unit="ops")
    b.panel("COMPRESS=DEFLATE", [
        (rate("postline_imapd_compress_sessions_total"), "sessions /s"),
        (rate("postline_imapd_compress_bytes_total", "direction, form"), "{{direction}} {{form}} bytes /s"),
    ], unit="ops")
    b.panel("QRESYNC history pruned /s", [(rate("postline_imapd_expunged_pruned_total"), "rows")], unit="ops",
            w=16)

    b.row("ManageSieve (postline-managesieved)")
    b.panel("Active sessions", [("sum(postline_managesieved_sessions_active)", "active"),
                                (rate("postline_managesieved_sessions_total"), "started /s")])
    b.panel("Logins /s", [(rate("postline_managesieved_logins_total", "outcome"), "{{outcome}}")], unit="ops",
            description="AUTHENTICATE outcomes; throttled is authd's brute-force throttle, shared with IMAP and SMTP.")
    b.panel("Commands /s", [(rate("postline_managesieved_commands_total", "command, result"),
                             "{{command}} {{result}}")], unit="ops")
    b.panel("Scripts stored and refused /s", [
        (rate("postline_managesieved_scripts_stored_total"), "stored"),
        (rate("postline_managesieved_scripts_refused_total", "reason"), "refused: {{reason}}")], unit="ops",
        description="PUTSCRIPT: stored, or refused because it does not compile (syntax), is too large (maxsize), "
                    "or the user is at managesieve.max_scripts (maxscripts) or max_total_size (quota).")
    b.panel("Protocol errors and refused connections /s", [
        (rate("postline_managesieved_protocol_errors_total", "kind"), "{{kind}}"),
        (rate("postline_managesieved_connections_refused_total", "reason"), "refused: {{reason}}")], unit="ops",
        w=16)

    b.row("Auth (postline-authd)")
    b.panel("Logins /s", [(rate("postline_authd_logins_total", "protocol, outcome"), "{{protocol}} {{outcome}}")],
            unit="ops")
    b.panel("Failed logins /s", [
        (rate("postline_authd_logins_total", "protocol, mechanism", 'outcome=~"invalid_credentials|throttled"'),
         "{{protocol}} {{mechanism}}"),
        (rate("postline_authd_throttled_total", "action"), "throttled: {{action}}")], unit="ops")
    b.panel("Password hash duration", [
        (quantile(0.5, "postline_authd_hash_duration_seconds"), "p50"),
        (quantile(0.95, "postline_authd_hash_duration_seconds"), "p95"),
    ], unit="s")
    b.panel("Verified-credential cache", [
        (rate("postline_authd_verify_cache_lookups_total", "result"), "{{result}} /s"),
        ("sum(postline_authd_verify_cache_entries)", "entries"),
    ], w=24, h=6)

    b.row("Client set-up (postline-webd)")
    b.panel("Requests /s by path and status", [
        (rate("postline_webd_requests_total", "path, status"), "{{path}} {{status}}")], unit="ops",
        description="autoconfig, autodiscover, mobileconfig, the plain-HTTP redirect; many 404s under one path "
                    "often mean a domain missing from `postline domain add` (docs/web.md).")
    b.panel("Domain checks /s", [
        (rate("postline_webd_domain_lookups_total", "result"), "{{result}}"),
        (rate("postline_webd_domain_cache_hits_total"), "cache hit")], unit="ops")
    b.panel("TLS handshake failures and refused connections /s", [
        (rate("postline_webd_tls_handshake_failures_total"), "handshake failed"),
        (rate("postline_webd_connections_rejected_total"), "over connection limit")], unit="ops")

    b.row("Web portal (postline-webd)")
    b.panel("Portal sign-ins /s by outcome", [
        (rate("postline_webd_portal_logins_total", "outcome"), "{{outcome}}")], unit="ops",
        description="Sign-ins and current-password checks on the portal, by authd's answer; throttled is authd's "
                    "brute-force throttle, shared with IMAP and SMTP logins (docs/web.md).")
    b.panel("Portal requests /s by route and status", [
        (rate("postline_webd_portal_requests_total", "route, status"), "{{route}} {{status}}")], unit="ops",
        description="403 under a route: a POST without this site's Origin or CSRF token; 503: authd or queued "
                    "did not answer.")
    b.row("Certificates: ACME and reloads")
    b.panel("ACME orders (1h)", [
        ('sum by (outcome) (increase(postline_acme_orders_total[1h]))', "{{outcome}}"),
        ('sum(increase(postline_acme_bad_nonce_retries_total[1h]))', "badNonce retries")],
        description="Orders webd's ACME client ran: issued (installed) or failed (the old certificate kept, "
                    "retried at the next acme.check_interval; alert PostlineAcmeRenewalFailing).")
    b.panel("ACME renewal due in / last renewal ago", [
        ("min(postline_acme_renewal_due_timestamp_seconds) - time()", "renewal due in"),
        ("time() - max(postline_acme_last_renewal_timestamp_seconds > 0)", "last renewal ago")],
        unit="s", kind="stat",
        description="When the installed certificate reaches acme.renew_before (negative or 0: due now), "
                    "and how long ago webd last installed one (empty: none since it started).")
    b.panel("Certificate reloads (1h)", [
        ('sum by (job, trigger, outcome) (increase(postline_tls_reloads_total[1h]))',
         "{{job}} {{trigger}} {{outcome}}")],
        description="smtpd, imapd and webd loading a changed certificate (file: noticed by the watcher, "
                    "signal: SIGHUP); errors keep the old one (alert PostlineTlsReloadFailing).")

    b.row("gRPC")
    for svc in ("authd", "queued"):
        b.panel(f"{svc} server latency p95 by method", [
            (quantile(0.95, f"postline_{svc}_grpc_server_duration_seconds", "method"), "{{method}}")], unit="s")
    b.panel("gRPC server errors /s", [
        (rate(f"postline_{svc}_grpc_server_calls_total", "method, code", 'code!="OK"'), svc + " {{method}} {{code}}")
        for svc in ("authd", "queued")], unit="ops")
    for svc in ("smtpd", "imapd", "managesieved", "queued", "webd"):
        b.panel(f"{svc} client latency p95 by method", [
            (quantile(0.95, f"postline_{svc}_grpc_client_duration_seconds", "method"), "{{method}}")], unit="s")
    b.panel("gRPC client errors /s", [
        (rate(f"postline_{svc}_grpc_client_calls_total", "method, code", 'code!="OK"'), svc + " {{method}} {{code}}")
        for svc in ("smtpd", "imapd", "managesieved", "queued", "webd")], unit="ops", w=16, h=8)

    b.row("Processes")
    job = 'job=~"postline-.*"'
    b.panel("CPU (cores)", [(f"sum by (job, instance) (rate(process_cpu_seconds_total{{{job}}}[{RI}]))",
                             "{{job}} {{instance}}")])
    b.panel("Resident memory", [(f"process_resident_memory_bytes{{{job}}}", "{{job}} {{instance}}")], unit="bytes",
            description="Compare with the container limit: smtpd's and imapd's buffer budgets are a quarter of it.")
    b.panel("Virtual memory", [(f"process_virtual_memory_bytes{{{job}}}", "{{job}} {{instance}}")], unit="bytes")
    b.panel("Open file descriptors (share of the limit)",
            [(f"process_open_fds{{{job}}} / process_max_fds{{{job}}}", "{{job}} {{instance}}")], unit="percentunit")
    b.panel("Open file descriptors", [(f"process_open_fds{{{job}}}", "{{job}} {{instance}}")])
    b.panel("Uptime", [(f"time() - process_start_time_seconds{{{job}}}", "{{job}} {{instance}}")], unit="s")

    b.row("Blob storage in S3 (mailstore.blob_backend: s3)")
    b.panel("S3 requests /s", [(rate("postline_s3_requests_total", "job, op, status"), "{{job}} {{op}} {{status}}")],
            unit="ops", description="Every attempt, retries included; status \"error\": no answer (connect, "
                                    "timeout, reset). Empty while bodies are in PostgreSQL.")
    b.panel("S3 request latency p50 / p99", [
        (quantile(0.5, "postline_s3_request_duration_seconds", "job, op"), "p50 {{job}} {{op}}"),
        (quantile(0.99, "postline_s3_request_duration_seconds", "job, op"), "p99 {{job}} {{op}}"),
    ], unit="s")
    b.panel("S3 bytes and retries /s", [
        (rate("postline_s3_bytes_total", "direction"), "bytes {{direction}}"),
        (rate("postline_s3_retries_total", "job, op"), "retries {{job}} {{op}}"),
    ], unit="short")
    b.panel("Blob sweeper", [
        (rate("postline_mailstore_blob_sweeps_total", "shard, result"), "sweeps {{shard}} {{result}}"),
        ("sum by (shard, kind) (increase(postline_mailstore_blob_sweep_items_total[$__rate_interval]))",
         "{{shard}} {{kind}}"),
    ], description="queued's sweepers, one per mailstore shard (mailstore.s3_sweep_interval): expired upload "
                   "intents (writers or account moves that crashed between upload and commit), catalogue rows "
                   "marked and collected, objects deleted. "
                   "docs/operations.md, S3 blob storage.")

    b.row("Database connection pools")
    b.panel("Connections in use (share of the pool)", [
        ('sum by (job, instance, pool) (postline_db_pool_connections{state="in_use"})'
         " / sum by (job, instance, pool) (postline_db_pool_max_connections)", "{{job}} {{pool}} {{instance}}")],
        unit="percentunit")
    b.panel("Connections open", [
        ("sum by (job, pool, state) (postline_db_pool_connections)", "{{job}} {{pool}} {{state}}")])
    b.panel("Waiting for a connection", [
        (rate("postline_db_pool_wait_seconds_total", "job, pool"), "{{job}} {{pool}} seconds waited /s"),
        (rate("postline_db_pool_acquire_timeouts_total", "job, pool"), "{{job}} {{pool}} timeouts /s"),
    ], description="Seconds per second spent waiting for a free connection; timeouts are requests that gave up "
                   "(alert PostlineDatabasePoolExhausted).")
    b.panel("Dropped connections and failed connects", [
        (rate("postline_db_pool_connections_dropped_total", "job, pool"), "{{job}} {{pool}} dropped /s"),
        (rate("postline_db_pool_connect_failures_total", "job, pool"), "{{job}} {{pool}} connect failures /s"),
    ], description="Connections the pool threw away (the server closed them, or it became read-only: a "
                   "failover) and new connections that found no writable server; a burst is a database "
                   "restart or failover (docs/operations.md, High availability).")

    return {
        "uid": "postline-overview",
        "title": "Postline",
        "description": "SMTP, antispam, queue, IMAP, auth, gRPC, processes and database pools (deploy/grafana/gen_dashboard.py)",
        "tags": ["postline", "mail"],
        "timezone": "utc",
        "schemaVersion": 39,
        "version": 1,
        "editable": True,
        "refresh": "30s",
        "time": {"from": "now-6h", "to": "now"},
        "templating": {"list": [{
            "name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {"text": "Prometheus", "value": "prometheus"}, "hide": 0,
        }]},
        "annotations": {"list": []},
        "panels": b.panels,
    }


if __name__ == "__main__":
    OUT.write_text(json.dumps(build(), indent=2) + "\n")
    print(f"wrote {OUT}")
