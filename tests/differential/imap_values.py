"""Parsing IMAP response data (as tests/e2e/imap_wire.py hands it over: each
literal replaced by a {N} / ~{N} marker, the octets in a separate list) into
values that can be compared across servers.

    parse_fetch(line, literals) -> {"ENVELOPE": [...], "BODY[1]": Str(b"..."), ...}

The literals of a line are taken from the front of `literals`, so the lines of one
reply are parsed in order with the reply's one list.

Values: None for NIL, Str for a string (quoted, literal or literal8: the form is
kept in .form but is not part of equality), Atom for atoms and numbers, and
Python lists for parenthesised lists.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Atom:
    text: str

    def __repr__(self):
        return self.text


@dataclass(frozen=True)
class Str:
    data: bytes
    # "quoted", "literal" or "literal8": how it came over the wire. Not compared:
    # RFC 9051 4.3 lets a server send any string in either form, and RFC 3516 4.2
    # requires literal8 only when the data hold NUL (checked separately).
    form: str = field(default="quoted", compare=False)

    def __repr__(self):
        data = self.data if len(self.data) <= 120 else self.data[:100] + b"...(%d octets)" % len(self.data)
        return ("~" if self.form == "literal8" else "") + repr(data)


_MARKER = re.compile(rb"(~?)\{(\d+)\}")


class _Reader:
    def __init__(self, line: bytes, literals: list[bytes]):
        self.s = line
        self.i = 0
        self.literals = literals  # consumed from the front, shared with the caller

    def peek(self) -> int | None:
        return self.s[self.i] if self.i < len(self.s) else None

    def skip_spaces(self):
        while self.peek() == 0x20:
            self.i += 1

    def value(self):
        self.skip_spaces()
        c = self.peek()
        if c is None:
            raise ValueError(f"unexpected end at {self.i}: {self.s!r}")
        if c == ord("("):
            self.i += 1
            out = []
            while True:
                self.skip_spaces()
                if self.peek() == ord(")"):
                    self.i += 1
                    return out
                out.append(self.value())
        if c == ord('"'):
            self.i += 1
            buf = bytearray()
            while True:
                ch = self.s[self.i]
                self.i += 1
                if ch == ord("\\"):
                    buf.append(self.s[self.i])
                    self.i += 1
                elif ch == ord('"'):
                    return Str(bytes(buf), "quoted")
                else:
                    buf.append(ch)
        m = _MARKER.match(self.s, self.i)
        if m:
            self.i = m.end()
            data = self.literals.pop(0)
            assert len(data) == int(m.group(2))
            return Str(data, "literal8" if m.group(1) else "literal")
        return self.atom()

    def atom(self):
        start = self.i
        depth = 0
        while self.i < len(self.s):
            ch = self.s[self.i]
            if ch == ord("["):
                depth += 1
            elif ch == ord("]"):
                depth -= 1
            elif depth == 0 and ch in b" ()":
                break
            self.i += 1
        text = self.s[start:self.i].decode("latin-1")
        if text.upper() == "NIL":
            return None
        return Atom(text)


def parse_values(data: bytes, literals: list[bytes]) -> list:
    r = _Reader(data, literals)
    out = []
    while True:
        r.skip_spaces()
        if r.peek() is None:
            return out
        out.append(r.value())


_FETCH = re.compile(rb"^\* (\d+) FETCH ")


def parse_fetch(line: bytes, literals: list[bytes]) -> tuple[int, dict]:
    """One untagged FETCH response -> (message number, {ITEM NAME: value})."""
    m = _FETCH.match(line)
    assert m, line
    r = _Reader(line[m.end():], literals)
    items = r.value()
    assert isinstance(items, list) and len(items) % 2 == 0, line
    out = {}
    for name, value in zip(items[0::2], items[1::2]):
        out[item_key(name.text)] = value
    return int(m.group(1)), out


def item_key(name: str) -> str:
    """A FETCH item name as a key: upper case, single spaces. The name is how the
    server echoes what was asked (RFC 9051 7.5.2); header field names are
    case-insensitive (RFC 5322 1.2.2), so servers may echo them in any case."""
    return re.sub(r"\s+", " ", name.upper())


def render(value) -> str:
    """A short readable form for reports and docs (long strings cut)."""
    if value is None:
        return "NIL"
    if isinstance(value, list):
        return "(" + " ".join(render(v) for v in value) + ")"
    return repr(value)


def exact(value) -> str:
    """Every octet of the value (for fingerprints)."""
    if value is None:
        return "NIL"
    if isinstance(value, list):
        return "(" + " ".join(exact(v) for v in value) + ")"
    if isinstance(value, Str):
        return repr(value.data)
    return repr(value)
