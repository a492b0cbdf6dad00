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
# The private Dovecot (and the helpers Postfix shares with it) live beside platform_support,
# where tests/differential uses the same launcher.
from dovecot_peer import MAIL_USER, DovecotPeer, _ids, _pid_alive, peer_workdir  # noqa: E402,F401
from postfix_peer import PostfixPeer  # noqa: E402,F401  (shared with tests/e2e/test_queue_postfix.py)

# Ports a benchmark must never use: the development defaults (DESIGN.md).
DEV_PORTS = {25, 143, 993, 2525, 5587, 4465, 1143, 1993, 50051, 50052, 9101, 9102, 9103, 9104, 55432}


class BenchTimeout(Exception):
    pass


def start_run(seconds: float) -> float:
    """SIGTERM as KeyboardInterrupt and the run's time limit (`--time-limit`); returns the
    deadline for the loading steps, 30 s before the limit so the output is still printed."""
    sigterm_as_interrupt()
    time_limit(seconds)
    return time.monotonic() + seconds - 30


def parse_targets(ap, text: str, allowed: tuple[str, ...]) -> list[str]:
    """--targets a,b: the names, each one of `allowed` (else the usage error)."""
    targets = [t.strip() for t in text.split(",") if t.strip()]
    if any(t not in allowed for t in targets):
        ap.error("targets: " + ", ".join(allowed))
    return targets


@contextlib.contextmanager
def target_setup(name: str, failures: list[str], what: str = ""):
    """One target's part of a run (`with b.target_setup("dovecot", failures): ...`;
    `what`: which part, "round 2"): a failure is recorded in `failures`, logged, and
    the run goes on with the rest; BenchTimeout still ends the run."""
    try:
        yield
    except BenchTimeout:
        raise
    except Exception as e:  # noqa: BLE001
        part = f" {what}" if what else ""
        failures.append(f"{name}{part}: {e}")
        log(f"[{name}]{part} FAILED: {e}")


def scratch_workdir(stack: contextlib.ExitStack, keep: bool, prefix: str = "postline-bench-dovecot-") -> Path:
    """A peer's work directory, removed when `stack` closes unless `keep` (--keep)."""
    workdir = peer_workdir(prefix)
    if not keep:
        stack.callback(shutil.rmtree, workdir, True)
    return workdir


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
    # rnd.choice()/randint() inlined (the same getrandbits draws, so the same bytes as
    # before, about twice as fast: the bulk loads generate 100,000s of these).
    getrandbits = rnd.getrandbits
    words = WORDS
    n_words = len(words)
    k_words = n_words.bit_length()

    def below(n: int, k: int) -> int:
        r = getrandbits(k)
        while r >= n:
            r = getrandbits(k)
        return r

    subject = " ".join(words[below(n_words, k_words)] for _ in range(5))
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
        count = 6 + below(7, 3)  # randint(6, 12)
        line = " ".join([words[below(n_words, k_words)] for _ in range(count)])
        lines.append(line)
        total += len(line) + 2
    return (head + "\r\n".join(lines) + "\r\n").encode()


def _make_message_star(spec: tuple) -> bytes:
    return make_message(*spec)


def make_messages(specs: list[tuple], processes: int | None = None) -> list[bytes]:
    """make_message(*spec) for every spec (i, size, sender, rcpt[, needle, seed]), in order;
    spread over the CPUs when there are many (100,000 x 4 KiB: ~40 s on one core)."""
    if len(specs) < 4000 or (processes or os.cpu_count() or 1) < 2:
        return [make_message(*spec) for spec in specs]
    import multiprocessing
    pool = multiprocessing.get_context("fork").Pool(processes or os.cpu_count(), initializer=_plain_worker_signals)
    try:
        out = pool.map(_make_message_star, specs, chunksize=500)
        pool.close()
        return out
    except BaseException:
        pool.terminate()
        raise
    finally:
        pool.join()


def _plain_worker_signals():
    """In a forked helper process: die on SIGTERM (not sigterm_as_interrupt's exception,
    which would leave a pool lock held), leave Ctrl-C to the parent."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)


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
        url = ps.start_test_postgres(directory)
        warm_wal(url)
        if unix_transport():
            url = unix_socket_url(url, directory / "data")
        yield url
    finally:
        ps.stop_test_postgres(directory)
        shutil.rmtree(directory, ignore_errors=True)


def unix_transport() -> bool:
    """POSTLINE_BENCH_TRANSPORT=unix: Postline's parts talk over Unix sockets, as Postfix's daemons
    do - PostgreSQL's socket for db.url, queued's and authd's gRPC sockets (queue.grpc_socket,
    auth.grpc_socket). Default tcp: everything over 127.0.0.1, as in every figure in
    bench/README.md (3 alternating pairs on 2026-12-04 showed no difference above the noise)."""
    return os.environ.get("POSTLINE_BENCH_TRANSPORT", "tcp") == "unix"


def unix_socket_url(tcp_url: str, socket_dir: Path) -> str:
    """The same server through its Unix socket in socket_dir (scripts/pg puts it in the data
    directory); the TCP URL when that does not answer."""
    url = ps.unix_socket_url(tcp_url, socket_dir)
    ok = subprocess.run(["psql", url, "-qAtc", "SELECT 1"], capture_output=True, text=True).returncode == 0
    if not ok:
        log(f"PostgreSQL's Unix socket in {socket_dir} does not answer: using {tcp_url}")
        return tcp_url
    return url


def warm_wal(pg_url: str, megabytes: int = 512):
    """Gives a fresh cluster the recycled WAL segments a running server has.

    A new cluster has no WAL segments to reuse, so the backend whose commit
    crosses into a new 16 MB segment first writes the whole file full of zeros
    (XLogFileInit: a quarter of PostgreSQL's time with 128 KiB messages, and
    the p99). A server in production recycles the segments of earlier
    checkpoints instead. Writing `megabytes` of WAL and checkpointing, with
    min_wal_size large enough to keep them, measures that steady state.
    """
    sql = (f"ALTER SYSTEM SET min_wal_size = '{megabytes * 2}MB';\n"
           "SELECT pg_reload_conf();\n"
           f"CREATE TABLE bench_wal_fill AS SELECT repeat(md5(g::text), 32) AS x "
           f"FROM generate_series(1, {megabytes * 1024 * 1024 // 1100}) g;\n"
           "DROP TABLE bench_wal_fill;\n"
           "CHECKPOINT;\n")
    t0 = time.monotonic()
    subprocess.run(["psql", pg_url, "-qAt", "-v", "ON_ERROR_STOP=1"], input=sql, text=True, check=True,
                   capture_output=True)
    log(f"warmed PostgreSQL's WAL ({megabytes} MB recycled segments) in {time.monotonic() - t0:.1f} s")


def check_postline_binaries():
    missing = [n for n in ("postline", "postline-authd", "postline-queued", "postline-smtpd", "postline-imapd")
               if not (ps.build_dir() / "bin" / n).exists()]
    return missing


def postline_binaries_built(failures: list[str]) -> bool:
    """True when the build has Postline's binaries; otherwise the run's failure says which are missing."""
    missing = check_postline_binaries()
    if missing:
        failures.append(f"postline: binaries missing in {ps.build_dir() / 'bin'}: {', '.join(missing)}")
    return not missing


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
def loopback_dns(dmarc_rua: bool = False):
    """A private dnsmasq on 127.0.0.1 for the benchmark's domains (.test, .example, reverse
    zones; REFUSED for anything else; it forwards nowhere). The sending side looks like a real
    sender: sender.example publishes SPF and DMARC (p=none), the load generator's HELO name
    loadgen.bench.test has SPF, an A record and the PTR of 127.0.0.1, all with TTL 300; other
    names are NXDOMAIN. Postline's SPF/DKIM/DMARC look-ups go here instead of the machine's
    resolver, so no query leaves the loopback and the figures do not depend on a remote
    resolver's timeouts. dmarc_rua: the DMARC record asks for aggregate reports (rua=), so
    every message is an evaluation smtpd records when reports.send is on (issue 20)."""
    dmarc = "v=DMARC1; p=none" + ("; rua=mailto:dmarc@sender.example" if dmarc_rua else "")
    port = free_port()
    proc = subprocess.Popen(["/usr/sbin/dnsmasq", "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll",
                             "--pid-file", "--user=root", f"--port={port}", "--listen-address=127.0.0.1",
                             "--bind-interfaces", "--local=/test/", "--local=/example/", "--local=/arpa/",
                             "--local-ttl=300",
                             "--txt-record=sender.example,v=spf1 ip4:127.0.0.1 -all",
                             f"--txt-record=_dmarc.sender.example,{dmarc}",
                             "--txt-record=loadgen.bench.test,v=spf1 a -all",
                             "--host-record=loadgen.bench.test,127.0.0.1"],
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
def s3_test_server(keep: bool = False):
    """The tests' S3 server (scripts/s3: s3rver behind a SigV4 check) on loopback; yields
    the POSTLINE_MAILSTORE_* environment that points a Postline at it."""
    workdir = ps.new_workdir("postline-bench-s3-")
    script = Path(__file__).resolve().parents[1] / "scripts" / "s3"
    subprocess.run([str(script), "start", str(workdir)], check=True, stdout=subprocess.DEVNULL)
    try:
        env = {}
        for line in (workdir / "env").read_text().splitlines():
            k, _, v = line.partition("=")
            if k:
                env[k] = v
        yield env
    finally:
        subprocess.run([str(script), "stop", str(workdir)], check=False)
        if keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def postline_platform(pg_url: str, extra_env: dict | None = None, keep: bool = False, dmarc_rua: bool = False):
    """A started Postline (four services, fresh database) with benchmark settings."""
    env = {"POSTLINE_LOG_LEVEL": "info",  # the e2e default (debug) would measure logging
           "POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP": "1000",
           # Every benchmark client is one loopback address and often one account:
           # the abuse limits (issue 16) are raised like the peers' own.
           "POSTLINE_SMTP_MAX_SESSIONS_PER_USER": "0",
           "POSTLINE_IMAP_MAX_UNAUTHENTICATED_PER_IP": "100000",
           "POSTLINE_IMAP_MAX_CONNECTIONS_PER_USER": "100000",
           "POSTLINE_SMTP_MAX_MESSAGES_PER_SESSION": "100000",
           "POSTLINE_DB_POOL_SIZE": "8"}
    workdir = ps.new_workdir("postline-bench-")
    if unix_transport():
        for svc in ("queue", "auth"):
            sock = workdir / f"{svc}.sock"
            env[f"POSTLINE_{svc.upper()}_GRPC_SOCKET"] = str(sock)
            env[f"POSTLINE_{svc.upper()}_ADDR"] = f"unix:{sock}"
    env.update(extra_env or {})
    try:
        with contextlib.ExitStack() as stack:
            if "POSTLINE_DNS_SERVERS" not in env and not os.environ.get("POSTLINE_BENCH_SYSTEM_DNS"):
                env["POSTLINE_DNS_SERVERS"] = stack.enter_context(loopback_dns(dmarc_rua))
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


def postline_add_users(p, users: list[str], password: str, parallel: int = 4):
    """Creates the accounts (and their domains) with `postline user add`, a few CLI processes at once."""
    import threading
    for domain in sorted({u.split("@", 1)[1] for u in users}):
        p.add_domain(domain)
    todo = list(reversed(users))
    errors: list[BaseException] = []
    lock = threading.Lock()

    def worker():
        while not errors:
            with lock:
                if not todo:
                    return
                user = todo.pop()
            try:
                p.cli("user", "add", user, "--password-stdin", input=password + "\n")
            except Exception as e:  # noqa: BLE001 - handed to the caller
                errors.append(e)
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(max(1, parallel))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise errors[0]


# --- Postfix ----------------------------------------------------------------------
# The private Postfix lives in tests/e2e/postfix_peer.py (the queue's conformance tests
# run it as a remote MX and as a sending client too); PostfixPeer is re-exported above.


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

    def capabilities(self) -> set[str]:
        _, untagged, _ = self.command("CAPABILITY")
        caps: set[str] = set()
        for line in untagged:
            if line.startswith(b"* CAPABILITY "):
                caps.update(line[13:].decode(errors="replace").upper().split())
        return caps


# --- bulk loading: pipelined APPEND over several connections ------------------------------

class AppendJob:
    """Messages to APPEND to one user's mailbox (one connection, logged in once)."""

    def __init__(self, user: str, password: str, messages, mailbox: str = "INBOX"):
        self.user, self.password, self.messages, self.mailbox = user, password, messages, mailbox


class FillResult:
    def __init__(self, messages: int, nbytes: int, seconds: float, connections: int, window: int, mode: str):
        self.messages, self.bytes, self.seconds = messages, nbytes, seconds
        self.connections, self.window, self.mode = connections, window, mode

    @property
    def rate(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else float("nan")

    @property
    def how(self) -> str:
        return f"{self.connections} connections, {self.mode}"

    def describe(self) -> str:
        return (f"{self.messages} msgs, {self.bytes / 1e6:.1f} MB in {self.seconds:.1f} s = {self.rate:.0f} msg/s, "
                f"{self.bytes / 1e6 / self.seconds if self.seconds > 0 else float('nan'):.1f} MB/s ({self.how})")


def split_job(user: str, password: str, messages, parts: int, mailbox: str = "INBOX") -> list[AppendJob]:
    """One mailbox filled over `parts` connections: message k goes to connection k % parts."""
    parts = max(1, min(parts, len(messages)))
    return [AppendJob(user, password, messages[k::parts], mailbox) for k in range(parts)]


def pipelined_append(c: RawImap, mailbox: str, messages, window: int, literal_plus: bool = True,
                     stop=None, deadline: float | None = None, progress=None, batch: int = 1) -> int:
    """APPENDs `messages` on the logged-in connection `c` with at most `window` commands in
    flight (LITERAL+: the message follows its command at once), reading every tagged reply.
    batch > 1: MULTIAPPEND (RFC 3502), up to `batch` messages in one command (one server
    transaction); only for servers that advertise it. Raises ImapError on the first
    NO/BAD/BYE or anything malformed. Returns bytes sent."""
    import collections
    box = RawImap.quote(mailbox).encode()
    inflight: collections.deque = collections.deque()
    sent = 0
    counts: dict[bytes, int] = {}

    def read_one():
        line, _ = c.read_response_line()
        if line.startswith(b"* "):
            if line.startswith(b"* BYE"):
                raise ImapError(f"APPEND: server said {line!r}")
            return  # EXISTS/RECENT and the like
        if line.startswith(b"+"):
            raise ImapError(f"APPEND: unexpected continuation {line!r} (LITERAL+ not honoured?)")
        tag = line.split(b" ", 1)[0]
        if tag not in inflight:
            raise ImapError(f"APPEND: reply with an unknown tag: {line!r}")
        if not line.startswith(tag + b" OK"):
            raise ImapError(f"APPEND: {line!r}")
        inflight.remove(tag)
        if progress:
            progress(counts.pop(tag, 1))

    if not literal_plus:
        for m in messages:
            if (stop is not None and stop.is_set()) or (deadline and time.monotonic() > deadline):
                raise BenchTimeout("time limit while loading")
            c.append(mailbox, m)
            sent += len(m)
            if progress:
                progress(1)
        return sent
    batch = max(1, batch)
    for start in range(0, len(messages), batch):
        group = messages[start:start + batch]
        while len(inflight) >= window:
            read_one()
        if (stop is not None and stop.is_set()) or (deadline and time.monotonic() > deadline):
            raise BenchTimeout("time limit while loading")
        tag = c._tag()
        c.sock.sendall(b"%s APPEND %s " % (tag, box)
                       + b" ".join(b"{%d+}\r\n%s" % (len(m), m) for m in group) + b"\r\n")
        inflight.append(tag)
        counts[tag] = len(group)
        sent += sum(len(m) for m in group)
    while inflight:
        read_one()
    return sent


def bulk_append(port: int, jobs: list[AppendJob], connections: int = 4, window: int = 16,
                deadline: float | None = None, label: str = "", multiappend: int = 100) -> FillResult:
    """Fills mailboxes quickly: `connections` threads take the jobs in turn, each job on its
    own logged-in connection with pipelined APPENDs (LITERAL+ when the server has it, else
    one synchronising APPEND at a time), `window` commands in flight; a server that
    advertises MULTIAPPEND gets up to `multiappend` messages per command (0/1: never).
    Fails loudly (ImapError) on any refused APPEND."""
    import threading
    import queue as queue_mod
    todo: queue_mod.Queue = queue_mod.Queue()
    for j in jobs:
        todo.put(j)
    total = sum(len(j.messages) for j in jobs)
    stop = threading.Event()
    errors: list[BaseException] = []
    done = [0]
    nbytes = [0]
    lock = threading.Lock()
    modes: set[str] = set()
    live: set = set()  # open connections, shut down when we are interrupted

    def progress(n):
        with lock:
            done[0] += n

    def worker():
        try:
            while not stop.is_set():
                try:
                    job = todo.get_nowait()
                except queue_mod.Empty:
                    return
                c = RawImap(port, timeout=120)
                with lock:
                    live.add(c)
                try:
                    c.login(job.user, job.password)
                    caps = c.capabilities()
                    lp = "LITERAL+" in caps or ("LITERAL-" in caps and max(map(len, job.messages), default=0) <= 4096)
                    batch = multiappend if lp and multiappend > 1 and "MULTIAPPEND" in caps else 1
                    modes.add((f"LITERAL+, MULTIAPPEND of {batch}, {min(window, 2)} in flight" if batch > 1
                               else f"LITERAL+, {window} APPENDs in flight") if lp else "one APPEND at a time, no LITERAL+")
                    # a MULTIAPPEND is up to `batch` messages: two of them in flight keep the server busy
                    n = pipelined_append(c, job.mailbox, job.messages, min(window, 2) if batch > 1 else window, lp,
                                         stop, deadline, progress, batch)
                    with lock:
                        nbytes[0] += n
                finally:
                    with lock:
                        live.discard(c)
                    c.close()
        except BaseException as e:  # noqa: BLE001 - handed to the caller
            with lock:
                errors.append(e)
            stop.set()

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True, name=f"fill-{k}") for k in range(max(1, min(connections, len(jobs))))]
    for t in threads:
        t.start()
    last_report = t0
    try:
        while any(t.is_alive() for t in threads):
            next(t for t in threads if t.is_alive()).join(0.2)
            now = time.monotonic()
            if now - last_report >= 15:
                last_report = now
                log(f"  {label}fill: {done[0]}/{total} after {now - t0:.0f} s ({done[0] / (now - t0):.0f} msg/s)")
    finally:
        stop.set()
        if any(t.is_alive() for t in threads):  # interrupted (Ctrl-C, time limit): unblock the readers
            with lock:
                for c in live:
                    with contextlib.suppress(OSError):
                        c.sock.shutdown(socket.SHUT_RDWR)
        for t in threads:
            t.join(30)
    if errors:
        e = errors[0]
        if isinstance(e, ImapError):
            err = ImapError(f"{label}bulk APPEND failed after {done[0]} of {total}: {e}")
            err.done = done[0]
            raise err
        raise e
    return FillResult(total, nbytes[0], time.monotonic() - t0, len(threads), window, " / ".join(sorted(modes)) or "-")


# --- processes: CPU and memory from /proc ------------------------------------------------

CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat_fields(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    # comm may hold spaces and parentheses: split after the last ')'
    return text[text.rindex(")") + 2:].split()


def all_ppids() -> dict[int, int]:
    out = {}
    for d in os.listdir("/proc"):
        if d.isdigit():
            f = _stat_fields(int(d))
            if f:
                out[int(d)] = int(f[1])
    return out


def process_tree(roots) -> list[int]:
    """The live pids of `roots` and all their descendants."""
    ppids = all_ppids()
    children: dict[int, list[int]] = {}
    for pid, ppid in ppids.items():
        children.setdefault(ppid, []).append(pid)
    seen, stack = [], [r for r in roots if r in ppids]
    while stack:
        pid = stack.pop()
        if pid in seen:
            continue
        seen.append(pid)
        stack.extend(children.get(pid, ()))
    return seen


def process_cpu_seconds(pid: int) -> float:
    """utime + stime + cutime + cstime (its reaped children included), 0 when gone."""
    f = _stat_fields(pid)
    if not f:
        return 0.0
    return sum(int(x) for x in f[11:15]) / CLK_TCK


def tree_cpu_seconds(roots) -> float:
    """CPU seconds of a process tree so far: every live member's own time plus what it has
    reaped (cutime/cstime). Processes that started and exited inside the tree are counted
    in their parent's cutime once reaped, so the difference of two readings is the tree's
    CPU between them (a child reaped by someone outside the tree would be missed)."""
    return sum(process_cpu_seconds(p) for p in process_tree(roots))


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


MEMORY_FIELDS = {"Pss:": "pss", "Rss:": "rss", "Pss_Anon:": "pss_anon", "Pss_File:": "pss_file", "Pss_Shmem:": "pss_shmem"}


def process_memory_kb(pid: int) -> dict[str, int]:
    """/proc/PID/smaps_rollup in KiB: pss, rss, pss_anon, pss_file, pss_shmem (0s when gone)."""
    out = dict.fromkeys(MEMORY_FIELDS.values(), 0)
    try:
        for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines():
            key = MEMORY_FIELDS.get(line.split(" ", 1)[0])
            if key:
                out[key] = int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    return out


def tree_memory_kb(roots) -> dict[str, int]:
    """process_memory_kb summed over a process tree, plus procs: the number of processes."""
    pids = process_tree(roots)
    total = dict.fromkeys(MEMORY_FIELDS.values(), 0)
    for p in pids:
        for k, v in process_memory_kb(p).items():
            total[k] += v
    total["procs"] = len(pids)
    return total


def listening_pid(port: int, host: str = "127.0.0.1") -> int | None:
    """The process holding the listening TCP socket host:port (e.g. a PostgreSQL postmaster;
    its backends do not keep the listener). Needs root for other users' processes."""
    want_local = f"{''.join(f'{int(x):02X}' for x in reversed(host.split('.')))}:{port:04X}"
    inodes = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[1] in (want_local, f"00000000:{port:04X}") and f[3] == "0A":
                inodes.add(f"socket:[{f[9]}]")
    if not inodes:
        return None
    holders = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{d}/fd"):
                with contextlib.suppress(OSError):
                    if os.readlink(f"/proc/{d}/fd/{fd}") in inodes:
                        holders.append(int(d))
                        break
    if not holders:
        return None
    ppids = all_ppids()
    roots = [h for h in holders if ppids.get(h) not in holders]
    return min(roots or holders)


def tcp_local_ports(pid: int) -> set[int]:
    """The local ports of the IPv4 TCP sockets process `pid` holds."""
    inodes = set()
    with contextlib.suppress(OSError):
        for fd in os.listdir(f"/proc/{pid}/fd"):
            with contextlib.suppress(OSError):
                link = os.readlink(f"/proc/{pid}/fd/{fd}")
                if link.startswith("socket:["):
                    inodes.add(link[8:-1])
    ports = set()
    with contextlib.suppress(OSError):
        for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
            f = line.split()
            if f[9] in inodes:
                ports.add(int(f[1].split(":")[1], 16))
    return ports


def backends_of(pg_url: str, pid: int) -> list[int]:
    """The PostgreSQL backends serving process `pid`'s connections: by client port over TCP, by
    application_name over a Unix socket (Postline's services connect with their program name as
    fallback_application_name; only one process of that name may use the database then)."""
    ports = tcp_local_ports(pid)
    name = process_name(pid)
    out = subprocess.run(["psql", pg_url, "-qAtc",
                          "SELECT pid, coalesce(client_port, -1), application_name FROM pg_stat_activity "
                          "WHERE pid <> pg_backend_pid()"],
                         capture_output=True, text=True, check=True).stdout
    found = []
    for line in out.splitlines():
        backend, port, app = line.split("|", 2)
        if int(port) in ports or (int(port) == -1 and app and app == name):
            found.append(int(backend))
    return found


def postgres_pid(pg_url: str) -> int | None:
    """The postmaster of the server at pg_url (when it runs on this machine)."""
    from urllib.parse import parse_qs, urlparse
    u = urlparse(pg_url)
    port = u.port or int(parse_qs(u.query).get("port", ["5432"])[0])  # ?host=/dir&port=N: a Unix socket URL
    return listening_pid(port, "127.0.0.1")


def raise_nofile(n: int) -> int:
    """Raises this process's open-file limit to at least n (children inherit it); returns it."""
    import resource
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= n:
        return soft
    if hard != resource.RLIM_INFINITY and hard < n:
        with contextlib.suppress(ValueError, OSError):
            resource.setrlimit(resource.RLIMIT_NOFILE, (n, n))
            return n
        n = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (n, hard))
    return n
