"""Local delivery under stress (issue 4): two queued instances racing over 1,000
messages, and kill -9 in the middle of 1,000 deliveries — every message lands
in its mailbox exactly once.

The 1,000 messages are written straight into the queue tables while queued is
stopped, so that every delivery happens with the instances under test running
(smtpd would answer 451 while no queued is up)."""
from __future__ import annotations

import imaplib
import re
import signal
import smtplib
import subprocess
import time

import pytest

import queue_support
from platform_support import free_port, wait_until
from queue_support import delivered

USER = "bulk@example.test"
PASSWORD = "bu-lk test password"
N = 1000


@pytest.fixture(scope="module")
def local_platform(fresh_platform_factory):
    p = fresh_platform_factory({"POSTLINE_QUEUE_BATCH_SIZE": "8", "POSTLINE_QUEUE_WORKERS": "2"})
    p.add_user(USER, PASSWORD)
    return p


def user_id(platform) -> int:
    """The mailbox's user id, as smtpd/authd resolved it for a real message."""
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.sendmail("probe@remote.test", [USER], b"Subject: probe\r\n\r\nprobe\r\n")
    out = platform.psql(f"SELECT DISTINCT user_id FROM queue_recipients WHERE address = '{USER}'").split()
    assert len(out) == 1, out
    return int(out[0])


def inject(platform, uid: int, tag: str, n: int = N):
    """n queued messages for the user, committed in one statement."""
    queue_support.inject_local(platform, USER, uid, tag, n)


def subjects_in_inbox(platform, tag: str) -> list[str]:
    out = []
    for raw in queue_support.inbox(platform, USER, PASSWORD):
        m = re.search(rb"^Subject: (" + tag.encode() + rb" \d+)\r$", raw, re.M)
        if m:
            out.append(m.group(1).decode())
    return out


def start_second_queued(platform):
    ports = {"POSTLINE_QUEUE_GRPC_PORT": str(free_port()), "POSTLINE_QUEUE_HTTP_PORT": str(free_port())}
    log = open(platform.workdir / "queued2.log", "ab")
    proc = subprocess.Popen([str(platform.bin / "postline-queued")], stdout=log, stderr=subprocess.STDOUT,
                            env=platform.process_env(ports), stdin=subprocess.DEVNULL)
    log.close()
    http = int(ports["POSTLINE_QUEUE_HTTP_PORT"])

    def ready():
        import urllib.request
        assert proc.poll() is None, (platform.workdir / "queued2.log").read_text()
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{http}/readyz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    wait_until(ready, timeout=30, what="second queued ready")
    return proc, http


def metric(port: int, name: str, labels: dict) -> float:
    import urllib.request
    from platform_support import parse_metrics
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
        text = r.read().decode()
    want = set(labels.items())
    return sum(v for (n, l), v in parse_metrics(text).items() if n == name and want <= set(l))


def test_two_instances_race_over_1000_messages(local_platform):
    p = local_platform
    uid = user_id(p)
    p.stop("queued")
    inject(p, uid, "race")
    second, second_http = start_second_queued(p)
    try:
        p.start("queued")
        wait_until(lambda: delivered(p, "race") == N, timeout=180, interval=0.25, what="1000 deliveries")
        first = metric(p.ports["queued_http"], "postline_queued_deliveries_total", {"outcome": "delivered"})
        other = metric(second_http, "postline_queued_deliveries_total", {"outcome": "delivered"})
        assert first > 0 and other > 0, (first, other)  # both instances really worked
        assert first + other >= N
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(timeout=30)
    subjects = subjects_in_inbox(p, "race")
    assert len(subjects) == N
    assert len(set(subjects)) == N
    # Every recipient took exactly one attempt: nobody delivered it twice.
    assert p.psql("SELECT count(*) FROM queue_attempts a JOIN queue_recipients r ON r.id = a.recipient_id"
                  " JOIN queue_messages m ON m.id = r.message_id WHERE m.queue_id LIKE 'race%'").strip() == str(N)


def test_kill_9_in_the_middle_of_1000_deliveries(local_platform):
    p = local_platform
    uid = user_id(p)
    p.stop("queued")
    inject(p, uid, "crash")
    p.start("queued")
    wait_until(lambda: delivered(p, "crash") >= 50, timeout=60, interval=0.02, what="deliveries under way")
    p.kill("queued")
    done_at_kill = delivered(p, "crash")
    assert done_at_kill < N, "all delivered before the kill: the test proves nothing"
    p.start("queued")
    wait_until(lambda: delivered(p, "crash") == N, timeout=180, interval=0.25, what="the rest after restart")
    subjects = subjects_in_inbox(p, "crash")
    assert len(subjects) == N
    assert len(set(subjects)) == N


def backlog(platform) -> int:
    return int(platform.psql("SELECT count(*) FROM mailstore_search_backlog").strip())


def test_search_index_is_built_in_the_background_after_delivery(local_platform):
    """Issue 14: the search text is built after the commit, by queued's indexer
    (mailstore migration 014); SEARCH finds the message meanwhile anyway."""
    p = local_platform
    http = p.ports["queued_http"]
    before = metric(http, "postline_queued_search_indexed_total", {})
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=30) as smtp:
        smtp.sendmail("bob@remote.test", [USER],
                      b"Subject: indexed later\r\n\r\nthe word zanzibarite is in here\r\n")
    wait_until(lambda: backlog(p) == 0 and metric(http, "postline_queued_search_indexed_total", {}) > before,
               timeout=30, interval=0.05, what="the indexer to take the delivered body")
    assert p.psql("SELECT count(*) FROM mailstore_search WHERE search_text LIKE '%zanzibarite%'").strip() == "1"
    # An APPEND over IMAP is not a queued delivery: the indexer's poll takes it.
    imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
    try:
        imap.login(USER, PASSWORD)
        typ, _ = imap.append("INBOX", None, None, b"Subject: appended\r\n\r\nquixotically appended\r\n")
        assert typ == "OK"
        indexed = metric(http, "postline_queued_search_indexed_total", {})
        wait_until(lambda: backlog(p) == 0 and metric(http, "postline_queued_search_indexed_total", {}) > indexed,
                   timeout=30, interval=0.1, what="the indexer's poll to take the appended body")
        imap.select("INBOX", readonly=True)
        typ, data = imap.search(None, "TEXT", "zanzibarite")
        assert typ == "OK" and len(data[0].split()) == 1, data
        typ, data = imap.search(None, "BODY", "quixotically")
        assert typ == "OK" and len(data[0].split()) == 1, data
    finally:
        imap.logout()
    assert metric(http, "postline_queued_search_index_failures_total", {}) == 0


def test_search_finds_new_mail_before_the_indexer_runs(local_platform):
    """With queued's indexer away, a SEARCH indexes its own mailbox first."""
    p = local_platform
    p.stop("queued")
    try:
        imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
        imap.login(USER, PASSWORD)
        typ, _ = imap.append("INBOX", None, None, b"Subject: not yet indexed\r\n\r\nperspicacious llama\r\n")
        assert typ == "OK"
        assert backlog(p) == 1
        imap.select("INBOX", readonly=True)
        typ, data = imap.search(None, "TEXT", "perspicacious")
        assert typ == "OK" and len(data[0].split()) == 1, data
        assert backlog(p) == 0
        imap.logout()
    finally:
        p.start("queued")
