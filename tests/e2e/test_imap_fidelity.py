"""IMAP answers that must be exactly what the RFCs say (issue 15), each seen on
the wire through a real socket against a real imapd: BINARY and NUL octets,
header subsets, section numbers, message/global, OBJECTID, mailbox names,
LSUB's \\Noselect parents, \\Recent."""
from __future__ import annotations

import re
import time

import pytest

from imap_wire import Wire, fresh_mailbox

USER = "fidelity@example.test"
PASSWORD = "fi-delity password 1"

# RFC 3516's own kind of data: octets a 7-bit or CRLF-normalising path would change.
BINARY_BODY = b"\x00\x2d\xe4\x0a\x0d\x0a\x0a"
BINARY_MESSAGE = (b"Subject: binary\r\nMIME-Version: 1.0\r\nContent-Type: application/octet-stream\r\n"
                  b"Content-Transfer-Encoding: binary\r\n\r\n" + BINARY_BODY)
BASE64_MESSAGE = (b"Subject: b64\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n"
                  b"Content-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n")


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




def test_binary_append_keeps_every_octet_and_body_never_sends_nul(wire):
    box = fresh_mailbox(wire, "fid-binary")
    wire.ok(f"APPEND {box}", literal=BINARY_MESSAGE, binary=True)
    wire.ok(f"SELECT {box}")
    r = wire.ok("FETCH 1 (BINARY.SIZE[1] BINARY.PEEK[1] RFC822.SIZE)")
    assert b"BINARY.SIZE[1] 7 " in r.untagged[0]
    assert b"BINARY[1] ~{7}" in r.untagged[0]  # literal8: the data hold NUL (RFC 3516 4.2)
    assert r.literals == [BINARY_BODY]
    assert b"RFC822.SIZE %d" % len(BINARY_MESSAGE) in r.untagged[0]
    # BODY[1] and BODY[] are {n} literals, where CHAR8 excludes NUL: the NUL goes
    # out as 0x80, every other octet and the length as stored.
    r = wire.ok("FETCH 1 (BODY.PEEK[1] BODY.PEEK[])")
    assert r.literals[0] == b"\x80" + BINARY_BODY[1:]
    assert r.literals[1] == BINARY_MESSAGE.replace(b"\x00", b"\x80")
    assert all(b"\x00" not in lit for lit in r.literals)
    assert b"~{" not in b"".join(r.untagged)


def test_binary_of_the_whole_message_is_the_whole_message(wire):
    box = fresh_mailbox(wire, "fid-binary-all")
    wire.ok(f"APPEND {box}", literal=BINARY_MESSAGE, binary=True)
    wire.ok(f"APPEND {box}", literal=BASE64_MESSAGE)
    wire.ok(f"SELECT {box}")
    r = wire.ok("FETCH 1 (BINARY.SIZE[] BINARY.PEEK[])")
    assert b"BINARY.SIZE[] %d " % len(BINARY_MESSAGE) in r.untagged[0]
    assert r.literals == [BINARY_MESSAGE]
    # One encoded part: its body decoded, under a header that says so (as Dovecot).
    r = wire.ok("FETCH 2 (BINARY.PEEK[] BINARY.SIZE[] BINARY.PEEK[1])")
    expected = BASE64_MESSAGE.replace(b"base64\r\n\r\naGVsbG8gd29ybGQ=\r\n", b"binary\r\n\r\nhello world")
    assert r.literals == [expected, b"hello world"]
    assert b"BINARY.SIZE[] %d" % len(expected) in r.untagged[0]


def test_header_fields_of_a_header_only_message_add_no_blank_line(wire):
    box = fresh_mailbox(wire, "fid-header-only")
    wire.ok(f"APPEND {box}", literal=b"Subject: header only\r\nFrom: a@example.test\r\n")
    wire.ok(f"APPEND {box}", literal=b"Subject: with body\r\nFrom: a@example.test\r\n\r\nbody\r\n")
    wire.ok(f"EXAMINE {box}")
    r = wire.ok("FETCH 1 (BODY.PEEK[HEADER.FIELDS.NOT (From)] BODY.PEEK[HEADER.FIELDS (Subject)] "
                "BODY.PEEK[HEADER])")
    # RFC 3501 6.4.5: the blank line is in every header fetch "except in the case
    # of a message which has no body and no blank line".
    assert r.literals == [b"Subject: header only\r\n", b"Subject: header only\r\n",
                          b"Subject: header only\r\nFrom: a@example.test\r\n"]
    r = wire.ok("FETCH 2 (BODY.PEEK[HEADER.FIELDS.NOT (From)] BODY.PEEK[HEADER.FIELDS (Subject)])")
    assert r.literals == [b"Subject: with body\r\n\r\n", b"Subject: with body\r\n\r\n"]


def test_section_numbers_beyond_32_bits_are_bad(wire):
    box = fresh_mailbox(wire, "fid-sections")
    wire.ok(f"APPEND {box}", literal=BASE64_MESSAGE)
    wire.ok(f"EXAMINE {box}")
    for spec in (b"BODY[4294967296]", b"BODY.PEEK[1.4294967296]", b"BINARY[4294967296]", b"BODY[0]",
                 b"BODY[1.]", b"BINARY.SIZE[0]"):
        r = wire.run(b"FETCH 1 " + spec)
        assert r.bad, (spec, r.status)
    assert wire.ok("FETCH 1 BODY.PEEK[4294967295]").literals == [b""]  # the largest nz-number


GLOBAL_MESSAGE = (b"Subject: outer\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n"
                  b"--b\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n"
                  b"--b\r\nContent-Type: message/global\r\n\r\n"
                  + "Subject: =?utf-8?q?inner?=\r\nFrom: Jos\u00e9 <jos\u00e9@example.test>\r\n\r\n"
                    "inner body\r\n".encode()
                  + b"--b--\r\n")


def test_message_global_is_an_encapsulated_message_in_imap4rev2(wire):
    box = fresh_mailbox(wire, "fid-global")
    wire.ok(f"APPEND {box}", literal=GLOBAL_MESSAGE)
    wire.ok(f"EXAMINE {box}")
    rev1 = wire.ok("FETCH 1 BODYSTRUCTURE").untagged[0]
    # IMAP4rev1's body-type-msg is MESSAGE/RFC822 only: a basic body there.
    assert re.search(rb'\("message" "global" NIL NIL NIL "7bit" \d+ NIL', rev1), rev1
    wire.ok("ENABLE IMAP4rev2")
    wire.ok(f"EXAMINE {box}")
    rev2 = wire.ok("FETCH 1 BODYSTRUCTURE").untagged[0]
    # RFC 9051 media-message covers GLOBAL: envelope, nested body, lines.
    assert re.search(rb'\("message" "global" NIL NIL NIL "7bit" \d+ \(NIL "=\?utf-8\?q\?inner\?=" ', rev2), rev2
    assert b'("text" "plain" ("charset" "us-ascii") NIL NIL "7bit" 12 1' in rev2
    # Its parts are numbered like message/rfc822's (RFC 9051 6.4.5).
    r = wire.ok("FETCH 1 (BODY.PEEK[2.TEXT] BODY.PEEK[2.HEADER.FIELDS (SUBJECT)])")
    assert r.literals == [b"inner body", b"Subject: =?utf-8?q?inner?=\r\n\r\n"]


def test_mailbox_names_that_are_not_canonical_are_refused(wire):
    wire.ok("CREATE fid-names-ok")
    # Invalid modified UTF-7 (RFC 3501 5.1.3): no "-", an unpaired surrogate,
    # an encoded printable character ("a" is itself), leftover bits; an 8-bit
    # name without UTF8=ACCEPT. Taken as written, each would be a second spelling
    # of another name.
    for name in (b"&Jjo", b"&", b"&2D0-", b"&AGE-", b"&Jjp-", b'"caf\xc3\xa9"'):
        r = wire.run(b"CREATE " + name)
        assert r.no and b"[CANNOT]" in r.status, (name, r.status)
        assert wire.run(b"SELECT " + name).no, name
    for name in (b"..", b"INBOX/..", b"fid-names-ok/./x", b"."):
        r = wire.run(b"CREATE " + name)
        assert r.no and b"[CANNOT]" in r.status, (name, r.status)
        assert wire.run(b"RENAME fid-names-ok " + name).no, name
    # Valid spellings still work: a smiley (U+263A) and "&" itself.
    wire.ok("CREATE &Jjo-")
    wire.ok("CREATE a&-b")
    listed = b"\n".join(wire.ok('LIST "" "*"').untagged)
    assert b'"/" &Jjo-' in listed and b'"/" a&-b' in listed
    wire.ok("DELETE &Jjo-")
    wire.ok("DELETE a&-b")


def test_keywords_per_mailbox_are_capped(wire):
    box = fresh_mailbox(wire, "fid-keywords")
    wire.ok(f"APPEND {box}", literal=b"Subject: k\r\n\r\nx\r\n")
    wire.ok(f"SELECT {box}")
    for start in range(0, 256, 64):
        flags = " ".join(f"kw{i}" for i in range(start, start + 64))
        wire.ok(f"STORE 1 +FLAGS.SILENT ({flags})")
    r = wire.run("STORE 1 +FLAGS (one-too-many)")
    assert r.no and b"[LIMIT]" in r.status, r.status
    wire.ok("STORE 1 +FLAGS (kw7 \\Seen)")  # known keywords still work
    wire.ok("STORE 1 -FLAGS (kw0)")


def test_lsub_percent_returns_the_unsubscribed_superior_as_noselect(wire):
    for name in ("fid-par/child", "fid-par/mid/leaf"):
        wire.ok(f"CREATE {name}")
        wire.ok(f"SUBSCRIBE {name}")
    wire.ok("UNSUBSCRIBE fid-par")
    r = wire.ok('LSUB "" "fid-par%"')
    assert r.untagged == [b'* LSUB (\\Noselect) "/" fid-par'], r.untagged
    r = wire.ok('LSUB "" "fid-par/%"')
    assert r.untagged == [b'* LSUB () "/" fid-par/child', b'* LSUB (\\Noselect) "/" fid-par/mid'], r.untagged
    r = wire.ok('LSUB "" "fid-par/*"')
    assert r.untagged == [b'* LSUB () "/" fid-par/child', b'* LSUB () "/" fid-par/mid/leaf'], r.untagged


def test_recent_belongs_to_the_first_session_that_selects(platform, wire):
    box = fresh_mailbox(wire, "fid-recent")
    for i in range(2):
        wire.ok(f"APPEND {box}", literal=b"Subject: r%d\r\n\r\nx\r\n" % i)
    assert wire.ok(f"STATUS {box} (RECENT MESSAGES)").untagged == [b"* STATUS %s (MESSAGES 2 RECENT 2)" % box.encode()]
    rev2, b, c = (Wire(platform.ports["imap"]) for _ in range(3))
    try:
        for s in (rev2, b, c):
            s.login(USER, PASSWORD)
        # IMAP4rev2 has no \Recent: nothing said, nothing claimed.
        rev2.ok("ENABLE IMAP4rev2")
        r = rev2.ok(f"SELECT {box}")
        assert not r.lines(b"* 2 RECENT") and not any(b"RECENT" in u for u in r.untagged), r.untagged
        assert b"\\Recent" not in rev2.ok("FETCH 1:* FLAGS").untagged[0]
        # EXAMINE shows them and leaves them (RFC 3501 6.3.2).
        r = b.ok(f"EXAMINE {box}")
        assert b"* 2 RECENT" in r.untagged
        assert b"\\Recent" in b.ok("FETCH 1 FLAGS").untagged[0]
        # The first read-write SELECT takes them.
        r = b.ok(f"SELECT {box}")
        assert b"* 2 RECENT" in r.untagged
        assert b.ok("SEARCH RECENT").untagged == [b"* SEARCH 1 2"]
        b.ok("STORE 1 +FLAGS.SILENT (\\Seen)")
        assert b.ok("SEARCH NEW").untagged == [b"* SEARCH 2"]
        assert b.ok("SEARCH OLD").untagged == [b"* SEARCH"]
        r = c.ok(f"SELECT {box}")
        assert b"* 0 RECENT" in r.untagged
        assert c.ok("SEARCH OLD").untagged == [b"* SEARCH 1 2"]
        assert b"\\Recent" not in c.ok("FETCH 2 FLAGS").untagged[0]
        assert b"RECENT 0" in wire.ok(f"STATUS {box} (RECENT)").untagged[0]
        c.ok("UNSELECT")
        # New mail while selected is the selecting session's: EXISTS, then RECENT.
        wire.ok(f"APPEND {box}", literal=b"Subject: r3\r\n\r\nx\r\n")
        seen: list[bytes] = []
        deadline = time.monotonic() + 15  # the change feed reaches the session's next command
        while b"* 3 EXISTS" not in seen and time.monotonic() < deadline:
            seen += b.ok("NOOP").untagged
        assert seen[-2:] == [b"* 3 EXISTS", b"* 3 RECENT"], seen
        assert b"\\Recent" in b.ok("FETCH 3 FLAGS").untagged[0]
        # A COPY into the selected mailbox brings a \Recent copy (RFC 3501 6.4.7).
        r = b.ok(f"COPY 1 {box}")
        assert r.untagged[-2:] == [b"* 4 EXISTS", b"* 4 RECENT"], r.untagged
    finally:
        for s in (rev2, b, c):
            s.close()


def test_objectid_status_mailboxid_and_search_emailid(wire):
    box = fresh_mailbox(wire, "fid-objectid")
    for i in range(3):
        wire.ok(f"APPEND {box}", literal=b"Subject: o%d\r\n\r\nx\r\n" % i)
    r = wire.ok(f"SELECT {box}")
    mailbox_id = re.search(rb"MAILBOXID \((\w+)\)", b"\n".join(r.untagged)).group(1)
    assert wire.ok(f"STATUS {box} (MAILBOXID)").untagged == [b"* STATUS %s (MAILBOXID (%s))" % (box.encode(), mailbox_id)]
    email_id = re.search(rb"EMAILID \(([\w-]+)\)", wire.ok("FETCH 2 EMAILID").untagged[0]).group(1)
    assert wire.ok(b"SEARCH EMAILID " + email_id).untagged == [b"* SEARCH 2"]
    assert wire.ok(b"UID SEARCH NOT EMAILID " + email_id).untagged == [b"* SEARCH 1 3"]
    assert wire.ok("SEARCH THREADID T1").untagged == [b"* SEARCH"]  # no threads: THREADID is NIL
    assert wire.run("SEARCH EMAILID bad/id").bad


SCOPE_PLAIN = (b"Subject: quarterly numbers\r\nFrom: Alice <alice@example.test>\r\n\r\n"
               b"Forwarded:\r\nSubject: urgent wire transfer\r\nFrom: ceo@bank.test\r\n")
SCOPE_MULTI = (b"Subject: with parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=p\r\n\r\n"
               b"--p\r\nContent-Type: text/plain\r\n\r\nplain words here\r\n"
               b"--p\r\nContent-Type: message/rfc822\r\n\r\n"
               b"Subject: inner subject line\r\nFrom: bob@example.test\r\n\r\ninner text\r\n--p--\r\n")


def test_search_header_keys_see_only_the_message_header_and_body_no_mime_headers(wire):
    box = fresh_mailbox(wire, "fid-scope")
    wire.ok(f"APPEND {box}", literal=SCOPE_PLAIN)
    wire.ok(f"APPEND {box}", literal=SCOPE_MULTI)
    wire.ok(f"EXAMINE {box}")
    # A header-looking line in the body is body text, not a header (RFC 9051 6.4.4).
    assert wire.ok('SEARCH SUBJECT "urgent wire"').untagged == [b"* SEARCH"]
    assert wire.ok('SEARCH FROM "ceo@bank"').untagged == [b"* SEARCH"]
    assert wire.ok('SEARCH BODY "urgent wire"').untagged == [b"* SEARCH 1"]
    assert wire.ok('SEARCH SUBJECT quarterly').untagged == [b"* SEARCH 1"]
    # Nor are the headers of an embedded message the message's own.
    assert wire.ok('SEARCH SUBJECT "inner subject"').untagged == [b"* SEARCH"]
    assert wire.ok('SEARCH HEADER From bob@').untagged == [b"* SEARCH"]
    assert wire.ok('SEARCH BODY "inner subject"').untagged == [b"* SEARCH 2"]  # content of the body
    # MIME part headers are not body text; TEXT still sees everything.
    assert wire.ok('SEARCH BODY Content-Type').untagged == [b"* SEARCH"]
    assert wire.ok('SEARCH BODY "plain words"').untagged == [b"* SEARCH 2"]
    assert wire.ok('SEARCH TEXT "text/plain"').untagged == [b"* SEARCH 2"]
    assert wire.ok('SEARCH TEXT "urgent wire"').untagged == [b"* SEARCH 1"]


def test_comments_in_addresses_are_neither_names_nor_in_the_way_of_search(wire):
    box = fresh_mailbox(wire, "fid-addr")
    wire.ok(f"APPEND {box}", literal=b"From: <user (comment)@ (comment) example.test>\r\n"
                                     b"To: Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>\r\n"
                                     b"Cc: (lead) jdoe@example.test (John Doe)\r\nSubject: a\r\n\r\nx\r\n")
    wire.ok(f"EXAMINE {box}")
    env = wire.ok("FETCH 1 ENVELOPE").untagged[0]
    # The same ENVELOPE as Dovecot's: a comment inside <...> is no display name;
    # one after a bare addr-spec is (the "a@b (Name)" convention).
    assert b'((NIL NIL "user" "example.test")) ((NIL NIL "user" "example.test"))' in env, env
    assert b'(("Pete" NIL "pete" "silly.test")) (("John Doe" NIL "jdoe" "example.test"))' in env, env
    assert wire.ok("SEARCH FROM user@example.test").untagged == [b"* SEARCH 1"]
    assert wire.ok("SEARCH TO pete@silly.test").untagged == [b"* SEARCH 1"]
    assert wire.ok('SEARCH CC "john doe"').untagged == [b"* SEARCH 1"]


def test_fetch_modseq_turns_condstore_on_and_store_answers_once(wire):
    """Issue 15 item 4: a FETCH of MODSEQ in the selected state enables CONDSTORE
    (RFC 7162 3.1: OK [HIGHESTMODSEQ] before the tagged OK), and from then on
    a STORE answers with one FETCH per message, carrying its MODSEQ."""
    box = fresh_mailbox(wire, "fid-condstore")
    for i in range(2):
        wire.ok(f"APPEND {box}", literal=b"Subject: m%d\r\n\r\nbody\r\n" % i)
    wire.ok(f"SELECT {box}")
    r = wire.ok("STORE 1 +FLAGS (\\Seen)")
    assert r.lines(b"* 1 FETCH") and b"MODSEQ" not in r.lines(b"* 1 FETCH")[0], r.untagged  # not on yet
    r = wire.ok("FETCH 1 (MODSEQ)")
    assert r.lines(b"* OK [HIGHESTMODSEQ "), r.untagged
    assert re.match(rb"\* 1 FETCH \(MODSEQ \(\d+\)\)", r.lines(b"* 1 FETCH")[0]), r.untagged
    r = wire.ok("STORE 2 +FLAGS (\\Flagged)")
    fetches = r.lines(b"* 2 FETCH")
    assert len(fetches) == 1, r.untagged
    assert b"MODSEQ (" in fetches[0] and b"\\Flagged" in fetches[0], fetches


def test_list_extended_recursivematch_alone_is_bad_and_childinfo_names_subscribed(wire):
    """Issue 15 item 5 (RFC 5258 3): RECURSIVEMATCH without another selection
    option is BAD; a subscribed child shows as CHILDINFO ("SUBSCRIBED") on its
    unsubscribed parent."""
    r = wire.run('LIST (RECURSIVEMATCH) "" ""')
    assert r.bad, r.status
    r = wire.run('LIST (RECURSIVEMATCH) "" "*"')
    assert r.bad, r.status
    wire.run("DELETE fid-ci/kid")
    wire.run("DELETE fid-ci")
    wire.ok("CREATE fid-ci/kid")
    wire.ok("SUBSCRIBE fid-ci/kid")
    wire.run("UNSUBSCRIBE fid-ci")
    r = wire.ok('LIST (SUBSCRIBED RECURSIVEMATCH) "" "fid-ci"')
    assert len(r.untagged) == 1, r.untagged
    assert r.untagged[0].startswith(b"* LIST (") and b'fid-ci ("CHILDINFO" ("SUBSCRIBED"))' in r.untagged[0], r.untagged
    assert b"\\Subscribed" not in r.untagged[0], r.untagged


def test_store_of_a_new_keyword_announces_it_before_the_fetch_that_shows_it(wire):
    """Issue 15 item 7: a keyword new to the mailbox comes with * FLAGS and
    * OK [PERMANENTFLAGS], before the FETCH that carries it."""
    box = fresh_mailbox(wire, "fid-keyword")
    wire.ok(f"APPEND {box}", literal=b"Subject: k\r\n\r\nbody\r\n")
    r = wire.ok(f"SELECT {box}")
    assert b"Project$Fresh" not in b" ".join(r.untagged)
    r = wire.ok("STORE 1 +FLAGS (Project$Fresh)")
    kinds = [u.split(b" ")[1] if not u.startswith(b"* OK") else b"OK" for u in r.untagged]
    flags = [i for i, u in enumerate(r.untagged) if u.startswith(b"* FLAGS (")]
    perm = [i for i, u in enumerate(r.untagged) if u.startswith(b"* OK [PERMANENTFLAGS (")]
    fetch = [i for i, u in enumerate(r.untagged) if u.startswith(b"* 1 FETCH")]
    assert flags and perm and fetch, (kinds, r.untagged)
    assert b"Project$Fresh" in r.untagged[flags[0]] and b"Project$Fresh" in r.untagged[perm[0]], r.untagged
    assert flags[0] < fetch[0] and perm[0] < fetch[0], r.untagged
    # Known now: the next STORE of it announces nothing again.
    wire.ok("STORE 1 -FLAGS (Project$Fresh)")
    r = wire.ok("STORE 1 +FLAGS (Project$Fresh)")
    assert not [u for u in r.untagged if u.startswith(b"* FLAGS")], r.untagged
