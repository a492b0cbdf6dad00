"""Real mail clients from Debian against postline-imapd over implicit TLS
(issue 15: "mutt (in tmux), offlineimap ... still work end to end"):
offlineimap syncs a mailbox tree both ways; mutt runs in a tmux pane, shows
the index, opens a message (\\Seen on the server) and deletes one. mbsync and
curl have their own tests (test_imap_mbsync.py, test_imap_basic.py). Each test
is skipped, with the reason printed, when its client is not installed
(scripts/packages/test.txt installs them)."""
from __future__ import annotations

import imaplib
import os
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from platform_support import wait_until

PASSWORD = "clients password 1"


def message(subject: str, body: str) -> bytes:
    return (f"From: Ann <ann@remote.test>\r\nTo: someone@example.test\r\nSubject: {subject}\r\n"
            f"Date: Thu, 03 Dec 2026 09:00:00 +0000\r\nMessage-ID: <{subject.replace(' ', '.')}@remote.test>\r\n"
            f"\r\n{body}\r\n").encode()


def server(platform, user: str) -> imaplib.IMAP4:
    m = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    m.login(user, PASSWORD)
    return m


def flags_of(platform, user: str, box: str) -> dict[bytes, bytes]:
    """Subject -> FLAGS of every message in `box`."""
    m = server(platform, user)
    try:
        m.select(box, readonly=True)
        typ, data = m.fetch("1:*", "(FLAGS BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
        out = {}
        for item in data:
            if isinstance(item, tuple):
                subject = item[1].split(b":", 1)[1].strip()
                out[subject] = item[0].split(b"FLAGS (", 1)[1].split(b")", 1)[0]
        return out
    finally:
        m.logout()


# ------------------------------------------------------------------ offlineimap


@pytest.mark.skipif(shutil.which("offlineimap") is None,
                    reason="offlineimap not installed (apt-get install offlineimap3, scripts/packages/test.txt)")
def test_offlineimap_two_way_sync(platform):
    user = "offlineimap@example.test"
    platform.add_user(user, PASSWORD)
    m = server(platform, user)
    m.create("Projects/2026")
    m.append("INBOX", None, None, message("first", "one"))
    m.append("INBOX", "(\\Flagged)", None, message("second", "two"))
    m.append("Projects/2026", None, None, message("third", "three"))
    m.logout()

    root = platform.workdir / "offlineimap"
    mail = root / "mail"
    (root / "meta").mkdir(parents=True)
    config = root / "offlineimaprc"
    config.write_text(f"""[general]
accounts = test
metadata = {root / 'meta'}
ui = basic

[Account test]
localrepository = local
remoterepository = remote

[Repository local]
type = Maildir
localfolders = {mail}

[Repository remote]
type = IMAP
remotehost = localhost
remoteport = {platform.ports['imaps']}
remoteuser = {user}
remotepass = {PASSWORD}
ssl = yes
sslcacertfile = {platform.cert}
""")

    def sync():
        r = subprocess.run(["offlineimap", "-c", str(config), "-o", "-u", "basic"], capture_output=True, text=True,
                           timeout=180, env={**os.environ, "HOME": str(root)})
        assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
        assert "ERROR" not in r.stdout + r.stderr, r.stdout[-3000:] + r.stderr[-3000:]

    sync()
    files = {p.parent.parent.name + "/" + p.read_bytes().split(b"Subject: ", 1)[1].split(b"\n", 1)[0].strip().decode(): p
             for p in mail.rglob("*") if p.is_file() and p.parent.name in ("cur", "new")}
    folders = {k.split("/")[0] for k in files}
    assert "INBOX" in folders and any("2026" in f for f in folders), files
    assert {k.split("/", 1)[1] for k in files} == {"first", "second", "third"}
    # The \Flagged message arrives flagged (Maildir info "F").
    second = next(p for k, p in files.items() if k.endswith("/second"))
    assert "F" in second.name.split(":2,")[-1]

    # Local changes: "first" read, a new message in INBOX.
    first = next(p for k, p in files.items() if k.endswith("/first"))
    base, _, info = first.name.partition(":2,")
    first.rename(first.parent.parent / "cur" / (base + ":2," + "".join(sorted(set(info + "S")))))
    inbox = first.parent.parent
    (inbox / "new" / f"{int(time.time())}.local1.host").write_bytes(
        message("written offline", "from the train").replace(b"\r\n", b"\n"))
    sync()
    flags = flags_of(platform, user, "INBOX")
    assert set(flags) == {b"first", b"second", b"written offline"}, flags
    assert b"\\Seen" in flags[b"first"] and b"\\Flagged" in flags[b"second"]


# ------------------------------------------------------------------ mutt in tmux


class Tmux:
    """One detached tmux session running a command; the pane read as text."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], cwd: Path):
        self.name = name
        self.env = env
        subprocess.run(["tmux", "new-session", "-d", "-s", name, "-x", "160", "-y", "40", *command],
                       check=True, env=env, cwd=cwd, timeout=30)

    def screen(self) -> str:
        r = subprocess.run(["tmux", "capture-pane", "-p", "-t", self.name], capture_output=True, text=True,
                           env=self.env, timeout=30)
        return r.stdout

    def keys(self, *keys: str):
        subprocess.run(["tmux", "send-keys", "-t", self.name, *keys], check=True, env=self.env, timeout=30)

    def wait_for(self, text: str, what: str, timeout: float = 60):
        try:
            wait_until(lambda: text in self.screen(), timeout=timeout, what=what)
        except TimeoutError as e:
            raise TimeoutError(f"{e}; the screen:\n{self.screen()}") from None

    def close(self):
        subprocess.run(["tmux", "kill-session", "-t", self.name], capture_output=True, env=self.env, timeout=30)


@pytest.mark.skipif(shutil.which("mutt") is None or shutil.which("tmux") is None,
                    reason="mutt or tmux not installed (apt-get install mutt tmux, scripts/packages/test.txt)")
def test_mutt_in_tmux_reads_and_deletes(platform):
    user = "mutt@example.test"
    platform.add_user(user, PASSWORD)
    m = server(platform, user)
    m.append("INBOX", None, None, message("hello from the index", "the body mutt shows"))
    m.append("INBOX", None, None, message("to be deleted", "gone soon"))
    m.logout()

    home = platform.workdir / "mutt-home"
    home.mkdir()
    muttrc = home / "muttrc"
    muttrc.write_text(f"""set folder = "imaps://{user}@localhost:{platform.ports['imaps']}/"
set spoolfile = "+INBOX"
set imap_user = "{user}"
set imap_pass = "{PASSWORD}"
set ssl_ca_certificates_file = "{platform.cert}"
set ssl_force_tls = yes
set imap_check_subscribed = no
set mail_check = 5
set timeout = 5
set delete = yes
set confirmappend = no
set move = no
set sort = date
set pager_stop = yes
# BODY[] rather than BODY.PEEK[] + a later STORE: the server sets \Seen itself.
set imap_peek = no
set header_cache = ""
set message_cachedir = ""
""")
    # Its own tmux server (socket under HOME via TMUX_TMPDIR): never the user's.
    env = {"HOME": str(home), "TERM": "xterm-256color", "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
           "TMUX_TMPDIR": str(home), "LANG": "C.UTF-8"}
    tmux = Tmux("postline-mutt", ["mutt", "-n", "-F", str(muttrc)], env, home)
    try:
        tmux.wait_for("hello from the index", "mutt's index with the first message")
        assert "to be deleted" in tmux.screen()
        # Open the first message (Enter): the pager shows its body, the server sets \Seen.
        tmux.keys("Enter")
        tmux.wait_for("the body mutt shows", "mutt's pager")
        wait_until(lambda: b"\\Seen" in flags_of(platform, user, "INBOX").get(b"hello from the index", b""),
                   timeout=30, what="\\Seen on the server")
        tmux.keys("q")
        tmux.wait_for("to be deleted", "back in the index")
        # Delete the other one (d on it, then $ to sync): expunged on the server.
        tmux.keys("/", "to be deleted", "Enter")
        tmux.keys("d")
        tmux.keys("$")
        try:
            wait_until(lambda: set(flags_of(platform, user, "INBOX")) == {b"hello from the index"}, timeout=30,
                       what="the deleted message expunged")
        except TimeoutError as e:
            raise TimeoutError(f"{e}; the screen:\n{tmux.screen()}") from None
        tmux.keys("q")
    finally:
        tmux.close()
