"""One host, Unix sockets between the parts (queue.grpc_socket, auth.grpc_socket, a db.url with
host=<socket directory>): mail still travels SMTP -> queued -> mailbox -> IMAP, the CLI reaches
authd through its socket, the sockets are 0660, every service's PostgreSQL connections carry its
name (fallback_application_name), and queued killed with SIGKILL starts again on its stale
socket file and takes mail."""
from __future__ import annotations

import imaplib
import os
import shutil
import smtplib
import stat
from email.message import EmailMessage
from pathlib import Path
from urllib.parse import urlparse

import pytest

from platform_support import Platform, new_workdir, unix_socket_url, wait_until

USER = "sockets@example.test"
PASSWORD = "correct horse battery staple"


def socket_url(server_url: str) -> str:
    """The shared test server through its Unix socket (scripts/pg puts it in the data directory
    beside the url file); the TCP URL, with a printed reason, when it is not there."""
    url_file = os.environ.get("POSTLINE_TEST_PG_URL_FILE")
    port = urlparse(server_url).port or 5432
    directory = Path(url_file).parent / "data" if url_file else None
    if directory is None or not (directory / f".s.PGSQL.{port}").exists():
        print(f"PostgreSQL's socket is not beside {url_file}: db.url stays TCP for this run")
        return server_url
    return unix_socket_url(server_url, directory.resolve())


@pytest.fixture(scope="module")
def sockets_dir():
    directory = new_workdir("postline-sock-")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def socket_platform(pg_server_url, sockets_dir):
    env = {}
    for svc in ("queue", "auth"):
        path = sockets_dir / f"{svc}.sock"
        env[f"POSTLINE_{svc.upper()}_GRPC_SOCKET"] = str(path)
        env[f"POSTLINE_{svc.upper()}_ADDR"] = f"unix:{path}"
    p = Platform(socket_url(pg_server_url), new_workdir("postline-e2e-"), env)
    try:
        p.start_all()
        p.add_user(USER, PASSWORD)  # the CLI asks authd through auth.addr = unix:...
        yield p
    finally:
        p.stop_all()
        shutil.rmtree(p.workdir, ignore_errors=True)


def send(p, subject: str):
    msg = EmailMessage()
    msg["From"] = "sender@remote.test"
    msg["To"] = USER
    msg["Subject"] = subject
    msg.set_content("over Unix sockets\n")
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("client.remote.test")
        smtp.send_message(msg)  # RCPT asks authd, DATA enqueues in queued: both over the sockets


def inbox_count(p) -> int:
    imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=10)
    try:
        imap.login(USER, PASSWORD)  # imapd -> authd over its socket
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", data
        return int(data[0])
    finally:
        imap.logout()


def test_mail_travels_over_unix_sockets(socket_platform, sockets_dir):
    p = socket_platform
    send(p, "first")
    wait_until(lambda: inbox_count(p) == 1, timeout=30, what="the message in INBOX")
    for svc in ("queue", "auth"):
        mode = (sockets_dir / f"{svc}.sock").stat().st_mode
        assert stat.S_ISSOCK(mode) and stat.S_IMODE(mode) == 0o660, oct(mode)
    assert "listening grpc on unix:" in p.log_tail("queued", 400)
    assert "listening grpc on unix:" in p.log_tail("authd", 400)
    # Enqueue went through the socket: smtpd's client calls count it.
    assert p.metric_value("smtpd", "postline_smtpd_grpc_client_calls_total", {"method": "Enqueue", "code": "OK"}) >= 1


def test_database_connections_name_their_service(socket_platform):
    names = set(socket_platform.psql(
        "SELECT DISTINCT application_name FROM pg_stat_activity WHERE datname = current_database()").split())
    assert {"postline-queued", "postline-authd", "postline-imapd"} <= names, names


def test_queued_starts_again_on_its_stale_socket_after_sigkill(socket_platform, sockets_dir):
    p = socket_platform
    before = inbox_count(p)
    p.kill("queued")
    assert (sockets_dir / "queue.sock").exists()  # what SIGKILL leaves behind
    p.start("queued")
    send(p, "after the restart")
    wait_until(lambda: inbox_count(p) == before + 1, timeout=60, what="the message sent after queued's restart")
