#!/usr/bin/python3
"""What one successful IMAP LOGIN costs postline-authd and PostgreSQL (issue 13).

Not a test (pytest does not collect it): a measurement, run by hand after a build.

    /usr/bin/python3 services/auth/tests/login_cost.py [--logins 2000] [--users 100]

It starts a private PostgreSQL (scripts/pg, fsync on) with pg_stat_statements, the
e2e platform's four services (tests/e2e/platform_support.py, argon2id at the e2e's
cheap parameters, log.level=info), adds --users accounts and logs each in once
(warm-up: the first login of a user hashes and records last_login_at). Then:

 1. counting: --count-logins sequential IMAP LOGIN+LOGOUT with log_statement=all;
    statements, BEGINs and writes per login are counted per application_name
    (authd connects as postline-authd), so imapd's own statements are apart;
    then --rcpts SMTP RCPTs of plain mailboxes on the MX port (ResolveRecipient),
    counted the same way;
 2. timing: --logins sequential LOGIN+LOGOUT round-robin over the users, logging
    off; CPU seconds (utime+stime from /proc) of authd, of authd's PostgreSQL
    backends, of the whole PostgreSQL cluster and of imapd; WAL records and
    syncs (pg_stat_wal); argon2id checks (postline_authd_hash_duration_seconds).

Binaries come from $POSTLINE_BUILD_DIR/bin (default build/bin). The machine is
shared and noisy: compare runs made minutes apart, not across days.
"""
from __future__ import annotations

import argparse
import collections
import imaplib
import os
import re
import shutil
import smtplib
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(ROOT / "tests" / "e2e"))
import platform_support as ps  # noqa: E402

APP = "postline-authd"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int, children: bool = False) -> float:
    """utime+stime of a process (and of its reaped children)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    # after the ")": state is fields[0]; utime, stime, cutime, cstime are stat fields 14-17
    t = int(fields[11]) + int(fields[12])
    if children:
        t += int(fields[13]) + int(fields[14])
    return t / TICK


def cluster_pids(postmaster: int) -> list[int]:
    pids = []
    for d in Path("/proc").iterdir():
        if not d.name.isdigit():
            continue
        try:
            ppid = int((d / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        if ppid == postmaster:
            pids.append(int(d.name))
    return pids


def cluster_cpu(postmaster: int) -> float:
    total = cpu_seconds(postmaster, children=True)
    for pid in cluster_pids(postmaster):
        try:
            total += cpu_seconds(pid)
        except OSError:
            pass  # exited between listing and reading: counted in cutime from now on
    return total


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atq", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def metric(platform, name: str) -> float:
    return platform.metric_value("authd", name)


def login_logout(port: int, user: str, password: str):
    client = imaplib.IMAP4("127.0.0.1", port)
    try:
        typ, _ = client.login(user, password)
        assert typ == "OK", typ
    finally:
        client.logout()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--logins", type=int, default=2000, help="timed sequential LOGIN+LOGOUT")
    ap.add_argument("--count-logins", type=int, default=100, help="logins counted with log_statement=all")
    ap.add_argument("--users", type=int, default=100)
    ap.add_argument("--rcpts", type=int, default=100, help="SMTP RCPTs counted with log_statement=all (0: none)")
    ap.add_argument("--authd-env", action="append", default=[], metavar="KEY=VALUE",
                    help="extra environment for authd, e.g. POSTLINE_AUTH_VERIFY_CACHE_TTL=0")
    ap.add_argument("--keep", action="store_true", help="keep the work directories")
    args = ap.parse_args()

    pgdir = ps.new_workdir("postline-logincost-pg-")
    workdir = ps.new_workdir("postline-logincost-")
    platform = None
    try:
        url = ps.start_test_postgres(pgdir)
        port = url.rsplit(":", 1)[1].split("/")[0]
        psql(url, "ALTER SYSTEM SET shared_preload_libraries = 'pg_stat_statements'")
        psql(url, "ALTER SYSTEM SET log_line_prefix = 'app=%a '")
        subprocess.run([str(ROOT / "scripts" / "pg"), "stop", str(pgdir)], check=True, capture_output=True)
        url = subprocess.run([str(ROOT / "scripts" / "pg"), "start", str(pgdir), port], check=True,
                             capture_output=True, text=True).stdout.strip().splitlines()[-1]
        data = Path(os.path.realpath(pgdir / "data"))
        postmaster = int((data / "postmaster.pid").read_text().split()[0])
        psql(url, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements")

        platform = ps.Platform(url, workdir, {"POSTLINE_LOG_LEVEL": "info", "POSTLINE_DB_POOL_SIZE": "8"})
        platform.migrate()
        authd_url = platform.db_url + f"?application_name={APP}"
        authd_env = dict(kv.split("=", 1) for kv in args.authd_env)
        platform.start("authd", extra_env={"POSTLINE_DB_URL": authd_url, **authd_env})
        for s in ("queued", "smtpd", "imapd"):
            platform.start(s)
        imap_port = platform.ports["imap"]
        users = [(f"u{i}@cost.example", f"Password-{i}-x") for i in range(args.users)]
        platform.add_domain("cost.example")
        for user, password in users:
            platform.cli("user", "add", user, "--password-stdin", input=password + "\n")
        for user, password in users:  # warm-up: first logins hash and record last_login_at
            login_logout(imap_port, user, password)

        # 1. counting, with every statement logged and tagged with its application
        log = data / "server.log"
        psql(url, "ALTER SYSTEM SET log_statement = 'all'")
        psql(url, "SELECT pg_reload_conf()")
        # A new session logs its statement once the postmaster has reloaded
        # (it signals the running backends as it does so).
        ps.wait_until(lambda: psql(url, "SELECT 'login-cost-mark'") and "login-cost-mark" in log.read_text(errors="replace"),
                      timeout=30, what="log_statement=all in effect")
        mark = log.stat().st_size
        for i in range(args.count_logins):
            login_logout(imap_port, *users[i % len(users)])
        with open(log, errors="replace") as f:
            f.seek(mark)
            lines = f.read().splitlines()
        per_app = collections.Counter()
        kinds = collections.Counter()
        for line in lines:
            m = re.match(r"app=(\S*) LOG:  (?:statement|execute [^:]*): (.*)", line)
            if not m:
                continue
            app, sql = m.group(1) or "(none)", m.group(2).strip()
            per_app[app] += 1
            if app == APP:
                word = sql.split()[0].upper() if sql else "?"
                kinds[word] += 1
        n = args.count_logins
        print(f"\n== statements per LOGIN+LOGOUT (log_statement=all, {n} logins) ==")
        for app, count in sorted(per_app.items()):
            print(f"  {app:24s} {count / n:6.2f}")
        print("  authd by verb: " + ", ".join(f"{k} {v / n:.2f}" for k, v in sorted(kinds.items())))

        # 1b. the same for ResolveRecipient: SMTP RCPT TO on the MX port, one per user
        if args.rcpts:
            mark = log.stat().st_size
            with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=60) as mx:
                mx.ehlo("remote.test")
                for i in range(args.rcpts):
                    mx.mail("someone@remote.test")
                    code, _ = mx.rcpt(users[i % len(users)][0])
                    assert code == 250, code
                    mx.rset()
            with open(log, errors="replace") as f:
                f.seek(mark)
                authd_lines = [l for l in f.read().splitlines() if l.startswith(f"app={APP} LOG:")]
            print(f"  ResolveRecipient (SMTP RCPT of a plain mailbox, {args.rcpts}): "
                  f"{len(authd_lines) / args.rcpts:.2f} authd statements each")

        psql(url, "ALTER SYSTEM RESET log_statement")
        psql(url, "SELECT pg_reload_conf()")

        # 2. timing
        psql(url, "SELECT pg_stat_statements_reset()")
        psql(url, "SELECT pg_stat_reset_shared('wal')")
        authd_pid, imapd_pid = platform.procs["authd"].pid, platform.procs["imapd"].pid
        backends = [int(p) for p in psql(url, f"SELECT pid FROM pg_stat_activity WHERE application_name = '{APP}'").split()]
        before = {
            "authd": cpu_seconds(authd_pid), "imapd": cpu_seconds(imapd_pid),
            "authd backends": sum(cpu_seconds(p) for p in backends), "postgres (all)": cluster_cpu(postmaster),
            "argon2id": metric(platform, "postline_authd_hash_duration_seconds_count"),
            "argon2id s": metric(platform, "postline_authd_hash_duration_seconds_sum"),
        }
        start = time.monotonic()
        for i in range(args.logins):
            login_logout(imap_port, *users[i % len(users)])
        wall = time.monotonic() - start
        # backends may have been opened during the run (pool growth): count them too
        backends_after = [int(p) for p in psql(url, f"SELECT pid FROM pg_stat_activity WHERE application_name = '{APP}'").split()]
        new_backends = [p for p in backends_after if p not in backends]
        after = {
            "authd": cpu_seconds(authd_pid), "imapd": cpu_seconds(imapd_pid),
            "authd backends": sum(cpu_seconds(p) for p in backends if Path(f"/proc/{p}").exists())
                              + sum(cpu_seconds(p) for p in new_backends),
            "postgres (all)": cluster_cpu(postmaster),
            "argon2id": metric(platform, "postline_authd_hash_duration_seconds_count"),
            "argon2id s": metric(platform, "postline_authd_hash_duration_seconds_sum"),
        }
        wal = psql(url, "SELECT wal_records, wal_fpi, wal_bytes, wal_write, wal_sync FROM pg_stat_wal").split("|")
        n = args.logins
        print(f"\n== {n} sequential IMAP LOGIN+LOGOUT over {len(users)} users: {wall:.1f} s wall, "
              f"{n / wall:.0f} logins/s ==")
        for key in ("authd", "authd backends", "postgres (all)", "imapd"):
            d = after[key] - before[key]
            print(f"  {key:16s} {d:7.2f} CPU-s   {d / n * 1e6:8.0f} us/login")
        hashes = after["argon2id"] - before["argon2id"]
        hash_s = after["argon2id s"] - before["argon2id s"]
        print(f"  argon2id checks  {hashes:7.0f}         {hash_s / n * 1e6:8.0f} us/login (wall, hash pool)")
        print(f"  WAL: {int(wal[0]) / n:.2f} records/login, {int(wal[2]) / n:.0f} bytes/login, "
              f"{int(wal[3]) / n:.3f} writes/login, {int(wal[4]) / n:.3f} syncs/login")
        rows = psql(url, "SELECT calls, round(total_exec_time::numeric, 1), left(regexp_replace(query, '\\s+', ' ', 'g'), 110)"
                         " FROM pg_stat_statements WHERE calls >= " + str(n // 2) + " ORDER BY calls DESC")
        print("  pg_stat_statements (calls >= logins/2; all services): calls/login, exec ms, query")
        for row in rows.splitlines():
            calls, ms, query = row.split("|", 2)
            print(f"    {int(calls) / n:5.2f} {float(ms):8.1f}  {query}")
        print(f"machine: {time.strftime('%Y-%m-%d %H:%M:%S')}, {os.cpu_count()} CPUs, load {os.getloadavg()}")
        print(f"reproduce: POSTLINE_BUILD_DIR={ps.build_dir()} /usr/bin/python3 {' '.join(sys.argv)}")
        return 0
    finally:
        if platform is not None:
            platform.stop_all()
        ps.stop_test_postgres(pgdir)
        if args.keep:
            print(f"kept {workdir} {pgdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
            shutil.rmtree(pgdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
