"""URLAUTH (RFC 4467) in imapd and BURL (RFC 4468) in smtpd's submission
service, over real sockets against the real services and PostgreSQL:
GENURLAUTH then URLFETCH of a message and of a part, an expiry in the past
(NIL), another user (NIL), RESETKEY invalidating old URLs; and BURL end to end:
a draft APPENDed over IMAP, a submit+user URL from GENURLAUTH, `BURL <url>
LAST` with smtplib on the submission port, the recipient's INBOX receiving
exactly those bytes below smtpd's Received: header, a forged token refused
with 554 5.7.0 (and counted)."""
from __future__ import annotations

import re
import smtplib
import urllib.parse

import pytest

from imap_wire import Wire
from platform_support import wait_until
from smtp_support import tls_context

USER = "urlauth@example.test"
PASSWORD = "ur-lauth password 1"
OTHER = "urlauth-other@example.test"
OTHER_PASSWORD = "ur-lauth password 2"
RCPT = "urlauth-rcpt@example.test"
RCPT_PASSWORD = "ur-lauth password 3"

DRAFT = (b"From: urlauth@example.test\r\n"
         b"To: urlauth-rcpt@example.test\r\n"
         b"Subject: BURL draft MARKER\r\n"
         b"Date: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
         b"Message-ID: <burl-draft-MARKER@example.test>\r\n"
         b"MIME-Version: 1.0\r\n"
         b"Content-Type: multipart/mixed; boundary=xyz\r\n"
         b"\r\n"
         b"--xyz\r\nContent-Type: text/plain\r\n\r\nfirst part\r\n"
         b"--xyz\r\nContent-Type: text/plain\r\n\r\nSi vis pacem, para bellum.\r\n"
         b"--xyz--\r\n")


@pytest.fixture(scope="module")
def accounts(platform):
    platform.add_user(USER, PASSWORD)
    platform.add_user(OTHER, OTHER_PASSWORD)
    platform.add_user(RCPT, RCPT_PASSWORD)


def imap(platform, user=USER, password=PASSWORD) -> Wire:
    c = Wire(platform.ports["imap"])
    c.login(user, password)
    return c


def append_draft(c: Wire, marker: str) -> tuple[int, int]:
    """APPENDs the draft to Drafts; (UIDVALIDITY, UID) from APPENDUID."""
    r = c.ok("APPEND Drafts (\\Draft)", literal=DRAFT.replace(b"MARKER", marker.encode()))
    m = re.search(rb"APPENDUID (\d+) (\d+)", r.status)
    assert m, r.status
    return int(m.group(1)), int(m.group(2))


def rump(uidvalidity: int, uid: int, access: str, tail: str = "", user: str = USER) -> str:
    return (f"imap://{urllib.parse.quote(user, safe='')}@imap.example.test/Drafts;UIDVALIDITY={uidvalidity}"
            f"/;UID={uid}{tail};URLAUTH={access}")


def genurlauth(c: Wire, url: str) -> str:
    r = c.ok(f'GENURLAUTH "{url}" INTERNAL')
    (line,) = r.lines(b"* GENURLAUTH ")
    m = re.fullmatch(rb'\* GENURLAUTH "([^"]+)"', line)
    assert m, line
    authorized = m.group(1).decode()
    assert authorized.startswith(url + ":internal:")
    assert re.fullmatch(r"[0-9a-f]{64}", authorized[len(url) + len(":internal:"):])
    return authorized


def urlfetch(c: Wire, url: str) -> bytes | None:
    r = c.ok(f'URLFETCH "{url}"')
    (line,) = r.lines(b"* URLFETCH ")
    if line.endswith(b" NIL"):
        assert not r.literals
        return None
    assert line.endswith(b"{%d}" % len(r.literals[0])), line
    return r.literals[0]


def test_capability_after_login(platform, accounts):
    c = Wire(platform.ports["imap"])
    try:
        assert b"URLAUTH" not in c.ok("CAPABILITY").lines(b"* CAPABILITY")[0].split()
        c.login(USER, PASSWORD)
        assert b"URLAUTH" in c.ok("CAPABILITY").lines(b"* CAPABILITY")[0].split()
    finally:
        c.close()


def test_genurlauth_and_urlfetch_of_a_message_and_a_part(platform, accounts):
    c = imap(platform)
    try:
        uidvalidity, uid = append_draft(c, "fetch1")
        whole = genurlauth(c, rump(uidvalidity, uid, f"user+{urllib.parse.quote(USER, safe='')}"))
        assert urlfetch(c, whole) == DRAFT.replace(b"MARKER", b"fetch1")
        part = genurlauth(c, rump(uidvalidity, uid, "authuser", "/;SECTION=2"))
        assert urlfetch(c, part) == b"Si vis pacem, para bellum."
        partial = genurlauth(c, rump(uidvalidity, uid, "anonymous", "/;SECTION=2/;PARTIAL=3.4"))
        assert urlfetch(c, partial) == b"vis "
        # URLFETCH reads without setting \Seen.
        c.ok("EXAMINE Drafts")
        flags = c.ok(f"UID FETCH {uid} FLAGS").untagged[0]
        assert b"\\Seen" not in flags
    finally:
        c.close()


def test_expiry_wrong_user_and_forgery_give_nil(platform, accounts):
    c = imap(platform)
    other = imap(platform, OTHER, OTHER_PASSWORD)
    try:
        uidvalidity, uid = append_draft(c, "fetch2")
        past = genurlauth(c, rump(uidvalidity, uid, "anonymous", ";EXPIRE=2001-09-09T01:46:40Z"))
        assert urlfetch(c, past) is None
        future = genurlauth(c, rump(uidvalidity, uid, "anonymous", ";EXPIRE=2999-01-01T00:00:00Z"))
        assert urlfetch(c, future) is not None
        # user+<USER>: only that user; the other user gets NIL for it.
        mine = genurlauth(c, rump(uidvalidity, uid, f"user+{urllib.parse.quote(USER, safe='')}"))
        assert urlfetch(other, mine) is None
        # user+<OTHER> is not USER's to fetch either (and the mailbox is USER's).
        theirs = genurlauth(c, rump(uidvalidity, uid, f"user+{urllib.parse.quote(OTHER, safe='')}"))
        assert urlfetch(c, theirs) is None
        # A forged token, and submit+ (only the submission server may use it).
        assert urlfetch(c, mine[:-64] + "0" * 64) is None
        submit = genurlauth(c, rump(uidvalidity, uid, f"submit+{urllib.parse.quote(USER, safe='')}"))
        assert urlfetch(c, submit) is None
        # Nobody authorizes URLs of another user's mailboxes.
        r = other.run(f'GENURLAUTH "{rump(uidvalidity, uid, "anonymous")}" INTERNAL')
        assert r.no, r.status
    finally:
        c.close()
        other.close()


def test_resetkey_invalidates_old_urls(platform, accounts):
    c = imap(platform)
    try:
        uidvalidity, uid = append_draft(c, "fetch3")
        old = genurlauth(c, rump(uidvalidity, uid, "anonymous"))
        assert urlfetch(c, old) is not None
        r = c.ok("RESETKEY Drafts INTERNAL")
        assert b"[URLMECH INTERNAL]" in r.status
        assert urlfetch(c, old) is None
        new = genurlauth(c, rump(uidvalidity, uid, "anonymous"))
        assert new != old and urlfetch(c, new) is not None
        c.ok("RESETKEY")
        assert urlfetch(c, new) is None
        assert c.run("RESETKEY NoSuchMailbox").no
    finally:
        c.close()


def submission(platform) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=30)
    s.ehlo("client.example.test")
    s.starttls(context=tls_context(platform))
    s.ehlo("client.example.test")
    assert not s.has_extn("burl"), "BURL only after AUTH"
    s.login(USER, PASSWORD)
    s.ehlo("client.example.test")
    assert s.esmtp_features.get("burl") == "imap"
    return s


def inbox_messages(platform, marker: str) -> list[bytes]:
    c = imap(platform, RCPT, RCPT_PASSWORD)
    try:
        c.ok("EXAMINE INBOX")
        r = c.ok(f'UID SEARCH SUBJECT "BURL draft {marker}"')
        uids = r.lines(b"* SEARCH")[0].split()[2:]
        out = []
        for u in uids:
            out.append(c.ok(b"UID FETCH " + u + b" BODY.PEEK[]").literals[0])
        return out
    finally:
        c.close()


def test_burl_submits_the_draft_end_to_end(platform, accounts):
    c = imap(platform)
    try:
        uidvalidity, uid = append_draft(c, "burl1")
        url = genurlauth(c, rump(uidvalidity, uid, f"submit+{urllib.parse.quote(USER, safe='')}"))
    finally:
        c.close()
    before = platform.metric_value("smtpd", "postline_smtpd_burl_total", {"result": "ok"})
    s = submission(platform)
    try:
        s.mail(USER)
        s.rcpt(RCPT)
        code, text = s.docmd("BURL", url + " LAST")
        assert code == 250, text
    finally:
        s.quit()
    got = wait_until(lambda: inbox_messages(platform, "burl1"), what="the BURL message in the recipient's INBOX")
    assert len(got) == 1
    draft = DRAFT.replace(b"MARKER", b"burl1")
    # Exactly the draft, below the trace header smtpd adds.
    assert got[0].endswith(b"\r\n" + draft), got[0][:400]
    # What was added are trace fields only: smtpd's Received: (and the
    # Return-Path: of local delivery), folded lines included.
    added = got[0][:-len(draft)]
    assert b"\r\n\r\n" not in added and b"Received: from client.example.test" in added
    for line in added.split(b"\r\n")[:-1]:
        assert line.startswith((b"Received: ", b"Return-Path: ", b"\t", b" ")), line
    assert platform.metric_value("smtpd", "postline_smtpd_burl_total", {"result": "ok"}) == before + 1


def test_burl_mixed_with_bdat_and_a_forged_token(platform, accounts):
    c = imap(platform)
    try:
        uidvalidity, uid = append_draft(c, "burl2")
        url = genurlauth(c, rump(uidvalidity, uid, f"submit+{urllib.parse.quote(USER, safe='')}", "/;SECTION=2"))
    finally:
        c.close()
    s = submission(platform)
    try:
        # A forged token: 554 5.7.0, nothing queued, counted.
        before = platform.metric_value("smtpd", "postline_smtpd_burl_total", {"result": "not_authorized"})
        s.mail(USER)
        s.rcpt(RCPT)
        code, text = s.docmd("BURL", url[:-64] + "f" * 64 + " LAST")
        assert code == 554 and text.startswith(b"5.7.0"), (code, text)
        assert platform.metric_value("smtpd", "postline_smtpd_burl_total",
                                     {"result": "not_authorized"}) == before + 1
        s.rset()
        # BDAT header chunk, BURL of the part, BDAT LAST: in order.
        head = (b"From: urlauth@example.test\r\nTo: urlauth-rcpt@example.test\r\n"
                b"Subject: BURL draft burl2 mixed\r\nDate: Thu, 26 Nov 2026 10:00:00 +0000\r\n"
                b"Message-ID: <burl2-mixed@example.test>\r\n\r\n")
        s.mail(USER)
        s.rcpt(RCPT)
        s.send(b"BDAT %d\r\n" % len(head) + head)
        code, text = s.getreply()
        assert code == 250, text
        code, text = s.docmd("BURL", url)
        assert code == 250 and text.startswith(b"2.5.0"), (code, text)
        tail = b"\r\n-- \r\nsent with BURL\r\n"
        s.send(b"BDAT %d LAST\r\n" % len(tail) + tail)
        code, text = s.getreply()
        assert code == 250, text
    finally:
        s.quit()
    got = wait_until(lambda: inbox_messages(platform, "burl2 mixed"), what="the mixed BURL/BDAT message")
    assert got[0].endswith(head + b"Si vis pacem, para bellum." + tail), got[0]
