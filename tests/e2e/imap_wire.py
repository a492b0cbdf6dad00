"""A byte-exact IMAP client for protocol tests: what imaplib hides (literal8,
NUL octets, the exact untagged responses of one command) stays visible.

    c = Wire(port); c.login(user, password)
    r = c.run(b"FETCH 1 (BINARY.PEEK[1])")   # r.status, r.untagged, r.literals
    c.run(b"APPEND INBOX", literal=b"...", binary=True)   # ~{n} literal8
    raw(c, b"APPEND INBOX " + nonsync(m1) + b" " + nonsync(m2))  # a whole command at once

Untagged responses come back as bytes with every literal replaced by the
marker b"{N}" / b"~{N}"; the literal data are in r.literals, in order.
"""
from __future__ import annotations

import re
import socket
from dataclasses import dataclass, field

_LITERAL = re.compile(rb"(~?)\{(\d+)\+?\}\r\n$")


@dataclass
class Reply:
    tag: bytes
    status: bytes  # the tagged line, CRLF stripped
    untagged: list[bytes] = field(default_factory=list)
    literals: list[bytes] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.status.startswith(self.tag + b" OK")

    @property
    def bad(self) -> bool:
        return self.status.startswith(self.tag + b" BAD")

    @property
    def no(self) -> bool:
        return self.status.startswith(self.tag + b" NO")

    def lines(self, prefix: bytes) -> list[bytes]:
        return [u for u in self.untagged if u.startswith(prefix)]


class Wire:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb")
        self.n = 0
        self.greeting = self.f.readline()
        assert self.greeting.startswith(b"* OK"), self.greeting

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def _line(self, literals: list[bytes]) -> bytes:
        parts = []
        while True:
            line = self.f.readline()
            if not line:
                raise ConnectionError("server closed the connection")
            m = _LITERAL.search(line)
            if m:
                data = self.f.read(int(m.group(2)))
                literals.append(data)
                parts.append(line[:m.start()] + m.group(1) + b"{%d}" % len(data))
                continue
            parts.append(line.rstrip(b"\r\n"))
            return b"".join(parts)

    def run(self, command: bytes | str, literal: bytes | None = None, binary: bool = False,
            after: bytes = b"") -> Reply:
        """Sends one command; with `literal`, the command ends in a synchronising
        literal ({n}, or ~{n} when `binary`) holding those bytes, then `after`."""
        if isinstance(command, str):
            command = command.encode()
        self.n += 1
        tag = b"w%d" % self.n
        reply = Reply(tag, b"")
        if literal is None:
            self.sock.sendall(tag + b" " + command + b"\r\n")
        else:
            marker = (b"~" if binary else b"") + b"{%d}" % len(literal)
            self.sock.sendall(tag + b" " + command + b" " + marker + b"\r\n")
            line = self._line(reply.literals)
            if not line.startswith(b"+"):
                reply.status = line
                return reply
            self.sock.sendall(literal + after + b"\r\n")
        while True:
            line = self._line(reply.literals)
            if line.startswith(tag + b" "):
                reply.status = line
                return reply
            reply.untagged.append(line)

    def ok(self, command: bytes | str, **kw) -> Reply:
        r = self.run(command, **kw)
        assert r.ok, (command, r.status, r.untagged)
        return r

    def login(self, user: str, password: str) -> Reply:
        return self.ok(f'LOGIN "{user}" "{password}"')


def raw(c: Wire, payload: bytes) -> Reply:
    """Sends one complete command (non-synchronising literals inline, see
    nonsync) under the next tag and reads its reply."""
    c.n += 1
    tag = b"w%d" % c.n
    c.sock.sendall(tag + b" " + payload + b"\r\n")
    reply = Reply(tag, b"")
    while True:
        line = c._line(reply.literals)
        if line.startswith(tag + b" "):
            reply.status = line
            return reply
        reply.untagged.append(line)


def nonsync(data: bytes) -> bytes:
    """A LITERAL+ literal (RFC 7888): {n+} and the bytes, no continuation."""
    return b"{%d+}\r\n" % len(data) + data


def fresh_mailbox(c: Wire, name: str) -> str:
    """`name` deleted if it was there and created empty."""
    c.run(f"DELETE {name}")
    c.ok(f"CREATE {name}")
    return name
