"""Sync across sessions and imapd instances (issue 6): change notification
through PostgreSQL LISTEN/NOTIFY, CONDSTORE and QRESYNC resync."""
from __future__ import annotations

import imaplib
import re
import subprocess
import urllib.request

import pytest

from platform_support import free_port, wait_until

USER = "sync-user@example.test"
PASSWORD = "sync password 1"


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    return USER


@pytest.fixture(scope="module")
def second_imapd(platform):
    """Another imapd on the same database, started by hand like an operator would."""
    with platform.extra_imapd("imapd2.log") as port:
        yield port


def login(port: int) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", port)
    m.login(USER, PASSWORD)
    return m


def idle_start(m: imaplib.IMAP4):
    m.send(b"i1 IDLE\r\n")
    assert m.readline().startswith(b"+")


def idle_stop(m: imaplib.IMAP4) -> list[bytes]:
    m.send(b"DONE\r\n")
    lines = []
    while True:
        line = m.readline()
        if line.startswith(b"i1 "):
            assert line.startswith(b"i1 OK"), line
            return lines
        lines.append(line)


def test_delivery_on_instance_a_reaches_idle_client_on_instance_b(platform, account, second_imapd):
    b = login(second_imapd)
    b.select("INBOX")
    idle_start(b)
    a = login(platform.ports["imap"])
    a.append("INBOX", None, None, b"Subject: cross-instance\r\n\r\nhello\r\n")
    line = b.readline()
    assert re.match(rb"\* \d+ EXISTS", line), line
    idle_stop(b)
    a.logout()
    b.logout()


def test_flag_change_on_a_reaches_b_and_expunge_on_b_reaches_a(platform, account, second_imapd):
    a = login(platform.ports["imap"])
    a.append("INBOX", None, None, b"Subject: flag me\r\n\r\nx\r\n")
    typ, data = a.select("INBOX")
    count = int(data[0])
    b = login(second_imapd)
    b.select("INBOX")
    idle_start(b)
    a.store(str(count), "+FLAGS", r"(\Flagged)")
    line = b.readline()
    assert re.match(rb"\* %d FETCH \(.*\\Flagged" % count, line), line
    idle_stop(b)
    idle_start(a)
    b.store(str(count), "+FLAGS", r"(\Deleted)")
    b.expunge()
    seen = []
    while not any(b"EXPUNGE" in l for l in seen):
        seen.append(a.readline())
    assert any(l.strip() == b"* %d EXPUNGE" % count for l in seen), seen
    idle_stop(a)
    a.logout()
    b.logout()


def test_qresync_reports_exactly_what_changed(platform, account):
    m = login(platform.ports["imap"])
    m.create("QR")
    for i in range(10):
        m.append("QR", None, None, b"Subject: qr %d\r\n\r\nbody\r\n" % i)
    m._simple_command("ENABLE", "QRESYNC")
    typ, _ = m.select("QR")
    validity = int(m.untagged_responses["UIDVALIDITY"][-1])
    modseq = int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(
        x for x in m.untagged_responses.get("OK", []) if isinstance(x, bytes))).group(1))
    m.logout()

    other = login(platform.ports["imap"])
    other.select("QR")
    other.uid("STORE", "2,4,6", "+FLAGS", r"(\Flagged)")
    other.uid("STORE", "8,9", "+FLAGS", r"(\Deleted)")
    other.expunge()
    other.logout()

    with imaplib.IMAP4("127.0.0.1", platform.ports["imap"]) as c:
        c.login(USER, PASSWORD)
        c._simple_command("ENABLE", "QRESYNC")
        tag = c._new_tag()
        c.send(tag + b" SELECT QR (QRESYNC (%d %d 1:10))\r\n" % (validity, modseq))
        lines = []
        while True:
            line = c.readline()
            lines.append(line)
            if line.startswith(tag):
                break
        assert lines[-1].startswith(tag + b" OK"), lines
        vanished = [l for l in lines if l.startswith(b"* VANISHED (EARLIER)")]
        assert vanished == [b"* VANISHED (EARLIER) 8:9\r\n"], lines
        changed = sorted(int(re.search(rb"UID (\d+)", l).group(1)) for l in lines if b" FETCH " in l)
        assert changed == [2, 4, 6], lines


def test_lost_listen_connection_loses_no_update(platform, account):
    """pg_terminate_backend on imapd's LISTEN connection: the notifier
    reconnects and every session resyncs from its MODSEQ."""
    watcher = login(platform.ports["imap"])
    watcher.select("INBOX")
    idle_start(watcher)
    killed = platform.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()")
    assert int(killed.strip()) >= 1, killed
    # Written while the listener may still be down: its NOTIFY can be lost.
    writer = login(platform.ports["imap"])
    writer.append("INBOX", None, None, b"Subject: during outage\r\n\r\nx\r\n")
    line = watcher.readline()
    assert re.match(rb"\* \d+ EXISTS", line), line
    idle_stop(watcher)
    writer.logout()
    watcher.logout()


def select_qresync(port: int, mailbox: bytes, validity: int, modseq: int, known: bytes = b"1:*") -> list[bytes]:
    with imaplib.IMAP4("127.0.0.1", port) as c:
        c.login(USER, PASSWORD)
        c._simple_command("ENABLE", "QRESYNC")
        tag = c._new_tag()
        c.send(tag + b" SELECT %s (QRESYNC (%d %d %s))\r\n" % (mailbox, validity, modseq, known))
        lines = []
        while True:
            line = c.readline()
            lines.append(line)
            if line.startswith(tag):
                break
        assert lines[-1].startswith(tag + b" OK"), lines
        return lines


def highestmodseq(m: imaplib.IMAP4) -> int:
    return int(re.search(rb"HIGHESTMODSEQ (\d+)", b" ".join(
        x for x in m.untagged_responses.get("OK", []) if isinstance(x, bytes))).group(1))


def test_client_below_the_pruned_horizon_still_resyncs_exactly(platform, account):
    """Expunge history older than imap.expunged_history is pruned by a
    background loop; a client whose MODSEQ predates the pruned rows gets every
    missing UID as VANISHED (EARLIER) — what it must forget, never a UID that
    still exists — and exactly the flag changes."""
    m = login(platform.ports["imap"])
    m.create("PR")
    for i in range(10):
        m.append("PR", None, None, b"Subject: pr %d\r\n\r\nbody\r\n" % i)
    m._simple_command("ENABLE", "QRESYNC")
    m.select("PR")
    validity = int(m.untagged_responses["UIDVALIDITY"][-1])
    seen_all = highestmodseq(m)
    m.uid("STORE", "2,3", "+FLAGS", r"(\Deleted)")
    m.expunge()
    m.logout()
    # Make those expunges 40 days old; then a recent expunge and a flag change.
    platform.psql("UPDATE mailstore_expunged SET expunged_at = now() - interval '40 days' "
                  "WHERE mailbox_id = (SELECT mailbox_id FROM mailstore_mailboxes WHERE name = 'PR')")
    m = login(platform.ports["imap"])
    m.select("PR")
    after_old = highestmodseq(m)
    m.uid("STORE", "5", "+FLAGS", r"(\Deleted)")
    m.expunge()
    m.uid("STORE", "7", "+FLAGS", r"(\Flagged)")
    m.logout()

    # An imapd pruning every second (history 30 days).
    ports = {"POSTLINE_IMAP_PORT": str(free_port()), "POSTLINE_IMAP_TLS_PORT": str(free_port()),
             "POSTLINE_IMAP_HTTP_PORT": str(free_port()), "POSTLINE_IMAP_EXPUNGED_HISTORY": "30d",
             "POSTLINE_IMAP_EXPUNGED_PRUNE_INTERVAL": "1s"}
    log = open(platform.workdir / "imapd-pruner.log", "ab")
    proc = subprocess.Popen([str(platform.bin / "postline-imapd")], stdout=log, stderr=subprocess.STDOUT,
                            env=platform.process_env(ports), stdin=subprocess.DEVNULL)
    log.close()
    try:
        def pruned():
            assert proc.poll() is None, (platform.workdir / "imapd-pruner.log").read_text()
            return platform.psql(
                "SELECT m.expunged_pruned_modseq, (SELECT count(*) FROM mailstore_expunged e "
                " WHERE e.user_id = m.user_id AND e.mailbox_id = m.mailbox_id) "
                "FROM mailstore_mailboxes m WHERE name = 'PR'").strip() == f"{after_old}|1"
        wait_until(pruned, what="the old expunge history pruned")
        metrics = urllib.request.urlopen(
            f"http://127.0.0.1:{ports['POSTLINE_IMAP_HTTP_PORT']}/metrics", timeout=5).read().decode()
        assert re.search(r"^postline_imapd_expunged_pruned_total\S* ([2-9]|\d\d)", metrics, re.M), metrics
    finally:
        proc.terminate()
        proc.wait(timeout=15)

    # Below the horizon: the full set of missing UIDs (2, 3 pruned, 5 recorded).
    lines = select_qresync(platform.ports["imap"], b"PR", validity, seen_all)
    assert [l for l in lines if l.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 2:3,5\r\n"], lines
    assert sorted(int(re.search(rb"UID (\d+)", l).group(1)) for l in lines if b" FETCH " in l) == [7], lines
    # Known-UIDs still filter the answer.
    lines = select_qresync(platform.ports["imap"], b"PR", validity, seen_all, b"4:10")
    assert [l for l in lines if l.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 5\r\n"], lines
    # At the horizon the history is exact again.
    lines = select_qresync(platform.ports["imap"], b"PR", validity, after_old)
    assert [l for l in lines if l.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 5\r\n"], lines
    # UID FETCH ... (CHANGEDSINCE n VANISHED) takes the same path.
    with imaplib.IMAP4("127.0.0.1", platform.ports["imap"]) as c:
        c.login(USER, PASSWORD)
        c._simple_command("ENABLE", "QRESYNC")
        c.select("PR")
        tag = c._new_tag()
        c.send(tag + b" UID FETCH 1:* (FLAGS) (CHANGEDSINCE %d VANISHED)\r\n" % seen_all)
        lines = []
        while not (line := c.readline()).startswith(tag):
            lines.append(line)
        assert line.startswith(tag + b" OK"), line
        assert [l for l in lines if l.startswith(b"* VANISHED")] == [b"* VANISHED (EARLIER) 2:3,5\r\n"], lines
