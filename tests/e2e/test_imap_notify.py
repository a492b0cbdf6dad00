"""IMAP NOTIFY (RFC 5465): a client hears about mailboxes other than the
selected one, between commands and during IDLE, whichever imapd instance (or
queued, for SMTP delivery) made the change."""
from __future__ import annotations

import re
import smtplib
import socket
import time

import pytest


USER = "notify-user@example.test"
PASSWORD = "notify password 1"
WATCH_ALL = (b"NOTIFY SET (selected (MessageNew MessageExpunge FlagChange)) "
             b"(personal (MessageNew MessageExpunge MailboxName SubscriptionChange))")


class Client:
    """A small line-oriented IMAP client: reads unsolicited lines with a deadline."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.buf = b""
        self.n = 0
        assert self.line().startswith(b"* OK")

    def line(self, timeout: float = 10.0) -> bytes | None:
        deadline = time.monotonic() + timeout
        while b"\r\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0:
                return None
            self.sock.settimeout(left)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                return None
            assert chunk, "connection closed"
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def send(self, data: bytes):
        self.sock.sendall(data)

    def cmd(self, text: bytes) -> tuple[bytes, list[bytes]]:
        self.n += 1
        tag = b"t%d" % self.n
        self.send(tag + b" " + text + b"\r\n")
        untagged = []
        while True:
            line = self.line()
            assert line is not None, f"no answer to {text!r}; so far {untagged}"
            if line.startswith(tag + b" "):
                return line[len(tag) + 1:], untagged
            untagged.append(line)

    def ok(self, text: bytes) -> list[bytes]:
        status, untagged = self.cmd(text)
        assert status.startswith(b"OK"), (text, status, untagged)
        return untagged

    def wait_for(self, pattern: bytes, timeout: float = 10.0) -> tuple[bytes, list[bytes]]:
        """Unsolicited lines until one matches; returns it and the ones before."""
        seen = []
        deadline = time.monotonic() + timeout
        while True:
            line = self.line(max(0.0, deadline - time.monotonic()))
            assert line is not None, f"no {pattern!r} within {timeout}s; got {seen}"
            if re.search(pattern, line):
                return line, seen
            seen.append(line)

    def quiet(self, timeout: float = 0.5) -> list[bytes]:
        lines = []
        while (line := self.line(timeout)) is not None:
            lines.append(line)
        return lines

    def close(self):
        try:
            self.sock.sendall(b"z LOGOUT\r\n")
        except OSError:
            pass
        self.sock.close()


def login(port: int) -> Client:
    c = Client(port)
    c.ok(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()))
    return c


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    c = login(platform.ports["imap"])
    for name in (b"Work", b"Lists", b"Lists/a"):
        c.ok(b"CREATE " + name)
    c.close()
    return USER


@pytest.fixture(scope="module")
def second_imapd(platform):
    """Another imapd on the same database (as in test_imap_sync.py)."""
    with platform.extra_imapd("imapd-notify2.log") as port:
        yield port


def append(c: Client, mailbox: bytes, subject: bytes):
    msg = b"Subject: " + subject + b"\r\n\r\nbody\r\n"
    c.ok(b"APPEND %s {%d+}\r\n%s" % (mailbox, len(msg), msg))


def status_messages(line: bytes) -> int:
    return int(re.search(rb"MESSAGES (\d+)", line).group(1))


def test_capability_and_refusals(platform, account):
    a = login(platform.ports["imap"])
    caps = a.ok(b"CAPABILITY")
    assert b" NOTIFY" in caps[0], caps
    # RFC 5465 5: MessageNew and MessageExpunge together, FlagChange needs both.
    assert a.cmd(b"NOTIFY SET (personal (MessageNew))")[0].startswith(b"BAD")
    assert a.cmd(b"NOTIFY SET (personal (FlagChange))")[0].startswith(b"BAD")
    assert a.cmd(b"NOTIFY SET (inboxes (MessageNew (uid) MessageExpunge))")[0].startswith(b"BAD")
    status, _ = a.cmd(b"NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))")
    assert status.startswith(b"NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange"
                             b" MailboxMetadataChange ServerMetadataChange)]"), status
    status, _ = a.cmd(b"NOTIFY SET (selected (MessageNew (uid body.peek[header.fields (from)]) MessageExpunge))")
    assert status.startswith(b"NO [BADEVENT"), status
    # Required with METADATA (RFC 5465 5.9, 5.10): tests/e2e/test_imap_metadata.py.
    assert a.cmd(b"NOTIFY SET (personal (ServerMetadataChange))")[0].startswith(b"OK")
    a.ok(b"NOTIFY NONE")
    a.close()


def test_status_for_other_mailboxes_across_instances(platform, account, second_imapd):
    a = login(platform.ports["imap"])
    a.ok(b"SELECT Work")
    a.ok(WATCH_ALL)
    b = login(second_imapd)
    # A waits between commands (no IDLE, no NOOP): the STATUS comes by itself.
    append(b, b"Lists", b"to lists")
    line, _ = a.wait_for(rb"^\* STATUS ")
    assert re.match(rb'^\* STATUS "?Lists"? \(MESSAGES 1 UIDNEXT 2 UIDVALIDITY \d+ UNSEEN 1\)$', line), line
    # The selected mailbox: EXISTS pushed without a command (selected filter).
    append(b, b"Work", b"to work")
    line, seen = a.wait_for(rb"^\* \d+ EXISTS")
    assert not any(l.startswith(b"* STATUS") for l in seen), seen
    # Mail delivered over SMTP (queued writes it) into INBOX, not selected.
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
        mx.sendmail("someone@remote.test", [USER], b"Subject: over smtp\r\n\r\nhello\r\n")
    line, _ = a.wait_for(rb'^\* STATUS "?INBOX"? ', timeout=30)
    assert status_messages(line) >= 1, line
    # CONDSTORE clients get HIGHESTMODSEQ too.
    a.ok(b"ENABLE CONDSTORE")
    append(b, b"Lists", b"again")
    line, _ = a.wait_for(rb"^\* STATUS ")
    assert re.search(rb"MESSAGES 2 .*HIGHESTMODSEQ \d+\)$", line), line
    # Still answering commands normally afterwards.
    a.ok(b"NOOP")
    a.close()
    b.close()
    assert platform.metric_value("imapd", "postline_imapd_notifications_sent_total", {"kind": "status"}) >= 3


def test_mailbox_name_and_subscription_changes_yield_list(platform, account, second_imapd):
    a = login(platform.ports["imap"])
    a.ok(b"SELECT INBOX")
    a.ok(WATCH_ALL)
    b = login(second_imapd)
    b.ok(b"CREATE Projects")
    line, _ = a.wait_for(rb"^\* LIST ")
    assert line == b'* LIST () "/" Projects', line
    b.ok(b"SUBSCRIBE Projects")
    line, _ = a.wait_for(rb"^\* LIST ")
    assert line == b'* LIST (\\Subscribed) "/" Projects', line
    b.ok(b"RENAME Projects Attic")
    line, _ = a.wait_for(rb"^\* LIST ")
    assert line == b'* LIST () "/" Attic ("OLDNAME" (Projects))', line
    b.ok(b"UNSUBSCRIBE Attic")
    line, _ = a.wait_for(rb"^\* LIST ")
    assert line == b'* LIST () "/" Attic', line
    b.ok(b"DELETE Attic")
    line, _ = a.wait_for(rb"^\* LIST ")
    assert line == b'* LIST (\\NonExistent) "/" Attic', line
    a.close()
    b.close()


def test_idle_gets_status_and_notify_none_stops_it(platform, account, second_imapd):
    a = login(platform.ports["imap"])
    a.ok(b"SELECT INBOX")
    a.ok(WATCH_ALL)
    a.send(b"i1 IDLE\r\n")
    assert a.line().startswith(b"+")
    b = login(second_imapd)
    append(b, b"Work", b"during idle")
    line, _ = a.wait_for(rb'^\* STATUS "?Work"? ')
    a.send(b"DONE\r\n")
    a.wait_for(rb"^i1 OK")

    a.ok(b"NOTIFY NONE")
    a.send(b"i2 IDLE\r\n")
    assert a.line().startswith(b"+")
    # Work first, then the selected INBOX: the store commits (and notifies)
    # in this order, so when EXISTS arrives a STATUS for Work would have too.
    append(b, b"Work", b"after none")
    append(b, b"INBOX", b"after none")
    line, seen = a.wait_for(rb"^\* \d+ EXISTS")
    assert not any(l.startswith(b"* STATUS") for l in seen), seen
    a.send(b"DONE\r\n")
    _, seen = a.wait_for(rb"^i2 OK")
    assert not any(l.startswith(b"* STATUS") for l in seen), seen
    a.close()
    b.close()


def test_set_status_sends_initial_status_for_watched_mailboxes(platform, account):
    a = login(platform.ports["imap"])
    a.ok(b"SELECT Work")
    untagged = a.ok(b"NOTIFY SET STATUS (selected (MessageNew MessageExpunge)) "
                    b"(subtree Lists (MessageNew MessageExpunge)) (inboxes (MessageNew MessageExpunge))")
    names = sorted(re.match(rb'\* STATUS "?([^" ]+)"? ', l).group(1) for l in untagged if l.startswith(b"* STATUS"))
    # Lists and its child, INBOX; not the selected Work, not the unwatched rest.
    assert names == [b"INBOX", b"Lists", b"Lists/a"], untagged
    a.close()


def test_burst_is_coalesced(platform, account, second_imapd):
    a = login(platform.ports["imap"])
    a.ok(b"SELECT INBOX")
    a.ok(b"NOTIFY SET (mailboxes Lists/a (MessageNew MessageExpunge))")
    b = login(second_imapd)
    # 30 pipelined APPENDs: a delivery wave into one watched mailbox.
    burst = b""
    for i in range(30):
        msg = b"Subject: wave %d\r\n\r\nx\r\n" % i
        burst += b"w%d APPEND Lists/a {%d+}\r\n%s\r\n" % (i, len(msg), msg)
    b.send(burst)
    statuses = []
    deadline = time.monotonic() + 30
    while not statuses or status_messages(statuses[-1]) < 30:
        assert time.monotonic() < deadline, statuses
        line, _ = a.wait_for(rb"^\* STATUS ")
        statuses.append(line)
    # At most one STATUS per 100 ms per mailbox: far fewer than 30.
    print(f"burst of 30 APPENDs: {len(statuses)} STATUS responses")
    assert len(statuses) < 15, statuses
    # Nothing more arrives for the burst once the final count was sent.
    assert not [l for l in a.quiet(0.5) if l.startswith(b"* STATUS")]
    a.close()
    b.close()


def test_too_many_watched_mailboxes_is_refused(platform):
    user, password = "notify-many@example.test", "notify many 1"
    platform.add_user(user, password)
    c = Client(platform.ports["imap"])
    c.ok(b'LOGIN "%s" "%s"' % (user.encode(), password.encode()))
    # 1000 more mailboxes on top of the defaults, created in one pipelined burst.
    c.send(b"".join(b"c%d CREATE Many/m%d\r\n" % (i, i) for i in range(1000)))
    for i in range(1000):
        line, _ = c.wait_for(rb"^c%d " % i, timeout=60)
        assert line.startswith(b"c%d OK" % i), line
    status, _ = c.cmd(b"NOTIFY SET (personal (MessageNew MessageExpunge))")
    assert status.startswith(b"NO [LIMIT]"), status
    # A narrower set is fine.
    c.ok(b"NOTIFY SET (mailboxes (Many/m1 Many/m2) (MailboxName)) (inboxes (MessageNew MessageExpunge))")
    c.close()


@pytest.mark.parametrize("flt", [b"selected", b"selected-delayed"])
def test_selected_expunge_now_or_delayed(platform, account, second_imapd, flt):
    a = login(platform.ports["imap"])
    box = b"Sel-" + flt
    a.ok(b"CREATE " + box)
    a.ok(b"SELECT " + box)
    a.ok(b"NOTIFY SET (" + flt + b" (MessageNew MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge))")
    b = login(second_imapd)
    append(b, box, b"to be expunged")
    a.wait_for(rb"^\* 1 EXISTS")
    b.ok(b"SELECT " + box)
    b.ok(b"STORE 1 +FLAGS (\\Deleted)")
    b.ok(b"EXPUNGE")
    # A later change elsewhere: by the time its STATUS arrives, an EXPUNGE
    # pushed for the selected mailbox would have arrived before it.
    append(b, b"Lists", b"marker " + flt)
    _, before = a.wait_for(rb'^\* STATUS "?Lists"? ')
    expunged_now = any(l == b"* 1 EXPUNGE" for l in before)
    untagged = a.ok(b"NOOP")
    if flt == b"selected":
        assert expunged_now, before
    else:
        # selected-delayed: held back until a command that allows it.
        assert not expunged_now, before
        assert b"* 1 EXPUNGE" in untagged, untagged
    a.close()
    b.close()


def test_lost_listen_connection_still_brings_status(platform, account):
    """The LISTEN connection is terminated: whether the change's NOTIFY is
    lost or not, the reconnect resync sends a STATUS with the new count."""
    a = login(platform.ports["imap"])
    a.ok(b"SELECT INBOX")
    untagged = a.ok(b"NOTIFY SET STATUS (mailboxes Work (MessageNew MessageExpunge))")
    before = status_messages(next(l for l in untagged if l.startswith(b"* STATUS")))
    killed = platform.psql(
        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
        "WHERE datname = current_database() AND query ILIKE 'LISTEN%' AND pid <> pg_backend_pid()")
    assert int(killed.strip()) >= 1, killed
    b = login(platform.ports["imap"])
    append(b, b"Work", b"during outage")
    deadline = time.monotonic() + 30
    while True:
        line, _ = a.wait_for(rb'^\* STATUS "?Work"? ', timeout=max(0.1, deadline - time.monotonic()))
        if status_messages(line) == before + 1:
            break
    a.close()
    b.close()
