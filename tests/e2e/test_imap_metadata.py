"""METADATA and METADATA-SERVER (RFC 5464) on the wire through a real socket
against a real imapd and PostgreSQL: RFC 5464's examples, DEPTH, MAXSIZE and
LONGENTRIES, NIL removal, literal8 values, the entry-name rules (BAD), the
limits (METADATA MAXSIZE / TOOMANY, all or nothing), a missing mailbox,
annotations following RENAME and going with DELETE, and another user seeing
none of them (no sharing: /shared is the owner's too)."""
from __future__ import annotations

import pytest

from imap_wire import Wire, fresh_mailbox, raw, nonsync

USER = "metadata@example.test"
PASSWORD = "me-tadata password 1"
OTHER = "metadata-other@example.test"
OTHER_PASSWORD = "me-tadata password 2"

# The limits of docs/imap.md ("METADATA").
MAX_VALUE = 64 * 1024
MAX_ENTRIES = 100


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








def test_capabilities(platform, accounts):
    c = Wire(platform.ports["imap"])
    try:
        before = c.ok("CAPABILITY").lines(b"* CAPABILITY")[0].split()
        assert b"METADATA" not in before  # only once logged in
        c.login(USER, PASSWORD)
        after = c.ok("CAPABILITY").lines(b"* CAPABILITY")[0].split()
        assert b"METADATA" in after and b"METADATA-SERVER" in after
    finally:
        c.close()


def test_rfc5464_examples(wire):
    wire.ok('SETMETADATA INBOX (/shared/comment NIL)')
    # 4.3.1: set a mailbox annotation, as a string and as a multi-line literal.
    wire.ok('SETMETADATA INBOX (/private/comment "My new comment")')
    r = wire.ok('GETMETADATA "INBOX" /private/comment')
    assert r.untagged == [b'* METADATA INBOX (/private/comment "My new comment")']
    wire.ok("SETMETADATA INBOX (/private/comment", literal=b"My new comment across\r\ntwo lines.", after=b")")
    # 4.2.1 / 4.2.2: several entries, options before the mailbox (errata 2785).
    r = wire.ok('GETMETADATA (MAXSIZE 1024) "INBOX" (/shared/comment /private/comment)')
    assert r.untagged == [b"* METADATA INBOX (/private/comment {33})"]
    assert r.literals == [b"My new comment across\r\ntwo lines."]
    # 4.3.2: NIL removes.
    wire.ok("SETMETADATA INBOX (/private/comment NIL)")
    r = wire.ok("GETMETADATA INBOX /private/comment")
    assert r.untagged == []
    # Server annotations: the empty mailbox name (METADATA-SERVER).
    wire.ok('SETMETADATA "" (/shared/comment "Shared comment" /private/comment "Private")')
    r = wire.ok('GETMETADATA "" (/shared/comment /private/comment)')
    assert r.untagged == [b'* METADATA "" (/private/comment "Private" /shared/comment "Shared comment")']


def test_selected_state_and_case_insensitive_names(wire):
    wire.ok("SELECT INBOX")
    wire.ok('SETMETADATA inbox (/Private/Vendor/Example/Flag "on")')
    r = wire.ok("GETMETADATA INBOX /PRIVATE/vendor/example/flag")
    assert r.untagged == [b'* METADATA INBOX (/private/vendor/example/flag "on")']


def test_depth(wire):
    box = fresh_mailbox(wire, "MetaDepth")
    wire.ok(f'SETMETADATA {box} (/private/a "1" /private/a/b "2" /private/a/b/c "3" /private/ab "4")')
    assert wire.ok(f"GETMETADATA {box} /private/a").untagged == [f'* METADATA {box} (/private/a "1")'.encode()]
    assert wire.ok(f"GETMETADATA (DEPTH 1) {box} /private/a").untagged == [
        f'* METADATA {box} (/private/a "1" /private/a/b "2")'.encode()]
    assert wire.ok(f"GETMETADATA (DEPTH infinity) {box} /private/a").untagged == [
        f'* METADATA {box} (/private/a "1" /private/a/b "2" /private/a/b/c "3")'.encode()]
    # The entry asked for need not exist itself.
    assert wire.ok(f"GETMETADATA (DEPTH 1) {box} /private").untagged == [
        f'* METADATA {box} (/private/a "1" /private/ab "4")'.encode()]
    assert wire.run(f"GETMETADATA (DEPTH 2) {box} /private").bad


def test_maxsize_and_longentries(wire):
    box = fresh_mailbox(wire, "MetaSize")
    wire.ok(f"SETMETADATA {box} (/private/big", literal=b"x" * 2199, after=b' /private/small "tiny")')
    r = wire.ok(f"GETMETADATA (MAXSIZE 1024 DEPTH 1) {box} /private")
    assert r.untagged == [f'* METADATA {box} (/private/small "tiny")'.encode()]
    assert b"[METADATA LONGENTRIES 2199]" in r.status
    r = wire.ok(f"GETMETADATA (MAXSIZE 3) {box} (/private/big /private/small)")
    assert r.untagged == [] and b"[METADATA LONGENTRIES 2199]" in r.status
    r = wire.ok(f"GETMETADATA {box} /private/big")
    assert r.literals == [b"x" * 2199] and b"LONGENTRIES" not in r.status


def test_binary_literal8_values(wire):
    box = fresh_mailbox(wire, "MetaBinary")
    value = b"\x00\x01binary\xff\r\nbare\nlf\x00"
    wire.ok(f"SETMETADATA {box} (/private/blob", literal=value, binary=True, after=b")")
    r = wire.ok(f"GETMETADATA {box} /private/blob")
    assert r.untagged == [b"* METADATA %s (/private/blob ~{%d})" % (box.encode(), len(value))]
    assert r.literals == [value]
    # A NUL outside a literal8 is not IMAP (CHAR8): BAD, nothing stored.
    assert raw(wire, f"SETMETADATA {box} (/private/nul ".encode() + nonsync(b"a\x00b") + b")").bad
    assert wire.ok(f"GETMETADATA {box} /private/nul").untagged == []


@pytest.mark.parametrize("entry", [
    "comment", "/public/comment", "/privatecomment", "/private/", "/private//x", '"/private/*"',
    '"/shared/%"', '"/private/a b\\"c/"', "/shared/x/"])
def test_bad_entry_names(wire, entry):
    r = wire.run(f"GETMETADATA INBOX {entry}")
    assert r.bad, r.status
    r = wire.run(f'SETMETADATA INBOX ({entry} "v")')
    assert r.bad, r.status


def test_bad_syntax(wire):
    for command in ["GETMETADATA INBOX", "GETMETADATA INBOX ()", "GETMETADATA () INBOX /private/x",
                    "GETMETADATA INBOX (MAXSIZE 10) /private/x", "GETMETADATA (FOO 1) INBOX /private/x",
                    "GETMETADATA (MAXSIZE -1) INBOX /private/x", "SETMETADATA INBOX ()",
                    "SETMETADATA INBOX (/private/x)", 'SETMETADATA INBOX (/private "v")',
                    "SETMETADATA INBOX (/private/x atom)"]:
        r = wire.run(command)
        assert r.bad, (command, r.status)
    # Non-ASCII entry names are BAD (RFC 5464 3.2).
    assert raw(wire, b"GETMETADATA INBOX " + nonsync("/private/é".encode())).bad
    # More entries in one command than any mailbox may hold.
    many = " ".join(f"/private/e{i}" for i in range(MAX_ENTRIES + 1))
    assert wire.run(f"GETMETADATA INBOX ({many})").bad


def test_value_too_large_is_refused_whole(wire):
    box = fresh_mailbox(wire, "MetaLimit")
    r = raw(wire, f'SETMETADATA {box} (/private/ok "fine" /private/big '.encode() + nonsync(b"y" * (MAX_VALUE + 1)) + b")")
    assert r.no and b"[METADATA MAXSIZE 65536]" in r.status, r.status
    assert wire.ok(f"GETMETADATA {box} /private/ok").untagged == []
    wire.ok(f"SETMETADATA {box} (/private/max", literal=b"y" * MAX_VALUE, after=b")")
    assert wire.ok(f"GETMETADATA {box} /private/max").literals == [b"y" * MAX_VALUE]


def test_too_many_entries(wire):
    box = fresh_mailbox(wire, "MetaMany")
    entries = " ".join(f'/private/e{i} "v"' for i in range(MAX_ENTRIES))
    wire.ok(f"SETMETADATA {box} ({entries})")
    r = wire.run(f'SETMETADATA {box} (/private/one-more "v")')
    assert r.no and b"[METADATA TOOMANY]" in r.status, r.status
    # All or nothing: the removal in a refused command did not happen either.
    r = wire.run(f'SETMETADATA {box} (/private/e0 NIL /private/x "v" /private/y "v")')
    assert r.no and b"[METADATA TOOMANY]" in r.status
    assert wire.ok(f"GETMETADATA {box} /private/e0").untagged != []
    wire.ok(f'SETMETADATA {box} (/private/e0 NIL /private/one-more "v")')  # swapping at the limit works
    r = wire.ok(f"GETMETADATA (DEPTH 1) {box} /private")
    assert r.untagged[0].count(b"/private/") == MAX_ENTRIES
    # Each mailbox has its own limit.
    other = fresh_mailbox(wire, "MetaMany2")
    wire.ok(f'SETMETADATA {other} (/private/x "v")')


def test_missing_mailbox(wire):
    wire.run("DELETE MetaNowhere")
    r = wire.run("GETMETADATA MetaNowhere /private/comment")
    assert r.no and b"[NONEXISTENT]" in r.status and b"TRYCREATE" not in r.status
    r = wire.run('SETMETADATA MetaNowhere (/private/comment "x")')
    assert r.no and b"[NONEXISTENT]" in r.status


def test_rename_keeps_and_delete_removes(wire):
    wire.run("DELETE MetaWork/Sub")
    wire.run("DELETE MetaWork")
    fresh_mailbox(wire, "MetaProj/Sub")
    wire.ok('SETMETADATA MetaProj (/private/comment "parent")')
    wire.ok('SETMETADATA MetaProj/Sub (/shared/comment "child")')
    wire.ok("RENAME MetaProj MetaWork")
    assert wire.run("GETMETADATA MetaProj /private/comment").no
    assert wire.ok("GETMETADATA MetaWork /private/comment").untagged == [
        b'* METADATA MetaWork (/private/comment "parent")']
    assert wire.ok("GETMETADATA MetaWork/Sub /shared/comment").untagged == [
        b'* METADATA MetaWork/Sub (/shared/comment "child")']
    # DELETE takes them along; a new mailbox of that name starts without any.
    wire.ok("DELETE MetaWork/Sub")
    wire.ok("CREATE MetaWork/Sub")
    assert wire.ok("GETMETADATA (DEPTH infinity) MetaWork/Sub (/private /shared)").untagged == []
    # Server annotations are nobody's mailbox: untouched.
    wire.ok('SETMETADATA "" (/private/survives "yes")')
    wire.ok("DELETE MetaWork/Sub")
    assert wire.ok('GETMETADATA "" /private/survives').untagged == [b'* METADATA "" (/private/survives "yes")']


def test_another_user_sees_nothing_and_another_session_everything(platform, wire):
    wire.ok('SETMETADATA INBOX (/shared/comment "mine" /private/comment "mine too")')
    wire.ok('SETMETADATA "" (/shared/admin "mailto:me@example.test")')
    other = Wire(platform.ports["imap"])
    try:
        other.login(OTHER, OTHER_PASSWORD)
        assert other.ok("GETMETADATA (DEPTH infinity) INBOX (/shared /private)").untagged == []
        assert other.ok('GETMETADATA (DEPTH infinity) "" (/shared /private)').untagged == []
    finally:
        other.close()
    again = Wire(platform.ports["imap"])
    try:
        again.login(USER, PASSWORD)
        assert again.ok("GETMETADATA INBOX /shared/comment").untagged == [
            b'* METADATA INBOX (/shared/comment "mine")']
    finally:
        again.close()


def test_notify_metadata_events(platform, wire):
    """NOTIFY MailboxMetadataChange / ServerMetadataChange (RFC 5465 5.9,
    5.10: required once METADATA is advertised): changes made in another
    session of the user are pushed as `* METADATA mailbox entry ...`;
    another user's changes never are."""
    watcher = Wire(platform.ports["imap"])
    other = Wire(platform.ports["imap"])
    try:
        watcher.login(USER, PASSWORD)
        other.login(OTHER, OTHER_PASSWORD)
        watcher.ok("NOTIFY SET (personal (MailboxMetadataChange ServerMetadataChange))")
        # Changes of the tests before this one may still be on their way through the
        # change feed (it is ordered): a marker change, read back, leaves them behind.
        wire.ok('SETMETADATA INBOX (/private/sync-marker "1")')
        while (line := watcher.f.readline()) != b"* METADATA INBOX /private/sync-marker\r\n":
            assert line.startswith(b"* METADATA "), line
        wire.ok('SETMETADATA INBOX (/private/Comment "pushed" /shared/comment NIL)')
        assert watcher.f.readline() == b"* METADATA INBOX /private/comment /shared/comment\r\n"
        other.ok('SETMETADATA INBOX (/private/not-yours "x")')
        other.ok('SETMETADATA "" (/private/not-yours "x")')
        wire.ok('SETMETADATA "" (/shared/admin "mailto:admin@example.test")')
        assert watcher.f.readline() == b'* METADATA "" /shared/admin\r\n'
        # Only the mailboxes the filter names: Sent is not in `inboxes`.
        watcher.ok("NOTIFY SET (inboxes (MailboxMetadataChange))")
        wire.ok('SETMETADATA Sent (/private/x "1")')
        wire.ok('SETMETADATA "" (/private/x "1")')
        wire.ok('SETMETADATA INBOX (/private/x "1")')
        assert watcher.f.readline() == b"* METADATA INBOX /private/x\r\n"
        watcher.ok("NOTIFY NONE")
    finally:
        watcher.close()
        other.close()
