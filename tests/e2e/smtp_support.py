"""Shared helpers for tests/e2e/test_smtp_*.py: a platform whose remote
deliveries stay deferred (DNS points at a closed port), accounts, and lookups of
what smtpd handed to the queue or the mailstore."""
from __future__ import annotations

import base64
import re
import ssl

from platform_support import free_port, wait_until

DOMAIN = "example.test"
ALICE = f"alice@{DOMAIN}"
BOB = f"bob@{DOMAIN}"
PASSWORD = "correct horse battery staple"
REMOTE = "dave@remote.test"


def platform_env(extra: dict | None = None) -> dict:
    # Remote recipients must stay in the queue so tests can read their envelope:
    # a DNS server on a closed port makes every MX lookup a temporary failure.
    env = {"POSTLINE_DNS_SERVERS": f"127.0.0.1:{free_port()}", "POSTLINE_SMTP_HOSTNAME": "mx.example.test"}
    env.update(extra or {})
    return env


def start_without_imapd(factory, extra_env: dict | None = None):
    """smtpd's tests need authd, queued and smtpd only: a platform without imapd
    (delivered mail is read from the mailstore tables)."""
    p = factory(platform_env(extra_env), start=False)
    p.migrate()
    for service in ("authd", "queued", "smtpd"):
        p.start(service)
    return p


def add_accounts(platform):
    platform.add_user(ALICE, PASSWORD)
    platform.add_user(BOB, PASSWORD)


def tls_context(platform) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(platform.cert))
    return ctx


def _safe(token: str) -> str:
    assert re.fullmatch(r"[A-Za-z0-9._+-]+", token), token
    return token


def queue_id_of(reply_text: str) -> str:
    m = re.search(r"queued as ([A-Za-z0-9]+)", reply_text)
    assert m, reply_text
    return m.group(1)


def queued_message(platform, queue_id: str) -> dict | None:
    row = platform.psql(
        "SELECT mail_from, helo, client_ip, authenticated_user, dsn_ret, dsn_envid, smtputf8, body_type, "
        "replace(encode(body, 'base64'), E'\\n', '') FROM queue_messages WHERE queue_id = '" + _safe(queue_id) + "'")
    if not row.strip():
        return None
    f = row.rstrip("\n").split("|")
    return {"mail_from": f[0], "helo": f[1], "client_ip": f[2], "authenticated_user": f[3], "dsn_ret": f[4],
            "dsn_envid": f[5], "smtputf8": f[6] == "t", "body_type": f[7], "body": base64.b64decode(f[8])}


def queued_recipients(platform, queue_id: str) -> list[dict]:
    rows = platform.psql(
        "SELECT r.address, r.local, r.notify, r.orcpt FROM queue_recipients r JOIN queue_messages m "
        "ON m.id = r.message_id WHERE m.queue_id = '" + _safe(queue_id) + "' ORDER BY r.id")
    out = []
    for line in rows.splitlines():
        a, local, notify, orcpt = line.split("|")
        out.append({"address": a, "local": local == "t", "notify": notify, "orcpt": orcpt})
    return out


def stored_bodies(platform, marker: str) -> list[bytes]:
    """Message bodies in the mailstore containing `marker` (delivered mail)."""
    rows = platform.psql(
        "SELECT replace(encode(data, 'base64'), E'\\n', '') FROM mailstore_blobs "
        "WHERE position(convert_to('" + _safe(marker) + "', 'UTF8') in data) > 0")
    return [base64.b64decode(r) for r in rows.split()]


def wait_delivered(platform, marker: str, count: int = 1) -> list[bytes]:
    return wait_until(lambda: (b := stored_bodies(platform, marker)) and len(b) >= count and b, timeout=30,
                      what=f"message {marker} in the mailstore")


def metric(platform, name: str, labels: dict | None = None) -> float:
    return platform.metric_value("smtpd", name, labels)


def delivered_count(platform, marker: str) -> int:
    """How many mailbox entries (over all users) hold a message containing `marker`."""
    return int(platform.psql(
        "SELECT count(*) FROM mailstore_messages m JOIN mailstore_blobs b ON b.sha256 = m.blob_sha256 "
        "WHERE position(convert_to('" + _safe(marker) + "', 'UTF8') in b.data) > 0").strip())
