"""A lost Enqueue reply is retried, not answered 451 (issue 14).

smtpd talks to queued through a small TCP proxy that reads the HTTP/2 frames of
the gRPC connection. The first time queued answers an Enqueue (its response
HEADERS for a stream whose request has ended, so after the commit), the proxy
drops the reply and closes both sides: smtpd sees UNAVAILABLE for a message
that is committed, as when queued is killed between its commit and its reply.
smtpd must send the Enqueue again with the same queue id, queued must answer it
from the committed row, the client must get 250, and one copy must be delivered.
"""
from __future__ import annotations

import imaplib
import smtplib
import socket
import struct
import threading
import urllib.request

import pytest

from platform_support import free_port, wait_until

USER = "retry@example.test"
PASSWORD = "re-try test password"
PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS = 0x0, 0x1
END_STREAM = 0x1


class ReplyDroppingProxy:
    """Forwards one gRPC (HTTP/2 cleartext) connection at a time to `upstream`;
    drops the first response to a request that carried more than `min_request`
    bytes of DATA, then closes that connection."""

    def __init__(self, upstream: int, min_request: int = 4096, drops: int = 1):
        self.upstream = upstream
        self.min_request = min_request
        self.drops_left = drops
        self.dropped = 0
        self.lock = threading.Lock()
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.port = self.listener.getsockname()[1]
        self.closed = False
        threading.Thread(target=self._accept, daemon=True).start()

    def close(self):
        self.closed = True
        self.listener.close()

    def _accept(self):
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            server = socket.create_connection(("127.0.0.1", self.upstream))
            state = {"request_bytes": {}, "ended": set()}
            threading.Thread(target=self._pump, args=(client, server, state, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(server, client, state, False), daemon=True).start()

    @staticmethod
    def _read_exact(sock: socket.socket, n: int) -> bytes:
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _pump(self, src: socket.socket, dst: socket.socket, state: dict, from_client: bool):
        try:
            if from_client:
                dst.sendall(self._read_exact(src, len(PREFACE)))
            while True:
                head = self._read_exact(src, 9)
                length = int.from_bytes(head[:3], "big")
                ftype, flags = head[3], head[4]
                stream = struct.unpack(">I", head[5:9])[0] & 0x7FFFFFFF
                payload = self._read_exact(src, length)
                if from_client:
                    if ftype == DATA:
                        state["request_bytes"][stream] = state["request_bytes"].get(stream, 0) + length
                    if ftype in (DATA, HEADERS) and flags & END_STREAM:
                        state["ended"].add(stream)
                elif (ftype == HEADERS and stream in state["ended"]
                      and state["request_bytes"].get(stream, 0) >= self.min_request):
                    with self.lock:
                        drop = self.drops_left > 0
                        if drop:
                            self.drops_left -= 1
                            self.dropped += 1
                    if drop:
                        raise EOFError  # the reply goes nowhere; both sides are closed
                dst.sendall(head + payload)
        except (EOFError, OSError):
            pass
        finally:
            for s in (src, dst):
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@pytest.fixture(scope="module")
def retry_platform(fresh_platform_factory):
    p = fresh_platform_factory()
    p.add_user(USER, PASSWORD)
    proxy = ReplyDroppingProxy(p.ports["queue_grpc"])
    # smtpd reaches queued only through the proxy.
    p.stop("smtpd")
    p.start("smtpd", extra_env={"POSTLINE_QUEUE_ADDR": f"127.0.0.1:{proxy.port}"})
    yield p, proxy
    proxy.close()


def count_in_inbox(p, message_id: str) -> int:
    imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
    try:
        imap.login(USER, PASSWORD)
        imap.select("INBOX", readonly=True)
        typ, data = imap.search(None, "HEADER", "Message-ID", message_id)
        assert typ == "OK", data
        return len(data[0].split())
    finally:
        imap.logout()


def metric(p, name: str) -> float:
    body = urllib.request.urlopen(f"http://127.0.0.1:{p.ports['smtpd_http']}/metrics", timeout=10).read().decode()
    for line in body.splitlines():
        if line.startswith(name + " ") or line.startswith(name + "{"):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"{name} not in /metrics")


def test_lost_enqueue_reply_is_retried_and_answered_250_with_one_copy(retry_platform):
    p, proxy = retry_platform
    message_id = "<lost-reply-1@remote.test>"
    body = ("From: sender@remote.test\r\nTo: " + USER + "\r\nSubject: lost reply\r\n"
            "Message-ID: " + message_id + "\r\n\r\n" + ("a line of the body\r\n" * 1000))
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as smtp:
        # sendmail raises on anything but 250 after the final dot.
        refused = smtp.sendmail("sender@remote.test", [USER], body.encode())
    assert refused == {}
    assert proxy.dropped == 1, "the proxy never saw the reply it should drop"

    wait_until(lambda: count_in_inbox(p, message_id) >= 1, timeout=30, what="delivery")
    # The queue holds the message once and has delivered it: nothing left to
    # make a second copy.
    wait_until(lambda: p.psql("SELECT count(*) FROM queue_recipients WHERE state <> 'delivered'").strip() == "0",
               timeout=30, what="the queue to finish")
    assert count_in_inbox(p, message_id) == 1
    assert p.psql("SELECT count(*) FROM queue_messages").strip() == "1"

    assert metric(p, "postline_smtpd_enqueue_retries_total") >= 1
    smtpd_log = (p.workdir / "smtpd.log").read_text(errors="replace")
    assert "retrying with the same queue id" in smtpd_log
    queued_log = (p.workdir / "queued.log").read_text(errors="replace")
    assert "Enqueue retried for a committed message" in queued_log
