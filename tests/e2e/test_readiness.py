"""Readiness follows the database (issue 16): while the platform's database
refuses connections, authd's and queued's gRPC health say NOT_SERVING, so
smtpd's /readyz turns 503 (a load balancer stops sending it mail it could
only answer 451); once the database is back, /readyz is 200 again and the
first commands succeed - no stale pooled connection fails a client.

The outage is this platform's own: its database stops accepting connections
and its sessions are terminated (the shared test server keeps running for
the other tests)."""
from __future__ import annotations

import imaplib
import smtplib
import urllib.error
import urllib.request

import pytest

from platform_support import wait_until

USER = "ready@example.test"
PASSWORD = "readiness password 1"


def status(port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=5) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code


def admin(plat, sql: str):
    """SQL about this platform's database, run from the server's postgres database."""
    base, _, name = plat.db_url.rpartition("/")
    import subprocess
    subprocess.run(["psql", f"{base}/postgres", "-Atq", "-c", sql.replace("DB", f'"{name}"').replace("NAME", f"'{name}'")],
                   check=True, capture_output=True, text=True)


@pytest.fixture
def plat(fresh_platform_factory):
    p = fresh_platform_factory({})
    p.add_user(USER, PASSWORD)
    yield p
    admin(p, "ALTER DATABASE DB ALLOW_CONNECTIONS true")


def test_smtpd_is_not_ready_while_the_database_is_down_and_recovers(plat):
    smtpd_http = plat.ports["smtpd_http"]
    assert status(smtpd_http) == 200
    admin(plat, "ALTER DATABASE DB ALLOW_CONNECTIONS false")
    admin(plat, "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = NAME")
    wait_until(lambda: status(smtpd_http) == 503, timeout=20, interval=0.1, what="smtpd /readyz 503 in the outage")
    wait_until(lambda: status(plat.ports["authd_http"]) == 503, timeout=10, what="authd /readyz 503")
    # Meanwhile a recipient gets a temporary failure, never a 5xx or a 250.
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=30) as s:
        s.ehlo("client.remote.test")
        s.mail("bob@remote.test")
        code, _ = s.rcpt(USER)
        assert 400 <= code < 500, code
    admin(plat, "ALTER DATABASE DB ALLOW_CONNECTIONS true")
    wait_until(lambda: status(smtpd_http) == 200, timeout=20, interval=0.1, what="smtpd /readyz 200 again")
    wait_until(lambda: status(plat.ports["imapd_http"]) == 200, timeout=20, interval=0.1, what="imapd /readyz 200")
    # Ready again means working: the first tries succeed.
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=30) as s:
        s.sendmail("bob@remote.test", [USER], b"Subject: after the outage\r\n\r\nhello\r\n")
    m = imaplib.IMAP4("127.0.0.1", plat.ports["imap"])
    assert m.login(USER, PASSWORD)[0] == "OK"
    typ, data = m.select("INBOX")
    assert typ == "OK" and int(data[0]) == 1, data
    m.logout()
