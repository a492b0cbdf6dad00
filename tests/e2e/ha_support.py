"""A PostgreSQL high-availability cluster on loopback for the `ha` tests: three
etcd members (the DCS) and two PostgreSQL members run by Patroni (Debian's
`patroni` and `etcd-server`, scripts/packages/ha.txt), synchronous replication
on (`synchronous_mode`), every port free-chosen.

    with HaCluster(workdir) as cluster:
        url = cluster.url("postgres")   # multi-host, target_session_attrs=read-write
        primary = cluster.primary()     # Patroni's member name
        cluster.kill_postgres(primary)  # SIGKILL the postmaster and its children

Patroni runs PostgreSQL as the `postgres` user (PostgreSQL refuses root), so as
root the whole tree lives under /var/tmp where that user can enter.
"""
from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path

from platform_support import free_port, wait_until

MEMBERS = ("pg0", "pg1")
ETCD_MEMBERS = ("etcd0", "etcd1", "etcd2")


def missing_tools() -> str | None:
    """Why the cluster cannot run here, or None."""
    for tool in ("patroni", "etcd", "patronictl"):
        if not shutil.which(tool):
            return (f"{tool} is not installed (Debian packages patroni, etcd-server: "
                    "scripts/test --ha installs them)")
    if not pg_bin_dir():
        return "PostgreSQL server binaries not found under /usr/lib/postgresql/*/bin"
    if os.geteuid() == 0:
        try:
            subprocess.run(["id", "postgres"], check=True, capture_output=True)
        except subprocess.CalledProcessError:
            return "no `postgres` user to run PostgreSQL as"
    return None


def pg_bin_dir() -> str | None:
    dirs = sorted(Path("/usr/lib/postgresql").glob("*/bin/postgres"))
    return str(dirs[-1].parent) if dirs else None


def _as_postgres(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def _http_json(url: str, timeout: float = 2.0):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, json.loads(r.read() or b"{}")


class HaCluster:
    # Patroni's timings (its DCS "global configuration"): a one-second HA loop,
    # so a crash is seen within a second; a failed primary is not restarted
    # in place but failed over at once (primary_start_timeout 0), which is
    # what the test is about. ttl is Patroni's minimum-sensible 20 s: it
    # bounds a failover only when a whole node (Patroni too) disappears.
    TTL, LOOP_WAIT, RETRY_TIMEOUT = 20, 1, 5

    def __init__(self, workdir: Path):
        base = "/var/tmp" if os.geteuid() == 0 else None
        self.root = Path(tempfile.mkdtemp(prefix="postline-ha-", dir=base))
        self.root.chmod(0o755)
        if os.geteuid() == 0:
            shutil.chown(self.root, "postgres", "postgres")
        self.workdir = workdir
        self.scope = "postline-ha-" + os.urandom(3).hex()
        self.etcd_ports = {m: (free_port(), free_port()) for m in ETCD_MEMBERS}  # client, peer
        self.pg_ports = {m: free_port() for m in MEMBERS}
        self.api_ports = {m: free_port() for m in MEMBERS}
        self.etcd: dict[str, subprocess.Popen] = {}
        self.patroni: dict[str, subprocess.Popen] = {}

    # --- life cycle ---------------------------------------------------------
    def __enter__(self):
        try:
            self.start()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.stop()

    def start(self, timeout: float = 120.0):
        self._start_etcd()
        for m in MEMBERS:
            self._start_patroni(m)
        wait_until(lambda: self.primary() and self.sync_standby(), timeout=timeout, interval=0.25,
                   what="a Patroni primary with a synchronous standby")

    def _start_etcd(self):
        cluster = ",".join(f"{m}=http://127.0.0.1:{peer}" for m, (_, peer) in self.etcd_ports.items())
        for m, (client, peer) in self.etcd_ports.items():
            log = open(self.workdir / f"{m}.log", "ab")
            self.etcd[m] = subprocess.Popen(
                ["etcd", "--name", m, "--data-dir", str(self.root / m),
                 "--listen-client-urls", f"http://127.0.0.1:{client}",
                 "--advertise-client-urls", f"http://127.0.0.1:{client}",
                 "--listen-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-advertise-peer-urls", f"http://127.0.0.1:{peer}",
                 "--initial-cluster", cluster, "--initial-cluster-state", "new",
                 "--initial-cluster-token", self.scope, "--listen-metrics-urls", ""],
                stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
            log.close()

        def healthy():
            for m, (client, _) in self.etcd_ports.items():
                if self.etcd[m].poll() is not None:
                    raise RuntimeError(f"etcd {m} exited:\n{(self.workdir / f'{m}.log').read_text()[-2000:]}")
                status, body = _http_json(f"http://127.0.0.1:{client}/health")
                if status != 200 or body.get("health") != "true":
                    return False
            return True

        wait_until(healthy, timeout=60, interval=0.2, what="three etcd members healthy")

    def _config(self, member: str) -> str:
        bin_dir = pg_bin_dir()
        data = self.root / member / "data"
        sock = self.root / member
        etcd_hosts = ",".join(f"127.0.0.1:{c}" for c, _ in self.etcd_ports.values())
        port, api = self.pg_ports[member], self.api_ports[member]
        # JSON is YAML: no YAML library needed to write it.
        return json.dumps({
            "scope": self.scope,
            "name": member,
            "restapi": {"listen": f"127.0.0.1:{api}", "connect_address": f"127.0.0.1:{api}"},
            "etcd3": {"hosts": etcd_hosts},
            "bootstrap": {
                "dcs": {
                    "ttl": self.TTL, "loop_wait": self.LOOP_WAIT, "retry_timeout": self.RETRY_TIMEOUT,
                    "maximum_lag_on_failover": 1048576,
                    "primary_start_timeout": 0,
                    # A commit returns only once the synchronous standby has
                    # flushed it (synchronous_commit on): a 250 survives the
                    # primary's death, and Patroni promotes only that standby.
                    "synchronous_mode": True,
                    "postgresql": {
                        "use_pg_rewind": True,
                        "use_slots": True,
                        "parameters": {
                            "synchronous_commit": "on",
                            "wal_log_hints": "on",
                            "max_connections": 200,
                            "max_wal_senders": 10,
                            "max_replication_slots": 10,
                            "wal_keep_size": "256MB",
                            "fsync": "on",
                            "hot_standby": "on",
                        },
                    },
                },
                "initdb": [{"encoding": "UTF8"}, {"locale": "C"}],
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication all 127.0.0.1/32 trust"],
            },
            "postgresql": {
                "listen": f"127.0.0.1:{port}",
                "connect_address": f"127.0.0.1:{port}",
                "data_dir": str(data),
                "bin_dir": bin_dir,
                "pgpass": str(self.root / member / "pgpass"),
                "authentication": {
                    "superuser": {"username": "postgres", "password": "unused-trust"},
                    "replication": {"username": "postgres", "password": "unused-trust"},
                    "rewind": {"username": "postgres", "password": "unused-trust"},
                },
                "parameters": {"unix_socket_directories": str(sock), "listen_addresses": "127.0.0.1"},
                "pg_hba": ["local all all trust", "host all all 127.0.0.1/32 trust",
                           "host replication all 127.0.0.1/32 trust"],
            },
            "tags": {"nofailover": False, "noloadbalance": False, "clonefrom": False, "nosync": False},
        })

    def _start_patroni(self, member: str):
        d = self.root / member
        d.mkdir(exist_ok=True)
        conf = d / "patroni.yml"
        conf.write_text(self._config(member))
        if os.geteuid() == 0:
            for p in (d, conf):
                shutil.chown(p, "postgres", "postgres")
        log = open(self.workdir / f"patroni-{member}.log", "ab")
        self.patroni[member] = subprocess.Popen(_as_postgres(["patroni", str(conf)]), stdout=log,
                                                stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                                cwd=str(d))
        log.close()

    def stop(self):
        for m, proc in self.patroni.items():
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)  # runuser passes it on; Patroni stops PostgreSQL
        for m, proc in self.patroni.items():
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        for m in MEMBERS:  # whatever PostgreSQL Patroni left behind
            pid = self.postmaster_pid(m)
            if pid:
                try:
                    os.kill(pid, signal.SIGQUIT)
                except ProcessLookupError:
                    pass
        for proc in self.etcd.values():
            if proc.poll() is None:
                proc.terminate()
        for proc in self.etcd.values():
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if not os.environ.get("POSTLINE_KEEP_TEST_DIRS"):
            deadline = time.monotonic() + 10
            while any(self.postmaster_pid(m) for m in MEMBERS) and time.monotonic() < deadline:
                time.sleep(0.1)  # teardown only: the postmasters exit after SIGQUIT
            shutil.rmtree(self.root, ignore_errors=True)

    # --- state --------------------------------------------------------------
    def members(self) -> list[dict]:
        """Patroni's /cluster view from any member that answers."""
        for m in MEMBERS:
            try:
                status, body = _http_json(f"http://127.0.0.1:{self.api_ports[m]}/cluster")
                if status == 200:
                    return body.get("members", [])
            except OSError:
                continue
        return []

    def primary(self) -> str | None:
        for member in self.members():
            if member.get("role") in ("leader", "master", "primary") and member.get("state") == "running":
                return member["name"]
        return None

    def sync_standby(self) -> str | None:
        for member in self.members():
            if member.get("role") == "sync_standby" and member.get("state") in ("running", "streaming"):
                return member["name"]
        return None

    def url(self, database: str) -> str:
        hosts = ",".join(f"127.0.0.1:{self.pg_ports[m]}" for m in MEMBERS)
        return f"postgresql://postgres@{hosts}/{database}?target_session_attrs=read-write&connect_timeout=2"

    def member_url(self, member: str, database: str) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.pg_ports[member]}/{database}"

    def postmaster_pid(self, member: str) -> int | None:
        pidfile = self.root / member / "data" / "postmaster.pid"
        try:
            pid = int(pidfile.read_text().split("\n", 1)[0])
            os.kill(pid, 0)
            return pid
        except (OSError, ValueError):
            return None

    def kill_postgres(self, member: str) -> int:
        """SIGKILL to the member's postmaster and every backend it forked, all
        at once, as the OOM killer or a crashing host would: nothing flushes,
        nothing says goodbye to clients. Patroni stays up and fails over."""
        pid = self.postmaster_pid(member)
        assert pid, f"{member} has no running postmaster"
        children = []
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            ppid = int(stat.rsplit(")", 1)[1].split()[1])
            if ppid == pid:
                children.append(int(entry.name))
        for p in [pid, *children]:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
        return pid

    def patronictl(self, *args: str) -> str:
        conf = self.root / MEMBERS[0] / "patroni.yml"
        out = subprocess.run(["patronictl", "-c", str(conf), *args, self.scope], check=True, capture_output=True,
                             text=True, timeout=60)
        return out.stdout

    def pause(self):
        """Maintenance mode: Patroni neither restarts nor fails over a crashed
        primary until resume() (a failover that takes as long as the test wants)."""
        self.patronictl("pause", "--wait")

    def resume(self):
        self.patronictl("resume", "--wait")

    def log_tail(self, lines: int = 30) -> str:
        out = []
        for m in MEMBERS:
            path = self.workdir / f"patroni-{m}.log"
            if path.exists():
                out.append(f"--- patroni {m} ---\n" + "\n".join(path.read_text(errors="replace").splitlines()[-lines:]))
        return "\n".join(out)
