"""What every service exports from the moment it starts (issue 17), scraped from
the real services' /metrics right after start, before any traffic:

- counters whose label values are known exist at zero (authd's throttle actions,
  imapd's login outcomes, smtpd's listeners, SPF/DKIM/DMARC results, verdicts,
  greylisting, queued's over-quota results and connection reuse ...);
- process_* (read from /proc by the service) agree with what /proc says about the
  service's pid;
- postline_ready is 1 while /readyz is 200, and smtpd's turns 0 when the
  platform's PostgreSQL stops answering, then 1 again;
- postline_db_pool_* for every pool of every service;
- postline_tls_certificate_not_after_timestamp_seconds equals the notAfter of the
  certificate the listeners use (and of the gRPC certificate), and follows a
  SIGHUP reload to a new certificate."""
from __future__ import annotations

import datetime
import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from platform_support import new_workdir, parse_metrics, wait_until
from test_grpc_tls import make_pki, tls_env
from test_readiness import admin

SERVICES = ("authd", "queued", "smtpd", "imapd", "managesieved")


def not_after(cert: Path) -> float:
    out = subprocess.run(["openssl", "x509", "-noout", "-enddate", "-in", str(cert)], check=True,
                         capture_output=True, text=True).stdout.strip()
    stamp = out.split("=", 1)[1]  # notAfter=Dec  3 15:00:00 2026 GMT
    return datetime.datetime.strptime(stamp, "%b %d %H:%M:%S %Y %Z").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def series(plat, service: str) -> dict[tuple[str, tuple], float]:
    return parse_metrics(plat.metrics_text(service))


def value(metrics, name: str, **labels) -> float | None:
    want = tuple(sorted(labels.items()))
    return metrics.get((name, want))


@pytest.fixture(scope="module")
def plat(fresh_platform_factory):
    pki = make_pki(new_workdir("postline-obs-pki-"))
    env = dict(tls_env(pki))
    env["POSTLINE_SPAM_GREYLIST"] = "true"  # smtpd then has a database pool
    p = fresh_platform_factory(env)
    p.pki = pki
    yield p
    admin(p, "ALTER DATABASE DB ALLOW_CONNECTIONS true")


def test_counters_with_known_labels_exist_at_zero_from_start(plat):
    authd = series(plat, "authd")
    for action in ("delayed", "blocked"):
        assert value(authd, "postline_authd_throttled_total", action=action) == 0, action
    smtpd = series(plat, "smtpd")
    for listener in ("mx", "submission", "submissions"):
        assert value(smtpd, "postline_smtpd_sessions_total", listener=listener) == 0, listener
    for outcome in ("success", "failure"):
        assert value(smtpd, "postline_smtpd_tls_handshakes_total", outcome=outcome) == 0
    for action in ("accept", "junk", "reject", "tempfail"):
        assert value(smtpd, "postline_smtpd_spam_verdicts_total", action=action) == 0, action
    for method, result in (("spf", "pass"), ("spf", "fail"), ("spf_helo", "none"), ("dkim", "pass"),
                           ("dkim", "fail"), ("dmarc", "pass"), ("dmarc", "fail")):
        assert value(smtpd, "postline_smtpd_auth_results_total", method=method, result=result) == 0, (method, result)
    for outcome in ("new", "early", "passed", "error"):
        assert value(smtpd, "postline_smtpd_greylist_total", outcome=outcome) == 0, outcome
    assert value(smtpd, "postline_smtpd_messages_rejected_total", reason="size") == 0
    imapd = series(plat, "imapd")
    for listener in ("imap", "imaps"):
        assert value(imapd, "postline_imapd_sessions_total", listener=listener) == 0, listener
    for outcome in ("success", "failure", "throttled"):
        assert value(imapd, "postline_imapd_logins_total", outcome=outcome) == 0, outcome
    for reason in ("total", "per_ip"):
        assert value(imapd, "postline_imapd_connections_refused_total", reason=reason) == 0
    # Issue 17: certificate reloads (the file watcher and SIGHUP) in every TLS-serving service.
    for m in (smtpd, imapd):
        for trigger in ("file", "signal"):
            for outcome in ("ok", "error"):
                assert value(m, "postline_tls_reloads_total", trigger=trigger, outcome=outcome) == 0, (trigger, outcome)
    queued = series(plat, "queued")
    for result in ("deferred", "bounced"):
        assert value(queued, "postline_queued_over_quota_total", result=result) == 0, result
    for reused in ("true", "false"):
        assert value(queued, "postline_queued_smtp_connections_total", reused=reused) == 0, reused


def pid_of(plat, service: str) -> int:
    return plat.procs[service].pid


def test_process_metrics_match_proc(plat):
    ticks = os.sysconf("SC_CLK_TCK")
    boot = next(float(line.split()[1]) for line in Path("/proc/stat").read_text().splitlines()
                if line.startswith("btime "))
    for service in SERVICES:
        m = series(plat, service)
        pid = pid_of(plat, service)
        stat = Path(f"/proc/{pid}/stat").read_text()
        fields = stat[stat.rindex(")") + 2:].split()
        started = boot + int(fields[19]) / ticks
        assert value(m, "process_start_time_seconds") == pytest.approx(started, abs=0.02), service
        assert time.time() - 600 < started <= time.time()
        rss = value(m, "process_resident_memory_bytes")
        assert rss > 1 << 20, service
        assert value(m, "process_virtual_memory_bytes") >= rss
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        assert 3 <= value(m, "process_open_fds") <= fds + 16, service  # a scrape opens and closes sockets
        soft = next(line.split()[3] for line in Path(f"/proc/{pid}/limits").read_text().splitlines()
                    if line.startswith("Max open files"))
        assert value(m, "process_max_fds") == float(soft), service
        cpu = value(m, "process_cpu_seconds_total")
        assert 0 <= cpu <= (int(fields[11]) + int(fields[12])) / ticks + 5, service


def test_ready_gauge_and_build_info_for_every_service(plat):
    for service in SERVICES:
        assert plat.http_status(service, "/readyz") == 200
        m = series(plat, service)
        assert value(m, "postline_ready") == 1, service
        builds = [labels for (name, labels), v in m.items() if name == f"postline_{service}_build_info" and v == 1]
        assert len(builds) == 1 and dict(builds[0]).get("version"), (service, builds)


POOLS = {"authd": ["auth"], "queued": ["rpc", "workers", "enqueue", "mailstore"], "imapd": ["mailstore"],
         "smtpd": ["antispam"], "managesieved": ["sieve"]}


def test_every_pool_is_reported(plat):
    for service, pools in POOLS.items():
        m = series(plat, service)
        for pool in pools:
            size = value(m, "postline_db_pool_max_connections", pool=pool)
            assert size and size >= 1, (service, pool)
            in_use = value(m, "postline_db_pool_connections", pool=pool, state="in_use")
            idle = value(m, "postline_db_pool_connections", pool=pool, state="idle")
            assert in_use is not None and idle is not None, (service, pool)
            assert 0 <= in_use + idle <= size, (service, pool, in_use, idle, size)
            for counter in ("postline_db_pool_waits_total", "postline_db_pool_wait_seconds_total",
                            "postline_db_pool_acquire_timeouts_total"):
                assert value(m, counter, pool=pool) is not None, (service, pool, counter)
    # authd checked its schema and serves readiness from the pool: a connection is open.
    m = series(plat, "authd")
    assert value(m, "postline_db_pool_connections", pool="auth", state="idle") >= 1
    assert value(m, "postline_db_pool_max_connections", pool="auth") == 4  # POSTLINE_DB_POOL_SIZE of the platform


def test_certificate_expiry_is_the_loaded_certificates_not_after(plat):
    listener_cert = not_after(plat.cert)
    grpc_cert = not_after(plat.pki["service.pem"])
    for service in ("smtpd", "imapd", "managesieved"):
        m = series(plat, service)
        assert value(m, "postline_tls_certificate_not_after_timestamp_seconds", setting="tls.cert_file",
                     file=str(plat.cert)) == listener_cert, service
    for service in SERVICES:
        m = series(plat, service)
        assert value(m, "postline_tls_certificate_not_after_timestamp_seconds", setting="grpc.tls_cert_file",
                     file=str(plat.pki["service.pem"])) == grpc_cert, service


def test_certificate_expiry_follows_a_sighup_reload(plat):
    before = not_after(plat.cert)
    # A renewed certificate with another lifetime (3 days instead of the platform's 30).
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "3", "-subj", "/CN=localhost",
                    "-keyout", str(plat.key), "-out", str(plat.cert)], check=True, capture_output=True)
    after = not_after(plat.cert)
    assert after < before
    plat.procs["imapd"].send_signal(signal.SIGHUP)
    wait_until(lambda: value(series(plat, "imapd"), "postline_tls_certificate_not_after_timestamp_seconds",
                             setting="tls.cert_file", file=str(plat.cert)) == after,
               timeout=20, what="imapd's certificate gauge after SIGHUP")


def test_smtpd_ready_gauge_follows_a_database_outage(plat):
    assert value(series(plat, "smtpd"), "postline_ready") == 1
    admin(plat, "ALTER DATABASE DB ALLOW_CONNECTIONS false")
    admin(plat, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = NAME")
    try:
        wait_until(lambda: value(series(plat, "smtpd"), "postline_ready") == 0, timeout=30, interval=0.2,
                   what="smtpd postline_ready 0 in the outage")
        assert plat.http_status("smtpd", "/readyz") == 503
    finally:
        admin(plat, "ALTER DATABASE DB ALLOW_CONNECTIONS true")
    wait_until(lambda: value(series(plat, "smtpd"), "postline_ready") == 1, timeout=30, interval=0.2,
               what="smtpd postline_ready 1 after the outage")
