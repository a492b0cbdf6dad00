"""IMAP extensions added for issue 15, each on the wire through a real socket
against a real imapd: MULTIAPPEND (RFC 3502), REPLACE (RFC 8508),
UNAUTHENTICATE (RFC 8437), WITHIN (RFC 5032), CATENATE (RFC 4469), SEARCHRES
(RFC 5182); and MOVE within the selected
mailbox reporting its EXPUNGEs and EXISTS with the command (issue 15 item 8)."""
from __future__ import annotations

import re

import pytest

from imap_wire import Wire, fresh_mailbox, raw, nonsync

USER = "extensions@example.test"
PASSWORD = "ex-tensions password 1"
OTHER = "extensions-other@example.test"
OTHER_PASSWORD = "ex-tensions password 2"


def message(subject: str, body: str = "hello") -> bytes:
    return f"From: a@example.test\r\nSubject: {subject}\r\n\r\n{body}\r\n".encode()


@pytest.fixture(scope="module")
def accounts(platform):
    platform.add_user(USER, PASSWORD)
    platform.add_user(OTHER, OTHER_PASSWORD)


@pytest.fixture
def wire(platform, accounts):
    c = Wire(platform.ports["imap"])
    c.login(USER, PASSWORD)
    yield c
    c.close()








def uidvalidity(c: Wire, box: str) -> int:
    r = c.ok(f"STATUS {box} (UIDVALIDITY)")
    return int(re.search(rb"UIDVALIDITY (\d+)", r.untagged[0]).group(1))


def capabilities(c: Wire) -> list[bytes]:
    r = c.ok("CAPABILITY")
    return r.lines(b"* CAPABILITY")[0].split()[2:]


def test_capabilities_are_advertised(wire):
    caps = capabilities(wire)
    for cap in (b"MULTIAPPEND", b"CATENATE", b"REPLACE", b"UNAUTHENTICATE", b"WITHIN", b"SEARCHRES", b"LITERAL+"):
        assert cap in caps


# ------------------------------------------------------------------ MULTIAPPEND


def test_multiappend_stores_every_message_with_its_flags_and_one_uid_set(wire):
    box = fresh_mailbox(wire, "ext-multi")
    uv = uidvalidity(wire, box)
    m1, m2, m3 = message("one"), message("two"), message("three")
    r = raw(wire, b"APPEND " + box.encode() + b" (\\Seen) " + nonsync(m1) +
            b' (\\Flagged $Later) "07-Feb-1994 21:52:25 -0800" ' + nonsync(m2) + b" " + nonsync(m3))
    assert r.ok, r.status
    assert b"[APPENDUID %d 1:3]" % uv in r.status
    wire.ok(f"EXAMINE {box}")
    r = wire.ok("FETCH 1:3 (UID FLAGS INTERNALDATE BODY.PEEK[])")
    assert r.literals == [m1, m2, m3]
    assert re.search(rb"FLAGS \(\\Seen( \\Recent)?\)", r.untagged[0]), r.untagged[0]
    assert re.search(rb"FLAGS \(\\Flagged( \\Recent)? \$Later\)", r.untagged[1]), r.untagged[1]
    assert b'INTERNALDATE "08-Feb-1994 05:52:25 +0000"' in r.untagged[1]


def test_multiappend_with_synchronising_literals_asks_for_each(wire):
    box = fresh_mailbox(wire, "ext-multi-sync")
    m1, m2 = message("sync one"), message("sync two")
    wire.n += 1
    tag = b"w%d" % wire.n
    wire.sock.sendall(tag + b" APPEND " + box.encode() + b" {%d}\r\n" % len(m1))
    assert wire.f.readline().startswith(b"+ ")
    wire.sock.sendall(m1 + b" {%d}\r\n" % len(m2))
    assert wire.f.readline().startswith(b"+ ")
    wire.sock.sendall(m2 + b"\r\n")
    line = wire.f.readline()
    assert line.startswith(tag + b" OK [APPENDUID "), line
    assert line.split()[4] == b"1:2]"


def test_multiappend_is_all_or_nothing(wire):
    box = fresh_mailbox(wire, "ext-multi-none")
    # The second message is empty: nothing is stored (RFC 3502 6.3.11).
    r = raw(wire, b"APPEND " + box.encode() + b" " + nonsync(message("kept?")) + b" {0+}\r\n")
    assert r.no, r.status
    # A bad flag in the third: BAD, nothing stored.
    r = raw(wire, b"APPEND " + box.encode() + b" " + nonsync(message("a")) + b" " + nonsync(message("b")) +
            b" (\\Recent) " + nonsync(message("c")))
    assert r.bad, r.status
    r = wire.ok(f"STATUS {box} (MESSAGES UIDNEXT)")
    assert b"MESSAGES 0" in r.untagged[0] and b"UIDNEXT 1" in r.untagged[0]


def test_multiappend_into_the_selected_mailbox_reports_exists(wire):
    box = fresh_mailbox(wire, "ext-multi-sel")
    wire.ok(f"SELECT {box}")
    r = raw(wire, b"APPEND " + box.encode() + b" " + nonsync(message("x")) + b" " + nonsync(message("y")))
    assert r.ok, r.status
    assert b"* 2 EXISTS" in r.untagged


# ------------------------------------------------------------------ CATENATE


FORWARD = (b"From: a@example.test\r\nSubject: with attachment\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: multipart/mixed; boundary=xx\r\n\r\n"
           b"--xx\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
           b"--xx\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\n"
           b"AAECAw==\r\n--xx--\r\n")


def test_catenate_builds_a_message_from_urls_and_text(wire):
    """RFC 4469 5's use: a new draft from the old one's header and attachment."""
    box = fresh_mailbox(wire, "ext-catenate")
    wire.ok(f"APPEND {box}", literal=FORWARD)
    uv = uidvalidity(wire, box)
    new_text = b"\r\n--xx\r\nContent-Type: text/plain\r\n\r\nnew text\r\n--xx\r\n"
    r = raw(wire, b"APPEND " + box.encode() + b" (\\Seen \\Draft) CATENATE (URL \"/" + box.encode() +
            b";UIDVALIDITY=%d/;UID=1/;section=HEADER\" TEXT " % uv + nonsync(new_text) +
            b" URL \"/" + box.encode() + b"/;UID=1/;SECTION=2.MIME\" URL \"/" + box.encode() +
            b"/;UID=1/;SECTION=2\" TEXT " + nonsync(b"\r\n--xx--\r\n") + b")")
    assert r.ok, r.status
    assert b"[APPENDUID %d 2]" % uv in r.status
    wire.ok(f"EXAMINE {box}")
    r = wire.ok("UID FETCH 2 (BODY.PEEK[] BINARY.PEEK[2] FLAGS)")
    header = FORWARD[:FORWARD.index(b"\r\n\r\n") + 4]
    expected = (header + new_text + b"Content-Type: application/octet-stream\r\n"
                b"Content-Transfer-Encoding: base64\r\n\r\nAAECAw==\r\n--xx--\r\n")
    assert r.literals[0] == expected
    assert r.literals[1] == b"\x00\x01\x02\x03"
    assert b"\\Draft" in r.untagged[0]


def test_catenate_bad_urls_store_nothing(platform, wire):
    box = fresh_mailbox(wire, "ext-catenate-bad")
    wire.ok(f"APPEND {box}", literal=FORWARD)
    for url in (f"/{box};UIDVALIDITY=1/;UID=1", f"/{box}/;UID=9", "/ext-catenate-none/;UID=1",
                f"imap://{OTHER}@localhost/{box}/;UID=1", f"/{box}/;UID=1/;URLAUTH=anonymous:internal:00"):
        r = raw(wire, b"APPEND " + box.encode() + b" CATENATE (TEXT {1+}\r\nx URL \"" + url.encode() + b"\")")
        assert r.no and b"[BADURL \"" + url.encode() + b"\"]" in r.status, (url, r.status)
    # MULTIAPPEND with one bad CATENATE: none of them.
    r = raw(wire, b"APPEND " + box.encode() + b" " + nonsync(message("fine")) + b" CATENATE (URL \"/" +
            box.encode() + b"/;UID=9\")")
    assert r.no
    assert b"MESSAGES 1" in wire.ok(f"STATUS {box} (MESSAGES)").untagged[0]
    # Another user cannot reach this user's messages through a URL.
    c = Wire(platform.ports["imap"])
    try:
        c.login(OTHER, OTHER_PASSWORD)
        r = raw(c, b"APPEND INBOX CATENATE (URL \"/" + box.encode() + b"/;UID=1\")")
        assert r.no and b"BADURL" in r.status
    finally:
        c.close()


# ------------------------------------------------------------------ REPLACE


def test_replace_in_the_selected_mailbox_rfc8508_example_order(wire):
    box = fresh_mailbox(wire, "ext-replace")
    for i in range(1, 4):
        wire.ok(f"APPEND {box} (\\Draft)", literal=message(f"draft {i}"))
    uv = uidvalidity(wire, box)
    wire.ok(f"SELECT {box}")
    new = message("draft 2, edited", "second version")
    r = wire.ok(f"REPLACE 2 {box} (\\Seen \\Draft)", literal=new)
    assert r.untagged[0] == b"* OK [APPENDUID %d 4] Replacement message ready" % uv
    assert b"* 2 EXPUNGE" in r.untagged
    assert b"* 3 EXISTS" in r.untagged
    assert r.untagged.index(b"* 2 EXPUNGE") < r.untagged.index(b"* 3 EXISTS")
    r = wire.ok("UID FETCH 1:* (UID FLAGS BODY.PEEK[])")
    assert [re.search(rb"UID (\d+)", u).group(1) for u in r.untagged] == [b"1", b"3", b"4"]
    assert r.literals[2] == new
    assert b"\\Seen" in r.untagged[2]


def test_uid_replace_into_another_mailbox_and_with_qresync(wire):
    src = fresh_mailbox(wire, "ext-replace-src")
    dst = fresh_mailbox(wire, "ext-replace-dst")
    wire.ok(f"APPEND {src}", literal=message("old"))
    wire.ok(f"APPEND {src}", literal=message("older"))
    wire.ok("ENABLE QRESYNC")
    wire.ok(f"SELECT {src}")
    r = wire.ok(f"UID REPLACE 2 {dst}", literal=message("moved and new"))
    assert r.untagged == [b"* OK [APPENDUID %d 1] Replacement message ready" % uidvalidity(wire, dst),
                          b"* VANISHED 2"]
    r = wire.ok(f"STATUS {dst} (MESSAGES)")
    assert b"MESSAGES 1" in r.untagged[0]


def test_replace_refusals_change_nothing(wire):
    box = fresh_mailbox(wire, "ext-replace-no")
    wire.ok(f"APPEND {box}", literal=message("only"))
    wire.ok(f"SELECT {box}")
    assert wire.run(f"REPLACE 2 {box}", literal=message("x")).bad  # no message 2
    assert wire.run(f"UID REPLACE 7 {box}", literal=message("x")).no  # no such UID
    r = wire.run("REPLACE 1 ext-replace-missing", literal=message("x"))
    assert r.no and b"[TRYCREATE]" in r.status
    assert wire.run(f"REPLACE 1:2 {box}", literal=message("x")).bad
    wire.ok(f"EXAMINE {box}")
    r = wire.run(f"REPLACE 1 {box}", literal=message("x"))
    assert r.no and b"[READ-ONLY]" in r.status
    wire.ok("UNSELECT")
    assert wire.run(f"REPLACE 1 {box}", literal=message("x")).bad  # selected state only
    r = wire.ok(f"STATUS {box} (MESSAGES UIDNEXT)")
    assert b"MESSAGES 1" in r.untagged[0] and b"UIDNEXT 2" in r.untagged[0]


# ------------------------------------------------------------------ UNAUTHENTICATE


def test_unauthenticate_allows_a_new_login_on_the_same_connection(wire):
    box = fresh_mailbox(wire, "ext-unauth")
    wire.ok(f"APPEND {box}", literal=message("mine"))
    wire.ok("ENABLE CONDSTORE")
    wire.ok(f"SELECT {box}")
    r = wire.ok("UNAUTHENTICATE")
    assert r.untagged == []
    # Not authenticated: what needs a login is refused, the connection lives.
    assert wire.run("FETCH 1 FLAGS").bad
    assert wire.run(f"STATUS {box} (MESSAGES)").bad
    assert wire.run("UNAUTHENTICATE").bad
    caps = capabilities(wire)
    assert b"UNAUTHENTICATE" not in caps and b"IMAP4rev1" in caps
    # Another user: their mailboxes, not the first user's.
    wire.login(OTHER, OTHER_PASSWORD)
    assert wire.run(f"SELECT {box}").no
    wire.ok("APPEND INBOX", literal=message("theirs"))
    wire.ok("SELECT INBOX")
    r = wire.ok("STORE 1 +FLAGS (\\Flagged)")
    assert r.untagged and not any(b"MODSEQ" in u for u in r.untagged), r.untagged  # CONDSTORE was the old login's
    wire.ok("UNAUTHENTICATE")
    wire.login(USER, PASSWORD)
    wire.ok(f"SELECT {box}")


def test_unauthenticate_wrong_password_afterwards_fails(platform, accounts):
    c = Wire(platform.ports["imap"])
    try:
        c.login(USER, PASSWORD)
        c.ok("UNAUTHENTICATE")
        r = c.run(f'LOGIN "{OTHER}" "not the password"')
        assert r.no and b"AUTHENTICATIONFAILED" in r.status
        assert c.run("LIST \"\" \"*\"").bad
    finally:
        c.close()


# ------------------------------------------------------------------ SEARCHRES


def test_searchres_dollar_across_commands(wire):
    box = fresh_mailbox(wire, "ext-searchres")
    for i in range(5):
        wire.ok(f"APPEND {box}" + (" (\\Flagged)" if i % 2 == 0 else ""), literal=message(f"s{i}"))
    wire.ok(f"SELECT {box}")
    r = wire.ok("SEARCH RETURN (SAVE) FLAGGED")
    assert r.untagged == []  # SAVE alone: nothing sent (RFC 5182 2.1)
    r = wire.ok("FETCH $ (UID)")
    assert [re.search(rb"UID (\d+)", u).group(1) for u in r.untagged] == [b"1", b"3", b"5"]
    wire.ok("STORE $ +FLAGS.SILENT (\\Deleted)")
    # Pipelined as RFC 5182 3 shows: SEARCH SAVE then MOVE $ in one write.
    wire.sock.sendall(b"p1 UID SEARCH RETURN (SAVE) DELETED\r\np2 UID MOVE $ INBOX\r\n")
    lines = []
    while not any(l.startswith(b"p2 ") for l in lines):
        lines.append(wire.f.readline())
    assert lines[0].startswith(b"p1 OK"), lines
    assert lines[-1].startswith(b"p2 OK"), lines
    assert sum(1 for l in lines if l.endswith(b" EXPUNGE\r\n")) == 3
    assert wire.ok("SEARCH ALL").untagged == [b"* SEARCH 1 2"]
    assert wire.run("SELECT INBOX (QRESYNC (1 1 $))").bad


# ------------------------------------------------------------------ THREADID


def test_threadid_is_shared_by_a_thread_across_mailboxes(wire):
    """RFC 8474 5.2: FETCH THREADID and SEARCH THREADID."""
    a = fresh_mailbox(wire, "ext-thread-a")
    b = fresh_mailbox(wire, "ext-thread-b")
    root = b"Message-ID: <root.ext@x>\r\nSubject: plan\r\n\r\nx\r\n"
    reply = b"Message-ID: <r.ext@x>\r\nIn-Reply-To: <root.ext@x>\r\nSubject: Re: plan\r\n\r\ny\r\n"
    later = b"Message-ID: <s.ext@x>\r\nReferences: <root.ext@x> <r.ext@x>\r\nSubject: Re: plan\r\n\r\nz\r\n"
    lonely = b"Subject: no ids at all\r\n\r\nw\r\n"
    for m in (root, reply, lonely):
        wire.ok(f"APPEND {a}", literal=m)
    wire.ok(f"APPEND {b}", literal=later)
    wire.ok(f"SELECT {a}")
    r = wire.ok("FETCH 1:3 (THREADID EMAILID)")
    ids = [re.search(rb"THREADID (\(T[0-9a-f]{24}\)|NIL)", u).group(1) for u in r.untagged]
    assert ids[0] == ids[1] and ids[0].startswith(b"(T"), ids
    assert ids[2] == b"NIL"
    thread = ids[0][1:-1].decode()
    assert wire.ok(f"SEARCH THREADID {thread}").untagged == [b"* SEARCH 1 2"]
    wire.ok("COPY 1 " + b)  # a copy keeps its thread
    wire.ok(f"SELECT {b}")
    r = wire.ok("FETCH 1:* THREADID")
    assert all(thread.encode() in u for u in r.untagged), r.untagged
    assert wire.ok(f"UID SEARCH THREADID {thread}").untagged == [b"* SEARCH 1 2"]
    assert wire.run("SEARCH THREADID not/valid").bad


# ------------------------------------------------------------------ WITHIN


def test_within_older_and_younger(wire):
    box = fresh_mailbox(wire, "ext-within")
    wire.ok(f'APPEND {box} "01-Jan-2001 00:00:00 +0000"', literal=message("old"))
    wire.ok(f"APPEND {box}", literal=message("now"))
    wire.ok(f"SELECT {box}")
    assert wire.ok("SEARCH YOUNGER 3600").untagged == [b"* SEARCH 2"]
    assert wire.ok("SEARCH OLDER 3600").untagged == [b"* SEARCH 1"]
    assert wire.ok("UID SEARCH OR OLDER 3600 YOUNGER 3600").untagged == [b"* SEARCH 1 2"]
    # RFC 5032: the interval is a non-zero number of seconds.
    assert wire.run("SEARCH YOUNGER 0").bad
    assert wire.run("SEARCH OLDER x").bad
    assert wire.run("SEARCH YOUNGER").bad


# ------------------------------------------------------------------ MOVE in the selected mailbox


@pytest.mark.parametrize("qresync", [False, True])
def test_move_within_the_selected_mailbox_reports_everything_with_the_command(platform, accounts, qresync):
    """Issue 15 item 8: the new EXISTS must come with the MOVE, never only at the
    next NOOP. Repeated, because it was seen as a race (2 runs in 10)."""
    c = Wire(platform.ports["imap"])
    try:
        c.login(USER, PASSWORD)
        box = fresh_mailbox(c, "ext-move-self-q" if qresync else "ext-move-self")
        if qresync:
            c.ok("ENABLE QRESYNC")
        for i in range(3):
            c.ok(f"APPEND {box}", literal=message(f"m{i}"))
        c.ok(f"SELECT {box}")
        exists = 3
        for _ in range(20):
            r = c.ok(f"MOVE 1:2 {box}")
            gone = [u for u in r.untagged if u.endswith(b" EXPUNGE") or u.startswith(b"* VANISHED")]
            assert gone, r.untagged
            assert b"* %d EXISTS" % exists in r.untagged, r.untagged
            copyuid = [u for u in r.untagged if b"[COPYUID " in u]
            assert copyuid and r.untagged.index(copyuid[0]) < r.untagged.index(gone[0])
            # Nothing left over for the next command.
            assert c.ok("NOOP").untagged == []
    finally:
        c.close()
