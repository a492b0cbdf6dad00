#!/usr/bin/python3
"""Sharding (issue 21): two PostgreSQL clusters on one machine.

1. SMTP acceptance with the users on one shard, then (fresh platform, same run)
   with half of them on a second cluster: accepted msgs/s, delivered msgs/s, CPU
   per message of each cluster and of the services. On one machine the two
   clusters share the CPUs and the disk, so this measures what routing costs and
   how the load splits, not the gain of a second machine.
2. `postline account move` of one account holding --move-messages messages
   from the first cluster to the second while it stays live: the whole move,
   the bulk copy's rate (messages/s, MB/s) and the switch (the seconds in which
   deliveries for the account defer).

    /usr/bin/python3 bench/shard_move.py [--messages 2000] [--users 20] [--concurrency 20] [--size 4k]
                                         [--move-messages 2000]

Needs the Postline binaries in $POSTLINE_BUILD_DIR/bin (default build/bin); starts
two throwaway PostgreSQL clusters with scripts/pg (fsync on). No peer: the
comparison is one shard against two, in the same run.
"""
from __future__ import annotations

import argparse
import json
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

PASSWORD = "Qm7 tile vapor 42"
SENDER = "load@sender.example"


def psql(url: str, sql: str) -> str:
    return subprocess.run(["psql", url, "-Atq", "-c", sql], check=True, capture_output=True, text=True).stdout.strip()


def create_db(server_url: str, name: str) -> str:
    subprocess.run(["psql", server_url, "-q", "-c", f'CREATE DATABASE "{name}"'], check=True, capture_output=True)
    base = server_url.partition("?")[0].rpartition("/")[0]
    return f"{base}/{name}"


def postmaster_pid(url: str) -> int:
    data = psql(url, "SHOW data_directory")
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


def send_all(port: int, messages: list[tuple[str, bytes]], concurrency: int, deadline: float) -> tuple[int, float]:
    """Sends (rcpt, message) pairs over `concurrency` connections; returns (accepted, seconds)."""
    todo = list(reversed(messages))
    lock = threading.Lock()
    accepted = [0]

    def worker():
        with smtplib.SMTP("127.0.0.1", port, timeout=60) as s:
            while time.monotonic() < deadline:
                with lock:
                    if not todo:
                        return
                    rcpt, msg = todo.pop()
                s.sendmail(SENDER, [rcpt], msg)
                with lock:
                    accepted[0] += 1
    t0 = time.monotonic()
    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return accepted[0], time.monotonic() - t0


def stored(urls: list[str]) -> int:
    return sum(int(psql(u, "SELECT count(*) FROM mailstore_messages")) for u in urls)


def run_acceptance(name, pg_a, pg_b, args, deadline):
    """One platform; users on one shard ('one') or alternately on two ('two')."""
    extra = {}
    s2_url = None
    if name == "two":
        s2_url = create_db(pg_b, "bench_s2_" + str(int(time.time())))
    with b.postline_platform(pg_a, extra, keep=args.keep) as p:
        if s2_url:
            p.env["POSTLINE_MAILSTORE_SHARDS"] = f"main={p.db_url},s2={s2_url}"
            p.stop_all()
            p.start_all()
        users = [f"u{i}@shard.test" for i in range(args.users)]
        p.add_domain("shard.test")
        for i, u in enumerate(users):
            shard = "s2" if (name == "two" and i % 2) else "main"
            p.cli("user", "add", u, "--password-stdin", "--shard", shard, input=PASSWORD + "\n")
        urls = [p.db_url] + ([s2_url] if s2_url else [])
        msgs = [(users[i % len(users)], b.make_message(i, args.size, SENDER, users[i % len(users)]))
                for i in range(args.messages)]
        warm = [(users[i % len(users)], b.make_message(10**6 + i, args.size, SENDER, users[i % len(users)]))
                for i in range(2 * len(users))]
        send_all(p.ports["smtp_mx"], warm, args.concurrency, deadline)
        b.ps.wait_until(lambda: stored(urls) >= len(warm), timeout=120, what="warm-up delivered")
        base = stored(urls)
        groups = {svc: [p.procs[svc].pid] for svc in ("smtpd", "queued", "authd", "imapd")}
        groups["pg cluster 1"] = [postmaster_pid(p.db_url)]
        if s2_url:
            groups["pg cluster 2"] = [postmaster_pid(s2_url)]
        cpu0 = {g: b.tree_cpu_seconds(pids) for g, pids in groups.items()}
        t0 = time.monotonic()
        accepted, secs = send_all(p.ports["smtp_mx"], msgs, args.concurrency, deadline)
        b.ps.wait_until(lambda: stored(urls) - base >= accepted, timeout=300, interval=0.05, what="all delivered")
        all_visible = time.monotonic() - t0
        cpu = {g: (b.tree_cpu_seconds(pids) - cpu0[g]) * 1000 / max(1, accepted) for g, pids in groups.items()}
        split = [int(psql(u, "SELECT count(*) FROM mailstore_messages")) for u in urls]
        return {"name": name, "accepted": accepted, "accept_rate": accepted / secs, "deliv_rate": accepted / all_visible,
                "cpu": cpu, "split": split}


def run_move(pg_a, pg_b, args, deadline):
    s2_url = create_db(pg_b, "bench_move_" + str(int(time.time())))
    with b.postline_platform(pg_a, {"POSTLINE_QUEUE_RETRY_SCHEDULE": "1s"}, keep=args.keep) as p:
        p.env["POSTLINE_MAILSTORE_SHARDS"] = f"main={p.db_url},s2={s2_url}"
        p.stop_all()
        p.start_all()
        user = "big@shard.test"
        p.add_user(user, PASSWORD)
        msgs = [(user, b.make_message(i, args.size, SENDER, user)) for i in range(args.move_messages)]
        send_all(p.ports["smtp_mx"], msgs, args.concurrency, deadline)
        b.ps.wait_until(lambda: stored([p.db_url]) >= len(msgs), timeout=300, what="the account filled")
        size = int(psql(p.db_url, "SELECT sum(size) FROM mailstore_messages"))
        empty = int(psql(s2_url, "SELECT pg_database_size(current_database())"))
        t0 = time.monotonic()
        out = json.loads(p.cli("--json", "account", "move", user, "--to", "s2", "--settle", "1s").stdout)
        wall = time.monotonic() - t0
        on_target = int(psql(s2_url, "SELECT count(*) FROM mailstore_messages"))
        psql(s2_url, "VACUUM ANALYZE")
        disk = int(psql(s2_url, "SELECT pg_database_size(current_database())")) - empty
        return {**out, "messages": len(msgs), "on_target": on_target, "bytes": size, "wall": wall, "disk": disk}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--users", type=int, default=20)
    ap.add_argument("--concurrency", type=int, default=20)
    ap.add_argument("--size", type=b.parse_size, default=4096)
    ap.add_argument("--move-messages", type=int, default=2000)
    ap.add_argument("--time-limit", type=float, default=900)
    ap.add_argument("--keep", action="store_true")
    args = ap.parse_args()
    missing = b.check_postline_binaries()
    if missing:
        print(f"Postline binaries missing: {missing}", file=sys.stderr)
        return 1
    deadline = time.monotonic() + args.time_limit
    dirs = [b.ps.new_workdir("postline-bench-pg1-"), b.ps.new_workdir("postline-bench-pg2-")]
    try:
        b.time_limit(args.time_limit)
        pg_a = b.ps.start_test_postgres(dirs[0])
        pg_b = b.ps.start_test_postgres(dirs[1])
        b.warm_wal(pg_a)
        b.warm_wal(pg_b)
        results = [run_acceptance("one", pg_a, pg_b, args, deadline),
                   run_acceptance("two", pg_a, pg_b, args, deadline)]
        move = run_move(pg_a, pg_b, args, deadline)
    finally:
        for d in dirs:
            b.ps.stop_test_postgres(d)
            shutil.rmtree(d, ignore_errors=True)
    print(f"\nshard_move: {args.messages} messages of {args.size} bytes to {args.users} users, "
          f"{args.concurrency} SMTP clients; two PostgreSQL clusters on this machine\n")
    rows = []
    for r in results:
        cpu_total = sum(v for g, v in r["cpu"].items() if g != "imapd")
        rows.append([("users on 1 shard" if r["name"] == "one" else "users on 2 shards"), str(r["accepted"]),
                     f"{r['accept_rate']:.1f}", f"{r['deliv_rate']:.1f}", "/".join(map(str, r["split"])),
                     f"{cpu_total:.2f}",
                     ", ".join(f"{g} {v:.2f}" for g, v in r["cpu"].items())])
    print(b.table(["layout", "accepted", "accepted/s", "delivered/s", "stored per cluster (with warm-up)", "CPU ms/msg",
                   "CPU ms/msg by part"], rows))
    one, two = results
    print(f"ratio 2 shards / 1 shard: accepted/s {two['accept_rate'] / one['accept_rate']:.2f}x, "
          f"delivered/s {two['deliv_rate'] / one['deliv_rate']:.2f}x")
    mb = move["bytes"] / 1e6
    print(f"\naccount move: {move['messages']} messages ({mb:.1f} MB as stored) from cluster 1 to cluster 2 "
          f"in {move['seconds']:.2f} s ({move['wall']:.2f} s with the CLI's start-up); "
          f"bulk copy {move['bulk_rows']} rows, {move['bulk_bodies']} bodies: "
          f"{move['messages'] / max(1e-9, move['seconds'] - move['switch_seconds'] - 1):.0f} msgs/s, "
          f"{mb / max(1e-9, move['seconds'] - move['switch_seconds'] - 1):.1f} MB/s; switch {move['switch_seconds']:.3f} s "
          f"(+1 s settle: deliveries for the account deferred that long); {move['on_target']} messages on cluster 2")
    print(f"storage on the target shard: {move['disk'] / 1e6:.1f} MB for {move['messages']} messages of {args.size} bytes "
          f"({move['disk'] / max(1, move['messages']):.0f} bytes per message on disk, tables and indexes, "
          f"{move['disk'] / max(1, move['bytes']):.2f}x the message bytes; without WAL)")
    ok = move["on_target"] == move["messages"] and all(r["accepted"] == args.messages for r in results)
    b.print_footer()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
