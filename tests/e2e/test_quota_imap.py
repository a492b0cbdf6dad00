"""QUOTA over IMAP (RFC 9208) with the STORAGE and MESSAGE resources: limits
set with `postline quota set`, reported by GETQUOTAROOT/GETQUOTA, enforced on
APPEND and COPY (MOVE within the account is never refused), and SETQUOTA on
"user/<address>" roots for accounts with the admin flag (everyone else gets
NO [NOPERM])."""
from __future__ import annotations

import imaplib
import json
import re

import pytest

PASSWORD = "quota imap password"
ADMIN = "boss@quota-imap.test"
ANNA = "anna@quota-imap.test"
BOB = "bob@quota-imap.test"
MSG = b"Subject: q\r\n\r\nsmall body\r\n"


@pytest.fixture(scope="module")
def qp(platform):
    for user in (ADMIN, ANNA, BOB):
        platform.add_user(user, PASSWORD)
    return platform


def login(platform, user) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(user, PASSWORD)
    return m


def raw(m: imaplib.IMAP4, command: bytes) -> list[bytes]:
    """Sends one tagged command, returns every line up to and including the tagged one."""
    tag = m._new_tag()
    m.send(tag + b" " + command + b"\r\n")
    lines = []
    while True:
        line = m.readline()
        lines.append(line)
        if line.startswith(tag + b" "):
            return lines


def quota_lines(lines: list[bytes]) -> list[bytes]:
    return [l.rstrip(b"\r\n") for l in lines if l.startswith(b"* QUOTA ")]


def test_cli_sets_and_shows_both_limits(qp):
    out = qp.cli("quota", "set", ANNA, "--storage", "2G", "--messages", "10000").stdout
    assert "2GiB" in out and "10000" in out, out
    shown = qp.cli("quota", "show", ANNA).stdout
    assert "2GiB" in shown and "10000" in shown, shown
    # The old syntax still sets only the storage limit.
    qp.cli("quota", "set", ANNA, "1G")
    [user] = [u for u in json.loads(qp.cli("--json", "user", "list", "quota-imap.test").stdout) if u["email"] == ANNA]
    assert user["quota_bytes"] == 1 << 30 and user["quota_messages"] == 10000 and user["admin"] is False
    assert json.loads(qp.cli("--json", "quota", "show", ANNA).stdout) == {
        "email": ANNA, "quota_bytes": 1 << 30, "quota_messages": 10000, "used_bytes": 0, "used_messages": 0,
        "used_bytes_percent": 0, "used_messages_percent": 0}
    assert "MESSAGES" in qp.cli("user", "list", "quota-imap.test").stdout
    assert qp.cli("quota", "set", ANNA, "--messages", "lots", check=False).returncode == 2
    assert qp.cli("quota", "set", ANNA, check=False).returncode == 2
    assert qp.cli("quota", "show", "nobody@quota-imap.test", check=False).returncode == 1


def test_getquotaroot_shows_both_resources_and_message_limit_refuses_append(qp):
    qp.cli("quota", "set", ANNA, "--storage", "1M", "--messages", "3")
    m = login(qp, ANNA)
    try:
        typ, caps = m.capability()
        assert b"QUOTA=RES-MESSAGE" in caps[0] and b"QUOTA=RES-STORAGE" in caps[0], caps
        lines = raw(m, b"GETQUOTAROOT INBOX")
        assert b'* QUOTAROOT INBOX ""\r\n' in lines, lines
        assert quota_lines(lines) == [b'* QUOTA "" (STORAGE 0 1024 MESSAGE 0 3)'], lines
        for _ in range(3):
            assert m.append("INBOX", None, None, MSG)[0] == "OK"
        typ, data = m.append("INBOX", None, None, MSG)
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
        m.select("INBOX")
        typ, data = m.uid("COPY", "1", "Archive")
        assert typ == "NO" and b"[OVERQUOTA]" in data[0], data
        # MOVE keeps the count: allowed even at the limit.
        typ, data = m.uid("MOVE", "1", "Archive")
        assert typ == "OK", data
        lines = raw(m, b'GETQUOTA ""')
        assert re.fullmatch(rb'\* QUOTA "" \(STORAGE 1 1024 MESSAGE 3 3\)', quota_lines(lines)[0]), lines
        # STATUS DELETED and SIZE (RFC 9051, RFC 8438) are there too.
        lines = raw(m, b"STATUS Archive (MESSAGES DELETED SIZE)")
        assert any(re.search(rb"MESSAGES 1 DELETED 0 SIZE \d+", l) for l in lines), lines
    finally:
        m.logout()


def test_setquota_needs_the_admin_flag(qp):
    m = login(qp, BOB)
    try:
        for command in (b'SETQUOTA "" (MESSAGE 100)', b'SETQUOTA "user/%s" (STORAGE 1)' % ANNA.encode(),
                        b'GETQUOTA "user/%s"' % ANNA.encode(), b'GETQUOTA "user/nobody@quota-imap.test"'):
            lines = raw(m, command)
            assert b"NO [NOPERM]" in lines[-1], (command, lines)
        # Bob may read his own root by name (no limits: it has no resources).
        lines = raw(m, b'GETQUOTA "user/%s"' % BOB.encode())
        assert lines[-1].split(b" ", 1)[1].startswith(b"OK"), lines
        assert quota_lines(lines) == [b'* QUOTA "user/%s" ()' % BOB.encode()], lines
    finally:
        m.logout()


def test_admin_setquota_changes_what_the_user_sees(qp):
    qp.cli("quota", "set", ANNA, "--storage", "1M", "--messages", "3")
    anna = login(qp, ANNA)  # logged in before the change: sees it without logging in again
    qp.cli("user", "set", ADMIN, "--admin", "on")
    admin = login(qp, ADMIN)
    root = b'"user/%s"' % ANNA.encode()
    try:
        lines = raw(admin, b"SETQUOTA " + root + b" (STORAGE 512 MESSAGE 5)")
        assert lines[-1].split(b" ", 1)[1].startswith(b"OK"), lines
        assert re.fullmatch(rb'\* QUOTA "user/anna@quota-imap.test" \(STORAGE \d+ 512 MESSAGE 3 5\)',
                            quota_lines(lines)[0]), lines
        lines = raw(admin, b"GETQUOTA " + root)
        assert re.fullmatch(rb'\* QUOTA "user/anna@quota-imap.test" \(STORAGE \d+ 512 MESSAGE 3 5\)',
                            quota_lines(lines)[0]), lines
        shown = qp.cli("quota", "show", ANNA).stdout
        assert "512KiB" in shown and " 5" in shown, shown

        lines = raw(anna, b'GETQUOTA ""')
        assert re.fullmatch(rb'\* QUOTA "" \(STORAGE \d+ 512 MESSAGE 3 5\)', quota_lines(lines)[0]), lines
        assert anna.append("INBOX", None, None, MSG)[0] == "OK"  # room for 5 now

        # Errors: unknown resource, unknown user, other roots, bad syntax.
        assert b"NO " in raw(admin, b"SETQUOTA " + root + b" (FOLDERS 3)")[-1]
        assert b"NO [NONEXISTENT]" in raw(admin, b'SETQUOTA "user/nobody@quota-imap.test" (MESSAGE 1)')[-1]
        assert b"NO [NONEXISTENT]" in raw(admin, b'SETQUOTA "elsewhere" (MESSAGE 1)')[-1]
        assert b"BAD" in raw(admin, b"SETQUOTA " + root + b" (MESSAGE)")[-1]
        assert b"BAD" in raw(admin, b"SETQUOTA " + root + b" (MESSAGE 1 MESSAGE 2)")[-1]

        # An empty list removes every limit.
        lines = raw(admin, b"SETQUOTA " + root + b" ()")
        assert quota_lines(lines) == [b'* QUOTA "user/anna@quota-imap.test" ()'], lines
        lines = raw(anna, b"GETQUOTAROOT INBOX")
        assert b"* QUOTAROOT INBOX\r\n" in lines and not quota_lines(lines), lines
        [user] = [u for u in json.loads(qp.cli("--json", "user", "list").stdout) if u["email"] == ANNA]
        assert user["quota_bytes"] == 0 and user["quota_messages"] == 0
    finally:
        admin.logout()
        anna.logout()
    assert "action=set_quota outcome=ok" in qp.logs["authd"].read_text()
