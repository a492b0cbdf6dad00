"""FETCH over many messages (bench/imap_fetch.py's fast path): bodies and parts
are read in bulk and responses written in chunks, so a FETCH 1:* must answer
byte for byte what one FETCH per message answers, and what was APPENDed.
The mailbox is bigger than one chunk (several MB, more than one batch of rows)
and mixes multipart messages (BINARY with NUL -> literal8), plain ones and a
few large ones."""
from __future__ import annotations

import base64
import re
import socket

import pytest

USER = "bulk-fetch@example.test"
PASSWORD = "bulk fetch password 1"
COUNT = 300
BIG = {40, 150, 151, 290}  # 1-based positions of ~1.5 MB messages


def message(i: int) -> bytes:
    head = (f"From: Sender {i} <s{i}@remote.test>\r\n"
            f"To: {USER}\r\n"
            f"Subject: bulk message {i}\r\n"
            f"Date: Wed, 25 Nov 2026 19:{i // 60 % 60:02d}:{i % 60:02d} +0000\r\n"
            f"Message-ID: <bulk-{i}@remote.test>\r\n"
            "MIME-Version: 1.0\r\n").encode()
    line = f"line of message {i} with some words to fill it up a bit more\r\n".encode()
    if i in BIG:
        return head + b"Content-Type: text/plain\r\n\r\n" + line * (1_500_000 // len(line))
    if i % 3 == 0:
        return head + b"Content-Type: text/plain\r\n\r\n" + line * (i % 40 + 1)
    data = bytes([0, 1, 2, i % 256]) * (i % 50 + 1)
    return (head + b'Content-Type: multipart/mixed; boundary="b1"\r\n\r\n'
            b"--b1\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + line * (i % 7 + 1)
            + b"--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
            + base64.encodebytes(data).replace(b"\n", b"\r\n") + b"--b1--\r\n")


class Raw:
    """A minimal IMAP client that keeps responses as the exact bytes sent."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=60)
        self.f = self.sock.makefile("rb")
        self.n = 0
        assert self.f.readline().startswith(b"* OK")

    def response(self) -> bytes:
        out = b""
        while True:
            line = self.f.readline()
            assert line, "connection closed"
            out += line
            m = re.search(rb"~?\{(\d+)\}\r\n$", line)
            if not m:
                return out
            data = self.f.read(int(m.group(1)))
            assert len(data) == int(m.group(1))
            out += data

    def command(self, cmd: bytes, literal: bytes | None = None) -> tuple[bytes, list[bytes]]:
        self.n += 1
        tag = b"t%d" % self.n
        if literal is not None:
            self.sock.sendall(tag + b" " + cmd + b" {%d}\r\n" % len(literal))
            assert self.f.readline().startswith(b"+")
            self.sock.sendall(literal + b"\r\n")
        else:
            self.sock.sendall(tag + b" " + cmd + b"\r\n")
        untagged = []
        while True:
            r = self.response()
            if r.startswith(tag + b" "):
                assert r.startswith(tag + b" OK"), r[:200]
                return r, untagged
            untagged.append(r)

    def close(self):
        self.sock.close()


def fetches(untagged: list[bytes]) -> dict[int, bytes]:
    out = {}
    for r in untagged:
        m = re.match(rb"\* (\d+) FETCH ", r)
        if m:
            out[int(m.group(1))] = r
    return out


def literal_after(resp: bytes, name: bytes) -> bytes:
    i = resp.index(b" " + name + b" ") + len(name) + 2
    m = re.match(rb"~?\{(\d+)\}\r\n", resp[i:])
    assert m, resp[i:i + 40]
    start = i + m.end()
    return resp[start:start + int(m.group(1))]


ITEMS = (b"(UID FLAGS RFC822.SIZE BODY.PEEK[] BODY.PEEK[]<7.20> BODY.PEEK[1] BODY.PEEK[1]<2.5> "
         b"BINARY.PEEK[2] BINARY.SIZE[2] BODY.PEEK[HEADER.FIELDS (SUBJECT)] BODY.PEEK[TEXT] BINARY.PEEK[])")


@pytest.fixture(scope="module")
def mailbox(platform):
    platform.add_user(USER, PASSWORD)
    c = Raw(platform.ports["imap"])
    c.command(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()))
    msgs = [message(i) for i in range(1, COUNT + 1)]
    for m in msgs:
        c.command(b"APPEND INBOX", m)
    c.close()
    return msgs


def login(platform) -> Raw:
    c = Raw(platform.ports["imap"])
    c.command(b'LOGIN "%s" "%s"' % (USER.encode(), PASSWORD.encode()))
    _, untagged = c.command(b"SELECT INBOX")
    assert b"* %d EXISTS\r\n" % COUNT in untagged
    return c


def test_bulk_fetch_matches_single_fetches_and_the_stored_bytes(platform, mailbox):
    c = login(platform)
    _, untagged = c.command(b"FETCH 1:* " + ITEMS)
    bulk = fetches(untagged)
    assert sorted(bulk) == list(range(1, COUNT + 1))
    for n, src in enumerate(mailbox, 1):
        r = bulk[n]
        assert b"RFC822.SIZE %d " % len(src) in r
        assert literal_after(r, b"BODY[]") == src
        assert literal_after(r, b"BODY[]<7>") == src[7:27]
        assert literal_after(r, b"BODY[TEXT]") == src[src.index(b"\r\n\r\n") + 4:]
        assert literal_after(r, b"BODY[HEADER.FIELDS (SUBJECT)]") == b"Subject: bulk message %d\r\n\r\n" % n
        if n % 3 and n not in BIG:
            data = bytes([0, 1, 2, n % 256]) * (n % 50 + 1)
            assert b" BINARY[2] ~{%d}\r\n" % len(data) in r  # NUL inside: literal8
            assert literal_after(r, b"BINARY[2]") == data
            assert b"BINARY.SIZE[2] %d" % len(data) in r
    # One message at a time (a group of one) answers the same bytes.
    for n in sorted(set(range(1, COUNT + 1, 37)) | BIG | {COUNT}):
        _, one = c.command(b"FETCH %d " % n + ITEMS)
        assert fetches(one)[n] == bulk[n], n
    # UID FETCH over a sparse set, in the order of the mailbox.
    _, untagged = c.command(b"UID FETCH 3,150:152,299 (BODY.PEEK[1])")
    got = fetches(untagged)
    assert sorted(got) == [3, 150, 151, 152, 299]
    for n in got:
        assert got[n].startswith(b"* %d FETCH (UID " % n)
        assert literal_after(got[n], b"BODY[1]") == literal_after(bulk[n], b"BODY[1]")
    c.close()


def test_fetch_without_peek_sets_seen_and_reports_flags(platform, mailbox):
    c = login(platform)
    _, untagged = c.command(b"FETCH 100:120 (BODY[])")
    got = fetches(untagged)
    assert sorted(got) == list(range(100, 121))
    for n, r in got.items():
        assert b"FLAGS (\\Seen)" in r
        assert literal_after(r, b"BODY[]") == mailbox[n - 1]
    _, untagged = c.command(b"FETCH 100:120 (BODY[])")
    assert all(b"FLAGS" not in r for r in fetches(untagged).values())  # already \Seen: no FLAGS
    c.command(b"STORE 100:120 -FLAGS.SILENT (\\Seen)")
    c.close()


def test_a_large_body_is_streamed_byte_for_byte_among_other_items(platform, mailbox):
    """A whole body over 4 MiB goes out in pieces (the server never holds it whole); the
    response must still be the exact bytes, with the other items of the message, and the
    messages around it unchanged."""
    c = login(platform)
    line = bytes(33 + (j * 7) % 90 for j in range(70)) + b"\r\n"
    big = (b"From: big@remote.test\r\nSubject: a big one\r\nMessage-ID: <big-stream@remote.test>\r\n\r\n"
           + b"".join(b"%07d " % k + line for k in range(90_000)))
    assert len(big) > 6 << 20
    c.command(b"APPEND INBOX", big)
    _, untagged = c.command(b"SELECT INBOX")
    n = COUNT + 1
    assert b"* %d EXISTS\r\n" % n in untagged
    _, untagged = c.command(b"FETCH %d:%d (UID RFC822.SIZE ENVELOPE BODY.PEEK[])" % (n - 1, n))
    got = fetches(untagged)
    assert sorted(got) == [n - 1, n]
    assert literal_after(got[n], b"BODY[]") == big
    assert b"RFC822.SIZE %d" % len(big) in got[n]
    assert b'"a big one"' in got[n]
    assert got[n].endswith(b")\r\n")
    assert literal_after(got[n - 1], b"BODY[]") == mailbox[-1]
    # Without PEEK: \Seen is set and reported with it.
    _, untagged = c.command(b"FETCH %d RFC822" % n)
    r = fetches(untagged)[n]
    assert literal_after(r, b"RFC822") == big
    assert b"FLAGS (\\Seen)" in r
    # A partial of it is not streamed but cut from the store.
    _, untagged = c.command(b"FETCH %d (UID BODY.PEEK[]<5000000.100>)" % n)
    assert literal_after(fetches(untagged)[n], b"BODY[]<5000000>") == big[5_000_000:5_000_100]
    c.command(b"STORE %d +FLAGS.SILENT (\\Deleted)" % n)
    c.command(b"EXPUNGE")
    c.close()
