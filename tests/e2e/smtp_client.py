"""A byte-exact SMTP client for end-to-end tests of postline-smtpd: sends exactly
the bytes a test gives it (pipelining, bare LFs, BDAT chunks) and reads replies,
which smtplib cannot do. Every read has a timeout; nothing sleeps."""
from __future__ import annotations

import socket
import ssl


class Reply:
    def __init__(self, code: int, lines: list[str]):
        self.code = code
        self.lines = lines

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def enhanced(self) -> str:
        first = self.lines[-1].split(" ", 1)[0] if self.lines else ""
        return first if first[:1].isdigit() and "." in first else ""

    def __repr__(self):
        return f"Reply({self.code}, {self.lines!r})"


class RawSmtp:
    def __init__(self, port: int, implicit_tls: ssl.SSLContext | None = None, timeout: float = 30.0):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        if implicit_tls:
            self.sock = implicit_tls.wrap_socket(self.sock, server_hostname="localhost")
        self.buf = b""
        self.greeting = self.reply()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, data: bytes | str):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _line(self) -> bytes:
        while b"\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"connection closed (buffered {self.buf!r})")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\n")
        return line.rstrip(b"\r")

    def reply(self) -> Reply:
        lines = []
        while True:
            line = self._line().decode("utf-8", "replace")
            lines.append(line[4:])
            if len(line) < 4 or line[3] != "-":
                return Reply(int(line[:3]), lines)

    def replies(self, n: int) -> list[Reply]:
        return [self.reply() for _ in range(n)]

    def cmd(self, line: str) -> Reply:
        self.send(line + "\r\n")
        return self.reply()

    def starttls(self, ctx: ssl.SSLContext) -> Reply:
        r = self.cmd("STARTTLS")
        if r.code == 220:
            assert not self.buf, f"server sent bytes after 220: {self.buf!r}"
            self.sock = ctx.wrap_socket(self.sock, server_hostname="localhost")
        return r

    def closed_by_server(self) -> bool:
        """True once the server has closed the connection (reads until EOF)."""
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, ssl.SSLError):
            return True
