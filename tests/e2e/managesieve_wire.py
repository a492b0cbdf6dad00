"""A raw ManageSieve (RFC 5804) client for the edge cases a real client never
sends: exact bytes out, responses parsed strictly (quoted strings, {N}
literals, response codes), STARTTLS and SASL by hand."""
from __future__ import annotations

import base64
import socket
import ssl
from dataclasses import dataclass, field


@dataclass
class Response:
    status: str                 # OK, NO, BYE
    code: str = ""              # "QUOTA/MAXSIZE", "TAG", "SASL" ... ("" when none)
    code_arg: str | None = None  # the string after the code word (TAG, SASL)
    text: str = ""
    lines: list[list] = field(default_factory=list)  # the lines before it, each a list of tokens

    def __str__(self):
        return f"{self.status} ({self.code}) {self.text!r} after {self.lines!r}"


class Closed(Exception):
    pass


class ManageSieve:
    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 30.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.buf = b""
        self.greeting = self.read_response()

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # --- bytes ------------------------------------------------------------
    def send(self, data: bytes | str):
        self.sock.sendall(data.encode() if isinstance(data, str) else data)

    def _fill(self):
        chunk = self.sock.recv(65536)
        if not chunk:
            raise Closed("server closed the connection")
        self.buf += chunk

    def _take(self, n: int) -> bytes:
        while len(self.buf) < n:
            self._fill()
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def _peek(self) -> int:
        while not self.buf:
            self._fill()
        return self.buf[0]

    # --- responses ----------------------------------------------------------
    def _string(self) -> str:
        c = self._peek()
        if c == ord('"'):
            self._take(1)
            out = bytearray()
            while True:
                ch = self._take(1)
                assert ch not in (b"\r", b"\n"), "CR/LF in a quoted string"
                if ch == b'"':
                    assert len(out) <= 1024, "quoted string over 1024 octets"
                    return out.decode()
                if ch == b"\\":
                    ch = self._take(1)
                    assert ch in (b'"', b"\\"), f"bad escape {ch!r}"
                out += ch
        assert c == ord("{"), f"expected a string, got {self.buf[:40]!r}"
        while b"\r\n" not in self.buf:
            self._fill()
        head, self.buf = self.buf.split(b"\r\n", 1)
        assert head.endswith(b"}") and head[1:-1].isdigit(), f"bad literal header {head!r}"
        return self._take(int(head[1:-1])).decode("utf-8", errors="surrogateescape")

    def read_line(self) -> list:
        """One response line as tokens: str for strings, ("atom", word), ("code", word, arg)."""
        tokens = []
        while True:
            c = self._peek()
            if c == ord("\r"):
                assert self._take(2) == b"\r\n"
                return tokens
            if tokens:
                assert self._take(1) == b" ", f"expected SP, got {self.buf[:40]!r}"
                c = self._peek()
            if c in (ord('"'), ord("{")):
                tokens.append(self._string())
            elif c == ord("("):
                self._take(1)
                word = b""
                while self._peek() not in (ord(")"), ord(" ")):
                    word += self._take(1)
                arg = None
                if self._peek() == ord(" "):
                    self._take(1)
                    arg = self._string()
                assert self._take(1) == b")"
                tokens.append(("code", word.decode(), arg))
            else:
                word = b""
                while self._peek() not in (ord(" "), ord("\r")):
                    word += self._take(1)
                tokens.append(("atom", word.decode()))

    def read_response(self) -> Response:
        lines = []
        while True:
            tokens = self.read_line()
            if tokens and isinstance(tokens[0], tuple) and tokens[0][1] in ("OK", "NO", "BYE"):
                r = Response(tokens[0][1], lines=lines)
                for t in tokens[1:]:
                    if isinstance(t, tuple) and t[0] == "code":
                        r.code, r.code_arg = t[1], t[2]
                    elif isinstance(t, str):
                        r.text = t
                return r
            lines.append(tokens)

    def command(self, line: bytes | str) -> Response:
        """Sends one command (CRLF added: a literal's own last CRLF does not end the command)."""
        data = line.encode() if isinstance(line, str) else line
        self.send(data + b"\r\n")
        return self.read_response()

    # --- conveniences -------------------------------------------------------
    @staticmethod
    def capabilities_of(response: Response) -> dict[str, str | None]:
        return {line[0].upper(): (line[1] if len(line) > 1 else None) for line in response.lines}

    def capabilities(self) -> dict[str, str | None]:
        r = self.command("CAPABILITY")
        assert r.status == "OK", r
        return self.capabilities_of(r)

    def starttls(self, context: ssl.SSLContext | None = None) -> Response:
        r = self.command("STARTTLS")
        assert r.status == "OK", r
        assert not self.buf, "bytes after the STARTTLS reply"
        if context is None:
            context = ssl.create_default_context()
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        self.sock = context.wrap_socket(self.sock, server_hostname="localhost")
        # RFC 5804 2.2: the capabilities again, then OK.
        return self.read_response()

    def authenticate_plain(self, user: str, password: str) -> Response:
        ir = base64.b64encode(f"\0{user}\0{password}".encode()).decode()
        return self.command(f'AUTHENTICATE "PLAIN" "{ir}"')

    @staticmethod
    def literal(data: bytes | str) -> bytes:
        raw = data.encode() if isinstance(data, str) else data
        return b"{%d+}\r\n" % len(raw) + raw

    def putscript(self, name: str, script: bytes | str) -> Response:
        return self.command(b'PUTSCRIPT "' + name.encode() + b'" ' + self.literal(script))
