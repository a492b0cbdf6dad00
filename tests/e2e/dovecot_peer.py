"""A private Dovecot IMAP server on a free loopback port, for the benchmarks in
bench/ (Postline's peer), the differential tests in tests/differential
(Postline's reference) and the source server of `postline import imap`'s test
(tests/e2e/test_cli_import.py). One launcher for all: bench/benchlib.py imports it.

Dovecot comes from Debian's dovecot-imapd (scripts/packages/bench.txt, an
optional set: `bash -c 'source scripts/lib.sh && postline_install_packages bench'`).
It needs root: Dovecot drops to its own users (dovenull, dovecot) and mail is
stored as MAIL_USER. The system's own Dovecot service is never touched.
"""
from __future__ import annotations

import contextlib
import os
import pwd
import shutil
import socket
import subprocess
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import platform_support as ps  # noqa: E402

# Mail files written by Postfix's virtual(8) and read by Dovecot belong to this user.
MAIL_USER = "nobody"

INSTALL_HINT = ("install Dovecot (as root: bash -c 'source scripts/lib.sh && postline_install_packages bench', "
                "or apt-get install dovecot-imapd) and run as root, e.g. scripts/test -L differential")


def unavailable_reason() -> str | None:
    """Why a private Dovecot cannot run here (None when it can)."""
    if os.environ.get("POSTLINE_NO_DOVECOT"):
        return "POSTLINE_NO_DOVECOT is set"
    if not shutil.which("dovecot", path="/usr/sbin:/usr/bin"):
        return "dovecot is not installed"
    if os.geteuid() != 0:
        return "a private Dovecot needs root (it drops to the dovenull and dovecot users)"
    for user in ("dovenull", "dovecot", MAIL_USER):
        try:
            pwd.getpwnam(user)
        except KeyError:
            return f"user {user} is missing (an incomplete dovecot-core install?)"
    return None


def _ids(user: str) -> tuple[int, int]:
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid




def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


class DovecotPeer:
    """A private Dovecot (imap only): its own config file, base_dir, logs and Maildirs in a
    temp dir, plain LOGIN allowed on 127.0.0.1:PORT, users from a passwd-file, mail as
    MAIL_USER. `mail_root/<user>/` is each user's Maildir (Postfix's virtual(8) can
    deliver there). `extra_conf` is appended to the config (e.g. higher process limits).
    Needs root."""

    # How the passwd-file stores passwords (printed by benchmarks that log in a lot).
    PASSDB_SCHEME = "passwd-file, {PLAIN} passwords"

    def __init__(self, workdir: Path, mail_root: Path | None = None, extra_conf: str = ""):
        self.dir = workdir
        self.port = ps.free_port()  # 20000-32000: never a development port
        self.mail_root = mail_root or (workdir / "mail")
        self.conf = workdir / "dovecot.conf"
        self.extra_conf = extra_conf
        self.users: dict[str, str] = {}
        self.started = False
        self.instance = "postline" + os.urandom(3).hex()

    def add_user(self, user: str, password: str):
        self.add_users({user: password})

    def add_users(self, users: dict[str, str]):
        self.users.update(users)
        uid, gid = _ids(MAIL_USER)
        lines = [f"{u}:{{PLAIN}}{p}:{uid}:{gid}::{self.mail_root / u}::" for u, p in self.users.items()]
        (self.dir / "passwd").write_text("\n".join(lines) + "\n")
        if self.started:
            subprocess.run(["doveadm", "-c", str(self.conf), "reload"], capture_output=True)

    def start(self):
        if not shutil.which("dovecot", path="/usr/sbin:/usr/bin"):
            raise RuntimeError("dovecot is not installed: apt-get install dovecot-imapd (scripts/packages/bench.txt)")
        uid, gid = _ids(MAIL_USER)
        self.mail_root.mkdir(parents=True, exist_ok=True)
        os.chown(self.mail_root, uid, gid)
        run = self.dir / "run"
        run.mkdir(exist_ok=True)
        if not (self.dir / "passwd").exists():
            (self.dir / "passwd").write_text("")
        self.conf.write_text(f"""# private instance (tests/e2e/dovecot_peer.py)
instance_name = {self.instance}
base_dir = {run}
state_dir = {self.dir / "state"}
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
log_path = {self.dir / "dovecot.log"}
info_log_path = {self.dir / "dovecot.log"}
default_login_user = dovenull
default_internal_user = dovecot
first_valid_uid = 1
mail_location = maildir:~
mail_fsync = optimized
passdb {{
  driver = passwd-file
  args = scheme=PLAIN {self.dir / "passwd"}
}}
userdb {{
  driver = passwd-file
  args = {self.dir / "passwd"}
}}
service imap-login {{
  inet_listener imap {{
    address = 127.0.0.1
    port = {self.port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
service imap-login {{
  chroot =
}}
protocol imap {{
  mail_max_userip_connections = 100
}}
{self.extra_conf}
""")
        (self.dir / "state").mkdir(exist_ok=True)
        # The daemon keeps its stdio: give it a file, not our pipes.
        with open(self.dir / "dovecot.stdout", "wb") as out:
            r = subprocess.run(["dovecot", "-c", str(self.conf)], stdout=out, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, timeout=60)
        if r.returncode != 0:
            raise RuntimeError(f"dovecot start failed ({r.returncode}): "
                               f"{(self.dir / 'dovecot.stdout').read_text(errors='replace')}\n{self.log_tail()}")
        self.started = True
        ps.wait_until(self._ready, timeout=30, what="dovecot imap")

    def _ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            return s.recv(200).startswith(b"* OK")

    def master_pid(self) -> int | None:
        """The dovecot master: every other Dovecot process is its descendant."""
        try:
            return int((self.dir / "run" / "master.pid").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            return None

    def stop(self):
        if not self.started:
            return
        subprocess.run(["doveadm", "-c", str(self.conf), "stop"], capture_output=True, text=True)
        pidfile = self.dir / "run" / "master.pid"
        with contextlib.suppress(Exception):
            ps.wait_until(lambda: not _pid_alive(pidfile), timeout=15, what="dovecot exit")
        self.started = False

    def log_tail(self, lines: int = 30) -> str:
        path = self.dir / "dovecot.log"
        if not path.exists():
            return "(no dovecot log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()


def peer_workdir(prefix: str) -> Path:
    """A temp dir that the postfix, dovecot and nobody users can enter."""
    d = ps.new_workdir(prefix)
    d.chmod(0o755)
    return d
