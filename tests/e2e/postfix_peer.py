"""A private Postfix instance on a free loopback port, for the benchmarks in bench/
(Postline's peer, through bench/benchlib.py) and the queue's conformance tests
(tests/e2e/test_queue_postfix.py: Postfix as the remote MX Postline delivers to, and
as the sending client relaying into Postline's MX). One launcher for both.

Postfix comes from Debian's postfix package (scripts/packages/bench.txt). It needs
root: master drops to the postfix user and virtual(8) writes Maildirs as MAIL_USER.
Its own config_directory, queue, data directory and log live in a temp directory;
the system's Postfix (if any) is never touched.
"""
from __future__ import annotations

import contextlib
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import platform_support as ps  # noqa: E402
from dovecot_peer import MAIL_USER, _ids, _pid_alive  # noqa: E402


def unavailable_reason() -> str | None:
    """Why a private Postfix cannot run here (None when it can)."""
    if not shutil.which("postfix", path="/usr/sbin:/usr/bin"):
        return ("postfix is not installed (an optional set: as root, bash -c 'source scripts/lib.sh && "
                "postline_install_packages bench', or apt-get install postfix)")
    if os.geteuid() != 0:
        return "a private Postfix needs root (master drops to the postfix user)"
    return None


class PostfixPeer:
    """A private Postfix: smtpd on 127.0.0.1:PORT only, accepting mail for `domain` into
    Maildirs under `mail_root/<localpart>/` (virtual(8), owned by MAIL_USER), everything
    else discarded - unless `extra` (main.cf settings that override the defaults) says
    otherwise, e.g. `relayhost` + `default_transport=smtp` for a sending client, or
    `smtpd_discard_ehlo_keywords` to hide 8BITMIME/SMTPUTF8/DSN from a client.
    `users=()` accepts no local domain at all. Needs root."""

    def __init__(self, workdir: Path, users=("peer",), domain: str = "peer.test", mail_root: Path | None = None,
                 extra: dict[str, str] | None = None, hostname: str = "peer-mx.bench.test",
                 syslog_name: str = "postfix-bench", extra_listeners: dict[str, list[str]] | None = None,
                 extra_mailboxes: dict[str, str] | None = None):
        self.dir = workdir
        self.domain = domain
        self.users = list(users)
        self.port = ps.free_port()  # 20000-32000: never a development port
        self.etc = workdir / "etc"
        self.queue = workdir / "queue"
        self.data = workdir / "data"
        self.mail_root = mail_root or (workdir / "vmail")
        self.logfile = workdir / "postfix.log"
        self.extra = dict(extra or {})
        self.hostname = hostname
        self.syslog_name = syslog_name
        # More smtpd listeners on the same port at other loopback addresses, with their
        # own master.cf "-o" overrides: {"127.0.0.2": ["-o", "smtpd_discard_ehlo_keywords="]}.
        self.extra_listeners = dict(extra_listeners or {})
        # More accepted addresses: {"a@other.test": "other-a/"} (a Maildir under mail_root);
        # their domains are added to virtual_mailbox_domains.
        self.extra_mailboxes = dict(extra_mailboxes or {})
        self.started = False

    def maildir(self, localpart: str) -> Path:
        return self.mail_root / localpart

    def _postconf(self, *args):
        subprocess.run(["postconf", "-c", str(self.etc), *args], check=True, capture_output=True, text=True)

    def _env(self) -> dict[str, str]:
        return {k: v for k, v in os.environ.items() if not k.startswith("MAIL_")}

    def start(self):
        reason = unavailable_reason()
        if reason:
            raise RuntimeError(reason)
        uid, gid = _ids(MAIL_USER)
        for d in (self.etc, self.data, self.mail_root):
            d.mkdir(parents=True, exist_ok=True)
        os.chown(self.mail_root, uid, gid)
        os.chown(self.data, *_ids("postfix"))
        self.queue.mkdir(exist_ok=True)
        shutil.copy("/usr/share/postfix/master.cf.dist", self.etc / "master.cf")
        (self.etc / "main.cf").write_text("")
        settings = {
            "compatibility_level": "3.6",
            "config_directory": str(self.etc),
            "queue_directory": str(self.queue),
            "data_directory": str(self.data),
            "mail_owner": "postfix",
            "setgid_group": "postdrop",
            "myhostname": self.hostname,
            "mydomain": "bench.test",
            "myorigin": "bench.test",
            "mydestination": "",
            # Postfix refuses an inet_interfaces address no interface has (127.0.0.2 is only
            # routed to lo); the master.cf entries name their addresses, so "all" binds no more.
            "inet_interfaces": "all" if self.extra_listeners else "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "virtual_mailbox_domains": " ".join(
                ([self.domain] if self.users else [])
                + sorted({a.rsplit("@", 1)[1] for a in self.extra_mailboxes})),
            "virtual_mailbox_base": str(self.mail_root),
            # user@domain -> Maildir user/ (texthash: no postmap step)
            "virtual_mailbox_maps": "texthash:" + str(self.etc / "vmailbox"),
            # nothing ever leaves this instance (bounces included), unless `extra` says so
            "default_transport": "discard:",
            "relay_transport": "discard:",
            "recipient_delimiter": "+",
            "virtual_uid_maps": f"static:{uid}",
            "virtual_gid_maps": f"static:{gid}",
            "virtual_minimum_uid": "1",
            "maillog_file": str(self.logfile),
            "maillog_file_prefixes": str(self.dir),
            "biff": "no",
            "append_dot_mydomain": "no",
            "smtpd_banner": "$myhostname ESMTP",
            "disable_dns_lookups": "yes",
            "smtp_dns_support_level": "disabled",
            "message_size_limit": str(64 << 20),
            "virtual_mailbox_limit": "0",
            "mailbox_size_limit": "0",
            "smtpd_client_connection_count_limit": "1000",
            "alias_maps": "",
            "alias_database": "",
            "local_recipient_maps": "",
            "smtputf8_enable": "no",
            "shlib_directory": "/usr/lib/postfix",
            "daemon_directory": "/usr/lib/postfix/sbin",
            "multi_instance_enable": "no",
            "import_environment": "MAIL_CONFIG MAIL_DEBUG MAIL_LOGTAG TZ LANG=C",
            "syslog_name": self.syslog_name,
        }
        settings.update(self.extra)
        (self.etc / "vmailbox").write_text("".join(f"{u}@{self.domain} {u}/\n" for u in self.users)
                                           + "".join(f"{a} {m}\n" for a, m in self.extra_mailboxes.items()))
        self._postconf("-e", *[f"{k}={v}" for k, v in settings.items()])
        # Our port instead of 25; no chroot (the queue directory is not a prepared jail).
        subprocess.run(["postconf", "-c", str(self.etc), "-M#", "smtp/inet"], check=True, capture_output=True)
        self._postconf("-M", f"127.0.0.1:{self.port}/inet=127.0.0.1:{self.port} inet n - n - - smtpd")
        for address, options in self.extra_listeners.items():
            self._postconf("-M", f"{address}:{self.port}/inet={address}:{self.port} inet n - n - - smtpd "
                           + " ".join(options))
        self._postconf("-F", "*/*/chroot=n")
        self._postconf("-M", "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd")
        self._run_master()

    def _run_master(self):
        env = self._env()
        r = subprocess.run(["postfix", "-c", str(self.etc), "start"], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            # postfix(1) reports fatal errors to syslog, or to stderr only when it is a tty
            r = subprocess.run(["script", "-qc", f"postfix -c {shlex.quote(str(self.etc))} start", "/dev/null"],
                               capture_output=True, text=True, env=env)
            raise RuntimeError(f"postfix start failed ({r.returncode}): {r.stdout}{r.stderr}\n{self.log_tail()}")
        self.started = True
        ps.wait_until(self._smtp_ready, timeout=30, what="postfix smtpd")

    def restart(self):
        """Starts it again after stop(), with the same configuration, port and queue."""
        self._run_master()

    def reload(self):
        """postfix reload: main.cf and the maps it names are read again."""
        subprocess.run(["postfix", "-c", str(self.etc), "reload"], capture_output=True, text=True, env=self._env(),
                       check=True)

    def flush(self):
        """postqueue -f: attempt deferred mail now (a sending client after an outage)."""
        subprocess.run(["postqueue", "-c", str(self.etc), "-f"], capture_output=True, text=True, env=self._env())

    def sendmail(self, sender: str, recipients: list[str], data: bytes):
        """Injects a message through this instance's sendmail(1) (pickup, cleanup, then
        whatever main.cf says: a relayhost for a sending client)."""
        r = subprocess.run(["sendmail", "-C", str(self.etc), "-f", sender, "-i", "--", *recipients], input=data,
                           capture_output=True, env=self._env())
        if r.returncode != 0:
            raise RuntimeError(f"postfix sendmail failed ({r.returncode}): {r.stderr.decode(errors='replace')}")

    def _smtp_ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            return s.recv(100).startswith(b"220")

    def stop(self):
        if not self.started:
            return
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True, text=True, env=self._env())
        # master waits for its children; make sure none outlives us
        with contextlib.suppress(Exception):
            ps.wait_until(lambda: not (self.queue / "pid" / "master.pid").exists() or not _pid_alive(self.queue / "pid" / "master.pid"),
                          timeout=15, what="postfix master exit")
        self.started = False

    def log_text(self) -> str:
        return self.logfile.read_text(errors="replace") if self.logfile.exists() else ""

    def log_tail(self, lines: int = 30) -> str:
        if not self.logfile.exists():
            return "(no postfix log)"
        return "\n".join(self.log_text().splitlines()[-lines:])

    def transactions(self, message_id: str) -> dict[str, list[str]]:
        """Postfix queue id -> the recipients (`to=`) it delivered or relayed (status=sent),
        for every queue file whose cleanup(8) logged `message-id=<message_id>`: one queue id
        is one received SMTP transaction (or one sendmail injection)."""
        text = self.log_text()
        ids = set(re.findall(r" ([0-9A-F]{6,}): message-id=<" + re.escape(message_id.strip("<>")) + ">", text))
        out: dict[str, list[str]] = {}
        for qid in ids:
            out[qid] = re.findall(r" " + qid + r": to=<([^>]*)>.*status=sent", text)
        return out

    def logged_transactions(self, message_id: str, recipients: list[str], timeout: float = 30.0) -> dict[str, list[str]]:
        """transactions() once every one of `recipients` is logged as status=sent. Postfix writes
        the Maildir file before its log line, so a test that saw the file must still wait for
        the log before it counts transactions."""
        def all_logged():
            out = self.transactions(message_id)
            sent = [r for rs in out.values() for r in rs]
            return out if all(r in sent for r in recipients) else None
        return ps.wait_until(all_logged, timeout=timeout, interval=0.02,
                             what=f"Postfix logging status=sent for {recipients}")

    def received(self, localpart: str) -> list[bytes]:
        """The messages in the Maildir of `localpart` (new/), oldest first."""
        new = self.maildir(localpart) / "new"
        with contextlib.suppress(FileNotFoundError):
            files = sorted(new.iterdir(), key=lambda f: f.stat().st_mtime_ns)
            return [f.read_bytes() for f in files]
        return []

    def delivered(self, localpart: str) -> int:
        with contextlib.suppress(FileNotFoundError):
            return len(os.listdir(self.maildir(localpart) / "new"))
        return 0

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()
