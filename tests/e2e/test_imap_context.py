"""RFC 5267 CONTEXT=SEARCH and CONTEXT=SORT on the wire: a real imapd over
real sockets on PostgreSQL. PARTIAL (with RFC 9394's negative ranges), UPDATE
contexts that follow new mail, flag changes and expunges made through other
connections (and so through the mailstore's change feed), CANCELUPDATE, and
the error cases. Changes made elsewhere arrive asynchronously: the tests poll
(NOOP, or wait inside IDLE) until a deadline, never sleep to synchronise."""
from __future__ import annotations

import time

import pytest

from imap_wire import Wire, fresh_mailbox

USER = "context@example.test"
PASSWORD = "co-ntext password 1"
DEADLINE = 15.0


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    return USER


def connect(platform) -> Wire:
    c = Wire(platform.ports["imap"])
    c.login(USER, PASSWORD)
    return c


@pytest.fixture
def pair(platform, account):
    """Two connections of the same user: `a` watches, `b` changes things."""
    a, b = connect(platform), connect(platform)
    yield a, b
    a.close()
    b.close()


def message(subject: str, body: str = "body") -> bytes:
    return f"From: x@example.test\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


def mailbox(a: Wire, b: Wire, name: str, flags: list[str]) -> str:
    """A fresh mailbox with one message per entry of `flags` (subjects a, b, c, ...),
    selected in both connections."""
    box = fresh_mailbox(a, name)
    for i, f in enumerate(flags):
        a.ok(f"APPEND {box} ({f})" if f else f"APPEND {box}", literal=message(chr(ord("a") + i)))
    a.ok(f"SELECT {box}")
    b.ok(f"SELECT {box}")
    return box


def esearch(lines: list[bytes], tag: str) -> list[bytes]:
    return [u for u in lines if u.startswith(f'* ESEARCH (TAG "{tag}")'.encode())]


def poll(c: Wire, want, deadline: float = DEADLINE) -> list[bytes]:
    """NOOP until want(untagged so far) holds; the change feed is asynchronous."""
    seen: list[bytes] = []
    end = time.monotonic() + deadline
    while True:
        seen += c.ok("NOOP").untagged
        if want(seen):
            return seen
        if time.monotonic() > end:
            raise AssertionError(f"not seen within {deadline}s: {seen}")
        time.sleep(0.05)  # pacing between polls, not synchronisation


def test_capabilities(platform, account):
    c = Wire(platform.ports["imap"])
    try:
        before = c.ok("CAPABILITY").untagged[0].split()
        assert b"CONTEXT=SEARCH" not in before
        c.login(USER, PASSWORD)
        caps = c.ok("CAPABILITY").untagged[0].split()
        assert b"CONTEXT=SEARCH" in caps and b"CONTEXT=SORT" in caps and b"ESORT" in caps, caps
    finally:
        c.close()


def test_rfc5267_examples(pair):
    a, b = pair
    # Nine messages, 3 and 7 carry $Junk, 5 is deleted.
    box = fresh_mailbox(a, "ctx-examples")
    for i in range(1, 10):
        flags = "$Junk" if i in (3, 7) else ("\\Deleted" if i == 5 else "")
        a.ok(f"APPEND {box} ({flags})" if flags else f"APPEND {box}", literal=message(f"m{i}"))
    a.ok(f"SELECT {box}")
    # 4.2: CONTEXT is a hint that the result will be asked for again.
    r = a.ok("SEARCH RETURN (CONTEXT COUNT) UNDELETED UNKEYWORD $Junk")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") COUNT 6'], r.untagged
    # 4.4: the first five, then the next five, of the same result.
    r = a.ok("UID SEARCH RETURN (PARTIAL 1:5) UNDELETED UNKEYWORD $Junk")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") UID PARTIAL (1:5 1:2,4,6,8)'], r.untagged
    r = a.ok("UID SEARCH RETURN (PARTIAL 6:10) UNDELETED UNKEYWORD $Junk")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") UID PARTIAL (6:10 9)'], r.untagged
    # 3.3-style ESORT with PARTIAL: positions in sort order.
    r = a.ok("SORT RETURN (PARTIAL 1:3 COUNT) (REVERSE SUBJECT) UTF-8 UNDELETED")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") PARTIAL (1:3 9,8,7) COUNT 8'], r.untagged


def test_partial_ranges_and_errors(pair):
    a, b = pair
    mailbox(a, b, "ctx-partial", [""] * 6)
    for ret, want in [("PARTIAL 2:4", b"PARTIAL (2:4 2:4)"), ("PARTIAL 4:2", b"PARTIAL (2:4 2:4)"),
                      ("PARTIAL -1:-2", b"PARTIAL (-1:-2 5:6)"), ("PARTIAL -10:-5", b"PARTIAL (-5:-10 1:2)"),
                      ("PARTIAL 7:9", b"PARTIAL (7:9 NIL)"), ("PARTIAL 5:100 COUNT", b"PARTIAL (5:100 5:6) COUNT 6")]:
        r = a.ok(f"SEARCH RETURN ({ret}) ALL")
        assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") ' + want], (ret, r.untagged)
    r = a.ok("UID SORT RETURN (PARTIAL -1:-3) (REVERSE SUBJECT) UTF-8 ALL")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") UID PARTIAL (-1:-3 3,2,1)'], r.untagged
    for bad in ["SEARCH RETURN (PARTIAL 1:*) ALL", "SEARCH RETURN (PARTIAL 0:5) ALL",
                "SEARCH RETURN (PARTIAL 1:-5) ALL", "SEARCH RETURN (PARTIAL 1:99999999999) ALL",
                "SEARCH RETURN (PARTIAL 1:5 ALL) ALL", "SEARCH RETURN (PARTIAL 1:2 PARTIAL 3:4) ALL",
                "SORT RETURN (ALL PARTIAL 1:2) (DATE) UTF-8 ALL", "SEARCH RETURN (UPDATE UPDATE) ALL",
                "SEARCH RETURN (PARTIAL) ALL", "CANCELUPDATE", "CANCELUPDATE tag"]:
        r = a.run(bad)
        assert r.bad, (bad, r.status)
        assert not esearch(r.untagged, r.tag.decode()), r.untagged


def test_update_follows_new_mail_from_another_connection(pair):
    a, b = pair
    box = mailbox(a, b, "ctx-newmail", ["", "\\Seen"])
    r = a.ok('UID SEARCH RETURN (UPDATE) SUBJECT "news"')
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") UID'], r.untagged
    tag = r.tag.decode()
    b.ok(f"APPEND {box}", literal=message("latest news"))  # UID 3
    b.ok(f"APPEND {box}", literal=message("something else"))  # UID 4
    seen = poll(a, lambda s: esearch(s, tag))
    assert esearch(seen, tag) == [f'* ESEARCH (TAG "{tag}") UID ADDTO (0 3)'.encode()], seen
    assert b"* 4 EXISTS" in seen
    assert seen.index(b"* 4 EXISTS") < seen.index(esearch(seen, tag)[0])  # numbers exist before ADDTO uses them


def test_update_follows_flag_changes_and_expunges_in_idle(pair):
    a, b = pair
    mailbox(a, b, "ctx-flags", ["", "\\Seen", "", "\\Seen"])
    r = a.ok("SEARCH RETURN (UPDATE ALL) UNSEEN")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") ALL 1,3'], r.untagged
    tag = r.tag.decode()
    # Another connection marks 2 unseen and 3 seen: both come to IDLE.
    a.sock.sendall(b"i1 IDLE\r\n")
    assert a.f.readline().startswith(b"+")
    b.ok("STORE 2 -FLAGS (\\Seen)")
    b.ok("STORE 3 +FLAGS (\\Seen)")
    # Read what IDLE pushes; the socket's timeout is the deadline.
    lines: list[bytes] = []
    while not (any(b"ADDTO (0 2)" in u for u in esearch(lines, tag)) and
               any(b"REMOVEFROM (0 3)" in u for u in esearch(lines, tag))):
        lines.append(a._line([]))
    a.sock.sendall(b"DONE\r\n")
    while not (line := a._line([])).startswith(b"i1 "):
        lines.append(line)
    assert line.startswith(b"i1 OK"), line
    # An expunge by the other connection: REMOVEFROM names the message before its EXPUNGE.
    b.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    b.ok("EXPUNGE")
    seen = poll(a, lambda s: b"* 1 EXPUNGE" in s)
    removal = f'* ESEARCH (TAG "{tag}") REMOVEFROM (0 1)'.encode()
    assert removal in seen and seen.index(removal) < seen.index(b"* 1 EXPUNGE"), seen
    # What is left: message 1 (was 2) in the result; a fresh search agrees.
    r = a.ok("SEARCH UNSEEN")
    assert r.untagged == [b"* SEARCH 1"], r.untagged


def test_sort_update_positions(pair):
    a, b = pair
    mailbox(a, b, "ctx-sort", ["", "\\Seen", "", "\\Seen", "\\Seen"])  # subjects a..e
    r = a.ok("UID SORT RETURN (UPDATE) (REVERSE SUBJECT) UTF-8 UNSEEN")
    assert r.untagged == [b'* ESEARCH (TAG "' + r.tag + b'") UID ALL 3,1'], r.untagged
    tag = r.tag.decode()
    b.ok("UID STORE 2,5 -FLAGS (\\Seen)")  # e goes first, b between c and a: e c b a
    seen = poll(a, lambda s: esearch(s, tag))
    assert esearch(seen, tag) == [f'* ESEARCH (TAG "{tag}") UID ADDTO (1 5 3 2)'.encode()], seen
    b.ok("UID STORE 3,2 +FLAGS (\\Seen)")  # c and b leave from position 2: e a
    seen = poll(a, lambda s: esearch(s, tag))
    # c (UID 3) leaves position 2, then b (UID 2), which moved into position 2.
    assert esearch(seen, tag) == [f'* ESEARCH (TAG "{tag}") UID REMOVEFROM (2 3 2 2)'.encode()], seen
    r = a.ok("UID SORT (REVERSE SUBJECT) UTF-8 UNSEEN")
    assert r.untagged == [b"* SORT 5 1"], r.untagged


def test_cancelupdate_and_limits(pair):
    a, b = pair
    mailbox(a, b, "ctx-cancel", ["", "\\Seen"])
    for i in range(10):
        assert a.ok(f"UID SEARCH RETURN (UPDATE COUNT) UNSEEN").untagged[-1].endswith(b"COUNT 1")
    tags = [f"w{n}" for n in range(a.n - 9, a.n + 1)]
    r = a.ok("UID SEARCH RETURN (UPDATE COUNT) UNSEEN")
    assert r.untagged[0].startswith(b'* NO [NOUPDATE "' + r.tag + b'"]'), r.untagged
    assert r.untagged[1] == b'* ESEARCH (TAG "' + r.tag + b'") UID COUNT 1'
    refused = r.tag.decode()
    assert a.run("CANCELUPDATE \"nope\"").no
    assert a.ok(" ".join(["CANCELUPDATE"] + [f'"{t}"' for t in tags[1:]])).ok
    b.ok("UID STORE 2 -FLAGS (\\Seen)")
    seen = poll(a, lambda s: any(b"ADDTO" in u for u in s))
    told = {u.split(b'"')[1].decode() for u in seen if b"ADDTO" in u}
    assert told == {tags[0]}, seen  # neither the cancelled ones nor the refused one
    assert refused not in told
    # UNSELECT ends the rest.
    a.ok("UNSELECT")
    assert a.run(f'CANCELUPDATE "{tags[0]}"').bad  # no mailbox selected
