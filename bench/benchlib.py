"""Shared pieces of the benchmarks in bench/: the Postline platform (through
tests/e2e/platform_support.py), private Postfix and Dovecot peers, timing and
reporting helpers.

Everything here binds to 127.0.0.1 on free ports, lives in its own temporary
directory and is stopped by the caller's `with` block (also on Ctrl-C and on
the benchmark's time limit, which raises BenchTimeout in the main thread).
"""
from __future__ import annotations

import contextlib
import os
import pwd
import grp
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import platform_support as ps  # noqa: E402  (Platform, free_port, wait_until, ...)

# Ports a benchmark must never use: the development defaults (DESIGN.md).
DEV_PORTS = {25, 143, 993, 2525, 5587, 4465, 1143, 1993, 50051, 50052, 9101, 9102, 9103, 9104, 55432}

# Mail files written by Postfix's virtual(8) and read by Dovecot belong to this user.
MAIL_USER = "nobody"


class BenchTimeout(Exception):
    pass


def free_port() -> int:
    while True:
        port = ps.free_port()
        if port not in DEV_PORTS:
            return port


def log(*args):
    print(*args, file=sys.stderr, flush=True)


def time_limit(seconds: float):
    """Raises BenchTimeout in the main thread after `seconds` (SIGALRM)."""
    def on_alarm(signum, frame):
        raise BenchTimeout(f"time limit of {seconds:.0f}s reached")
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(max(1, int(seconds)))


def sigterm_as_interrupt():
    signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))


# --- statistics and output ------------------------------------------------------

def percentile(values, p: float) -> float:
    """Nearest-rank percentile (p in 0..100); NaN for no values."""
    if not values:
        return float("nan")
    s = sorted(values)
    k = max(0, min(len(s) - 1, int(round(p / 100.0 * len(s) + 0.5)) - 1))
    return s[k]


def median(values) -> float:
    import statistics
    return statistics.median(values) if values else float("nan")


def fmt_ms(seconds: float) -> str:
    if seconds != seconds:  # NaN
        return "-"
    return f"{seconds * 1000:.1f}"


def table(headers, rows) -> str:
    cells = [list(map(str, headers))] + [[str(c) for c in r] for r in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(headers))]
    lines = []
    for n, r in enumerate(cells):
        lines.append("  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))))
        if n == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def machine_note() -> str:
    try:
        load = os.getloadavg()
    except OSError:
        load = (float("nan"),) * 3
    cpu = ""
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    return (f"{time.strftime('%Y-%m-%d %H:%M:%S UTC', time.gmtime())}; {os.cpu_count()} CPUs ({cpu}); "
            f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}")


def reproduce_command() -> str:
    """The command line that reproduces this run (with the environment that matters)."""
    env = [f"{k}={shlex.quote(os.environ[k])}" for k in ("POSTLINE_BUILD_DIR", "POSTLINE_TEST_PG_URL", "POSTLINE_PG_FSYNC")
           if os.environ.get(k)]
    script = os.path.relpath(os.path.abspath(sys.argv[0]), ROOT)
    return "cd " + shlex.quote(str(ROOT)) + " && " + " ".join(env + ["/usr/bin/python3", script] + [shlex.quote(a) for a in sys.argv[1:]])


def print_footer():
    print()
    print("machine:", machine_note())
    print("reproduce:", reproduce_command())
    sys.stdout.flush()


# --- messages -------------------------------------------------------------------

WORDS = ("mail queue delivery mailbox server client message header body envelope subject "
         "postgres index search flag folder inbox archive draft sent junk trash reply forward "
         "meeting report invoice budget travel schedule project release review notes summary").split()


def parse_size(text: str) -> int:
    text = text.strip().lower()
    mult = 1
    for suffix, m in (("kib", 1024), ("k", 1024), ("mib", 1 << 20), ("m", 1 << 20), ("b", 1)):
        if text.endswith(suffix):
            text, mult = text[: -len(suffix)], m
            break
    return int(float(text) * mult)


def make_message(i: int, size: int, sender: str, rcpt: str, needle: str | None = None, seed: int = 0) -> bytes:
    """A plain RFC 5322 message of about `size` bytes, deterministic in (i, size, seed)."""
    import random
    rnd = random.Random(i * 7919 + size + seed)
    subject = " ".join(rnd.choice(WORDS) for _ in range(5))
    head = (f"From: Bench Sender {i % 17} <{sender}>\r\n"
            f"To: <{rcpt}>\r\n"
            f"Subject: {subject} #{i}\r\n"
            f"Date: Wed, 25 Nov 2026 12:{i // 60 % 60:02d}:{i % 60:02d} +0000\r\n"
            f"Message-ID: <bench-{seed}-{i}@bench.test>\r\n"
            "MIME-Version: 1.0\r\n"
            "Content-Type: text/plain; charset=utf-8\r\n"
            "\r\n")
    lines = []
    total = len(head)
    if needle:
        lines.append(f"This one mentions the {needle} somewhere in its text.")
    while total < size:
        line = " ".join(rnd.choice(WORDS) for _ in range(rnd.randint(6, 12)))
        lines.append(line)
        total += len(line) + 2
    return (head + "\r\n".join(lines) + "\r\n").encode()


# --- PostgreSQL and Postline ----------------------------------------------------------

@contextlib.contextmanager
def pg_server():
    """The PostgreSQL server URL: POSTLINE_TEST_PG_URL (or ..._URL_FILE), else our own via scripts/pg."""
    url = os.environ.get("POSTLINE_TEST_PG_URL")
    url_file = os.environ.get("POSTLINE_TEST_PG_URL_FILE")
    if not url and url_file and Path(url_file).exists():
        url = Path(url_file).read_text().strip()
    if url:
        yield url
        return
    directory = ps.new_workdir("postline-bench-pg-")
    try:
        log(f"starting PostgreSQL in {directory} (scripts/pg)")
        yield ps.start_test_postgres(directory)
    finally:
        ps.stop_test_postgres(directory)
        shutil.rmtree(directory, ignore_errors=True)


def check_postline_binaries():
    missing = [n for n in ("postline", "postline-authd", "postline-queued", "postline-smtpd", "postline-imapd")
               if not (ps.build_dir() / "bin" / n).exists()]
    return missing


def _dns_answers(port: int) -> bool:
    import struct
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for label in "sender.example".split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 16, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(q, ("127.0.0.1", port))
            return s.recvfrom(512)[0][:2] == b"\x42\x42"
        except OSError:
            return False


@contextlib.contextmanager
def loopback_dns():
    """A private dnsmasq on 127.0.0.1 that knows nothing: NXDOMAIN for the benchmark's domains
    (.test, .example, reverse zones), REFUSED for anything else; it forwards nowhere. Postline's
    SPF/DKIM/DMARC look-ups go here instead of the machine's resolver, so no query leaves the
    loopback and the figures do not depend on a remote resolver's timeouts."""
    port = free_port()
    proc = subprocess.Popen(["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
                             "--pid-file", "--user=root", f"--port={port}", "--listen-address=127.0.0.1",
                             "--bind-interfaces", "--local=/test/", "--local=/example/", "--local=/arpa/"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        ps.wait_until(lambda: _dns_answers(port), timeout=10, what="dnsmasq answering")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextlib.contextmanager
def postline_platform(pg_url: str, extra_env: dict | None = None, keep: bool = False):
    """A started Postline (four services, fresh database) with benchmark settings."""
    env = {"POSTLINE_LOG_LEVEL": "info",  # the e2e default (debug) would measure logging
           "POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP": "1000",
           "POSTLINE_SMTP_MAX_MESSAGES_PER_SESSION": "100000",
           "POSTLINE_DB_POOL_SIZE": "8"}
    env.update(extra_env or {})
    workdir = ps.new_workdir("postline-bench-")
    try:
        with contextlib.ExitStack() as stack:
            if "POSTLINE_DNS_SERVERS" not in env and not os.environ.get("POSTLINE_BENCH_SYSTEM_DNS"):
                env["POSTLINE_DNS_SERVERS"] = stack.enter_context(loopback_dns())
            p = ps.Platform(pg_url, workdir, env)
            try:
                p.start_all()
                yield p
            finally:
                p.stop_all()
    finally:
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


# --- Postfix ----------------------------------------------------------------------

def _ids(user: str) -> tuple[int, int]:
    pw = pwd.getpwnam(user)
    return pw.pw_uid, pw.pw_gid


class PostfixPeer:
    """A private Postfix instance: its own config_directory, queue and log in a temp dir,
    smtpd on 127.0.0.1:PORT only, accepting mail for `domain` into Maildirs under
    `mail_root/<localpart>/` (virtual(8), owned by MAIL_USER). Needs root."""

    def __init__(self, workdir: Path, users=("peer",), domain: str = "peer.test", mail_root: Path | None = None):
        self.dir = workdir
        self.domain = domain
        self.users = list(users)
        self.port = free_port()
        self.etc = workdir / "etc"
        self.queue = workdir / "queue"
        self.data = workdir / "data"
        self.mail_root = mail_root or (workdir / "vmail")
        self.logfile = workdir / "postfix.log"
        self.started = False

    def maildir(self, localpart: str) -> Path:
        return self.mail_root / localpart

    def _postconf(self, *args):
        subprocess.run(["postconf", "-c", str(self.etc), *args], check=True, capture_output=True, text=True)

    def start(self):
        if not shutil.which("postfix", path="/usr/sbin:/usr/bin"):
            raise RuntimeError("postfix is not installed: apt-get install postfix (scripts/packages/bench.txt)")
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
            "myhostname": "peer-mx.bench.test",
            "mydomain": "bench.test",
            "myorigin": "bench.test",
            "mydestination": "",
            "inet_interfaces": "127.0.0.1",
            "inet_protocols": "ipv4",
            "mynetworks": "127.0.0.0/8",
            "relay_domains": "",
            "smtpd_relay_restrictions": "permit_mynetworks, reject_unauth_destination",
            "smtpd_recipient_restrictions": "",
            "virtual_mailbox_domains": self.domain,
            "virtual_mailbox_base": str(self.mail_root),
            # user@domain -> Maildir user/ (texthash: no postmap step)
            "virtual_mailbox_maps": "texthash:" + str(self.etc / "vmailbox"),
            # nothing ever leaves this instance (bounces included)
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
            "syslog_name": "postfix-bench",
        }
        (self.etc / "vmailbox").write_text("".join(f"{u}@{self.domain} {u}/\n" for u in self.users))
        self._postconf("-e", *[f"{k}={v}" for k, v in settings.items()])
        # Our port instead of 25; no chroot (the queue directory is not a prepared jail).
        subprocess.run(["postconf", "-c", str(self.etc), "-M#", "smtp/inet"], check=True, capture_output=True)
        self._postconf("-M", f"{self.port}/inet={self.port} inet n - n - - smtpd")
        self._postconf("-F", "*/*/chroot=n")
        self._postconf("-M", "postlog/unix-dgram=postlog unix-dgram n - n - 1 postlogd")
        env = {k: v for k, v in os.environ.items() if not k.startswith("MAIL_")}
        r = subprocess.run(["postfix", "-c", str(self.etc), "start"], capture_output=True, text=True, env=env)
        if r.returncode != 0:
            # postfix(1) reports fatal errors to syslog, or to stderr only when it is a tty
            r = subprocess.run(["script", "-qc", f"postfix -c {shlex.quote(str(self.etc))} start", "/dev/null"],
                               capture_output=True, text=True, env=env)
            raise RuntimeError(f"postfix start failed ({r.returncode}): {r.stdout}{r.stderr}\n{self.log_tail()}")
        self.started = True
        ps.wait_until(self._smtp_ready, timeout=30, what="postfix smtpd")

    def _smtp_ready(self):
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            return s.recv(100).startswith(b"220")

    def stop(self):
        if not self.started:
            return
        subprocess.run(["postfix", "-c", str(self.etc), "stop"], capture_output=True, text=True)
        # master waits for its children; make sure none outlives us
        with contextlib.suppress(Exception):
            ps.wait_until(lambda: not (self.queue / "pid" / "master.pid").exists() or not _pid_alive(self.queue / "pid" / "master.pid"),
                          timeout=15, what="postfix master exit")
        self.started = False

    def log_tail(self, lines: int = 30) -> str:
        if not self.logfile.exists():
            return "(no postfix log)"
        return "\n".join(self.logfile.read_text(errors="replace").splitlines()[-lines:])

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


def _pid_alive(pidfile: Path) -> bool:
    try:
        pid = int(pidfile.read_text().split()[0])
        os.kill(pid, 0)
        return True
    except (OSError, ValueError, IndexError):
        return False


# --- Dovecot ----------------------------------------------------------------------

class DovecotPeer:
    """A private Dovecot (imap only): its own config file, base_dir, logs and Maildirs in a
    temp dir, plain LOGIN allowed on 127.0.0.1:PORT, users from a passwd-file, mail as
    MAIL_USER. `mail_root/<user>/` is each user's Maildir (Postfix's virtual(8) can
    deliver there). Needs root."""

    def __init__(self, workdir: Path, mail_root: Path | None = None):
        self.dir = workdir
        self.port = free_port()
        self.mail_root = mail_root or (workdir / "mail")
        self.conf = workdir / "dovecot.conf"
        self.users: dict[str, str] = {}
        self.started = False
        self.instance = "bench" + os.urandom(3).hex()

    def add_user(self, user: str, password: str):
        self.users[user] = password
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
        self.conf.write_text(f"""# private benchmark instance (bench/benchlib.py)
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


# --- a minimal IMAP client ----------------------------------------------------------

class ImapError(Exception):
    pass


class RawImap:
    """Just enough IMAP for timing: commands with literals handled, little client overhead
    (imaplib parses every response line in Python; this reads through a buffered file)."""

    def __init__(self, port: int, host: str = "127.0.0.1", timeout: float = 60):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.f = self.sock.makefile("rb", buffering=1 << 16)
        self.n = 0
        self.greeting = self.f.readline()
        if not self.greeting.startswith(b"* OK"):
            raise ImapError(f"greeting: {self.greeting!r}")

    def _tag(self) -> bytes:
        self.n += 1
        return b"b%d" % self.n

    def read_response_line(self) -> tuple[bytes, int]:
        """One response line with its literals inlined as b'{N}' placeholders; returns (line, literal bytes)."""
        parts = []
        lit = 0
        while True:
            line = self.f.readline(1 << 20)
            if not line:
                raise ImapError("connection closed")
            if line.endswith(b"}\r\n") and b"{" in line:
                brace = line.rindex(b"{")
                size_text = line[brace + 1:-3].rstrip(b"+")
                if size_text.isdigit():
                    n = int(size_text)
                    data = self.f.read(n)
                    if len(data) != n:
                        raise ImapError("short literal")
                    lit += n
                    parts.append(line[:brace] + b"{%d}" % n)
                    continue
            parts.append(line)
            return b"".join(parts), lit

    def read_until_tagged(self, tag: bytes) -> tuple[bytes, list[bytes], int]:
        untagged = []
        total = 0
        while True:
            line, lit = self.read_response_line()
            total += lit
            if line.startswith(tag + b" "):
                return line, untagged, total
            untagged.append(line)

    def command(self, cmd: str | bytes, ok: bool = True) -> tuple[bytes, list[bytes], int]:
        tag = self._tag()
        self.sock.sendall(tag + b" " + (cmd.encode() if isinstance(cmd, str) else cmd) + b"\r\n")
        status, untagged, lit = self.read_until_tagged(tag)
        if ok and not status.startswith(tag + b" OK"):
            raise ImapError(f"{cmd!r}: {status!r}")
        return status, untagged, lit

    @staticmethod
    def quote(s: str) -> str:
        return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'

    def login(self, user: str, password: str):
        return self.command(f"LOGIN {self.quote(user)} {self.quote(password)}")

    def append(self, mailbox: str, message: bytes, flags: str = ""):
        tag = self._tag()
        flag_part = f" ({flags})" if flags else ""
        self.sock.sendall(tag + f" APPEND {self.quote(mailbox)}{flag_part} {{{len(message)}}}\r\n".encode())
        line, _ = self.read_response_line()
        if not line.startswith(b"+"):
            raise ImapError(f"APPEND refused: {line!r}")
        self.sock.sendall(message + b"\r\n")
        status, untagged, _ = self.read_until_tagged(tag)
        if not status.startswith(tag + b" OK"):
            raise ImapError(f"APPEND: {status!r}")
        return status

    def idle_start(self) -> bytes:
        """Sends IDLE and waits for the continuation; returns the tag to finish with idle_done()."""
        tag = self._tag()
        self.sock.sendall(tag + b" IDLE\r\n")
        while True:
            line, _ = self.read_response_line()
            if line.startswith(b"+"):
                return tag
            if line.startswith(tag + b" "):
                raise ImapError(f"IDLE refused: {line!r}")

    def idle_done(self, tag: bytes):
        self.sock.sendall(b"DONE\r\n")
        return self.read_until_tagged(tag)

    def close(self):
        with contextlib.suppress(Exception):
            self.sock.settimeout(5)
            self.command("LOGOUT", ok=False)
        with contextlib.suppress(Exception):
            self.f.close()
        with contextlib.suppress(Exception):
            self.sock.close()
