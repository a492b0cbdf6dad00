"""Operator-facing behaviour of postline-imapd: plaintext policy, graceful
shutdown, configuration errors, schema check, readiness and metrics."""
from __future__ import annotations

import imaplib
import signal
import socket
import ssl
import subprocess
import time

import pytest

from platform_support import wait_until

USER = "ops-user@example.test"
PASSWORD = "ops password 1"


def test_no_plaintext_login_before_starttls_when_disallowed(fresh_platform_factory):
    # The test client is on loopback, which may log in without TLS by default
    # (docs/imap.md): that exception is turned off here.
    p = fresh_platform_factory({"POSTLINE_IMAP_ALLOW_PLAINTEXT_AUTH": "false",
                                "POSTLINE_IMAP_ALLOW_PLAINTEXT_AUTH_FROM_LOOPBACK": "false"})
    p.add_user(USER, PASSWORD)
    m = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
    assert "LOGINDISABLED" in m.capabilities and "AUTH=PLAIN" not in m.capabilities
    with pytest.raises(imaplib.IMAP4.error, match="PRIVACYREQUIRED"):
        m.login(USER, PASSWORD)
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    m.starttls(ssl_context=ctx)
    assert m.login(USER, PASSWORD)[0] == "OK"
    m.logout()


def test_sigterm_says_bye_to_idle_clients_and_exits(platform):
    platform.add_user(USER, PASSWORD)
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(USER, PASSWORD)
    m.select("INBOX")
    m.send(b"i1 IDLE\r\n")
    assert m.readline().startswith(b"+")
    proc = platform.procs["imapd"]
    started = time.monotonic()
    proc.send_signal(signal.SIGTERM)
    assert m.readline().startswith(b"* BYE"), "IDLE client was not told"
    assert proc.wait(timeout=15) == 0
    assert time.monotonic() - started < 10  # did not wait for the grace period
    platform.procs.pop("imapd")
    platform.start("imapd")


def test_bad_config_value_names_the_key(platform):
    result = subprocess.run([str(platform.bin / "postline-imapd")], capture_output=True, text=True, timeout=30,
                            env=platform.process_env({"POSTLINE_IMAP_IDLE_TIMEOUT": "5m"}))
    assert result.returncode == 2
    assert "imap.idle_timeout" in result.stderr


def test_unmigrated_database_refuses_to_start(platform):
    import os
    base, _, _ = platform.db_url.rpartition("/")
    name = "e2e_empty_" + os.urandom(4).hex()
    subprocess.run(["psql", platform.db_url, "-qc", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    result = subprocess.run([str(platform.bin / "postline-imapd")], capture_output=True, text=True, timeout=30,
                            env=platform.process_env({"POSTLINE_DB_URL": f"{base}/{name}"}))
    assert result.returncode == 3
    assert "postline migrate" in result.stderr


def test_readiness_and_session_metrics(platform):
    assert platform.http_status("imapd", "/readyz") == 200
    before = platform.metric_value("imapd", "postline_imapd_sessions_total", {"listener": "imap"})
    with socket.create_connection(("127.0.0.1", platform.ports["imap"])) as s:
        assert s.makefile("rb").readline().startswith(b"* OK [CAPABILITY")
    wait_until(lambda: platform.metric_value("imapd", "postline_imapd_sessions_total", {"listener": "imap"})
               == before + 1, what="sessions_total")
    assert platform.metric_value("imapd", "postline_imapd_build_info") == 1
