"""COMPRESS=DEFLATE (RFC 4978) over a real socket against a real imapd: the
client side is Python's zlib with raw DEFLATE (wbits=-15), as mail clients do.
After the tagged OK both directions are compressed: SELECT, APPEND with
synchronising and LITERAL+ literals, a FETCH of a body over the streaming
threshold (commands/fetch.cpp kStreamBytes, 4 MiB), IDLE with mail delivered
over SMTP, a second COMPRESS, a decompression bomb, garbage input; also under
implicit TLS and after STARTTLS."""
from __future__ import annotations

import base64
import os
import re
import smtplib
import socket
import ssl
import time
import zlib

import pytest

USER = "compress@example.test"
PASSWORD = "co-mpress password 1"
STREAM_THRESHOLD = 4 << 20  # commands/fetch.cpp kStreamBytes
_LITERAL = re.compile(rb"(~?)\{(\d+)\+?\}\r\n$")


def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class ZWire:
    """A byte-level IMAP client that can switch to DEFLATE. It keeps its own
    read buffer (no makefile): the bytes after COMPRESS's tagged OK belong to
    the compressed stream and must not sit in a plaintext buffer."""

    def __init__(self, sock: socket.socket, timeout: float = 30):
        self.sock = sock
        self.sock.settimeout(timeout)
        self.buf = b""
        self.deflate = None  # client -> server
        self.inflate = None  # server -> client
        self.n = 0
        self.wire_in = 0   # compressed bytes received
        self.plain_in = 0  # what they inflated to
        self.greeting = self.readline()
        assert self.greeting.startswith(b"* OK"), self.greeting

    @classmethod
    def plain(cls, port: int) -> "ZWire":
        return cls(socket.create_connection(("127.0.0.1", port), timeout=30))

    @classmethod
    def implicit_tls(cls, port: int) -> "ZWire":
        raw = socket.create_connection(("127.0.0.1", port), timeout=30)
        return cls(tls_context().wrap_socket(raw, server_hostname="localhost"))

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # --- bytes ---------------------------------------------------------------
    def _recv(self):
        data = self.sock.recv(65536)
        if not data:
            raise ConnectionError("server closed the connection")
        if self.inflate is not None:
            self.wire_in += len(data)
            data = self.inflate.decompress(data)
            self.plain_in += len(data)
        self.buf += data

    def send(self, data: bytes):
        if self.deflate is not None:
            # A client flushes at the end of what it sends, like the server.
            data = self.deflate.compress(data) + self.deflate.flush(zlib.Z_SYNC_FLUSH)
        self.sock.sendall(data)

    def send_raw(self, data: bytes):
        self.sock.sendall(data)

    def readline(self) -> bytes:
        while b"\r\n" not in self.buf:
            self._recv()
        i = self.buf.index(b"\r\n") + 2
        line, self.buf = self.buf[:i], self.buf[i:]
        return line

    def read_exact(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._recv()
        data, self.buf = self.buf[:n], self.buf[n:]
        return data

    def response(self, literals: list[bytes]) -> bytes:
        """One response line, literals replaced by {N} and collected."""
        parts = []
        while True:
            line = self.readline()
            m = _LITERAL.search(line)
            if m:
                data = self.read_exact(int(m.group(2)))
                literals.append(data)
                parts.append(line[:m.start()] + m.group(1) + b"{%d}" % len(data))
                continue
            parts.append(line.rstrip(b"\r\n"))
            return b"".join(parts)

    def read_until_eof(self, deadline: float) -> bytes:
        """Everything the server still sends before it closes (inflated if on)."""
        got = b""
        while time.monotonic() < deadline:
            try:
                data = self.sock.recv(65536)
            except (ConnectionResetError, ssl.SSLError):
                break
            if not data:
                break
            got += data
        if self.inflate is not None:
            got = self.inflate.decompress(got)
        return self.buf + got

    # --- commands --------------------------------------------------------------
    def run(self, command: bytes | str, literal: bytes | None = None, non_sync: bool = False):
        """Sends one command (with a literal, synchronising unless non_sync);
        returns (tagged line, untagged lines, literals)."""
        if isinstance(command, str):
            command = command.encode()
        self.n += 1
        tag = b"z%d" % self.n
        untagged, literals = [], []
        if literal is None:
            self.send(tag + b" " + command + b"\r\n")
        elif non_sync:
            self.send(tag + b" " + command + b" {%d+}\r\n" % len(literal) + literal + b"\r\n")
        else:
            self.send(tag + b" " + command + b" {%d}\r\n" % len(literal))
            line = self.response(literals)
            if not line.startswith(b"+"):
                return line, untagged, literals
            self.send(literal + b"\r\n")
        while True:
            line = self.response(literals)
            if line.startswith(tag + b" "):
                return line, untagged, literals
            untagged.append(line)

    def ok(self, command, **kw):
        status, untagged, literals = self.run(command, **kw)
        assert re.match(rb"z\d+ OK", status), (command, status, untagged)
        return untagged, literals

    def login(self):
        self.ok(f'LOGIN "{USER}" "{PASSWORD}"')

    def compress(self):
        """COMPRESS DEFLATE; from the tagged OK on, both directions are raw DEFLATE."""
        assert self.deflate is None
        self.n += 1
        tag = b"z%d" % self.n
        self.send(tag + b" COMPRESS DEFLATE\r\n")
        line = self.readline()
        assert line == tag + b" OK DEFLATE active\r\n", line
        self.deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        self.inflate = zlib.decompressobj(-15)
        # Nothing may follow the OK in plaintext; anything here is compressed.
        rest, self.buf = self.buf, b""
        if rest:
            self.buf = self.inflate.decompress(rest)


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    return USER


def compressed_session(platform, port_key="imap") -> ZWire:
    c = ZWire.implicit_tls(platform.ports[port_key]) if port_key == "imaps" else ZWire.plain(platform.ports[port_key])
    c.login()
    caps, _ = c.ok("CAPABILITY")
    assert b" COMPRESS=DEFLATE" in caps[0], caps
    c.compress()
    return c


def appended_uid(status: bytes) -> int:
    m = re.search(rb"\[APPENDUID \d+ (\d+)\]", status)
    assert m, status
    return int(m.group(1))


def fetch_uid_body(c: ZWire, uid: int, timeout: float = 30) -> tuple[list[bytes], list[bytes]]:
    """UID FETCH uid BODY.PEEK[] once the session's view has the message
    (the change feed may bring it a moment after APPEND's OK)."""
    deadline = time.monotonic() + timeout
    while True:
        untagged, literals = c.ok(f"UID FETCH {uid} (RFC822.SIZE BODY.PEEK[])")
        if literals or time.monotonic() > deadline:
            return untagged, literals
        c.ok("NOOP")


def big_message(size: int) -> bytes:
    # Text that compresses, as mail does, but not to nothing.
    body = base64.encodebytes(os.urandom(size * 3 // 4 + 1024)).replace(b"\n", b"\r\n")[:size]
    return b"Subject: big compressed\r\nFrom: a@example.test\r\n\r\n" + body + b"\r\n"


def test_not_advertised_nor_allowed_before_login(platform, account):
    c = ZWire.plain(platform.ports["imap"])
    try:
        caps, _ = c.ok("CAPABILITY")
        assert b"COMPRESS" not in caps[0]
        status, _, _ = c.run("COMPRESS DEFLATE")
        assert b" BAD " in status, status
        c.login()
        status, _, _ = c.run("COMPRESS GZIP")
        assert b" BAD " in status, status
        # Still plaintext: the refused COMPRESS changed nothing.
        c.ok("NOOP")
    finally:
        c.close()


def test_session_works_compressed(platform, account):
    sessions_before = platform.metric_value("imapd", "postline_imapd_compress_sessions_total")
    streamed_before = platform.metric_value("imapd", "postline_imapd_fetch_bodies_streamed_total")
    c = compressed_session(platform)
    try:
        c.run("DELETE zbox")
        c.ok("CREATE zbox")
        untagged, _ = c.ok("SELECT zbox")
        assert b"* 0 EXISTS" in untagged, untagged
        # Continuation request and literal, compressed both ways.
        small = b"Subject: small\r\n\r\nhello compressed\r\n"
        plus = b"Subject: plus\r\n\r\nnon-synchronising\r\n"
        status, _, _ = c.run("APPEND zbox", literal=small)
        small_uid = appended_uid(status)
        status, _, _ = c.run("APPEND zbox", literal=plus, non_sync=True)
        plus_uid = appended_uid(status)
        big = big_message(STREAM_THRESHOLD + (1 << 20))
        assert len(big) > STREAM_THRESHOLD
        status, _, _ = c.run("APPEND zbox", literal=big)
        big_uid = appended_uid(status)
        assert fetch_uid_body(c, small_uid)[1] == [small]
        assert fetch_uid_body(c, plus_uid)[1] == [plus]
        # The body over the streaming threshold goes out in pieces, each through the deflater.
        wire_before, plain_before = c.wire_in, c.plain_in
        untagged, literals = fetch_uid_body(c, big_uid)
        assert literals == [big]
        assert b"RFC822.SIZE %d" % len(big) in untagged[0]
        assert c.plain_in - plain_before > len(big)
        assert c.wire_in - wire_before < (c.plain_in - plain_before) * 0.9, "the body went out compressed"
        assert platform.metric_value("imapd", "postline_imapd_fetch_bodies_streamed_total") > streamed_before
        # A second COMPRESS: the RFC's response code, and the stream goes on.
        status, _, _ = c.run("COMPRESS DEFLATE")
        assert re.match(rb"z\d+ NO \[COMPRESSIONACTIVE\]", status), status
        status, _, _ = c.run("STARTTLS")
        assert b" BAD " in status, status
        c.ok("NOOP")
        c.ok("LOGOUT")
    finally:
        c.close()
    assert platform.metric_value("imapd", "postline_imapd_compress_sessions_total") >= sessions_before + 1
    out_plain = platform.metric_value("imapd", "postline_imapd_compress_bytes_total",
                                      {"direction": "out", "form": "plain"})
    out_deflate = platform.metric_value("imapd", "postline_imapd_compress_bytes_total",
                                        {"direction": "out", "form": "deflate"})
    in_plain = platform.metric_value("imapd", "postline_imapd_compress_bytes_total",
                                     {"direction": "in", "form": "plain"})
    assert out_plain > len(big) and 0 < out_deflate < out_plain
    assert in_plain > len(big)


def test_bytes_pipelined_right_after_compress_are_compressed(platform, account):
    # A client that compresses at once (before it sees the OK) sends its next
    # command in the same segment: the server must take those bytes as
    # DEFLATE, not as plaintext it already buffered.
    c = ZWire.plain(platform.ports["imap"])
    try:
        c.login()
        deflate = zlib.compressobj(6, zlib.DEFLATED, -15)
        c.send_raw(b"p1 COMPRESS DEFLATE\r\n" + deflate.compress(b"p2 NOOP\r\n") + deflate.flush(zlib.Z_SYNC_FLUSH))
        line = c.readline()
        assert line == b"p1 OK DEFLATE active\r\n", line
        c.deflate, c.inflate = deflate, zlib.decompressobj(-15)
        rest, c.buf = c.buf, b""
        c.buf = c.inflate.decompress(rest)
        line = c.readline()
        while not line.startswith(b"p2 "):
            line = c.readline()
        assert line.startswith(b"p2 OK"), line
        c.ok("NOOP")
    finally:
        c.close()


def test_idle_gets_a_delivery_compressed(platform, account):
    c = compressed_session(platform)
    try:
        untagged, _ = c.ok("SELECT INBOX")
        exists = next(int(u.split()[1]) for u in untagged if u.endswith(b" EXISTS"))
        c.n += 1
        tag = b"z%d" % c.n
        c.send(tag + b" IDLE\r\n")
        assert c.readline().startswith(b"+ "), "continuation for IDLE"
        with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
            mx.sendmail("someone@remote.test", [USER], b"Subject: pushed\r\n\r\nduring compressed IDLE\r\n")
        # The push must not wait in zlib for more output: it arrives by
        # itself (the socket timeout is the deadline).
        c.sock.settimeout(30)
        deadline = time.monotonic() + 30
        pushed = None
        while time.monotonic() < deadline:
            line = c.readline()
            m = re.match(rb"\* (\d+) EXISTS", line)
            if m:
                pushed = int(m.group(1))
                break
        assert pushed == exists + 1
        c.send(b"DONE\r\n")
        while True:
            line = c.readline()
            if line.startswith(tag + b" "):
                assert line.startswith(tag + b" OK"), line
                break
        _, literals = c.ok(f"FETCH {pushed} BODY.PEEK[TEXT]")
        assert literals == [b"during compressed IDLE\r\n"]
    finally:
        c.close()


def test_notify_status_pushed_compressed(platform, account):
    # NOTIFY responses come from the connection's pump between commands: they
    # must go through the deflater and its flush like any response.
    c = compressed_session(platform)
    other = ZWire.plain(platform.ports["imap"])
    try:
        c.run("DELETE znotify")
        c.ok("CREATE znotify")
        c.ok("SELECT INBOX")
        c.ok("NOTIFY SET (personal (MessageNew MessageExpunge))")
        other.login()
        other.ok("APPEND znotify", literal=b"Subject: notify\r\n\r\npushed\r\n")
        # No command from c: the STATUS arrives by itself (socket timeout = deadline).
        deadline = time.monotonic() + 30
        line = b""
        while time.monotonic() < deadline and not line.startswith(b"* STATUS"):
            line = c.readline()
        assert re.match(rb'\* STATUS "?znotify"? \(MESSAGES 1 ', line), line
        c.ok("NOTIFY NONE")
    finally:
        other.close()
        c.close()


def test_decompression_bomb_hits_the_line_limit(platform, account):
    errors_before = platform.metric_value("imapd", "postline_imapd_protocol_errors_total",
                                          {"kind": "line_too_long"})
    c = compressed_session(platform)
    try:
        # 32 MiB of one byte is about 32 KiB compressed: a line far over
        # imap.max_line that the server must inflate piecewise and drop.
        z = c.deflate.compress(b"b1 NOOP ")
        chunk = b"x" * (1 << 20)
        for _ in range(32):
            z += c.deflate.compress(chunk)
        z += c.deflate.compress(b"\r\n") + c.deflate.flush(zlib.Z_SYNC_FLUSH)
        assert len(z) < 256 * 1024
        c.send_raw(z)
        line = c.readline()
        assert line.startswith(b"b1 BAD") and b"TOOBIG" in line, line
        c.ok("NOOP")
    finally:
        c.close()
    assert platform.metric_value("imapd", "postline_imapd_protocol_errors_total",
                                 {"kind": "line_too_long"}) > errors_before


def test_garbage_closes_the_connection_and_the_server_stays_up(platform, account):
    errors_before = platform.metric_value("imapd", "postline_imapd_protocol_errors_total", {"kind": "deflate"})
    c = compressed_session(platform)
    try:
        c.ok("NOOP")
        # Not DEFLATE: a reserved block type.
        c.send_raw(b"\xff" * 64)
        rest = c.read_until_eof(time.monotonic() + 30)
        assert b"* BYE" in rest, rest
    finally:
        c.close()
    assert platform.metric_value("imapd", "postline_imapd_protocol_errors_total", {"kind": "deflate"}) \
        > errors_before
    # Other sessions go on; a new one works, compressed too.
    c = compressed_session(platform)
    try:
        c.ok("NOOP")
    finally:
        c.close()
    assert "COMPRESS: undecodable data" in platform.log_tail("imapd", 400)


def test_compress_under_implicit_tls(platform, account):
    c = compressed_session(platform, "imaps")
    try:
        c.ok("SELECT INBOX")
        body = b"Subject: tls\r\n\r\n" + b"compressed inside TLS\r\n" * 2000
        status, _, _ = c.run("APPEND INBOX", literal=body)
        _, literals = fetch_uid_body(c, appended_uid(status))
        assert literals == [body]
        status, _, _ = c.run("COMPRESS DEFLATE")
        assert b"[COMPRESSIONACTIVE]" in status
        c.ok("LOGOUT")
    finally:
        c.close()


def test_compress_after_starttls(platform, account):
    raw = socket.create_connection(("127.0.0.1", platform.ports["imap"]), timeout=30)
    c = ZWire(raw)
    try:
        c.ok("STARTTLS")
        assert c.buf == b""
        c.sock = tls_context().wrap_socket(raw, server_hostname="localhost")
        c.login()
        c.compress()
        untagged, _ = c.ok("CAPABILITY")
        assert b"COMPRESS=DEFLATE" in untagged[0]
        c.ok("LOGOUT")
    finally:
        c.close()
