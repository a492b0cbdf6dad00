#!/usr/bin/python3
"""Memory per idle IMAP connection (issue 13): Postline's imapd next to a private Dovecot.

N connections (default 200) are opened to each server, one after the other, spread over U
users (default: one user per connection) whose INBOX holds a few messages (default 20).
Two variants, each from a fresh start of the measured state:

    login   LOGIN, then nothing (an authenticated connection, no mailbox selected)
    idle    LOGIN, SELECT INBOX, IDLE (what a mail client leaves open all day)

The server side's memory is read from /proc/PID/smaps_rollup (PSS: shared pages divided
among their users, so Dovecot's many processes that share libraries are not overcounted;
RSS printed too) with no client connected (after one warm-up connection, so pools and
caches that every server fills once are in the baseline), with N/2 and with N connected:
  - Postline: postline-imapd (restarted before each variant: its heap does not shrink
    after a close) plus the PostgreSQL cluster's own memory (postmaster and backends, PSS
    without shared memory); shown, not counted: the shared_buffers pages the backends
    touched (a cache of fixed size that any work fills) and authd;
  - Dovecot: the master and every descendant (imap per connection, imap-login, auth,
    anvil, config, log, stats).
KB per connection = (with N - baseline) / N; "marginal" = (with N - with N/2) / (N/2),
which leaves out any fixed cost of the first connections.

    /usr/bin/python3 bench/imap_idle_memory.py [--connections 200] [--users 0] [--messages 20]

Needs root, the packages in scripts/packages/bench.txt and the Postline binaries in
$POSTLINE_BUILD_DIR/bin (default build/bin).
"""
from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

PASSWORD = "Qm7 tile vapor 42"  # passes authd's policy: no user name in it, not a dictionary word
SENDER = "idler@sender.example"
VARIANTS = ("login", "idle")


def open_connections(port: int, users: list[str], n: int, variant: str, conns: list, deadline: float):
    """Appends to `conns` until it holds n connections in `variant`'s state."""
    while len(conns) < n:
        if time.monotonic() > deadline:
            raise b.BenchTimeout("time limit while opening connections")
        c = b.RawImap(port, timeout=60)
        conns.append(c)
        c.login(users[len(conns) % len(users)], PASSWORD)
        if variant == "idle":
            _, untagged, _ = c.command("SELECT INBOX")
            if not any(l.endswith(b" EXISTS\r\n") for l in untagged):
                raise b.ImapError("SELECT: no EXISTS")
            c.idle_tag = c.idle_start()


def close_connections(conns: list):
    for c in conns:
        with contextlib.suppress(Exception):
            if getattr(c, "idle_tag", None):
                c.idle_done(c.idle_tag)
        c.close()
    conns.clear()


class PostlineSide:
    name = "postline"

    def __init__(self, p, pg_url: str):
        self.p = p
        self.pg_url = pg_url

    def prepare(self, variant: str):
        # imapd's heap keeps what it once allocated: start each variant from a fresh process
        self.p.stop("imapd")
        self.p.start("imapd")
        self.pg_pid = b.postgres_pid(self.pg_url)
        if self.pg_pid is None:
            raise RuntimeError(f"cannot find the PostgreSQL postmaster of {self.pg_url}")

    def active(self) -> int:
        return int(self.p.metric_value("imapd", "postline_imapd_sessions_active"))

    def settled(self, n: int) -> bool:
        return self.active() == n

    def memory(self) -> dict[str, tuple[int, int, int, bool]]:
        """component -> (PSS, RSS, processes, counted)"""
        imapd = b.tree_memory_kb([self.p.procs["imapd"].pid])
        authd = b.tree_memory_kb([self.p.procs["authd"].pid])
        pg = b.tree_memory_kb([self.pg_pid])
        return {"imapd": (imapd["pss"], imapd["rss"], imapd["procs"], True),
                # the backends' own memory (catalog/plan caches, work memory) ...
                "postgres private": (pg["pss"] - pg["pss_shmem"], pg["rss"], pg["procs"], True),
                # ... and the pages of shared_buffers they have touched: a data cache of fixed size
                "postgres shared_buffers": (pg["pss_shmem"], 0, pg["procs"], False),
                "authd": (authd["pss"], authd["rss"], authd["procs"], False)}


class DovecotSide:
    name = "dovecot"

    def __init__(self, dc):
        self.dc = dc

    def prepare(self, variant: str):
        self.master = self.dc.master_pid()

    def _count(self, comm: str) -> int:
        return sum(1 for pid in b.process_tree([self.master]) if b.process_name(pid) == comm)

    def settled(self, n: int) -> bool:
        # one imap process per connection; the imap-login processes have handed over and exited
        return self._count("imap") == n and self._count("imap-login") == 0

    def memory(self) -> dict[str, tuple[int, int, int, bool]]:
        m = b.tree_memory_kb([self.master])
        return {"dovecot (all processes)": (m["pss"], m["rss"], m["procs"], True)}


def measure(side, port: int, users: list[str], n: int, variant: str, deadline: float) -> dict:
    conns: list = []
    out = {}
    try:
        side.prepare(variant)
        # warm-up: one connection in this variant's state, closed again
        open_connections(port, users, 1, variant, conns, deadline)
        close_connections(conns)
        b.ps.wait_until(lambda: side.settled(0), timeout=30, what=f"{side.name}: back to no connections")
        out[0] = side.memory()
        for k in (max(1, n // 2), n):
            open_connections(port, users, k, variant, conns, deadline)
            b.ps.wait_until(lambda: side.settled(k), timeout=60, what=f"{side.name}: {k} connections settled")
            out[k] = side.memory()
    finally:
        close_connections(conns)
    b.ps.wait_until(lambda: side.settled(0), timeout=60, what=f"{side.name}: connections closed")
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--connections", type=int, default=200, help="connections N per server and variant (default 200)")
    ap.add_argument("--users", type=int, default=0, help="users the connections are spread over (default 0: one per connection)")
    ap.add_argument("--messages", type=int, default=20, help="messages in each user's INBOX (default 20)")
    ap.add_argument("--size", default="4k", help="message size (default 4k)")
    ap.add_argument("--variants", default="login,idle", help="comma list of login,idle (default both)")
    ap.add_argument("--targets", default="postline,dovecot", help="comma list (default postline,dovecot)")
    ap.add_argument("--time-limit", type=float, default=900, help="whole run, seconds (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep work directories (logs)")
    args = ap.parse_args()
    n = args.connections
    if not 2 <= n <= 5000 or args.users < 0 or args.messages < 1:
        ap.error("--connections 2..5000, --users at least 0, --messages at least 1")
    n_users = args.users or n
    variants = [v.strip() for v in args.variants.split(",") if v.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if any(v not in VARIANTS for v in variants) or any(t not in ("postline", "dovecot") for t in targets):
        ap.error("variants: login, idle; targets: postline, dovecot")
    size = b.parse_size(args.size)

    deadline = b.start_run(args.time_limit)
    nofile = b.raise_nofile(2 * n + 200)  # our sockets; the servers started below inherit it
    failures: list[str] = []
    results: dict[str, dict[str, dict]] = {}
    fills: dict[str, b.FillResult] = {}
    per_user = b.make_messages([(i, size, SENDER, f"idler{u}@bench.test", None, 500 + u)
                                for u in range(n_users) for i in range(args.messages)])
    mailboxes = [per_user[u * args.messages:(u + 1) * args.messages] for u in range(n_users)]

    with contextlib.ExitStack() as stack:
        sides = []
        try:
            if "postline" in targets:
                if b.postline_binaries_built(failures):
                    with b.target_setup("postline", failures):
                        pg_url = stack.enter_context(b.pg_server())
                        env = {"POSTLINE_IMAP_MAX_CONNECTIONS": str(max(1000, n + 100))}
                        p = stack.enter_context(b.postline_platform(pg_url, extra_env=env, keep=args.keep))
                        users = [f"idler{u}@postline.test" for u in range(n_users)]
                        b.log(f"[postline] adding {len(users)} users")
                        b.postline_add_users(p, users, PASSWORD)
                        fills["postline"] = b.bulk_append(p.ports["imap"], [b.AppendJob(u, PASSWORD, mailboxes[k]) for k, u in enumerate(users)],
                                                          deadline=deadline, label="[postline] ")
                        sides.append((PostlineSide(p, pg_url), p.ports["imap"], users))
            if "dovecot" in targets:
                with b.target_setup("dovecot", failures):
                    workdir = b.scratch_workdir(stack, args.keep)
                    # only limits raised: connections per user+IP and, for big N, process/client counts
                    extra = f"protocol imap {{\n  mail_max_userip_connections = {n + 10}\n}}\n"
                    if n > 900:
                        extra += (f"default_process_limit = {n + 100}\ndefault_client_limit = {2 * n + 100}\n"
                                  f"service imap {{\n  process_limit = {n + 100}\n}}\n")
                    dc = b.DovecotPeer(workdir, extra_conf=extra)
                    users = [f"idler{u}" for u in range(n_users)]
                    dc.add_users({u: PASSWORD for u in users})
                    stack.enter_context(dc)
                    fills["dovecot"] = b.bulk_append(dc.port, [b.AppendJob(u, PASSWORD, mailboxes[k]) for k, u in enumerate(users)],
                                                     deadline=deadline, label="[dovecot] ")
                    sides.append((DovecotSide(dc), dc.port, users))
            for side, port, users in sides:
                for variant in variants:
                    b.log(f"[{side.name}] {variant}: opening {n} connections")
                    with b.target_setup(side.name, failures, variant):
                        results.setdefault(side.name, {})[variant] = measure(side, port, users, n, variant, deadline)
        except b.BenchTimeout as e:
            failures.append(str(e))
        finally:
            signal.alarm(0)

    print()
    print(f"imap_idle_memory: {n} connections per server and variant over {n_users} users "
          f"({args.messages} x {size // 1024}k messages each); login = LOGIN only, idle = LOGIN + SELECT INBOX + IDLE; "
          f"memory from /proc/PID/smaps_rollup, KiB (1 KB = 1024 bytes here); open-file limit {nofile}")
    print()
    half = max(1, n // 2)
    rows = []
    per_conn: dict[tuple[str, str], float] = {}
    for name, by_variant in results.items():
        for variant, mem in by_variant.items():
            for comp in mem[0]:
                (pss0, rss0, np0, counted), (pssh, _, _, _), (pss1, rss1, np1, _) = mem[0][comp], mem[half][comp], mem[n][comp]
                rows.append([name, variant, comp + ("" if counted else " (not counted)"), f"{np0} -> {np1}", pss0, pss1,
                             f"{(pss1 - pss0) / n:.1f}", f"{(pss1 - pssh) / (n - half):.1f}" if n > half else "-",
                             rss0 or "-", rss1 or "-", f"{(rss1 - rss0) / n:.1f}" if rss0 else "-"])
                if counted:
                    per_conn[(name, variant)] = per_conn.get((name, variant), 0.0) + (pss1 - pss0) / n
    print(b.table(["target", "variant", "processes", "count", "PSS base", f"PSS at {n}", "PSS KB/conn", "marginal KB/conn",
                   "RSS base", f"RSS at {n}", "RSS KB/conn"], rows))
    print()
    for variant in variants:
        pl, dv = per_conn.get(("postline", variant)), per_conn.get(("dovecot", variant))
        line = f"{variant}: PSS KB per connection, counted processes: postline {pl:.1f}" if pl is not None else f"{variant}: postline -"
        line += f", dovecot {dv:.1f}" if dv is not None else ", dovecot -"
        if pl is not None and dv:
            line += f", postline/dovecot {pl / dv:.3f}x"
        if pl is not None and variant == "idle":
            line += f" (issue 13: postline under 20 KB: {'yes' if pl < 20 else 'NO'})"
        print(line)
    print("postline counts imapd + the PostgreSQL backends' own memory (PSS without shared memory); the shared_buffers "
          "pages the backends touched (a cache of fixed size, filled by any work) and authd are shown, not counted. "
          "dovecot counts all its processes (their PSS, index files mapped included). RSS counts shared pages in every process.")
    for name, f in fills.items():
        print(f"fill {name}: {f.describe()}")
    for f in failures:
        print(f"FAILED: {f}")
    b.print_footer()
    return 1 if failures or not results else 0


if __name__ == "__main__":
    sys.exit(main())
