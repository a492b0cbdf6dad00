"""SORT, SORT=DISPLAY, ESORT, THREAD=ORDEREDSUBJECT and THREAD=REFERENCES
(RFC 5256, RFC 5957, RFC 5267 section 4) on the wire: a real imapd over a
real socket on PostgreSQL, where the store orders in SQL and threads from the
keys it stored with each message. RFC 5256's examples are replayed against
mailboxes built so that each answer has the RFC's shape."""
from __future__ import annotations

import pytest

from imap_wire import Wire, fresh_mailbox

USER = "sorter@example.test"
PASSWORD = "sort password 1"


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    return USER


@pytest.fixture
def wire(platform, account):
    c = Wire(platform.ports["imap"])
    c.login(USER, PASSWORD)
    yield c
    c.close()




def dated(headers: str, day: int, body: str = "body") -> bytes:
    return (headers + f"Date: {day} Nov 2026 12:00:00 +0000\r\n\r\n{body}\r\n").encode()


def append(c: Wire, box: str, message: bytes, flags: str = "", internal: str = "") -> None:
    command = f"APPEND {box}"
    if flags:
        command += f" ({flags})"
    if internal:
        command += f' "{internal}"'
    c.ok(command, literal=message)


def only(r, prefix: bytes) -> bytes:
    lines = r.lines(prefix)
    assert len(lines) == 1, (prefix, r.untagged)
    return lines[0]


@pytest.fixture
def five(wire):
    """RFC 5256's A283 answer, 5 3 4 1 2 for (SUBJECT REVERSE DATE), from two
    base subjects: "b" (1, 2) and "a" (3, 4, 5)."""
    box = fresh_mailbox(wire, "sort-five")
    append(wire, box, dated("From: Zoe <zoe@example.test>\r\nTo: amy@example.test\r\nSubject: b\r\n", 5),
           internal="10-Nov-2026 08:00:00 +0000")
    append(wire, box, dated('From: "Adam" <yves@example.test>\r\nTo: bob@example.test\r\nSubject: Re: b\r\n', 1),
           flags="\\Seen", internal="11-Nov-2026 08:00:00 +0000")
    append(wire, box, dated("From: bea@example.test\r\nSubject: a\r\n", 3), internal="12-Nov-2026 08:00:00 +0000")
    append(wire, box, dated("From: Carl <carl@example.test>\r\nSubject: [x] a\r\n", 2, "x" * 3000),
           flags="\\Seen", internal="13-Nov-2026 08:00:00 +0000")
    append(wire, box, dated("From: dan@example.test\r\nSubject: Fwd: a\r\n", 4),
           internal="14-Nov-2026 08:00:00 +0000")
    wire.ok(f"SELECT {box}")
    return box


def test_capabilities_after_login(platform, account):
    c = Wire(platform.ports["imap"])
    try:
        before = only(c.ok("CAPABILITY"), b"* CAPABILITY").split()
        assert b"SORT" not in before
        c.login(USER, PASSWORD)
        caps = only(c.ok("CAPABILITY"), b"* CAPABILITY").split()
        for cap in (b"SORT", b"SORT=DISPLAY", b"ESORT", b"THREAD=ORDEREDSUBJECT", b"THREAD=REFERENCES"):
            assert cap in caps, caps
    finally:
        c.close()


def test_rfc5256_sort_examples(wire, five):
    r = wire.ok("SORT (SUBJECT) UTF-8 SINCE 1-Feb-1994")
    assert r.untagged == [b"* SORT 3 4 5 1 2"]
    assert r.status.endswith(b"OK SORT completed")
    assert wire.ok("SORT (SUBJECT REVERSE DATE) UTF-8 ALL").untagged == [b"* SORT 5 3 4 1 2"]
    assert wire.ok('SORT (SUBJECT) US-ASCII TEXT "not in mailbox"').untagged == [b"* SORT"]


def test_every_sort_key(wire, five):
    def sort(criteria: str, search: str = "ALL") -> bytes:
        return only(wire.ok(f"SORT ({criteria}) UTF-8 {search}"), b"* SORT")

    assert sort("ARRIVAL") == b"* SORT 1 2 3 4 5"
    assert sort("REVERSE ARRIVAL") == b"* SORT 5 4 3 2 1"
    assert sort("DATE") == b"* SORT 2 4 3 5 1"
    assert sort("FROM") == b"* SORT 3 4 5 2 1"  # local parts: bea carl dan yves zoe
    assert sort("TO") == b"* SORT 3 4 5 1 2"  # no To sorts as ""
    assert sort("CC") == b"* SORT 1 2 3 4 5"  # nobody has one: mailbox order
    assert sort("SIZE")[-1:] == b"4"  # the one with the 3000-octet body last
    assert sort("REVERSE SIZE").startswith(b"* SORT 4 ")
    assert sort("DATE", "UNSEEN") == b"* SORT 3 5 1"
    assert sort("DATE", "2:4") == b"* SORT 2 4 3"
    assert sort("SUBJECT FROM", "OR FROM zoe FROM carl") == b"* SORT 4 1"


def test_sort_display_rfc5957(wire):
    box = fresh_mailbox(wire, "sort-display")
    append(wire, box, b"From: =?ISO-8859-1?Q?=C9mile?= <a@example.test>\r\nTo: Zed <zed@example.test>\r\n\r\nx\r\n")
    append(wire, box, b"From: bob@example.test\r\nTo: \"Amy\" <zzz@example.test>\r\n\r\nx\r\n")
    append(wire, box, b"From: \"Carol\" <ALPHA@example.test>\r\n\r\nx\r\n")
    wire.ok(f"SELECT {box}")
    # Display name decoded and case-folded, else the address: bob@..., carol, émile.
    assert wire.ok("SORT (DISPLAYFROM) UTF-8 ALL").untagged == [b"* SORT 2 3 1"]
    assert wire.ok("SORT (REVERSE DISPLAYFROM) UTF-8 ALL").untagged == [b"* SORT 1 3 2"]
    assert wire.ok("SORT (FROM) UTF-8 ALL").untagged == [b"* SORT 1 3 2"]  # a alpha bob
    assert wire.ok("SORT (DISPLAYTO) UTF-8 ALL").untagged == [b"* SORT 3 2 1"]  # "" amy zed
    assert wire.ok("SORT (TO) UTF-8 ALL").untagged == [b"* SORT 3 1 2"]  # "" zed zzz


def test_uid_sort_and_sequence_numbers_after_expunge(wire, five):
    wire.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    wire.ok("EXPUNGE")
    assert wire.ok("UID SORT (DATE) UTF-8 ALL").untagged == [b"* SORT 2 4 3 5"]
    assert wire.ok("SORT (DATE) UTF-8 ALL").untagged == [b"* SORT 1 3 2 4"]
    r = wire.ok("UID SORT (SUBJECT) UTF-8 UID 4:*")
    assert r.untagged == [b"* SORT 4 5"]
    assert r.status.endswith(b"OK UID SORT completed")


def test_esort(wire, five):
    r = wire.ok("SORT RETURN (MIN MAX COUNT ALL) (SUBJECT REVERSE DATE) UTF-8 ALL")
    assert r.untagged == [b'* ESEARCH (TAG "w%d") MIN 5 MAX 2 ALL 5,3:4,1:2 COUNT 5' % wire.n]
    r = wire.ok("UID SORT RETURN (MIN) (REVERSE DATE) UTF-8 SINCE 1-Feb-1994")
    assert r.untagged == [b'* ESEARCH (TAG "w%d") UID MIN 1' % wire.n]
    r = wire.ok("SORT RETURN () (DATE) UTF-8 ALL")  # () is ALL
    assert r.untagged == [b'* ESEARCH (TAG "w%d") ALL 2,4,3,5,1' % wire.n]
    r = wire.ok("SORT RETURN (COUNT) (DATE) UTF-8 KEYWORD $Junk")
    assert r.untagged == [b'* ESEARCH (TAG "w%d") COUNT 0' % wire.n]
    r = wire.ok("SORT RETURN (MIN MAX) (DATE) UTF-8 KEYWORD $Junk")
    assert r.untagged == [b'* ESEARCH (TAG "w%d")' % wire.n]


def test_sort_return_save_feeds_dollar(wire, five):
    """SEARCHRES (RFC 5182) with ESORT: the saved result is a set for "$"."""
    r = wire.ok("SORT RETURN (SAVE) (DATE) UTF-8 UNSEEN")
    assert r.untagged == []
    assert wire.ok("UID SEARCH $").untagged == [b"* SEARCH 1 3 5"]
    assert wire.ok("SORT (REVERSE DATE) UTF-8 $").untagged == [b"* SORT 1 5 3"]
    assert wire.ok("THREAD ORDEREDSUBJECT UTF-8 $").untagged == [b"* THREAD (3 5)(1)"]
    assert wire.run("SORT RETURN (SAVE) (DATE) KOI8-R ALL").no
    assert wire.ok("UID SEARCH $").untagged == [b"* SEARCH"]


@pytest.fixture
def ninety_six(wire):
    """RFC 5256 section 4's example answer, (2)(3 6 (4 23)(44 7 96)): 96
    messages, the eight of the example marked with X-T and threaded by
    References (days give the sent order)."""
    box = fresh_mailbox(wire, "thread-96")
    threaded = {2: ("", "Solo", 1), 3: ("", "Topic", 2), 6: ("<m3@x>", "Re: Topic", 3),
                4: ("<m3@x> <m6@x>", "Re: Topic", 4), 23: ("<m3@x> <m6@x> <m4@x>", "Re: Topic", 5),
                44: ("<m3@x> <m6@x>", "Re: Topic", 6), 7: ("<m3@x> <m6@x> <m44@x>", "Re: Topic", 7),
                96: ("<m3@x> <m6@x> <m44@x> <m7@x>", "Re: Topic", 8)}
    for n in range(1, 97):
        headers = f"Message-ID: <m{n}@x>\r\n"
        if n in threaded:
            refs, subject, day = threaded[n]
            headers += f"X-T: yes\r\nSubject: {subject}\r\n"
            if refs:
                headers += f"References: {refs}\r\n"
            append(wire, box, dated(headers, day))
        else:
            append(wire, box, dated(headers + f"Subject: filler {n}\r\n", 20))
    wire.ok(f"SELECT {box}")
    return box


def test_rfc5256_thread_examples(wire, ninety_six):
    r = wire.ok("THREAD REFERENCES UTF-8 HEADER X-T yes")
    assert r.untagged == [b"* THREAD (2)(3 6 (4 23)(44 7 96))"]
    assert r.status.endswith(b"OK THREAD completed")
    r = wire.ok("THREAD ORDEREDSUBJECT UTF-8 HEADER X-T yes")
    assert r.untagged == [b"* THREAD (2)(3 (6)(4)(23)(44)(7)(96))"]
    # A286: nothing matches.
    assert wire.ok('THREAD REFERENCES US-ASCII TEXT "gewp"').untagged == [b"* THREAD"]
    # UID THREAD of a subset: 96's parent 7 is not in it, so 96 hangs under 44.
    r = wire.ok("UID THREAD REFERENCES UTF-8 HEADER X-T yes UID 44:96")
    assert r.untagged == [b"* THREAD (44 96)"]
    assert r.status.endswith(b"OK UID THREAD completed")


def test_thread_subjects_dummies_and_sequence_numbers(wire):
    box = fresh_mailbox(wire, "thread-subjects")
    for m in (dated("Message-ID: <a@x>\r\nSubject: Meeting\r\n", 1),                          # 1
              dated("Message-ID: <f@x>\r\nReferences: <zz@x>\r\nSubject: Re: Party\r\n", 6),  # 2: parent missing
              dated("Message-ID: <g@x>\r\nReferences: <zz@x>\r\nSubject: Re: Party\r\n", 7),  # 3
              dated("Subject: Re: Meeting\r\n", 8),                                           # 4: joins 1 by subject
              dated("Message-ID: <e@x>\r\nSubject: Lunch\r\n", 5),                            # 5
              dated("Message-ID: <h@x>\r\nSubject: lunch\r\n", 9)):                           # 6: not a reply
        append(wire, box, m)
    wire.ok(f"SELECT {box}")
    # The missing <zz@x> stays a dummy with two children; 4 is a reply by
    # subject, so a child of 1; two Lunch roots meet under a dummy.
    assert wire.ok("THREAD REFERENCES UTF-8 ALL").untagged == [b"* THREAD (1 4)((5)(6))((2)(3))"]
    assert wire.ok("THREAD ORDEREDSUBJECT UTF-8 ALL").untagged == [b"* THREAD (1 4)(5 6)(2 3)"]
    wire.ok("STORE 1 +FLAGS.SILENT (\\Deleted)")
    wire.ok("EXPUNGE")
    # Sequence numbers shift; UIDs do not.
    assert wire.ok("THREAD REFERENCES UTF-8 ALL").untagged == [b"* THREAD ((4)(5))((1)(2))(3)"]
    assert wire.ok("UID THREAD ORDEREDSUBJECT UTF-8 ALL").untagged == [b"* THREAD (5 6)(2 3)(4)"]
    assert wire.ok("THREAD ORDEREDSUBJECT UTF-8 ALL").untagged == [b"* THREAD (4 5)(1 2)(3)"]


def test_errors(wire, five):
    for bad in ("SORT", "SORT ()", "SORT (FOO) UTF-8 ALL", "SORT (DATE) UTF-8", "SORT DATE UTF-8 ALL",
                "SORT (REVERSE) UTF-8 ALL", "SORT (DATE) UTF-8 FOO", "SORT RETURN (PARTIAL 1:5 ALL) (DATE) UTF-8 ALL",
"SORT (" + " ".join(["DATE"] * 33) + ") UTF-8 ALL",
                "THREAD FOO UTF-8 ALL", "THREAD REFERENCES UTF-8", "THREAD (REFERENCES) UTF-8 ALL"):
        r = wire.run(bad)
        assert r.bad, (bad, r.status)
        assert not r.untagged or all(not u.startswith((b"* SORT", b"* THREAD", b"* ESEARCH")) for u in r.untagged)
    for no in ("SORT (DATE) KOI8-R ALL", "THREAD REFERENCES ISO-2022-JP ALL", "SORT RETURN (ALL) (DATE) X ALL"):
        r = wire.run(no)
        assert r.no and b"[BADCHARSET (UTF-8 US-ASCII)]" in r.status, (no, r.status)
    # The session is still fine afterwards.
    assert wire.ok("SORT (DATE) UTF-8 ALL").untagged == [b"* SORT 2 4 3 5 1"]


def test_sort_needs_a_selected_mailbox(platform, account):
    c = Wire(platform.ports["imap"])
    try:
        c.login(USER, PASSWORD)
        assert c.run("SORT (DATE) UTF-8 ALL").bad
        assert c.run("THREAD REFERENCES UTF-8 ALL").bad
    finally:
        c.close()
