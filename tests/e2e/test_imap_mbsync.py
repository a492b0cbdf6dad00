"""A real sync client (mbsync from Debian's isync) against postline-imapd over
implicit TLS: a mailbox tree with attachments pulled byte for byte, then local
changes (new message, flag, new folder) pushed back. Skipped when mbsync is not
installed (`apt-get install isync`)."""
from __future__ import annotations

import email
import imaplib
import shutil
import ssl
import subprocess
from pathlib import Path

import pytest

USER = "mbsync-user@example.test"
PASSWORD = "mbsync password 1"

pytestmark = pytest.mark.skipif(shutil.which("mbsync") is None, reason="mbsync (isync) not installed")


def attachment_message(n: int) -> bytes:
    blob = bytes(range(256)) * 40
    import base64
    b64 = base64.encodebytes(blob).replace(b"\n", b"\r\n")
    return (b"From: a@remote.test\r\nSubject: with attachment %d\r\nMIME-Version: 1.0\r\n"
            b"Content-Type: multipart/mixed; boundary=zz\r\n\r\n--zz\r\nContent-Type: text/plain\r\n\r\n"
            b"see attached %d\r\n--zz\r\nContent-Type: application/octet-stream\r\n"
            b"Content-Transfer-Encoding: base64\r\n\r\n" % (n, n) + b64 + b"--zz--\r\n")


def run_mbsync(config: Path):
    result = subprocess.run(["mbsync", "-c", str(config), "-a"], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stdout + result.stderr


def strip_tuid(raw: bytes) -> bytes:
    """mbsync may add an X-TUID header to track messages; everything else must match."""
    return b"".join(l for l in raw.splitlines(keepends=True) if not l.startswith(b"X-TUID: "))


def as_local(raw: bytes) -> bytes:
    """Maildir files hold LF line endings; the server holds CRLF."""
    return raw.replace(b"\r\n", b"\n")


def maildir_messages(folder: Path) -> list[bytes]:
    out = []
    for sub in ("cur", "new"):
        d = folder / sub
        if d.exists():
            out += [strip_tuid(p.read_bytes()) for p in sorted(d.iterdir())]
    return out


def test_two_way_sync_with_mbsync(platform):
    platform.add_user(USER, PASSWORD)
    server = {"INBOX": [attachment_message(1), attachment_message(2)],
              "Projects/2026": [attachment_message(3)]}
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(USER, PASSWORD)
    m.create("Projects/2026")
    for box, msgs in server.items():
        for msg in msgs:
            assert m.append(box, None, None, msg)[0] == "OK"
    m.logout()

    local = platform.workdir / "maildir"
    local.mkdir()
    config = platform.workdir / "mbsyncrc"
    config.write_text(f"""
IMAPAccount test
Host localhost
Port {platform.ports['imaps']}
User {USER}
Pass "{PASSWORD}"
SSLType IMAPS
CertificateFile {platform.cert}

IMAPStore remote
Account test

MaildirStore local
Path {local}/
Inbox {local}/INBOX
SubFolders Verbatim

Channel sync
Far :remote:
Near :local:
Patterns *
Create Both
Expunge Both
SyncState *
""")
    run_mbsync(config)
    # Pulled byte for byte, folders included.
    assert sorted(maildir_messages(local / "INBOX")) == sorted(as_local(x) for x in server["INBOX"])
    assert maildir_messages(local / "Projects" / "2026") == [as_local(x) for x in server["Projects/2026"]]
    assert (local / "Sent").exists() and (local / "Archive").exists()

    # Local changes: a new message in a new folder, and \Seen on a pulled one.
    new_folder = local / "Local"
    for sub in ("cur", "new", "tmp"):
        (new_folder / sub).mkdir(parents=True)
    pushed = b"From: me@example.test\r\nSubject: written offline\r\n\r\nhello server\r\n"
    (new_folder / "new" / "1700000000.1_1.host").write_bytes(pushed)
    first = sorted((local / "INBOX" / "cur").iterdir())[0] if any((local / "INBOX" / "cur").iterdir()) else \
        sorted((local / "INBOX" / "new").iterdir())[0]
    base = first.name.split(":2,")[0]
    first.rename(local / "INBOX" / "cur" / (base + ":2,S"))
    run_mbsync(config)

    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(USER, PASSWORD)
    typ, data = m.select("Local")
    assert typ == "OK" and int(data[0]) == 1
    typ, data = m.fetch("1", "(BODY.PEEK[])")
    assert strip_tuid(data[0][1]) == pushed
    m.select("INBOX")
    typ, data = m.search(None, "SEEN")
    assert len(data[0].split()) == 1, data
    m.logout()
