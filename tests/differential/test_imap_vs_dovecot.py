"""Differential tests: Postline's imapd against Debian's Dovecot (issue 15).

The same corpus (every tests/corpus/mime/*.eml) is APPENDed to both servers
with the same flags and internal dates, then the same FETCH (ENVELOPE,
BODYSTRUCTURE, BODY, every section form, partials, BINARY, BINARY.SIZE,
RFC822.SIZE), SEARCH, SORT and THREAD commands go to both and the answers are
compared after normalisation (imap_values.py; each normalisation is explained
where it is made). What still differs must be exactly the list KNOWN below,
each entry a row of docs/imap.md "Differences from Dovecot" with the RFC text
that makes Postline's answer right: a new difference fails the test, and so
does a documented one that went away.

Run: scripts/test -L differential (installs Dovecot; needs root). Without
Dovecot the tests skip and say so.
"""
from __future__ import annotations

import email.utils
import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

import pytest

from imap_values import Atom, Str, exact, parse_fetch, render
from imap_wire import Reply, Wire

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "corpus" / "mime"
DOCS = ROOT / "docs" / "imap.md"
USER = "differential@example.test"
PASSWORD = "di-fferential password 1"
BOX = "differential"

FLAG_SETS = ["()", "(\\Seen)", "(\\Seen \\Flagged)", "($Label1)", "(\\Answered \\Draft)"]


def internal_date(i: int) -> str:
    """A different internal date per message, in zones other than UTC, so date
    searches have something to tell apart and the zone normalisation is exercised."""
    zone = ("+0200", "-0730", "+0000")[i % 3]
    return f"{1 + i % 28:02d}-{('Jan', 'Jun', 'Dec')[i % 3]}-2025 {i % 24:02d}:{(7 * i) % 60:02d}:{i % 60:02d} {zone}"


@dataclass
class Server:
    name: str
    wire: Wire
    capabilities: set

    def run(self, command: bytes | str, **kw) -> Reply:
        return self.wire.run(command, **kw)


def capabilities(c: Wire) -> set:
    r = c.ok("CAPABILITY")
    caps = set()
    for line in r.lines(b"* CAPABILITY "):
        caps.update(line.decode().split()[2:])
    return caps


CORPUS_FILES = sorted(f.name for f in CORPUS.glob("*.eml"))


@pytest.fixture(scope="module")
def corpus() -> list[tuple[str, bytes]]:
    assert len(CORPUS_FILES) >= 50
    return [(name, (CORPUS / name).read_bytes()) for name in CORPUS_FILES]


@pytest.fixture(scope="module")
def servers(dovecot, platform, corpus):
    """(postline, dovecot), logged in, with the corpus appended and BOX selected."""
    platform.add_user(USER, PASSWORD)
    dovecot.add_user(USER, PASSWORD)
    out = []
    for name, port in (("postline", platform.ports["imap"]), ("dovecot", dovecot.port)):
        c = Wire(port)
        c.login(USER, PASSWORD)
        c.ok(f"CREATE {BOX}")
        for i, (fname, data) in enumerate(corpus):
            # NUL octets can only travel in a literal8 (RFC 3516 4.4, RFC 9051 4.3).
            r = c.run(f'APPEND {BOX} {FLAG_SETS[i % len(FLAG_SETS)]} "{internal_date(i)}"', literal=data,
                      binary=b"\x00" in data)
            assert r.ok, (name, fname, r.status)
        r = c.ok(f"SELECT {BOX}")
        assert b"* %d EXISTS" % len(corpus) in r.untagged, (name, r.untagged)
        out.append(Server(name, c, capabilities(c)))
    yield tuple(out)
    for s in out:
        s.wire.close()


# --- normalisation -----------------------------------------------------------------

def _lower(v):
    return Str(v.data.lower(), v.form) if isinstance(v, Str) else v


def _params(v, charset_too=True):
    """body-fld-param: names are case-insensitive (RFC 2045 5.1: "the type, subtype, and
    parameter names are not case sensitive"), and so is the value of charset (RFC 2046
    4.1.2: "the values of the charset parameter are NOT case sensitive"); other values
    keep their case (boundaries are case-sensitive)."""
    if not isinstance(v, list):
        return v
    out = []
    for name, value in zip(v[0::2], v[1::2]):
        name = _lower(name)
        if charset_too and isinstance(name, Str) and name.data == b"charset":
            value = _lower(value)
        out += [name, value]
    return out


def _disposition(v):
    # body-fld-dsp: disposition types and parameter names are case-insensitive (RFC 2183 2.8)
    if isinstance(v, list) and len(v) == 2:
        return [_lower(v[0]), _params(v[1])]
    return v


def normalise_body(bs):
    """BODY / BODYSTRUCTURE with the case-insensitive tokens in lower case: servers may
    echo them as written (Dovecot) or lower-cased (Postline); RFC 2045 5.1 and 6.1 ("these
    values are not case sensitive") make the two the same answer."""
    if not isinstance(bs, list) or not bs:
        return bs
    if isinstance(bs[0], list):  # multipart: parts, subtype, [params, dsp, lang, loc]
        n = 0
        while n < len(bs) and isinstance(bs[n], list):
            n += 1
        out = [normalise_body(c) for c in bs[:n]]
        rest = list(bs[n:])
        if rest:
            rest[0] = _lower(rest[0])
        if len(rest) > 1:
            rest[1] = _params(rest[1])
        if len(rest) > 2:
            rest[2] = _disposition(rest[2])
        return out + rest
    out = list(bs)
    out[0], out[1] = _lower(out[0]), _lower(out[1])
    if len(out) > 2:
        out[2] = _params(out[2])
    if len(out) > 5:
        out[5] = _lower(out[5])  # body-fld-enc
    is_msg = (isinstance(out[0], Str) and out[0].data == b"message" and len(out) > 9
              and isinstance(out[8], list))
    if is_msg:
        out[8] = normalise_body(out[8])
    # extension data: md5, dsp, lang, loc after lines (text: index 8, message: 10, else 7)
    ext = 10 if is_msg else (8 if isinstance(out[0], Str) and out[0].data == b"text" else 7)
    if len(out) > ext + 1:
        out[ext + 1] = _disposition(out[ext + 1])
    return out


def normalise_item(key: str, value):
    if key in ("BODY", "BODYSTRUCTURE"):
        return normalise_body(value)
    if key == "FLAGS" and isinstance(value, list):
        # flag-list is a set (RFC 9051 7.5.2 FLAGS: "a parenthesized list of flags");
        # the order is the server's. Flag names are case-insensitive atoms.
        return sorted((v.text.lower() if isinstance(v, Atom) else v for v in value), key=str)
    if key == "INTERNALDATE" and isinstance(value, Str):
        # The same instant in any zone: RFC 9051 2.3.3 asks for the date and time;
        # which zone the server keeps is its own (Dovecot's Maildir stores a UTC
        # mtime and answers +0000, Postline keeps the zone that was APPENDed).
        text = re.sub(r"^ ?(\d+)-(\w+)-(\d+) ", r"\1 \2 \3 ", value.data.decode())
        return Atom(f"@{email.utils.parsedate_to_datetime(text).timestamp():.0f}")
    return value


def status_word(reply: Reply) -> str:
    """OK / NO / BAD and the response code, without the human-readable text
    (RFC 9051 7.1: the text is for people and differs between servers)."""
    rest = reply.status[len(reply.tag) + 1:].decode("latin-1")
    m = re.match(r"(OK|NO|BAD)(?: \[([A-Z0-9-]+)[^\]]*\])?", rest)
    if not m:
        return rest
    word, code = m.group(1), m.group(2)
    # OK's response codes are informational; NO/BAD codes say why and are compared.
    return word if word == "OK" or not code else f"{word} [{code}]"


def fetch(server: Server, msn: int, items: str) -> tuple[str, dict]:
    r = server.run(f"FETCH {msn} ({items})")
    values = {}
    for line in r.untagged:
        if not re.match(rb"\* \d+ FETCH ", line):
            continue  # EXISTS, RECENT, ...: no literals
        n, got = parse_fetch(line, r.literals)  # takes this line's literals off the front
        if n == msn:  # not an unsolicited FETCH of another message
            values.update(got)
    values.pop("UID", None)  # not asked for; a server may add it
    return status_word(r), {k: normalise_item(k, v) for k, v in values.items()}


# --- the part tree from BODYSTRUCTURE ------------------------------------------------

def is_multipart(bs) -> bool:
    return isinstance(bs, list) and bs and isinstance(bs[0], list)


def media_type(bs) -> str:
    if is_multipart(bs):
        return "multipart"
    t, s = bs[0], bs[1]
    return f"{t.data.decode().lower() if isinstance(t, Str) else t}/{s.data.decode().lower() if isinstance(s, Str) else s}"


def is_message(bs) -> bool:
    # body-type-msg: type, subtype, fields (5), envelope, body, lines
    return (not is_multipart(bs) and media_type(bs) in ("message/rfc822", "message/global")
            and len(bs) > 9 and isinstance(bs[8], list))


def walk(bs, path: str) -> list[tuple[str, str]]:
    out = [(path, media_type(bs))]
    if is_multipart(bs):
        for n, child in enumerate(_parts_of(bs), 1):
            out += walk(child, f"{path}.{n}")
    elif is_message(bs):
        inner = bs[8]
        if is_multipart(inner):
            for n, child in enumerate(_parts_of(inner), 1):
                out += walk(child, f"{path}.{n}")
        else:
            out += walk(inner, f"{path}.1")
    return out


def _parts_of(multipart: list) -> list:
    parts = []
    for c in multipart:
        if not isinstance(c, list):
            break  # the subtype, then extension data
        parts.append(c)
    return parts


def part_paths(bs) -> list[tuple[str, str]]:
    if is_multipart(bs):
        out = []
        for n, child in enumerate(_parts_of(bs), 1):
            out += walk(child, str(n))
        return out
    return walk(bs, "1")


# --- comparison ------------------------------------------------------------------------

@dataclass(frozen=True)
class Diff:
    message: str
    item: str
    postline: str  # short forms, for people
    dovecot: str
    exact: str = ""  # both answers in full, for the fingerprint

    def __str__(self):
        return f"{self.message} {self.item}\n    postline: {self.postline}\n    dovecot:  {self.dovecot}"


def compare_fetch(p: Server, d: Server, msn: int, name: str, items: str, diffs: list):
    ps, pv = fetch(p, msn, items)
    ds, dv = fetch(d, msn, items)
    if ps != ds:
        diffs.append(Diff(name, f"FETCH ({items}) status", ps, ds))
    for key in sorted(set(pv) | set(dv)):
        a, b = pv.get(key, "<absent>"), dv.get(key, "<absent>")
        if a != b:
            diffs.append(Diff(name, key, render(a) if a != "<absent>" else a, render(b) if b != "<absent>" else b,
                              (exact(a) if a != "<absent>" else a) + "\0" + (exact(b) if b != "<absent>" else b)))
        if isinstance(a, Str) and b"\x00" in a.data:
            assert a.form == "literal8", f"{name} {key}: NUL in a {a.form} (RFC 3516 4.2 wants literal8)"
    return pv, dv


HEADER_FIELDS = "FROM TO SUBJECT DATE CONTENT-TYPE X-NOT-THERE"


def message_items(p: Server, d: Server, msn: int, name: str, diffs: list):
    pv, dv = compare_fetch(p, d, msn, name, "ENVELOPE BODYSTRUCTURE BODY RFC822.SIZE INTERNALDATE FLAGS", diffs)
    compare_fetch(p, d, msn, name,
                  "BODY.PEEK[] BODY.PEEK[HEADER] BODY.PEEK[TEXT] "
                  f"BODY.PEEK[HEADER.FIELDS ({HEADER_FIELDS})] BODY.PEEK[HEADER.FIELDS.NOT (FROM SUBJECT RECEIVED)] "
                  "RFC822.HEADER", diffs)
    compare_fetch(p, d, msn, name,
                  "BODY.PEEK[]<0.64> BODY.PEEK[]<17.1000000> BODY.PEEK[TEXT]<3.40> BODY.PEEK[HEADER]<5.10> "
                  "BODY.PEEK[]<100000.10>", diffs)
    compare_fetch(p, d, msn, name, "BINARY.SIZE[] BINARY.PEEK[]", diffs)
    paths = dict(part_paths(pv["BODYSTRUCTURE"]))
    for path, kind in part_paths(dv["BODYSTRUCTURE"]):
        paths.setdefault(path, kind)
    for path in sorted(paths, key=lambda s: [int(x) for x in s.split(".")]):
        kind = paths[path]
        compare_fetch(p, d, msn, name, f"BODY.PEEK[{path}] BODY.PEEK[{path}.MIME] BODY.PEEK[{path}]<2.30>", diffs)
        if kind in ("message/rfc822", "message/global"):
            compare_fetch(p, d, msn, name,
                          f"BODY.PEEK[{path}.HEADER] BODY.PEEK[{path}.TEXT] "
                          f"BODY.PEEK[{path}.HEADER.FIELDS (SUBJECT FROM)] BODY.PEEK[{path}.HEADER.FIELDS.NOT (SUBJECT)]",
                          diffs)
        if kind != "multipart":
            compare_fetch(p, d, msn, name, f"BINARY.SIZE[{path}] BINARY.PEEK[{path}] BINARY.PEEK[{path}]<1.20>",
                          diffs)


SEARCHES = [
    "ALL", "SEEN", "UNSEEN", "FLAGGED", "ANSWERED", "DRAFT", "KEYWORD $Label1", "UNKEYWORD $Label1",
    'FROM "example.com"', 'FROM "alice"', 'FROM "Public"', 'TO "team"', 'TO "john doe"', 'CC "q@example.com"',
    'CC "hop1"', 'BCC "gruss"', 'SUBJECT "plan"', 'SUBJECT "encoded words joined"', 'SUBJECT "RE: Fwd"',
    'HEADER Message-ID "thread.example"', 'HEADER Content-Type "multipart"', 'HEADER X-Not-There ""',
    'HEADER Date ""', 'HEADER References "root@"',
    'BODY "inner part"', 'BODY "flowed"', 'BODY "digest two"', 'BODY "Content-Type"', 'BODY "base64 Text"',
    'BODY "boundary="', 'BODY "not a boundary"', 'TEXT "digest two"', 'TEXT "Quarterly"', 'TEXT "multipart/mixed"', 'TEXT "forwarded"',
    "LARGER 1000", "SMALLER 300", "LARGER 100000",
    "BEFORE 1-Jun-2025", "ON 1-Jan-2025", "SINCE 1-Dec-2025", "BEFORE 15-Jun-2025 SINCE 1-Jun-2025",
    "SENTBEFORE 1-Jul-2003", "SENTON 8-Jul-2003", "SENTSINCE 20-Jul-2003", "SENTBEFORE 1-Jan-2100",
    'NOT FROM "example.com"', 'OR SUBJECT "plan" FROM "digest"', "NOT SEEN LARGER 500",
    'OR (SUBJECT "boundary") (BODY "never")', "1:5,40:* UNSEEN",
]
# CHARSET UTF-8 searches: the key ends in a literal holding UTF-8.
UTF8_SEARCHES = [("SUBJECT", "grüße"), ("FROM", "Müller"), ("BODY", "café"), ("BODY", "äöü"),
                 ("TEXT", "ünïcödé"), ("FROM", "François"), ("TO", "Åså")]


def search(server: Server, criteria: str, literal: bytes | None = None) -> tuple[str, list[int]]:
    r = server.run(f"SEARCH {criteria}", literal=literal)
    nums = []
    for line in r.lines(b"* SEARCH"):
        nums += [int(x) for x in line.split()[2:]]
    # The order of the numbers in * SEARCH is not specified (RFC 9051 7.3.4).
    return status_word(r), sorted(nums)


# --- what is known to differ ---------------------------------------------------------

# Every difference that remains, one line each: the docs/imap.md "Differences from
# Dovecot" rows that explain it (D1, D2, ...), the message, the item, and a fingerprint of
# both answers, so that a difference that changes (or a new one) fails the test just like
# a new one. POSTLINE_DIFF_WRITE_KNOWN=1 rewrites the lines of the tests that run, keeping
# the rows of entries already there and writing "D?" for new ones - which fail until a row
# of docs/imap.md explains them (or Postline is fixed).
KNOWN_FILE = Path(__file__).resolve().parent / "known_differences.txt"

# Differences where Dovecot is right and Postline is not, too big to fix here: listed in
# known_differences.txt under these names instead of a docs row, and the comparison that
# shows them is marked xfail with this reason (it still fails if anything else differs).
# (None today: BUG1, strict boundary matching, was fixed in common/mime/parser.cpp.)
BUGS: dict[str, str] = {}


def fingerprint(x: Diff) -> str:
    text = x.exact or (x.postline + "\0" + x.dovecot)
    return hashlib.sha1(text.encode("utf-8", "backslashreplace")).hexdigest()[:12]


def read_known() -> dict[tuple[str, str], tuple[str, str]]:
    """(message, item) -> (rows, fingerprint)"""
    known = {}
    for line in KNOWN_FILE.read_text().splitlines():
        if not line.strip() or line.startswith("#"):
            continue
        rows, message, item, fp = line.split("\t")
        known[(message, item)] = (rows, fp)
    return known


def write_known(scope, diffs: list[Diff]):
    known = read_known()
    header = [line for line in KNOWN_FILE.read_text().splitlines() if line.startswith("#")]
    keep = {k: v for k, v in known.items() if not scope(k)}
    for x in diffs:
        rows = known.get((x.message, x.item), ("D?", ""))[0]
        keep[(x.message, x.item)] = (rows, fingerprint(x))
    body = [f"{rows}\t{m}\t{item}\t{fp}" for (m, item), (rows, fp) in sorted(keep.items())]
    KNOWN_FILE.write_text("\n".join(header + body) + "\n")


def documented_rows() -> set[str]:
    text = DOCS.read_text()
    assert "## Differences from Dovecot" in text, "docs/imap.md has no \"Differences from Dovecot\" section"
    section = text.split("## Differences from Dovecot", 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| (D\d+) \|", section, re.M))


def check_differences(diffs: list[Diff], what: str, scope):
    """Asserts that the differences are exactly the known ones within this test's scope."""
    print(f"--- {what}: {len(diffs)} differences from Dovecot ---")
    for x in diffs:
        print(x)
    if os.environ.get("POSTLINE_DIFF_WRITE_KNOWN"):
        write_known(scope, diffs)
    known = {k: v for k, v in read_known().items() if scope(k)}
    rows = documented_rows()
    problems = []
    for x in diffs:
        entry = known.get((x.message, x.item))
        if entry is None:
            problems.append(f"NEW difference (fix Postline or document it):\n{x}")
        elif entry[1] != fingerprint(x):
            problems.append(f"CHANGED difference (was documented with other answers):\n{x}")
        elif entry[0] == "D?" or not set(entry[0].split(",")) <= rows | set(BUGS):
            problems.append(f"difference not explained by a row of docs/imap.md ({entry[0]}):\n{x}")
    found = {(x.message, x.item) for x in diffs}
    for k in sorted(set(known) - found):
        problems.append(f"GONE: {k} no longer differs: remove it from {KNOWN_FILE.name} (and docs if it was the last)")
    assert not problems, f"{len(problems)} problems:\n" + "\n".join(problems)
    bugs = sorted({row for x in diffs for row in known[(x.message, x.item)][0].split(",") if row in BUGS})
    if bugs:
        reason = "; ".join(f"known Postline bug {b}: {BUGS[b]}" for b in bugs)
        print(reason)
        pytest.xfail(reason)


# --- the tests -------------------------------------------------------------------------

@pytest.mark.parametrize("name", CORPUS_FILES)
def test_fetch_matches_dovecot(servers, corpus, name):
    p, d = servers
    msn = [n for n, _ in corpus].index(name) + 1
    diffs: list[Diff] = []
    message_items(p, d, msn, name, diffs)
    check_differences(diffs, f"FETCH {name}", lambda k: k[0] == name)


def _search_label(criteria: str, literal: str | None) -> str:
    return criteria + (" " + literal if literal else "")


SEARCH_CASES = [(c, None) for c in SEARCHES] + [(f"CHARSET UTF-8 {k}", t) for k, t in UTF8_SEARCHES]


@pytest.mark.parametrize("criteria,literal", SEARCH_CASES, ids=[_search_label(c, t) for c, t in SEARCH_CASES])
def test_search_matches_dovecot(servers, corpus, criteria, literal):
    p, d = servers
    names = {msn: name for msn, (name, _) in enumerate(corpus, 1)}
    label = _search_label(criteria, literal)
    lit = literal.encode() if literal else None
    a, b = search(p, criteria, lit), search(d, criteria, lit)
    diffs = []
    if a != b:
        only_p = [names.get(n, n) for n in a[1] if n not in b[1]]
        only_d = [names.get(n, n) for n in b[1] if n not in a[1]]
        diffs.append(Diff("SEARCH", label, f"{a[0]} only: {only_p}", f"{b[0]} only: {only_d}"))
    check_differences(diffs, f"SEARCH {label}", lambda k: k == ("SEARCH", label))


SORTS = ["(DATE) UTF-8 ALL", "(ARRIVAL) UTF-8 ALL", "(SUBJECT) UTF-8 ALL", "(REVERSE FROM) UTF-8 ALL",
         "(TO CC) UTF-8 ALL", "(SIZE) UTF-8 UNSEEN", "(REVERSE DATE SUBJECT) UTF-8 SUBJECT \"plan\""]
THREADS = ["ORDEREDSUBJECT UTF-8 ALL", "REFERENCES UTF-8 ALL"]


def _skip_unless_both(servers, capability: str):
    missing = [s.name for s in servers if not any(c == capability or c.startswith(capability + "=")
                                                   for c in s.capabilities)]
    if missing:
        message = f"{capability} comparison skipped: not advertised in CAPABILITY by {', '.join(missing)}"
        print(message)
        pytest.skip(message)


def test_sort_matches_dovecot(servers):
    _skip_unless_both(servers, "SORT")
    p, d = servers
    diffs = []
    for criteria in SORTS:
        a, b = p.run(f"SORT {criteria}"), d.run(f"SORT {criteria}")
        la = [u for u in a.untagged if u.startswith(b"* SORT")]
        lb = [u for u in b.untagged if u.startswith(b"* SORT")]
        # SORT's order is the answer: compared as sent (RFC 5256 4).
        if (status_word(a), la) != (status_word(b), lb):
            diffs.append(Diff("SORT", criteria, f"{status_word(a)} {la}", f"{status_word(b)} {lb}"))
    check_differences(diffs, "SORT", lambda k: k[0] == "SORT")


def test_thread_matches_dovecot(servers):
    p, d = servers
    diffs = []
    for criteria in THREADS:
        algorithm = criteria.split()[0]
        _skip_unless_both(servers, f"THREAD={algorithm}")
        a, b = p.run(f"THREAD {criteria}"), d.run(f"THREAD {criteria}")
        la = [u for u in a.untagged if u.startswith(b"* THREAD")]
        lb = [u for u in b.untagged if u.startswith(b"* THREAD")]
        if (status_word(a), la) != (status_word(b), lb):
            diffs.append(Diff("THREAD", criteria, f"{status_word(a)} {la}", f"{status_word(b)} {lb}"))
    check_differences(diffs, "THREAD", lambda k: k[0] == "THREAD")
