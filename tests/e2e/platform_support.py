"""A whole Postline platform for end-to-end tests: real PostgreSQL, the five
services as real processes on free ports, and the real CLI.

Use the `platform` fixture (conftest.py). Every test module gets its own
database and its own set of service processes, so modules run in parallel and
next to a running `scripts/up` (which uses the development ports; we never do).
"""
from __future__ import annotations

import contextlib
import os
import random
import re
import signal
import ssl
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SERVICES = ("authd", "queued", "smtpd", "imapd", "managesieved")
# Started only by the tests that ask (Platform.start_webd), after the five above.
OPTIONAL_SERVICES = ("webd",)
HTTP_PORT_KEY = {"authd": "authd_http", "queued": "queued_http", "smtpd": "smtpd_http", "imapd": "imapd_http",
                 "managesieved": "managesieved_http", "webd": "webd_http"}
# The ports each service listens on (keys of Platform.ports).
SERVICE_PORTS = {
    "authd": ("auth_grpc", "authd_http"),
    "queued": ("queue_grpc", "queued_http"),
    "smtpd": ("smtp_mx", "smtp_submission", "smtp_submissions", "smtpd_http"),
    "imapd": ("imap", "imaps", "imapd_http"),
    "managesieved": ("managesieve", "managesieved_http"),
    "webd": ("web_https", "web_redirect", "webd_http"),
}


def build_dir() -> Path:
    return Path(os.environ.get("POSTLINE_BUILD_DIR", ROOT / "build"))


# Ports are drawn below Linux's ephemeral range (32768-60999 by default): a port
# the kernel handed out by bind(0) can be taken a moment later by any outgoing
# connection on the machine, which made parallel test runs flaky.
_PORT_LOW, _PORT_HIGH = 20000, 32000
_rng = random.Random()
# Ports this process handed out: never twice, so two services of one test (an
# extra imapd's HTTP port and a listener of the first) cannot be given the
# same free-looking port before either has bound it.
_handed_out: set[int] = set()


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now (the caller binds it soon after)."""
    for _ in range(200):
        port = _rng.randrange(_PORT_LOW, _PORT_HIGH)
        if port in _handed_out:
            continue
        with socket.socket() as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            _handed_out.add(port)
            return port
    with socket.socket() as s:  # everything busy: let the kernel choose
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate, timeout=30.0, interval=0.05, what="condition"):
    """Polls `predicate` until it returns a truthy value or the deadline passes."""
    deadline = time.monotonic() + timeout
    last_error = None
    while time.monotonic() < deadline:
        try:
            value = predicate()
            if value:
                return value
        except Exception as e:  # noqa: BLE001 - keep polling, report the last error
            last_error = e
        time.sleep(interval)
    raise TimeoutError(f"timed out after {timeout}s waiting for {what}" + (f" (last error: {last_error})" if last_error else ""))


def make_cert(directory: Path) -> tuple[Path, Path]:
    cert, key = directory / "cert.pem", directory / "key.pem"
    if not cert.exists():
        subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj", "/CN=localhost",
             "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key), "-out", str(cert)],
            check=True, capture_output=True)
    return cert, key


def server_tls_context(directory: Path, common_name: str) -> ssl.SSLContext:
    """A server-side TLS context with a fresh self-signed certificate: the
    remote MX hosts and relays the queue's tests deliver to."""
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                    f"/CN={common_name}", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(str(cert), str(key))
    return ctx


def parse_metrics(text: str) -> dict[tuple[str, tuple], float]:
    """Prometheus text format -> {(name, sorted label items): value}."""
    out = {}
    line_re = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)')
    label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        m = line_re.match(line)
        if not m:
            continue
        labels = tuple(sorted(label_re.findall(m.group(3) or "")))
        try:
            out[(m.group(1), labels)] = float(m.group(4))
        except ValueError:
            pass
    return out


class Platform:
    """Owns one database and one process per service."""

    def __init__(self, server_url: str, workdir: Path, extra_env: dict | None = None):
        self.workdir = workdir
        self.bin = build_dir() / "bin"
        for name in ("postline", *(f"postline-{s}" for s in SERVICES)):
            if not (self.bin / name).exists():
                raise RuntimeError(f"{self.bin / name} is missing: build first (scripts/build)")
        self.db_url = self._create_database(server_url)
        self.ports = {k: free_port() for k in (
            "smtp_mx", "smtp_submission", "smtp_submissions", "imap", "imaps", "auth_grpc", "queue_grpc",
            "smtpd_http", "queued_http", "imapd_http", "authd_http", "web_https", "web_redirect", "webd_http",
            "managesieve", "managesieved_http")}
        self.cert, self.key = make_cert(workdir)
        self.env = {
            "POSTLINE_DB_URL": self.db_url,
            "POSTLINE_DB_POOL_SIZE": "4",
            "POSTLINE_LOG_LEVEL": "debug",
            "POSTLINE_TLS_CERT_FILE": str(self.cert),
            "POSTLINE_TLS_KEY_FILE": str(self.key),
            # Cheap hashing in tests: argon2id's cost is a production setting.
            "POSTLINE_AUTH_HASH_OPS_LIMIT": "1",
            "POSTLINE_AUTH_HASH_MEM_LIMIT": "8MiB",
            "POSTLINE_QUEUE_POLL_INTERVAL": "1s",
        }
        self.extra_env = dict(extra_env or {})
        self.env.update(self._port_env())
        self.env.update(self.extra_env)
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs: dict[str, Path] = {}

    def _port_env(self) -> dict:
        p = self.ports
        return {
            "POSTLINE_AUTH_GRPC_PORT": str(p["auth_grpc"]),
            "POSTLINE_AUTH_HTTP_PORT": str(p["authd_http"]),
            "POSTLINE_AUTH_ADDR": f"127.0.0.1:{p['auth_grpc']}",
            "POSTLINE_QUEUE_GRPC_PORT": str(p["queue_grpc"]),
            "POSTLINE_QUEUE_HTTP_PORT": str(p["queued_http"]),
            "POSTLINE_QUEUE_ADDR": f"127.0.0.1:{p['queue_grpc']}",
            "POSTLINE_SMTP_MX_PORT": str(p["smtp_mx"]),
            "POSTLINE_SMTP_SUBMISSION_PORT": str(p["smtp_submission"]),
            "POSTLINE_SMTP_SUBMISSIONS_PORT": str(p["smtp_submissions"]),
            "POSTLINE_SMTP_HTTP_PORT": str(p["smtpd_http"]),
            "POSTLINE_IMAP_PORT": str(p["imap"]),
            "POSTLINE_IMAP_TLS_PORT": str(p["imaps"]),
            "POSTLINE_IMAP_HTTP_PORT": str(p["imapd_http"]),
            "POSTLINE_MANAGESIEVE_PORT": str(p["managesieve"]),
            "POSTLINE_MANAGESIEVE_HTTP_PORT": str(p["managesieved_http"]),
            "POSTLINE_WEB_HTTPS_PORT": str(p["web_https"]),
            "POSTLINE_WEB_HTTP_REDIRECT_PORT": str(p["web_redirect"]),
            "POSTLINE_WEB_PUBLIC_HTTPS_PORT": str(p["web_https"]),
            "POSTLINE_WEB_HTTP_PORT": str(p["webd_http"]),
        }

    # --- database ---------------------------------------------------------
    def _create_database(self, server_url: str) -> str:
        name = "e2e_" + os.urandom(6).hex()
        subprocess.run(["psql", server_url, "-v", f"name={name}", "-q"], input='CREATE DATABASE :"name"',
                       text=True, check=True, capture_output=True)
        # Connection parameters after the path (a multi-host URL's
        # target_session_attrs, tests/e2e/ha_support.py) stay on the new URL.
        path, sep, query = server_url.partition("?")
        base, _, _ = path.rpartition("/")
        return f"{base}/{name}{sep}{query}"

    def psql(self, sql: str) -> str:
        """Runs SQL for assertions about stored state; returns unaligned output."""
        return subprocess.run(["psql", self.db_url, "-Atq", "-c", sql], check=True, capture_output=True,
                              text=True).stdout

    # --- processes --------------------------------------------------------
    def process_env(self, extra: dict | None = None) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("POSTLINE_")}
        env.update(self.env)
        env.update(extra or {})
        return env

    def cli(self, *args, input: str | None = None, check: bool = True, extra_env: dict | None = None):
        result = subprocess.run([str(self.bin / "postline"), *args], input=input, text=True, capture_output=True,
                                env=self.process_env(extra_env), timeout=60)
        if check and result.returncode != 0:
            raise AssertionError(f"postline {' '.join(args)} failed ({result.returncode}):\n{result.stdout}{result.stderr}")
        return result

    def migrate(self):
        self.cli("migrate")

    def start(self, service: str, extra_env: dict | None = None, wait: bool = True):
        assert service in SERVICES or service in OPTIONAL_SERVICES, service
        if not (self.bin / f"postline-{service}").exists():
            raise RuntimeError(f"{self.bin / f'postline-{service}'} is missing: build first (scripts/build)")
        log = self.workdir / f"{service}.log"
        self.logs[service] = log
        handle = open(log, "ab")
        self.procs[service] = subprocess.Popen([str(self.bin / f"postline-{service}")], stdout=handle,
                                               stderr=subprocess.STDOUT, env=self.process_env(extra_env),
                                               stdin=subprocess.DEVNULL)
        handle.close()
        if wait:
            self.wait_ready(service)

    def wait_ready(self, service: str, timeout: float = 30.0):
        port = self.ports[HTTP_PORT_KEY[service]]

        def ready():
            proc = self.procs.get(service)
            if proc is not None and proc.poll() is not None:
                raise RuntimeError(f"{service} exited with {proc.returncode}:\n{self.log_tail(service)}")
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as r:
                return r.status == 200

        try:
            wait_until(ready, timeout=timeout, what=f"{service} /readyz")
        except (TimeoutError, RuntimeError) as e:
            raise RuntimeError(f"{e}\n--- {service} log ---\n{self.log_tail(service)}") from None

    def stop(self, service: str, sig=signal.SIGTERM, timeout: float = 15.0) -> int | None:
        proc = self.procs.pop(service, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(sig)
            try:
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def kill(self, service: str):
        return self.stop(service, sig=signal.SIGKILL)

    def start_all(self):
        self.migrate()
        for s in SERVICES:
            self._start_with_fresh_ports_on_conflict(s)

    def start_webd(self, extra_env: dict | None = None):
        """Starts postline-webd (HTTPS, the redirect port and its HTTP port, all
        free ports) against this platform's authd; only tests that ask pay for it.
        `extra_env` is kept for restarts by later calls. Returns the HTTPS port."""
        self.extra_env.update(extra_env or {})
        self.env.update(self.extra_env)
        self._start_with_fresh_ports_on_conflict("webd")
        return self.ports["web_https"]

    def _start_with_fresh_ports_on_conflict(self, service: str, attempts: int = 3):
        """Starts a service; if one of its ports was taken between choosing and
        binding it (another test, any process), picks new ports and tries again.
        Safe only before later services are started with these ports in their env."""
        for attempt in range(attempts):
            try:
                self.start(service)
                return
            except RuntimeError as e:
                if "Address already in use" not in str(e) or attempt == attempts - 1:
                    raise
                self.stop(service)
                for key in SERVICE_PORTS[service]:
                    self.ports[key] = free_port()
                self.env.update(self._port_env())
                self.env.update(self.extra_env)  # a test's explicit settings still win

    @contextlib.contextmanager
    def extra_imapd(self, log_name: str):
        """Another postline-imapd on the same database and config, started the
        way an operator adds an instance (DESIGN.md: only POSTLINE_IMAP_PORT,
        _TLS_PORT and _HTTP_PORT differ). Yields its IMAP port; stopped after.
        A port taken by another process between choosing and binding it gives
        fresh ports and another try, as for the platform's own services."""
        log_path = self.workdir / log_name
        proc = None
        for attempt in range(3):
            ports = {"POSTLINE_IMAP_PORT": str(free_port()), "POSTLINE_IMAP_TLS_PORT": str(free_port()),
                     "POSTLINE_IMAP_HTTP_PORT": str(free_port())}
            with open(log_path, "ab") as log:
                proc = subprocess.Popen([str(self.bin / "postline-imapd")], stdout=log, stderr=subprocess.STDOUT,
                                        env=self.process_env(ports), stdin=subprocess.DEVNULL)

            def ready():
                assert proc.poll() is None, log_path.read_text()
                with urllib.request.urlopen(f"http://127.0.0.1:{ports['POSTLINE_IMAP_HTTP_PORT']}/readyz",
                                            timeout=2) as r:
                    return r.status == 200

            try:
                wait_until(ready, what=f"extra imapd ({log_name}) /readyz")
                break
            except (TimeoutError, AssertionError):
                proc.terminate()
                proc.wait(timeout=15)
                if attempt == 2 or "Address already in use" not in log_path.read_text(errors="replace"):
                    raise
        try:
            yield int(ports["POSTLINE_IMAP_PORT"])
        finally:
            proc.terminate()
            proc.wait(timeout=15)

    def stop_all(self):
        for s in reversed(SERVICES):
            self.stop(s)
        for s in list(self.procs):  # webd and anything else a test started
            self.stop(s)

    def log_tail(self, service: str, lines: int = 40) -> str:
        path = self.logs.get(service)
        if not path or not path.exists():
            return "(no log)"
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    # --- accounts ---------------------------------------------------------
    def add_domain(self, domain: str):
        result = self.cli("domain", "add", domain, check=False)
        if result.returncode != 0 and "exist" not in (result.stdout + result.stderr).lower():
            raise AssertionError(f"domain add {domain} failed:\n{result.stdout}{result.stderr}")

    def add_user(self, email: str, password: str):
        self.add_domain(email.split("@", 1)[1])
        self.cli("user", "add", email, "--password-stdin", input=password + "\n")

    # --- metrics ----------------------------------------------------------
    def metrics_text(self, service: str) -> str:
        port = self.ports[HTTP_PORT_KEY[service]]
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as r:
            return r.read().decode()

    def metric_value(self, service: str, name: str, labels: dict | None = None) -> float:
        """Sum of every series of `name` whose labels include `labels` (0 if none)."""
        want = set((labels or {}).items())
        total = 0.0
        for (metric, series_labels), value in parse_metrics(self.metrics_text(service)).items():
            if metric == name and want <= set(series_labels):
                total += value
        return total

    def http_status(self, service: str, path: str) -> int:
        port = self.ports[HTTP_PORT_KEY[service]]
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=5) as r:
                return r.status
        except urllib.error.HTTPError as e:
            return e.code


def start_test_postgres(directory: Path) -> str:
    """Starts a private PostgreSQL (for running pytest without ctest)."""
    out = subprocess.run([str(ROOT / "scripts" / "pg"), "start", str(directory)], check=True, capture_output=True,
                         text=True)
    return out.stdout.strip().splitlines()[-1]


def unix_socket_url(tcp_url: str, socket_dir: Path) -> str:
    """The server of tcp_url reached through its Unix socket in socket_dir (scripts/pg puts it in
    the data directory): postgresql://USER@/DB?host=DIR&port=PORT."""
    from urllib.parse import urlparse
    u = urlparse(tcp_url)
    return f"postgresql://{u.username or 'postgres'}@{u.path}?host={socket_dir}&port={u.port or 5432}"


def stop_test_postgres(directory: Path):
    subprocess.run([str(ROOT / "scripts" / "pg"), "stop", str(directory)], check=False, capture_output=True)


def new_workdir(prefix: str) -> Path:
    base = os.environ.get("POSTLINE_DATA_DIR") or None
    path = Path(tempfile.mkdtemp(prefix=prefix, dir=base))
    path.chmod(0o755)
    return path
