"""IMAP access end to end (issues 2 and 5): real postline-imapd, authd and
PostgreSQL, driven with Python's imaplib over plain TCP, STARTTLS and implicit
TLS. Mail gets in through APPEND here; test_skeleton.py covers SMTP delivery."""
from __future__ import annotations

import imaplib
import re
import socket
import ssl

import pytest

from platform_support import wait_until

USER = "imap-user@example.test"
PASSWORD = "imap password 1"
OTHER = "imap-other@example.test"

MESSAGE = (
    b"From: Bob <bob@remote.test>\r\n"
    b"To: imap-user@example.test\r\n"
    b"Subject: Quarterly report\r\n"
    b"Date: Wed, 25 Nov 2026 19:00:00 +0000\r\n"
    b"Message-ID: <report-1@remote.test>\r\n"
    b"MIME-Version: 1.0\r\n"
    b"Content-Type: multipart/mixed; boundary=\"b1\"\r\n"
    b"\r\n"
    b"--b1\r\n"
    b"Content-Type: text/plain; charset=utf-8\r\n"
    b"\r\n"
    b"The numbers look splendid.\r\n"
    b"--b1\r\n"
    b"Content-Type: application/octet-stream; name=\"data.bin\"\r\n"
    b"Content-Transfer-Encoding: base64\r\n"
    b"\r\n"
    b"AAECAwQ=\r\n"
    b"--b1--\r\n"
)


def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    platform.add_user(OTHER, PASSWORD)
    return USER


def connect(platform) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(USER, PASSWORD)
    return m


def test_wrong_password_is_authenticationfailed(platform, account):
    before = platform.metric_value("imapd", "postline_imapd_logins_total", {"outcome": "failure"})
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    with pytest.raises(imaplib.IMAP4.error, match=r"AUTHENTICATIONFAILED"):
        m.login(USER, "not the password")
    m.logout()
    assert platform.metric_value("imapd", "postline_imapd_logins_total", {"outcome": "failure"}) == before + 1


def test_first_login_creates_special_use_mailboxes(platform, account):
    m = connect(platform)
    typ, data = m.list()
    assert typ == "OK"
    listing = b"\n".join(data).decode()
    for name, attr in [("Sent", "\\Sent"), ("Drafts", "\\Drafts"), ("Trash", "\\Trash"), ("Junk", "\\Junk"),
                       ("Archive", "\\Archive")]:
        assert re.search(r"\([^)]*" + re.escape(attr) + r"[^)]*\) \"/\" " + name + r"$", listing, re.M), listing
    assert re.search(r'"/" INBOX$', listing, re.M)
    m.logout()


def test_append_then_fetch_is_byte_exact(platform, account):
    m = connect(platform)
    typ, data = m.append("INBOX", r"(\Flagged)", None, MESSAGE)
    assert typ == "OK" and b"APPENDUID" in data[0], data
    typ, data = m.select("INBOX")
    count = int(data[0])
    typ, data = m.fetch(str(count), "(UID FLAGS RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK"
    head, body = data[0]
    assert body == MESSAGE
    assert b"RFC822.SIZE %d" % len(MESSAGE) in head
    assert b"\\Flagged" in head and b"\\Seen" not in head
    # Parts by number, without the whole message; BINARY decodes base64.
    typ, data = m.fetch(str(count), "(BODY.PEEK[1] BINARY.PEEK[2] BODYSTRUCTURE ENVELOPE)")
    assert typ == "OK"
    assert data[0][1] == b"The numbers look splendid."
    assert data[1][1] == b"\x00\x01\x02\x03\x04"
    flat = b"".join(x if isinstance(x, bytes) else x[0] + x[1] for x in data)
    assert b'"Quarterly report"' in flat  # ENVELOPE subject
    assert b'("text" "plain"' in flat and b'"mixed"' in flat  # BODYSTRUCTURE
    # A non-PEEK fetch sets \Seen.
    typ, data = m.fetch(str(count), "(BODY[HEADER.FIELDS (SUBJECT)])")
    assert data[0][1] == b"Subject: Quarterly report\r\n\r\n"
    assert b"\\Seen" in data[0][0]
    m.logout()


def test_search_uses_text_and_flags(platform, account):
    m = connect(platform)
    m.select("INBOX")
    typ, data = m.uid("SEARCH", None, "SUBJECT", "quarterly")
    assert typ == "OK" and data[0].split(), data
    typ, data = m.search(None, "BODY", "SPLENDID")
    assert data[0].split()
    typ, data = m.search(None, "SUBJECT", "no-such-subject")
    assert data[0] == b""
    typ, data = m.search(None, "FLAGGED", "SENTON", "25-Nov-2026")
    assert data[0].split()
    m.logout()


def test_store_copy_move_expunge(platform, account):
    m = connect(platform)
    m.append("INBOX", None, None, b"Subject: to be moved\r\n\r\nmove me\r\n")
    m.select("INBOX")
    typ, data = m.uid("SEARCH", None, "SUBJECT", "moved")
    uid = data[0].split()[-1].decode()
    typ, data = m.uid("COPY", uid, "Archive")
    assert typ == "OK"
    assert m.untagged_responses.get("COPYUID"), m.untagged_responses  # UIDPLUS
    typ, data = m.uid("MOVE", uid, "Trash")
    assert typ == "OK"
    typ, data = m.uid("SEARCH", None, "UID", uid)
    assert data[0] == b""
    typ, data = m.status("Trash", "(MESSAGES)")
    assert b"MESSAGES 1" in data[0]
    m.select("Trash")
    typ, data = m.store("1", "+FLAGS", r"(\Deleted)")
    assert typ == "OK" and b"\\Deleted" in data[0]
    typ, data = m.expunge()
    assert typ == "OK" and data[0] == b"1"
    typ, data = m.status("Trash", "(MESSAGES)")
    assert b"MESSAGES 0" in data[0]
    m.logout()


def test_mailbox_management(platform, account):
    m = connect(platform)
    assert m.create("Projects/2026")[0] == "OK"
    assert m.create("Projects")[0] == "NO"  # already exists (created as a superior)
    assert m.rename("Projects", "Work")[0] == "OK"
    typ, data = m.list(pattern="Work*")
    names = sorted(line.decode().rsplit(" ", 1)[1] for line in data)
    assert names == ["Work", "Work/2026"], data
    assert m.delete("Work")[0] == "NO"  # has children
    assert m.delete("Work/2026")[0] == "OK"
    assert m.delete("Work")[0] == "OK"
    assert m.delete("INBOX")[0] == "NO"
    # Modified UTF-7 names round-trip.
    assert m.create("Entw&APw-rfe")[0] == "OK"
    typ, data = m.list(pattern="Entw*")
    assert data[0].endswith(b'"/" Entw&APw-rfe'), data
    m.logout()


def test_starttls_and_authenticate_plain(platform, account):
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    assert "STARTTLS" in m.capabilities
    m.starttls(ssl_context=tls_context())
    typ, _ = m.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
    assert typ == "OK"
    m.logout()


def test_implicit_tls_and_sasl_ir(platform, account):
    m = imaplib.IMAP4_SSL("127.0.0.1", platform.ports["imaps"], ssl_context=tls_context())
    assert "SASL-IR" in m.capabilities
    m.logout()
    # SASL-IR by hand: the initial response on the command line.
    import base64
    with socket.create_connection(("127.0.0.1", platform.ports["imaps"])) as raw:
        with tls_context().wrap_socket(raw) as s:
            f = s.makefile("rb")
            assert f.readline().startswith(b"* OK")
            token = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode())
            s.sendall(b"a1 AUTHENTICATE PLAIN " + token + b"\r\n")
            assert f.readline().startswith(b"a1 OK")


def test_idle_sees_new_mail_from_another_session(platform, account):
    watcher = connect(platform)
    watcher.select("INBOX")
    watcher.send(b"i1 IDLE\r\n")
    assert watcher.readline().startswith(b"+")
    writer = connect(platform)
    writer.append("INBOX", None, None, b"Subject: idle push\r\n\r\nhello\r\n")
    line = watcher.readline()
    assert re.match(rb"\* \d+ EXISTS\r\n", line), line
    # IMAP4rev1: the new message is this session's \Recent, and the count follows.
    line = watcher.readline()
    assert re.match(rb"\* \d+ RECENT\r\n", line), line
    watcher.send(b"DONE\r\n")
    assert watcher.readline().startswith(b"i1 OK")
    writer.logout()
    watcher.logout()


def test_bad_input_gets_bad_not_a_crash(platform, account):
    with socket.create_connection(("127.0.0.1", platform.ports["imap"])) as s:
        f = s.makefile("rb")
        f.readline()
        s.sendall(b"a1 FROBNICATE\r\n")
        assert f.readline().startswith(b"a1 BAD")
        s.sendall(b"a2 SELECT INBOX\r\n")
        assert f.readline().startswith(b"a2 BAD")  # not logged in
        s.sendall(b"a3 LOGIN {99999999999}\r\n")
        assert f.readline().startswith(b"a3 NO [TOOBIG]")
        s.sendall(b"a4 " + b"x" * 70000 + b"\r\n")
        assert f.readline().startswith(b"a4 BAD")
        s.sendall(b"a5 NOOP\r\n")
        assert f.readline().startswith(b"a5 OK")
    assert platform.metric_value("imapd", "postline_imapd_commands_total", {"command": "NOOP"}) >= 1


def test_preview_and_objectid(platform, account):
    m = connect(platform)
    m.append("INBOX", None, None, b"Subject: preview\r\n\r\nFirst words of the body.\r\n")
    typ, data = m.select("INBOX")
    typ, data = m.fetch(data[0].decode(), "(PREVIEW EMAILID)")
    assert b'PREVIEW "First words of the body."' in data[0], data
    assert re.search(rb"EMAILID \(M[0-9a-f]+\)", data[0]), data
    m.logout()


def test_curl_imap_client_reads_a_message(platform, account):
    """curl's IMAP client: list, search and fetch a message by UID."""
    import subprocess
    m = connect(platform)
    body = b"Subject: for curl\r\n\r\ncurl was here\r\n"
    m.append("INBOX", None, None, body)
    m.select("INBOX")
    uid = m.uid("SEARCH", None, "SUBJECT", '"for curl"')[1][0].split()[-1].decode()
    m.logout()
    base = f"imap://127.0.0.1:{platform.ports['imap']}"
    auth = ["-u", f"{USER}:{PASSWORD}"]
    listing = subprocess.run(["curl", "-sS", *auth, base + "/"], capture_output=True, check=True, timeout=30)
    assert b"INBOX" in listing.stdout and b"Archive" in listing.stdout, listing
    fetched = subprocess.run(["curl", "-sS", *auth, f"{base}/INBOX;UID={uid}"], capture_output=True, check=True,
                             timeout=30)
    assert fetched.stdout == body, fetched


def test_imap4rev2_enable_utf8_names_and_esearch(platform, account):
    with socket.create_connection(("127.0.0.1", platform.ports["imap"])) as s:
        f = s.makefile("rb")

        def cmd(tag: bytes, line: bytes) -> list[bytes]:
            s.sendall(tag + b" " + line + b"\r\n")
            out = []
            while True:
                resp = f.readline()
                out.append(resp)
                if resp.startswith(tag + b" "):
                    return out

        f.readline()
        assert b"IMAP4rev2" in cmd(b"a0", b"CAPABILITY")[0]
        assert cmd(b"a1", f'LOGIN "{USER}" "{PASSWORD}"'.encode())[-1].startswith(b"a1 OK")
        out = cmd(b"a2", b"ENABLE IMAP4rev2")
        assert out[0] == b"* ENABLED IMAP4rev2\r\n", out
        name = "Entwürfe-2".encode()
        assert cmd(b"a3", b'CREATE "' + name + b'"')[-1].startswith(b"a3 OK")
        out = cmd(b"a4", b'LIST "" "Entw*"')
        assert any(name in line for line in out), out  # UTF-8 now, not modified UTF-7
        msg = b"Subject: r\xc3\xa9sum\xc3\xa9\r\n\r\nUTF-8 header\r\n"
        s.sendall(b'a5 APPEND "' + name + b'" UTF8 (~{%d+}\r\n' % len(msg) + msg + b")\r\n")
        while not (line := f.readline()).startswith(b"a5 "):
            pass
        assert line.startswith(b"a5 OK [APPENDUID"), line
        out = cmd(b"a6", b'SELECT "' + name + b'"')
        assert not any(b"RECENT" in line for line in out), out
        out = cmd(b"a7", b"SEARCH ALL")
        assert out[0] == b'* ESEARCH (TAG "a7") ALL 1\r\n', out


def test_quota_reported_and_enforced_on_append(platform):
    user = "imap-quota@example.test"
    platform.add_user(user, PASSWORD)
    platform.cli("quota", "set", user, "20K")
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(user, PASSWORD)
    typ, data = m.getquotaroot("INBOX")
    assert typ == "OK", data
    flat = b" ".join(x for part in data for x in (part if isinstance(part, list) else [part]) if isinstance(x, bytes))
    assert re.search(rb'STORAGE 0 20\)', flat), data
    assert m.append("INBOX", None, None, b"Subject: small\r\n\r\n" + b"x" * 5000 + b"\r\n")[0] == "OK"
    typ, data = m.append("INBOX", None, None, b"Subject: big\r\n\r\n" + b"y" * 30000 + b"\r\n")
    assert typ == "NO" and b"OVERQUOTA" in data[0], data
    m.logout()


def test_inflight_literal_budget_refuses_for_now_then_accepts(fresh_platform_factory):
    """imap.max_inflight_literals caps literal bytes all connections buffer at
    once (charged as they arrive): while one APPEND holds most of it, another's
    synchronising literal is refused with NO [UNAVAILABLE] before any byte is
    sent, and accepted once the first is done. Each literal byte counts 5 times
    (the copies its command makes), so 5 MiB hold one 900 KiB literal."""
    p = fresh_platform_factory({"POSTLINE_IMAP_MAX_LITERAL_SIZE": "1MiB",
                                "POSTLINE_IMAP_MAX_INFLIGHT_LITERALS": "5MiB"})
    p.add_user(USER, PASSWORD)

    def login():
        s = socket.create_connection(("127.0.0.1", p.ports["imap"]), timeout=30)
        f = s.makefile("rb")
        f.readline()
        s.sendall(f'l LOGIN "{USER}" "{PASSWORD}"\r\n'.encode())
        while not (line := f.readline()).startswith(b"l "):
            pass
        assert line.startswith(b"l OK"), line
        return s, f

    (hs, hf), (os_, of) = login(), login()
    try:
        big = b"Subject: held\r\n\r\n" + b"x" * (900 * 1024)
        hs.sendall(b"h APPEND INBOX {%d}\r\n" % len(big))
        assert hf.readline().startswith(b"+")
        hs.sendall(big[:-10])  # the holder is mid-literal: 900 KiB charged once they arrive
        wait_until(lambda: p.metric_value("imapd", "postline_imapd_literal_bytes_buffered") >= 5 * 900 * 1024,
                   what="the holder's literal bytes buffered")

        small = b"Subject: waits\r\n\r\n" + b"y" * (200 * 1024)
        os_.sendall(b"o APPEND INBOX {%d}\r\n" % len(small))
        assert of.readline().startswith(b"o NO [UNAVAILABLE]")

        hs.sendall(big[-10:] + b"\r\n")
        while not (line := hf.readline()).startswith(b"h "):
            pass
        assert line.startswith(b"h OK"), line
        os_.sendall(b"o2 APPEND INBOX {%d}\r\n" % len(small))
        assert of.readline().startswith(b"+")
        os_.sendall(small + b"\r\n")
        while not (line := of.readline()).startswith(b"o2 "):
            pass
        assert line.startswith(b"o2 OK"), line
    finally:
        hs.close()
        os_.close()
    assert p.metric_value("imapd", "postline_imapd_protocol_errors_total", {"kind": "literal_budget"}) == 1
