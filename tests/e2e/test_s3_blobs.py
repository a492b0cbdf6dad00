"""Bodies in S3 (mailstore.blob_backend: s3) end to end: SMTP delivery through
smtpd and queued, IMAP FETCH from imapd, against the S3 test server (ctest
fixture s3: s3rver behind a strict SigV4 check). The bodies are in the bucket
(the catalogue rows in PostgreSQL have no data), FETCH returns them byte for
byte (whole, partial, a large multipart-uploaded one), the S3 metrics count the
requests, and a message expunged is collected by queued's sweeper once the
grace period is over."""
from __future__ import annotations

import imaplib
import json
import os
import smtplib
from pathlib import Path

import pytest

from platform_support import wait_until

USER = "s3user@example.test"
PASSWORD = "s3 user password 1"


def s3_env() -> dict:
    path = os.environ.get("POSTLINE_TEST_S3_ENV_FILE")
    if not path or not Path(path).exists():
        pytest.skip("no S3 test server: run through ctest (fixture s3_start) or scripts/s3 start DIR "
                    "and set POSTLINE_TEST_S3_ENV_FILE=DIR/env")
    env = {}
    for line in Path(path).read_text().splitlines():
        k, _, v = line.partition("=")
        if k:
            env[k] = v
    return env


@pytest.fixture(scope="module")
def s3_platform(fresh_platform_factory):
    env = s3_env()
    # A prefix of this module's own; a small part size so the large body goes
    # up in parts; a quick sweeper with a short grace.
    env.update({
        "POSTLINE_MAILSTORE_S3_PREFIX": f"e2e-{os.getpid()}/",
        "POSTLINE_MAILSTORE_S3_MULTIPART_THRESHOLD": "5MiB",
        "POSTLINE_MAILSTORE_S3_PART_SIZE": "5MiB",
        "POSTLINE_MAILSTORE_S3_SWEEP_INTERVAL": "1s",
        "POSTLINE_MAILSTORE_S3_ORPHAN_GRACE": "60s",
    })
    p = fresh_platform_factory(env)
    p.add_user(USER, PASSWORD)
    return p


def message(i: int, size: int = 0) -> bytes:
    body = f"line {i} of a message stored in S3\r\n".encode()
    body = body * max(1, size // len(body))
    return (f"From: sender@remote.test\r\nTo: {USER}\r\nSubject: s3 message {i}\r\n"
            f"Message-ID: <s3-{i}@remote.test>\r\n\r\n").encode() + body


def imap_fetch_all(platform) -> dict[str, bytes]:
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(USER, PASSWORD)
        typ, data = imap.select("INBOX")
        assert typ == "OK", data
        typ, data = imap.fetch("1:*", "(BODY.PEEK[] BODY.PEEK[]<10.20>)")
        assert typ == "OK", data
        out = {}
        parts = [p for p in data if isinstance(p, tuple)]
        for i in range(0, len(parts), 2):
            whole, partial = parts[i][1], parts[i + 1][1]
            subject = whole.split(b"Subject: ")[1].split(b"\r\n")[0].decode()
            assert partial == whole[10:30]
            out[subject] = whole
        return out
    finally:
        imap.logout()


def test_smtp_delivery_and_imap_fetch_with_bodies_in_s3(s3_platform):
    p = s3_platform
    env = s3_env()
    sent = {f"s3 message {i}": message(i, 300 * i) for i in range(1, 6)}
    sent["s3 message 99"] = message(99, 7 << 20)  # over the multipart threshold
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as smtp:
        for m in sent.values():
            smtp.sendmail("sender@remote.test", [USER], m)
    wait_until(lambda: int(p.psql("SELECT count(*) FROM mailstore_messages").strip()) == len(sent),
               timeout=60, what="six messages delivered")
    # The catalogue has the bodies' sizes, not their bytes.
    assert p.psql("SELECT count(*) FROM mailstore_blobs WHERE data IS NOT NULL").strip() == "0"
    assert int(p.psql("SELECT count(*) FROM mailstore_blobs WHERE data IS NULL").strip()) == len(sent)
    assert p.psql("SELECT count(*) FROM mailstore_blob_intents").strip() == "0"
    fetched = imap_fetch_all(p)
    assert set(fetched) == set(sent)
    for subject, m in sent.items():
        # smtpd adds trace headers above the message; the message follows byte for byte.
        assert fetched[subject].endswith(m), subject
    # queued put them there and imapd read them: both count S3 requests.
    assert p.metric_value("queued", "postline_s3_requests_total", {"op": "put", "status": "200"}) >= 5
    assert p.metric_value("queued", "postline_s3_requests_total", {"op": "part", "status": "200"}) >= 2
    assert p.metric_value("imapd", "postline_s3_requests_total", {"op": "get", "status": "200"}) >= len(sent)
    assert p.metric_value("queued", "postline_s3_bytes_total", {"direction": "sent"}) > 7 << 20


def test_an_expunged_body_is_collected_after_the_grace(s3_platform):
    p = s3_platform
    imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
    try:
        imap.login(USER, PASSWORD)
        imap.select("INBOX")
        typ, data = imap.search(None, "SUBJECT", '"s3 message 3"')
        assert typ == "OK" and data[0], data
        imap.store(data[0].decode(), "+FLAGS", "\\Deleted")
        imap.expunge()
    finally:
        imap.logout()
    blobs = int(p.psql("SELECT count(*) FROM mailstore_blobs").strip())
    # The sweeper marks it unreferenced within a second or two...
    wait_until(lambda: p.psql("SELECT count(*) FROM mailstore_blobs WHERE gc_marked_at IS NOT NULL").strip() == "1",
               timeout=30, what="the expunged body marked")
    # ...and collects it once the mark is older than the grace (aged here instead of waiting a minute).
    p.psql("UPDATE mailstore_blobs SET gc_marked_at = gc_marked_at - interval '2 minutes' WHERE gc_marked_at IS NOT NULL")
    wait_until(lambda: int(p.psql("SELECT count(*) FROM mailstore_blobs").strip()) == blobs - 1,
               timeout=30, what="the body collected")
    wait_until(lambda: p.metric_value("queued", "postline_mailstore_blob_sweep_items_total",
                                      {"kind": "object_deleted"}) >= 1, timeout=30, what="the object deleted")
    # The others are still there and readable.
    assert len(imap_fetch_all(p)) == 5


# ---- Sharding with bodies in S3 (docs/DESIGN.md "Sharding") ----

MOVER = "s3mover@example.test"


@pytest.fixture(scope="module")
def s3_sharded(fresh_platform_factory, pg_server_url):
    """Two shards ("main" on db.url, "s2" a second database), bodies in S3
    under a prefix of this fixture's own, a quick sweeper on each shard."""
    env = s3_env()
    env.update({
        "POSTLINE_MAILSTORE_S3_PREFIX": f"e2e-shards-{os.getpid()}/",
        "POSTLINE_MAILSTORE_S3_SWEEP_INTERVAL": "1s",
        "POSTLINE_MAILSTORE_S3_ORPHAN_GRACE": "60s",
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_SMTP_RECIPIENT_CACHE_TTL": "1s",
    })
    p = fresh_platform_factory(env, start=False)
    p.s2_url = p._create_database(pg_server_url)
    p.env["POSTLINE_MAILSTORE_SHARDS"] = f"main={p.db_url},s2={p.s2_url}"
    p.start_all()
    p.add_user(MOVER, PASSWORD)
    yield p
    p.stop_all()


def psql_on(url: str, sql: str) -> str:
    import subprocess
    return subprocess.run(["psql", url, "-Atq", "-c", sql], check=True, capture_output=True,
                          text=True).stdout.strip()


def fetch_by_subject(platform, user: str) -> dict[str, bytes]:
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(user, PASSWORD)
        typ, data = imap.select("INBOX")
        assert typ == "OK", data
        typ, data = imap.fetch("1:*", "(BODY.PEEK[])")
        assert typ == "OK", data
        out = {}
        for part in (p for p in data if isinstance(p, tuple)):
            whole = part[1]
            out[whole.split(b"Subject: ")[1].split(b"\r\n")[0].decode()] = whole
        return out
    finally:
        imap.logout()


def test_an_account_with_bodies_in_s3_moves_between_shards(s3_sharded):
    p = s3_sharded
    sent = {}
    for i in range(1, 5):
        sent[f"moving {i}"] = (f"From: sender@remote.test\r\nTo: {MOVER}\r\nSubject: moving {i}\r\n"
                               f"Message-ID: <mv-{i}@remote.test>\r\n\r\n" + f"body {i}\r\n" * (50 * i)).encode()
    sent["moving big"] = (f"From: sender@remote.test\r\nTo: {MOVER}\r\nSubject: moving big\r\n"
                          f"Message-ID: <mv-big@remote.test>\r\n\r\n").encode() + b"0123456789abcdef\r\n" * (6 << 16)
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as smtp:
        for m in sent.values():
            smtp.sendmail("sender@remote.test", [MOVER], m)
    wait_until(lambda: int(p.psql("SELECT count(*) FROM mailstore_messages").strip()) == len(sent),
               timeout=60, what="the messages delivered on main")
    before = fetch_by_subject(p, MOVER)
    assert set(before) == set(sent)
    # Each shard has an object namespace of its own.
    ns_main = psql_on(p.db_url, "SELECT namespace FROM mailstore_blob_namespace")
    ns_s2 = psql_on(p.s2_url, "SELECT namespace FROM mailstore_blob_namespace")
    assert ns_main and ns_s2 and ns_main != ns_s2, (ns_main, ns_s2)

    moved = json.loads(p.cli("--json", "account", "move", MOVER, "--to", "s2", "--settle", "1s").stdout)
    assert moved["moved"] and moved["to"] == "s2", moved
    assert moved["objects_copied"] == len(sent), moved
    # On s2: the catalogue (no bytes in PostgreSQL), every body FETCHed byte for byte.
    assert psql_on(p.s2_url, "SELECT count(*) FROM mailstore_blobs WHERE data IS NULL") == str(len(sent))
    assert psql_on(p.s2_url, "SELECT count(*) FROM mailstore_blobs WHERE data IS NOT NULL") == "0"
    assert fetch_by_subject(p, MOVER) == before

    # main's sweeper marks the bodies nobody there refers to any more and,
    # after the grace (aged here), deletes main's objects - none of s2's.
    wait_until(lambda: psql_on(p.db_url, "SELECT count(*) FROM mailstore_blobs WHERE gc_marked_at IS NOT NULL")
               == str(len(sent)), timeout=30, what="main's copies marked")
    psql_on(p.db_url, "UPDATE mailstore_blobs SET gc_marked_at = gc_marked_at - interval '2 minutes' "
                      "WHERE gc_marked_at IS NOT NULL")
    wait_until(lambda: psql_on(p.db_url, "SELECT count(*) FROM mailstore_blobs") == "0", timeout=30,
               what="main's catalogue rows collected")
    wait_until(lambda: p.metric_value("queued", "postline_mailstore_blob_sweep_items_total",
                                      {"shard": "main", "kind": "object_deleted"}) >= len(sent),
               timeout=30, what="main's objects deleted")
    assert fetch_by_subject(p, MOVER) == before
    assert p.metric_value("queued", "postline_mailstore_blob_sweep_items_total",
                          {"shard": "s2", "kind": "object_deleted"}) == 0

    # s2's own sweeper collects s2's orphans: a message expunged there.
    imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
    try:
        imap.login(MOVER, PASSWORD)
        imap.select("INBOX")
        typ, data = imap.search(None, "SUBJECT", '"moving 2"')
        assert typ == "OK" and data[0], data
        imap.store(data[0].decode(), "+FLAGS", "\\Deleted")
        imap.expunge()
    finally:
        imap.logout()
    wait_until(lambda: psql_on(p.s2_url, "SELECT count(*) FROM mailstore_blobs WHERE gc_marked_at IS NOT NULL") == "1",
               timeout=30, what="the expunged body marked on s2")
    psql_on(p.s2_url, "UPDATE mailstore_blobs SET gc_marked_at = gc_marked_at - interval '2 minutes' "
                      "WHERE gc_marked_at IS NOT NULL")
    wait_until(lambda: p.metric_value("queued", "postline_mailstore_blob_sweep_items_total",
                                      {"shard": "s2", "kind": "object_deleted"}) >= 1,
               timeout=30, what="s2's sweeper deleted the expunged body's object")
    left = fetch_by_subject(p, MOVER)
    assert set(left) == set(sent) - {"moving 2"}
    for subject, whole in left.items():
        assert whole == before[subject], subject
