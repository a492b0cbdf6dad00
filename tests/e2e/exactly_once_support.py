"""The bookkeeping of the exactly-once tests (test_chaos_exactly_once.py,
test_ha_failover.py): SMTP senders that know which messages were acknowledged
with 250, which went out without an answer, and the Message-IDs a mailbox
holds afterwards.

The senders retry a message only when it provably never reached smtpd's data
phase (refused connection, an error before DATA), as a real MTA's retry is
safe then; a message whose content went out and got no 250 is "unknown": the
mailbox may hold it at most once."""
from __future__ import annotations

import collections
import imaplib
import re
import smtplib
import threading
import time


def numbered_message(prefix: str, user: str, i: int) -> bytes:
    filler = "".join(f"line {k} of message {i} under faults\r\n" for k in range(60))
    return (f"From: sender@remote.test\r\nTo: {user}\r\nSubject: {prefix} {i}\r\n"
            f"Message-ID: <{prefix}-{i}@remote.test>\r\n\r\n{filler}").encode()


class Senders:
    """Run `run` in several threads; each takes the next message number."""

    def __init__(self, port: int, user: str, count: int, prefix: str = "chaos"):
        self.port = port
        self.user = user
        self.prefix = prefix
        self.todo = collections.deque(range(count))
        self.lock = threading.Lock()
        self.acked: set[int] = set()
        self.unknown: set[int] = set()  # the data was sent, no 250 came back
        self.retries = 0
        # (time.monotonic() when DATA's content was sent, when the 250 came) per acknowledged message
        self.ack_times: list[tuple[float, float]] = []
        self.data_replies: collections.Counter = collections.Counter()  # the code after the content, per code
        self.stop = threading.Event()

    def take(self):
        with self.lock:
            return self.todo.popleft() if self.todo else None

    def give_back(self, i: int):
        with self.lock:
            self.todo.append(i)
            self.retries += 1

    def run(self):
        smtp = None
        while not self.stop.is_set():
            i = self.take()
            if i is None:
                break
            in_data = False
            failed = True
            try:
                if smtp is None:
                    smtp = smtplib.SMTP("127.0.0.1", self.port, timeout=60)
                    smtp.ehlo("chaos.remote.test")
                code, _ = smtp.mail("sender@remote.test")
                if code != 250:
                    raise smtplib.SMTPResponseException(code, b"MAIL")
                code, _ = smtp.rcpt(self.user)
                if code != 250:
                    raise smtplib.SMTPResponseException(code, b"RCPT")
                in_data = True
                started = time.monotonic()
                code, _ = smtp.data(numbered_message(self.prefix, self.user, i))
                with self.lock:
                    self.data_replies[code] += 1
                    (self.acked if code == 250 else self.unknown).add(i)
                    if code == 250:
                        self.ack_times.append((started, time.monotonic()))
                failed = False
            except smtplib.SMTPDataError:  # DATA itself refused: the content was never sent
                self.give_back(i)
                time.sleep(0.1)  # a sender's pause before its retry, not synchronisation
            except (OSError, smtplib.SMTPException):
                if in_data:  # the content went out (maybe committed) and no 250 came back
                    with self.lock:
                        self.unknown.add(i)
                else:
                    self.give_back(i)
                    time.sleep(0.1)
            if failed and smtp is not None:
                try:
                    smtp.close()
                except OSError:
                    pass
                smtp = None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                pass

    def done(self) -> int:
        with self.lock:
            return len(self.acked) + len(self.unknown)

    def first_ack_after(self, moment: float) -> float | None:
        """When the first message whose content was sent after `moment` got its 250."""
        with self.lock:
            later = [acked for started, acked in self.ack_times if started > moment]
        return min(later) if later else None


def message_ids_in_inbox(imap_port: int, user: str, password: str, prefix: str = "chaos") -> collections.Counter:
    """Message number -> how many copies INBOX holds (read over IMAP)."""
    imap = imaplib.IMAP4("127.0.0.1", imap_port)
    pattern = re.compile(rb"<" + re.escape(prefix.encode()) + rb"-(\d+)@remote\.test>")
    try:
        imap.login(user, password)
        typ, data = imap.select("INBOX", readonly=True)
        assert typ == "OK", data
        if int(data[0]) == 0:
            return collections.Counter()
        typ, data = imap.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
        assert typ == "OK", data
        ids = collections.Counter()
        for part in data:
            if isinstance(part, tuple):
                m = pattern.search(part[1])
                assert m, part[1]
                ids[int(m.group(1))] += 1
        return ids
    finally:
        imap.logout()


def assert_exactly_once(senders: Senders, ids: collections.Counter) -> None:
    twice = sorted(i for i, c in ids.items() if c > 1)
    assert not twice, f"delivered more than once: {twice[:20]}"
    lost = sorted(senders.acked - set(ids))
    assert not lost, f"answered 250 but not in the mailbox: {lost[:20]}"
    assert set(ids) <= senders.acked | senders.unknown
