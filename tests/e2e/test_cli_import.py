"""`postline import` (issue 17) through the real CLI into a real Postline (PostgreSQL, authd,
imapd), read back over IMAP with imaplib:

- imap: a private Dovecot from Debian (tests/e2e/dovecot_peer.py, with STARTTLS and special-use
  folders) is filled through its own IMAP APPEND with folders (nested, non-ASCII, special-use),
  flags, keywords, dates, an 8-bit message and a 1 MB message; after the import every folder is
  compared with Dovecot's: count, BODY.PEEK[] bytes, flags, keywords, INTERNALDATE. A second run
  imports nothing, a message added at the source makes a third run import exactly it, and a
  folder recreated at the source (new UIDVALIDITY) is imported again without duplicates.
  Wrong password, unverifiable certificate and --insecure say what they are.
- mbox and Maildir: files generated here (From_ quoting, Status headers, Maildir flags,
  dovecot-keywords, Maildir++ subfolders, mtimes), imported and compared the same way; a second
  run skips everything as already there.
- The progress line on a terminal (a pty) and the JSON summary otherwise.
"""
from __future__ import annotations

import imaplib
import json
import os
import pty
import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest

import dovecot_peer
import platform_support as ps

DEST = "importer@import.example"
DEST_PASSWORD = "Quartz-Lantern-4821"
SRC_USER = "source"
SRC_PASSWORD = "source-pass-9171"

# (source folder as Dovecot names it, its special use, our mailbox it must land in)
FOLDERS = [
    ("INBOX", None, "INBOX"),
    ("Sent Messages", "\\Sent", "Sent"),
    ("Deleted Items", "\\Trash", "Trash"),
    ("Lists", None, "Lists"),
    ("Lists.Postline", None, "Lists/Postline"),
    ("Caf&AOk-", None, "Caf&AOk-"),  # "Café", in modified UTF-7 on both sides
]


def message(subject: str, body: str = "Hello.\r\n", extra: bytes = b"") -> bytes:
    head = (f"From: Alice <alice@source.example>\r\nTo: {DEST}\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@source.example>\r\n"
            "Date: Mon, 2 Mar 2026 10:00:00 +0100\r\n")
    return head.encode() + extra + b"\r\n" + body.encode() + b"\r\n"


def eight_bit() -> bytes:
    body = "Grüße aus Köln – ½ € ✓\r\n".encode() + bytes(range(0x80, 0x100)) + b"\r\n"
    return (b"From: b@source.example\r\nSubject: 8bit\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n" + body)


def one_megabyte() -> bytes:
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"
    return message("big") + line * (1024 * 1024 // len(line) + 1)


# folder -> [(flags, INTERNALDATE as Unix seconds, bytes)]
CONTENT = {
    "INBOX": [
        ("(\\Seen)", 1700000000, message("first")),
        ("(\\Seen \\Answered $Label1 ProjectX)", 1700003600, message("second")),
        ("(\\Flagged \\Deleted)", 1700007200, message("deleted but not expunged")),
        ("()", 1700010800, eight_bit()),
        ("(\\Seen)", 1700014400, one_megabyte()),
    ],
    "Sent Messages": [("(\\Seen)", 1690000000, message("sent one")), ("(\\Seen $Forwarded)", 1690000100,
                                                                       message("sent two"))],
    "Deleted Items": [("(\\Seen \\Deleted)", 1680000000, message("trashed"))],
    "Lists": [],
    "Lists.Postline": [("(\\Draft)", 1660000000 + i, message(f"list {i}")) for i in range(12)],
    "Caf&AOk-": [("(ProjectX)", 1650000000, message("café"))],
}


def dovecot_conf(cert: Path, key: Path, imaps_port: int) -> str:
    return f"""
service imap-login {{
  inet_listener imaps {{
    address = 127.0.0.1
    port = {imaps_port}
  }}
}}
ssl = yes
ssl_cert = <{cert}
ssl_key = <{key}
ssl_min_protocol = TLSv1.2
namespace inbox {{
  inbox = yes
  separator = .
  mailbox "Sent Messages" {{
    special_use = \\Sent
  }}
  mailbox "Deleted Items" {{
    special_use = \\Trash
  }}
}}
"""


@pytest.fixture(scope="module")
def dovecot():
    reason = dovecot_peer.unavailable_reason()
    if reason:
        message = f"postline import imap tests skipped: {reason}; to run them, {dovecot_peer.INSTALL_HINT}"
        print(message)
        pytest.skip(message)
    workdir = dovecot_peer.peer_workdir("postline-import-dovecot-")
    cert, key = ps.make_cert(workdir)
    imaps_port = ps.free_port()
    peer = dovecot_peer.DovecotPeer(workdir, extra_conf=dovecot_conf(cert, key, imaps_port))
    peer.imaps_port = imaps_port
    peer.add_user(SRC_USER, SRC_PASSWORD)
    peer.cert = cert
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def src_login(dovecot) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", dovecot.port)
    c.login(SRC_USER, SRC_PASSWORD)
    return c


def append(c: imaplib.IMAP4, folder: str, flags: str, when: int, data: bytes):
    typ, resp = c.append(f'"{folder}"', flags, imaplib.Time2Internaldate(when), data)
    assert typ == "OK", (folder, resp)


@pytest.fixture(scope="module")
def source(dovecot):
    c = src_login(dovecot)
    try:
        for folder, _, _ in FOLDERS:
            if folder != "INBOX":
                typ, resp = c.create(f'"{folder}"')
                assert typ == "OK", (folder, resp)
            for flags, when, data in CONTENT[folder]:
                append(c, folder, flags, when, data)
        typ, listing = c.list()
        assert typ == "OK"
        text = b"\n".join(listing).decode()
        assert "\\Sent" in text and "\\Trash" in text, text  # the special uses are configured
    finally:
        c.logout()
    return dovecot


@pytest.fixture(scope="module")
def dest(platform):
    platform.add_user(DEST, DEST_PASSWORD)
    return platform


def run_import(platform, dovecot, *extra, password=SRC_PASSWORD, check=True, security=("--starttls",)):
    args = ["import", "imap", DEST, "--host", "127.0.0.1", "--port", str(dovecot.port), *security,
            "--user", SRC_USER, "--password-stdin", *extra]
    if "--insecure" not in extra and security == ("--starttls",):
        args += ["--ca-file", str(dovecot.cert)]
    r = platform.cli(*args, input=password + "\n", check=False)
    assert password not in r.stdout + r.stderr  # never echoed, never logged
    if check:
        assert r.returncode == 0, f"import failed ({r.returncode}):\n{r.stdout}\n{r.stderr}"
    return r


def summary(result) -> dict:
    lines = [line for line in result.stdout.splitlines() if line.startswith("{")]
    assert lines, f"no JSON summary on stdout:\n{result.stdout}\n{result.stderr}"
    return json.loads(lines[-1])


def fetch_all(c: imaplib.IMAP4, mailbox: str) -> list[tuple[frozenset, int, int, bytes]]:
    """(flags without \\Recent, INTERNALDATE as Unix seconds, RFC822.SIZE, BODY[]) per message, in UID order."""
    typ, resp = c.select(f'"{mailbox}"', readonly=True)
    assert typ == "OK", (mailbox, resp)
    if int(resp[0]) == 0:
        return []
    typ, data = c.uid("FETCH", "1:*", "(UID FLAGS INTERNALDATE RFC822.SIZE BODY.PEEK[])")
    assert typ == "OK", data
    out = []
    for item in data:
        if not isinstance(item, tuple):
            continue
        meta = item[0].decode()
        flags = frozenset(f for f in re.search(r"FLAGS \(([^)]*)\)", meta).group(1).split() if f != "\\Recent")
        when = int(time.mktime(imaplib.Internaldate2tuple(item[0])))
        size = int(re.search(r"RFC822\.SIZE (\d+)", meta).group(1))
        uid = int(re.search(r"UID (\d+)", meta).group(1))
        out.append((uid, flags, when, size, item[1]))
    out.sort()
    return [o[1:] for o in out]


def dest_login(platform) -> imaplib.IMAP4:
    c = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    c.login(DEST, DEST_PASSWORD)
    return c


def compare_all(platform, dovecot, folders=FOLDERS):
    src, dst = src_login(dovecot), dest_login(platform)
    try:
        for folder, _, ours in folders:
            want, got = fetch_all(src, folder), fetch_all(dst, ours)
            assert len(got) == len(want), (folder, ours, len(got), len(want))
            for i, (w, g) in enumerate(zip(want, got)):
                assert g[3] == w[3], f"{folder} message {i}: bytes differ"
                assert g[2] == w[2] == len(w[3]), (folder, i)
                assert g[0] == w[0], (folder, i, g[0], w[0])
                assert g[1] == w[1], (folder, i, g[1], w[1])
    finally:
        src.logout()
        dst.logout()


def test_import_imap_copies_every_folder_exactly(dest, source):
    r = run_import(dest, source)
    s = summary(r)
    total = sum(len(v) for v in CONTENT.values())
    assert s["messages"] == total and s["errors"] == 0 and s["skipped"] == 0, s
    assert s["folders"] == len(FOLDERS) and s["bytes"] == sum(len(m[2]) for v in CONTENT.values() for m in v), s
    compare_all(dest, source)
    # The special-use folders went to ours, not next to them; the empty folder exists.
    c = dest_login(dest)
    try:
        typ, listing = c.list()
        names = b"\n".join(listing).decode()
        assert '"Sent Messages"' not in names and '"Deleted Items"' not in names, names
        assert "Lists" in names and "Caf&AOk-" in names, names
        # The imported folders are subscribed, as the default ones are.
        typ, subscribed = c.lsub()
        assert "Lists/Postline" in b"\n".join(subscribed).decode()
    finally:
        c.logout()
    # The resume state is a private METADATA entry of each destination mailbox.
    entries = dest.psql("SELECT count(*) FROM mailstore_metadata WHERE entry LIKE '/private/vendor/postline/import/%'")
    assert int(entries) == len(FOLDERS)


def test_second_run_imports_nothing_and_third_only_the_new_message(dest, source):
    s = summary(run_import(dest, source))
    assert (s["messages"], s["skipped"], s["errors"]) == (0, 0, 0), s
    c = src_login(source)
    try:
        append(c, "INBOX", "(\\Flagged NewKeyword)", 1710000000, message("arrived later"))
    finally:
        c.logout()
    s = summary(run_import(dest, source))
    assert (s["messages"], s["skipped"], s["errors"]) == (1, 0, 0), s
    CONTENT["INBOX"].append(("(\\Flagged NewKeyword)", 1710000000, message("arrived later")))
    compare_all(dest, source, FOLDERS[:1])


def test_changed_uidvalidity_reimports_without_duplicates(dest, source):
    # Recreating a folder gives it a new UIDVALIDITY; the same messages come back plus one.
    c = src_login(source)
    try:
        assert c.delete('"Lists.Postline"')[0] == "OK"
        assert c.create('"Lists.Postline"')[0] == "OK"
        for flags, when, data in CONTENT["Lists.Postline"]:
            append(c, "Lists.Postline", flags, when, data)
        append(c, "Lists.Postline", "()", 1660009999, message("list new"))
    finally:
        c.logout()
    r = run_import(dest, source, "--folder", "Lists.*")
    s = summary(r)
    assert (s["folders"], s["messages"], s["skipped"], s["errors"]) == (1, 1, 12, 0), (s, r.stderr)
    assert "UIDVALIDITY changed" in r.stderr
    CONTENT["Lists.Postline"].append(("()", 1660009999, message("list new")))
    compare_all(dest, source, [f for f in FOLDERS if f[0] == "Lists.Postline"])


def test_folder_filters_and_the_other_transports(dest, source):
    # --plain (loopback): no TLS at all.
    s = summary(run_import(dest, source, "--folder", "INBOX", "--folder", "Caf*", "--exclude", "INBOX",
                           security=("--plain",)))
    assert (s["folders"], s["messages"]) == (1, 0), s
    # --tls: implicit TLS on Dovecot's imaps port, certificate checked against --ca-file.
    r = dest.cli("import", "imap", DEST, "--host", "127.0.0.1", "--port", str(source.imaps_port), "--tls",
                 "--ca-file", str(source.cert), "--user", SRC_USER, "--password-stdin", "--folder", "INBOX",
                 input=SRC_PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    assert summary(r)["folders"] == 1


def test_wrong_password_and_tls_checks(dest, source):
    r = run_import(dest, source, password="not-the-password", check=False)
    assert r.returncode == 1
    assert "login as source failed" in r.stderr and "AUTHENTICATIONFAILED" in r.stderr, r.stderr
    # No --ca-file: the self-signed certificate is not trusted, and the error says how to proceed.
    args = ["import", "imap", DEST, "--host", "127.0.0.1", "--port", str(source.port), "--starttls",
            "--user", SRC_USER, "--password-stdin"]
    r = dest.cli(*args, input=SRC_PASSWORD + "\n", check=False)
    assert r.returncode == 1
    assert "certificate verification failed" in r.stderr and "--ca-file" in r.stderr, r.stderr
    r = dest.cli(*args, "--insecure", input=SRC_PASSWORD + "\n", check=False)
    assert r.returncode == 0, r.stderr
    assert "--insecure" in r.stderr and "not checked" in r.stderr
    # Implicit TLS against a plain port fails as a handshake error, not a hang or a crash.
    r = dest.cli("import", "imap", DEST, "--host", "127.0.0.1", "--port", str(source.port), "--tls",
                 "--user", SRC_USER, "--password-stdin", "--insecure", "--timeout", "5",
                 input=SRC_PASSWORD + "\n", check=False)
    assert r.returncode == 1 and "TLS handshake" in r.stderr, r.stderr
    # Usage errors: exit 2, naming the word.
    r = dest.cli("import", check=False)
    assert r.returncode == 2 and '"import" needs a command (one of: imap, mbox, maildir)' in r.stderr, r.stderr
    r = dest.cli("import", "pop3", check=False)
    assert r.returncode == 2 and 'unknown command "pop3" for "import"' in r.stderr, r.stderr
    r = dest.cli("import", "imap", DEST, "--host", "h", "--tls", "--plain", "--user", "u", "--password-stdin",
                 input="x\n", check=False)
    assert r.returncode == 2 and "one of --tls, --starttls, --plain" in r.stderr
    r = dest.cli("import", "imap", "nobody@import.example", "--host", "127.0.0.1", "--user", "u",
                 "--password-stdin", input="x\n", check=False)
    assert r.returncode == 1 and "no such user nobody@import.example" in r.stderr, r.stderr


# --- files ----------------------------------------------------------------------------

MBOX = (
    b"From alice@old.example Thu Dec  3 15:16:36 2026\n"
    b"From: alice@old.example\nSubject: mbox one\nStatus: RO\nX-Status: A\n\n"
    b"first body\n>From quoted in the body\n>>From twice\n\n"
    b"From bob@old.example Fri Dec  4 01:02:03 2026\n"
    b"From: bob@old.example\nSubject: mbox two\nX-Keywords: $Label2\n\n"
    b"second body \xc3\xa9\n\n"
    b"From carol@old.example no date here\n"
    b"From: carol@old.example\nSubject: mbox three\nDate: Sat, 05 Dec 2026 08:00:00 +0000\n\nthird\n\n"
)


def test_import_mbox(dest, tmp_path):
    path = tmp_path / "old.mbox"
    path.write_bytes(MBOX)
    r = dest.cli("import", "mbox", DEST, str(path), "--folder", "Old/Mbox")
    s = summary(r)
    assert (s["folders"], s["messages"], s["skipped"], s["errors"]) == (1, 3, 0, 0), s
    c = dest_login(dest)
    try:
        got = fetch_all(c, "Old/Mbox")
    finally:
        c.logout()
    assert [m[3] for m in got] == [
        b"From: alice@old.example\r\nSubject: mbox one\r\nStatus: RO\r\nX-Status: A\r\n\r\n"
        b"first body\r\nFrom quoted in the body\r\n>From twice\r\n",
        b"From: bob@old.example\r\nSubject: mbox two\r\nX-Keywords: $Label2\r\n\r\nsecond body \xc3\xa9\r\n",
        b"From: carol@old.example\r\nSubject: mbox three\r\nDate: Sat, 05 Dec 2026 08:00:00 +0000\r\n\r\nthird\r\n",
    ]
    assert [m[0] for m in got] == [frozenset({"\\Seen", "\\Answered"}), frozenset({"$Label2"}), frozenset()]
    assert [m[1] for m in got] == [1796310996, 1796346123, 1796457600]  # From_ lines, then the Date: header
    # Again: everything is already there.
    s = summary(dest.cli("import", "mbox", DEST, str(path), "--folder", "Old/Mbox"))
    assert (s["messages"], s["skipped"]) == (0, 3), s
    # Not an mbox: a clear error naming the line.
    bad = tmp_path / "bad.mbox"
    bad.write_bytes(b"Subject: x\n\nbody\n")
    r = dest.cli("import", "mbox", DEST, str(bad), check=False)
    assert r.returncode == 1 and "not an mbox file: line 1" in r.stderr, r.stderr
    r = dest.cli("import", "mbox", DEST, str(tmp_path / "missing.mbox"), check=False)
    assert r.returncode == 1 and "cannot read" in r.stderr and "No such file" in r.stderr


def test_quota_stops_the_import_and_it_resumes(dest, tmp_path):
    user = "quota-import@import.example"
    dest.add_user(user, DEST_PASSWORD)
    dest.cli("quota", "set", user, "--messages", "3")
    path = tmp_path / "five.mbox"
    path.write_bytes(b"".join(b"From x Thu Dec  3 15:16:36 2026\nSubject: q%d\n\nbody\n\n" % i for i in range(5)))
    r = dest.cli("import", "mbox", user, str(path), check=False)
    assert r.returncode == 1
    assert "the account is at its quota" in r.stderr and "postline quota set" in r.stderr, r.stderr
    s = summary(r)
    assert s["messages"] == 0 and "quota" in s["stopped"], s  # one batch: all or nothing
    # --ignore-quota goes past it; a second run then finds everything there.
    s = summary(dest.cli("import", "mbox", user, str(path), "--ignore-quota"))
    assert (s["messages"], s["skipped"]) == (5, 0), s
    s = summary(dest.cli("import", "mbox", user, str(path)))
    assert (s["messages"], s["skipped"]) == (0, 5), s


def write_maildir_file(path: Path, data: bytes, mtime: int):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    os.utime(path, (mtime, mtime))


def test_import_maildir(dest, tmp_path):
    root = tmp_path / "Maildir"
    (root / "tmp").mkdir(parents=True)
    write_maildir_file(root / "cur" / "1600000001.M1P1.old:2,RSa", b"Subject: md one\n\nreplied\n", 1600000001)
    write_maildir_file(root / "cur" / "1600000002.M2P2.old:2,FT", b"Subject: md two\n\ntrashed\n", 1600000002)
    write_maildir_file(root / "new" / "1600000003.M3P3.old", b"Subject: md three\n\nunread\n", 1600000003)
    write_maildir_file(root / "tmp" / "1600000004.M4P4.old", b"Subject: half written\n", 1600000004)
    (root / "dovecot-keywords").write_text("0 $Important\n")
    write_maildir_file(root / ".Work.Entw&APw-rfe" / "cur" / "1600000005.M5P5.old:2,D",
                       b"Subject: md draft\n\ndraft\n", 1600000005)
    write_maildir_file(root / ".Sent" / "cur" / "1600000006.M6P6.old:2,SP", b"Subject: md sent\n\nsent\n", 1600000006)
    r = dest.cli("import", "maildir", DEST, str(root))
    s = summary(r)
    assert (s["folders"], s["messages"], s["skipped"], s["errors"]) == (3, 5, 0, 0), (s, r.stderr)
    c = dest_login(dest)
    try:
        inbox = [m for m in fetch_all(c, "INBOX") if m[3].startswith(b"Subject: md ")]
        drafts = fetch_all(c, "Work/Entw&APw-rfe")  # "Work/Entwürfe"
        sent = [m for m in fetch_all(c, "Sent") if m[3].startswith(b"Subject: md ")]
    finally:
        c.logout()
    assert [(m[0], m[1], m[3]) for m in inbox] == [
        (frozenset({"\\Answered", "\\Seen", "$Important"}), 1600000001, b"Subject: md one\r\n\r\nreplied\r\n"),
        (frozenset({"\\Flagged", "\\Deleted"}), 1600000002, b"Subject: md two\r\n\r\ntrashed\r\n"),
        (frozenset(), 1600000003, b"Subject: md three\r\n\r\nunread\r\n"),
    ]
    assert [(m[0], m[1]) for m in drafts] == [(frozenset({"\\Draft"}), 1600000005)]
    assert [(m[0], m[1]) for m in sent] == [(frozenset({"\\Seen", "$Forwarded"}), 1600000006)]
    s = summary(dest.cli("import", "maildir", DEST, str(root)))
    assert (s["messages"], s["skipped"]) == (0, 5), s
    r = dest.cli("import", "maildir", DEST, str(root / "cur"), check=False)
    assert r.returncode == 1 and "is not a Maildir" in r.stderr


def test_progress_on_a_terminal_and_json_on_a_pipe(dest, tmp_path):
    path = tmp_path / "p.mbox"
    path.write_bytes(b"".join(b"From x Thu Dec  3 15:16:36 2026\nSubject: p%d\n\nbody\n\n" % i for i in range(50)))
    master, slave = pty.openpty()
    try:
        proc = subprocess.run([str(dest.bin / "postline"), "import", "mbox", DEST, str(path), "--folder", "Progress"],
                              stdout=subprocess.PIPE, stderr=slave, env=dest.process_env(), timeout=60)
        os.close(slave)
        slave = None
        out = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert proc.returncode == 0
    progress = out.decode(errors="replace")
    assert "[Progress] 50 messages" in progress and "/s" in progress, progress
    assert json.loads(proc.stdout)["messages"] == 50  # stdout is a pipe: JSON
