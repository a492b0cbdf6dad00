#!/usr/bin/python3
"""Mixed multi-user IMAP load (issue 13): Postline next to a private Dovecot, one after the other.

U users (default 100), each with a prefilled INBOX of M messages (default 200, sizes
2k/8k/32k in turn; benchlib.bulk_append), the same messages on both servers. C client
processes (default 10, one process each so Python's GIL does not limit the client) loop
over sessions for --warmup (default 5, not counted) + --duration (default 60) seconds per server. Each client owns the users u with
u % C == its number and picks one of them per session with its own seeded PRNG, so both
servers see the same sequence of sessions and commands (and no two clients share a mailbox).
A session:

    LOGIN; LIST "" "*"; SELECT INBOX
    FETCH n-49:n (FLAGS UID RFC822.SIZE ENVELOPE)      -- the newest 50, as a folder list
    UID FETCH u (BODY.PEEK[])                        -- 1 to 3 of those messages opened
    UID STORE u,v +FLAGS (\\Seen)                     -- ... and marked read
    STORE s +FLAGS (\\Flagged) or STORE s -FLAGS (\\Flagged)
    APPEND INBOX {~4k}                               -- synchronising literal
    UID SEARCH UNSEEN
    STORE s +FLAGS.SILENT (\\Deleted); EXPUNGE         -- one message out for the one in
    LOGOUT

Measured per server over the window in which its clients run: commands/s, per-command
p50/p99 latency, protocol errors (a NO/BAD, an unexpected BYE, a missing or malformed
response, a time-out: printed, exit 1), and the CPU-seconds of the server side, read
from /proc before and after: Postline = postline-imapd + postline-authd + the whole
PostgreSQL cluster (postmaster and every backend, reaped ones included through cutime);
Dovecot = its master and every descendant (imap, imap-login, auth, anvil, config, log,
stats). Postline's smtpd and queued (idle here) are shown, not counted. The client's own
CPU is printed too.

    /usr/bin/python3 bench/imap_load.py [--users 100] [--messages 200] [--clients 10] [--duration 60] [--rounds 1]

Needs root, the packages in scripts/packages/bench.txt and the Postline binaries in
$POSTLINE_BUILD_DIR/bin (default build/bin).
"""
from __future__ import annotations

import argparse
import contextlib
import multiprocessing
import os
import queue as queue_mod
import random
import re
import resource
import signal
import socket
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

PASSWORD = "Qm7 tile vapor 42"  # passes authd's policy: no user name in it, not a dictionary word
SENDER = "loader@sender.example"
FETCH_RE = re.compile(rb"^\* (\d+) FETCH \(")
UID_RE = re.compile(rb"\bUID (\d+)")
SIZE_RE = re.compile(rb"\bRFC822\.SIZE (\d+)")
EXISTS_RE = re.compile(rb"^\* (\d+) EXISTS\r\n$")

# Order of the per-command rows.
COMMANDS = ["LOGIN", "LIST", "SELECT", "FETCH newest 50 (envelope)", "UID FETCH BODY.PEEK[]", "UID STORE +FLAGS (\\Seen)",
            "STORE +/-FLAGS (\\Flagged)", "APPEND", "UID SEARCH UNSEEN", "STORE +FLAGS.SILENT (\\Deleted)", "EXPUNGE", "LOGOUT"]


def mailbox_messages(u: int, count: int, sizes: list[int]) -> list[bytes]:
    return [(i, sizes[(i + u) % len(sizes)], SENDER, f"user{u:03d}@bench.test", None, 1000 + u) for i in range(count)]


class ProtocolError(Exception):
    pass


class Session:
    """One client's view of a server: timed commands, errors collected, never raises for a NO."""

    def __init__(self, stats: dict):
        self.stats = stats

    def record(self, label: str, t0: float, dt: float):
        if t0 >= self.stats["since"]:  # commands of the warm-up are not counted
            self.stats["lat"].setdefault(label, []).append(dt)
            self.stats["commands"] += 1

    def timed(self, c: b.RawImap, label: str, cmd: str, expect_ok: bool = True):
        t0 = time.monotonic()
        status, untagged, lit = c.command(cmd, ok=False)
        self.record(label, t0, time.monotonic() - t0)
        if expect_ok and status.split(b" ", 2)[1:2] != [b"OK"]:
            raise ProtocolError(f"{label}: {status.decode(errors='replace').strip()[:200]}")
        for line in untagged:
            if line.startswith(b"* BYE") and label != "LOGOUT":
                raise ProtocolError(f"{label}: unexpected {line.decode(errors='replace').strip()[:200]}")
        return status, untagged, lit


def run_session(port: int, user: str, rnd: random.Random, append_msg: bytes, stats: dict):
    s = Session(stats)
    c = b.RawImap(port, timeout=30)
    try:
        s.timed(c, "LOGIN", f"LOGIN {c.quote(user)} {c.quote(PASSWORD)}")
        _, untagged, _ = s.timed(c, "LIST", 'LIST "" "*"')
        if not any(l.startswith(b"* LIST ") and b"INBOX" in l.upper() for l in untagged):
            raise ProtocolError("LIST: no INBOX in the answer")
        _, untagged, _ = s.timed(c, "SELECT", "SELECT INBOX")
        exists = [int(m.group(1)) for m in map(EXISTS_RE.match, untagged) if m]
        if not exists:
            raise ProtocolError("SELECT: no EXISTS")
        n = exists[-1]
        if n == 0:
            raise ProtocolError("SELECT: the mailbox is empty")
        first = max(1, n - 49)
        _, untagged, _ = s.timed(c, "FETCH newest 50 (envelope)", f"FETCH {first}:{n} (FLAGS UID RFC822.SIZE ENVELOPE)")
        listed = []
        for line in untagged:
            if FETCH_RE.match(line):
                u, z = UID_RE.search(line), SIZE_RE.search(line)
                if not u or not z:
                    raise ProtocolError(f"FETCH envelope: no UID/RFC822.SIZE in {line[:120]!r}")
                listed.append((int(u.group(1)), int(z.group(1))))
        if len(listed) != n - first + 1:
            raise ProtocolError(f"FETCH envelope: {len(listed)} responses for {n - first + 1} messages")
        opened = [listed[k] for k in rnd.sample(range(len(listed)), min(len(listed), rnd.randint(1, 3)))]
        for uid, size in opened:
            _, untagged, lit = s.timed(c, "UID FETCH BODY.PEEK[]", f"UID FETCH {uid} (BODY.PEEK[])")
            if lit != size:
                raise ProtocolError(f"UID FETCH {uid} BODY.PEEK[]: {lit} bytes, RFC822.SIZE said {size}")
        s.timed(c, "UID STORE +FLAGS (\\Seen)", f"UID STORE {','.join(str(u) for u, _ in opened)} +FLAGS (\\Seen)")
        sign = "+" if rnd.random() < 0.5 else "-"
        s.timed(c, "STORE +/-FLAGS (\\Flagged)", f"STORE {rnd.randint(1, n)} {sign}FLAGS (\\Flagged)")
        t0 = time.monotonic()
        c.append("INBOX", append_msg)  # raises ImapError on a NO/BAD or a refused literal
        s.record("APPEND", t0, time.monotonic() - t0)
        _, untagged, _ = s.timed(c, "UID SEARCH UNSEEN", "UID SEARCH UNSEEN")
        if not any(l.startswith(b"* SEARCH") for l in untagged):
            raise ProtocolError("UID SEARCH UNSEEN: no * SEARCH response")
        s.timed(c, "STORE +FLAGS.SILENT (\\Deleted)", f"STORE {rnd.randint(1, n)} +FLAGS.SILENT (\\Deleted)")
        _, untagged, _ = s.timed(c, "EXPUNGE", "EXPUNGE")
        if not any(l.endswith(b" EXPUNGE\r\n") for l in untagged):
            raise ProtocolError("EXPUNGE: no message expunged")
        _, untagged, _ = s.timed(c, "LOGOUT", "LOGOUT")
        if not any(l.startswith(b"* BYE") for l in untagged):
            raise ProtocolError("LOGOUT: no BYE")
        if time.monotonic() >= stats["since"]:
            stats["sessions"] += 1
    finally:
        with contextlib.suppress(Exception):
            c.f.close()
        with contextlib.suppress(Exception):
            c.sock.close()


def client_main(index: int, port: int, users: list[str], seed: int, append_size: int, window, go, results):
    """One client process: sessions from `go` until the shared end time, counted from the
    shared start of the measured window on; sends its stats to `results`."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent cleans up and terminates us
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    rnd = random.Random(seed * 7919 + index)
    stats = {"index": index, "lat": {}, "commands": 0, "sessions": 0, "errors": 0, "error_samples": [],
             "cpu": 0.0, "wall": 0.0}
    go.wait()
    stats["since"], end = window[0], window[1]
    r0 = None
    k = 0
    while time.monotonic() < end:
        if r0 is None and time.monotonic() >= stats["since"]:
            r0 = resource.getrusage(resource.RUSAGE_SELF)
            t0 = time.monotonic()
        user = users[rnd.randrange(len(users))]
        append_msg = b.make_message(1_000_000 + index * 100_000 + k, append_size, SENDER, "inbox@bench.test", seed=seed)
        k += 1
        try:
            run_session(port, user, rnd, append_msg, stats)
        except (ProtocolError, b.ImapError, OSError, ValueError) as e:
            stats["errors"] += 1  # warm-up errors too
            kind = "time-out" if isinstance(e, socket.timeout) else type(e).__name__
            if len(stats["error_samples"]) < 20:
                stats["error_samples"].append(f"{user}: {kind}: {e}")
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    if r0 is None:
        r0, t0 = r1, time.monotonic()
    stats["wall"] = time.monotonic() - t0
    stats["cpu"] = (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)
    stats["finished"] = time.monotonic()
    results.put(stats)


def run_load(name: str, port: int, users: list[str], cpu_groups: dict[str, list[int]], args, seed: int,
             metrics=None) -> dict:
    """Starts the clients, reads /proc (and the server's own command counters, `metrics`)
    when the measured window opens and after the last client is done; returns the aggregate."""
    ctx = multiprocessing.get_context("fork")
    window = ctx.Array("d", 2)  # start of the measured window, end of the load (monotonic clock)
    go = ctx.Event()
    results = ctx.Queue()
    procs = []
    for i in range(args.clients):
        mine = [u for k, u in enumerate(users) if k % args.clients == i]
        procs.append(ctx.Process(target=client_main, daemon=True, name=f"client-{i}",
                                 args=(i, port, mine, seed, args.append_size, window, go, results)))
    try:
        for p in procs:
            p.start()
        now = time.monotonic()
        t0 = now + args.warmup
        window[0], window[1] = t0, t0 + args.duration
        go.set()
        if args.warmup:
            time.sleep(max(0.0, t0 - time.monotonic()))  # not a synchronisation: the window opens at a set time
        cpu0 = {g: b.tree_cpu_seconds(pids) for g, pids in cpu_groups.items()}
        status0 = metrics() if metrics else None
        got = []
        deadline = t0 + args.duration + 120
        while len(got) < len(procs):
            try:
                got.append(results.get(timeout=max(0.1, min(1.0, deadline - time.monotonic()))))
            except queue_mod.Empty:
                if time.monotonic() > deadline:
                    raise RuntimeError(f"{name}: {len(procs) - len(got)} client(s) did not finish within 120 s after the end")
                if all(not p.is_alive() for p in procs) and results.empty():
                    raise RuntimeError(f"{name}: {len(procs) - len(got)} client process(es) died")
        t1 = max(s["finished"] for s in got)
        cpu1 = {g: b.tree_cpu_seconds(pids) for g, pids in cpu_groups.items()}
        status1 = metrics() if metrics else None
    finally:
        for p in procs:
            if p.is_alive():
                p.terminate()
        for p in procs:
            p.join(10)
    lat: dict[str, list[float]] = {}
    for s in got:
        for k, v in s["lat"].items():
            lat.setdefault(k, []).extend(v)
    return {
        "name": name, "wall": t1 - t0, "commands": sum(s["commands"] for s in got),
        "sessions": sum(s["sessions"] for s in got), "errors": sum(s["errors"] for s in got),
        "error_samples": [e for s in got for e in s["error_samples"]], "lat": lat,
        "client_cpu": sum(s["cpu"] for s in got), "client_cpu_max": max(s["cpu"] / max(s["wall"], 1e-9) for s in got),
        "cpu": {g: cpu1[g] - cpu0[g] for g in cpu_groups},
        "server_status": ({k: v - status0.get(k, 0) for k, v in status1.items() if v - status0.get(k, 0)}
                          if status0 is not None else None),
    }


def postline_command_statuses(p):
    """postline_imapd_commands_total summed by status (imapd's own count of OK/NO/BAD)."""
    def read():
        out: dict[str, float] = {}
        for (metric, labels), value in b.ps.parse_metrics(p.metrics_text("imapd")).items():
            if metric == "postline_imapd_commands_total":
                status = dict(labels).get("status", "?")
                out[status] = out.get(status, 0) + value
        return out
    return read


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--users", type=int, default=100, help="users, one INBOX each (default 100)")
    ap.add_argument("--messages", type=int, default=200, help="messages prefilled per INBOX (default 200)")
    ap.add_argument("--sizes", default="2k,8k,32k", help="prefilled message sizes in turn (default 2k,8k,32k)")
    ap.add_argument("--append-size", default="4k", help="size of the message each session APPENDs (default 4k)")
    ap.add_argument("--clients", type=int, default=10, help="concurrent client processes (default 10)")
    ap.add_argument("--duration", type=float, default=60, help="seconds of load per server and round (default 60)")
    ap.add_argument("--warmup", type=float, default=5,
                    help="seconds of load before each measured window, not counted (default 5)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="rounds; each runs every target once, the order alternating between rounds (default 1)")
    ap.add_argument("--seed", type=int, default=1, help="PRNG seed of the clients (default 1)")
    ap.add_argument("--targets", default="postline,dovecot", help="comma list (default postline,dovecot)")
    ap.add_argument("--load-connections", type=int, default=4, help="bulk loader connections per server (default 4)")
    ap.add_argument("--time-limit", type=float, default=1800, help="whole run, seconds (default 1800)")
    ap.add_argument("--keep", action="store_true", help="keep work directories (logs)")
    args = ap.parse_args()
    if not 1 <= args.clients <= 200 or args.users < args.clients or not 1 <= args.messages <= 100000:
        ap.error("--clients 1..200, --users at least --clients, --messages 1..100000")
    if not 1 <= args.duration <= 3600 or not 1 <= args.rounds <= 20 or not 0 <= args.warmup <= 600:
        ap.error("--duration 1..3600, --rounds 1..20, --warmup 0..600")
    sizes = [b.parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.append_size = b.parse_size(args.append_size)
    targets = b.parse_targets(ap, args.targets, ("postline", "dovecot"))

    deadline = b.start_run(args.time_limit)
    failures: list[str] = []
    results: list[dict] = []
    fills: dict[str, b.FillResult] = {}
    notes: dict[str, str] = {}
    b.raise_nofile(4096)

    b.log(f"generating {args.users} x {args.messages} messages")
    specs = [spec for u in range(args.users) for spec in mailbox_messages(u, args.messages, sizes)]
    all_msgs = b.make_messages(specs)
    per_user = [all_msgs[u * args.messages:(u + 1) * args.messages] for u in range(args.users)]
    del all_msgs, specs

    with contextlib.ExitStack() as stack:
        servers: dict[str, tuple] = {}
        try:
            if "postline" in targets:
                if b.postline_binaries_built(failures):
                    with b.target_setup("postline", failures):
                        pg_url = stack.enter_context(b.pg_server())
                        p = stack.enter_context(b.postline_platform(pg_url, keep=args.keep))
                        users = [f"user{u:03d}@postline.test" for u in range(args.users)]
                        b.log(f"[postline] adding {len(users)} users")
                        b.postline_add_users(p, users, PASSWORD)
                        b.log(f"[postline] filling {len(users)} INBOXes")
                        fills["postline"] = b.bulk_append(
                            p.ports["imap"], [b.AppendJob(u, PASSWORD, per_user[k]) for k, u in enumerate(users)],
                            connections=args.load_connections, deadline=deadline, label="[postline] ")
                        b.log(f"[postline] fill: {fills['postline'].describe()}")
                        pg_pid = b.postgres_pid(pg_url)
                        if pg_pid is None:
                            raise RuntimeError(f"cannot find the PostgreSQL postmaster of {pg_url} (not on this machine?)")
                        groups = {"imapd": [p.procs["imapd"].pid], "authd": [p.procs["authd"].pid], "postgres": [pg_pid],
                                  "smtpd (idle, not counted)": [p.procs["smtpd"].pid],
                                  "queued (idle, not counted)": [p.procs["queued"].pid]}
                        servers["postline"] = (p.ports["imap"], users, groups, postline_command_statuses(p))
                        notes["postline"] = (f"authd argon2id (opslimit {p.env.get('POSTLINE_AUTH_HASH_OPS_LIMIT')}, memlimit "
                                             f"{p.env.get('POSTLINE_AUTH_HASH_MEM_LIMIT')}: the e2e setting); "
                                             f"db pool {p.env.get('POSTLINE_DB_POOL_SIZE')}; PostgreSQL "
                                             + ("POSTLINE_TEST_PG_URL: the whole cluster is counted, other users of it too"
                                                if os.environ.get("POSTLINE_TEST_PG_URL") else "private (scripts/pg, fsync on)"))
            if "dovecot" in targets:
                with b.target_setup("dovecot", failures):
                    workdir = b.scratch_workdir(stack, args.keep)
                    dc = b.DovecotPeer(workdir)
                    users = [f"user{u:03d}" for u in range(args.users)]
                    dc.add_users({u: PASSWORD for u in users})
                    stack.enter_context(dc)
                    b.log(f"[dovecot] filling {len(users)} INBOXes")
                    fills["dovecot"] = b.bulk_append(
                        dc.port, [b.AppendJob(u, PASSWORD, per_user[k]) for k, u in enumerate(users)],
                        connections=args.load_connections, deadline=deadline, label="[dovecot] ")
                    b.log(f"[dovecot] fill: {fills['dovecot'].describe()}")
                    servers["dovecot"] = (dc.port, users, {"dovecot (all processes)": [dc.master_pid()]}, None)
                    notes["dovecot"] = (f"passdb {dc.PASSDB_SCHEME}; Maildir, mail_fsync=optimized; "
                                        "a new imap and imap-login process per connection (the defaults)")
            per_user.clear()

            for rnd in range(args.rounds):
                order = list(servers) if rnd % 2 == 0 else list(reversed(list(servers)))
                for name in order:
                    port, users, groups, metrics = servers[name]
                    b.log(f"[{name}] round {rnd + 1}/{args.rounds}: {args.clients} clients for "
                          f"{args.warmup:.0f} + {args.duration:.0f} s")
                    with b.target_setup(name, failures, f"round {rnd + 1}"):
                        r = run_load(name, port, users, groups, args, args.seed + rnd, metrics)
                        r["round"] = rnd + 1
                        results.append(r)
                        b.log(f"[{name}] {r['commands']} commands, {r['sessions']} sessions, {r['errors']} errors")
        except b.BenchTimeout as e:
            failures.append(str(e))
        finally:
            signal.alarm(0)

    counted = {"postline": ("imapd", "authd", "postgres"), "dovecot": ("dovecot (all processes)",)}

    def server_cpu(r):
        return sum(r["cpu"][g] for g in counted[r["name"]])

    print()
    print(f"imap_load: {args.users} users x {args.messages} messages ({args.sizes} in turn), {args.clients} client processes, "
          f"{args.duration:.0f} s per server and round, {args.rounds} round(s); session = LOGIN, LIST, SELECT, FETCH newest 50 "
          f"envelopes, 1-3 UID FETCH BODY.PEEK[], UID STORE \\Seen, STORE +/-\\Flagged, APPEND {args.append_size // 1024}k, "
          "UID SEARCH UNSEEN, STORE \\Deleted + EXPUNGE, LOGOUT")
    print()
    print("fill (bulk loader):")
    print(b.table(["target", "messages", "seconds", "msg/s", "MB/s", "how"],
                  [[n, f.messages, f"{f.seconds:.1f}", f"{f.rate:.0f}", f"{f.bytes / 1e6 / f.seconds:.1f}", f.how]
                   for n, f in fills.items()]))
    print()
    rows = []
    for r in results:
        cmds = r["commands"]
        cpu = server_cpu(r)
        rows.append([r["name"], r["round"], r["sessions"], cmds, f"{cmds / r['wall']:.1f}", r["errors"],
                     f"{cpu:.2f}", f"{cpu / cmds * 1000:.3f}" if cmds else "-",
                     f"{r['client_cpu']:.1f} ({r['client_cpu'] / r['wall'] * 100:.0f}% of a CPU, max client {r['client_cpu_max'] * 100:.0f}%)"])
    print(b.table(["target", "round", "sessions", "commands", "commands/s", "errors", "server CPU s", "CPU/command ms",
                   "client CPU s"], rows))
    print()
    for r in results:
        if r["name"] == "postline":
            split = ", ".join(f"{g} {v:.2f} s ({v / r['commands'] * 1000 if r['commands'] else 0:.3f} ms/cmd)"
                              for g, v in r["cpu"].items())
            print(f"postline round {r['round']} CPU by component: {split}")
            if r.get("server_status") is not None:
                print(f"postline round {r['round']} imapd's own command count by status: "
                      + ", ".join(f"{k} {v:.0f}" for k, v in sorted(r["server_status"].items())))
    pl = [r for r in results if r["name"] == "postline"]
    dc = [r for r in results if r["name"] == "dovecot"]
    if pl and dc:
        rate = b.median([a["commands"] / a["wall"] for a in pl]) / b.median([d["commands"] / d["wall"] for d in dc])
        cpc = (b.median([server_cpu(a) / a["commands"] for a in pl if a["commands"]])
               / b.median([server_cpu(d) / d["commands"] for d in dc if d["commands"]]))
        print(f"ratios (medians over rounds): commands/s postline/dovecot {rate:.2f}x (issue 13 asks >= 1.2x); "
              f"CPU per command postline/dovecot {cpc:.2f}x (asks <= 1.0x)")
    print()
    print("latency per command, ms (p50 / p99, over all rounds):")
    names = [n for n in targets if any(r["name"] == n for r in results)]
    rows = []
    for cmd in COMMANDS:
        row = [cmd]
        p50 = {}
        for n in names:
            vals = [v for r in results if r["name"] == n for v in r["lat"].get(cmd, [])]
            p50[n] = b.percentile(vals, 50)
            row += [len(vals), f"{b.fmt_ms(p50[n])} / {b.fmt_ms(b.percentile(vals, 99))}"]
        if len(names) == 2:
            row.append(f"{p50['postline'] / p50['dovecot']:.2f}x" if p50.get("dovecot") else "-")
        rows.append(row)
    headers = ["command"] + [h for n in names for h in (f"{n} n", f"{n} p50 / p99")] + (["p50 postline/dovecot"] if len(names) == 2 else [])
    print(b.table(headers, rows))
    print()
    for n in names:
        if n in notes:
            print(f"{n}: {notes[n]}")
    print("server CPU: utime+stime from /proc of the counted processes and all their descendants, reaped ones "
          "included (cutime/cstime), after minus before the window. commands: tagged commands the clients completed.")
    errors = 0
    for r in results:
        errors += r["errors"]
        for e in r["error_samples"]:
            print(f"ERROR {r['name']} round {r['round']}: {e}")
        if r["errors"] > len(r["error_samples"]):
            print(f"ERROR {r['name']} round {r['round']}: ... {r['errors'] - len(r['error_samples'])} more")
    for f in failures:
        print(f"FAILED: {f}")
    b.print_footer()
    return 1 if failures or errors else 0


if __name__ == "__main__":
    sys.exit(main())
