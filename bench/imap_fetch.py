#!/usr/bin/python3
"""IMAP reading a big mailbox: Postline's imapd next to a private Dovecot (issue 13).

A mailbox of M messages (default 1000, several sizes, a needle word in every 50th), the same
messages on both sides, is filled by the bulk loader (benchlib.bulk_append: pipelined
APPEND over several connections; MULTIAPPEND where the server has it) into Postline
(imapd -> mailstore in PostgreSQL) and into a private Dovecot (Maildir in a temp dir).
Then every round runs, on a fresh logged-in connection per server, alternating which
server goes first:

    SELECT INBOX
    UID FETCH 1:* (FLAGS)                            -- a client resynchronising flags
    FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)        -- what a client lists a folder with
    FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]) -- a header section, ditto
    FETCH 1:* (BODY.PEEK[])                          -- every full body
    FETCH 1:* (BINARY.PEEK[1])                       -- a body part, transfer-decoded (RFC 3516)
    SEARCH TEXT "needle"                             -- Postline: pg_trgm index; Dovecot: no FTS plugin

The first --warmup rounds (default 1) are not in the medians; the very first round of each
server is printed as its own "cold" table (first read after the fill: server caches not
warmed by any read; the OS page cache is not dropped).

    /usr/bin/python3 bench/imap_fetch.py [--messages 1000] [--repeats 3] [--warmup 1]
    /usr/bin/python3 bench/imap_fetch.py --messages 10000
    /usr/bin/python3 bench/imap_fetch.py --scenario large   # 100,000 x 4 KiB; body FETCHes on the last 1000

--targets postline,postline-s3 reads the same mailbox from two Postlines, one with its bodies in
PostgreSQL (the default) and one with `mailstore.blob_backend: s3` against the tests' S3 server
(scripts/s3: s3rver behind a SigV4 check, on loopback; bodies on its local disk), and prints the
s3/postgres ratio (issue 21):

    /usr/bin/python3 bench/imap_fetch.py --targets postline,postline-s3 [--skip search]

--scenario large is --messages 100000 --sizes 4k --body-range 1000 --time-limit 3600 (each
can still be overridden): the whole-mailbox rows stay 1:*, the two body rows fetch the last
1000 messages (N:*), since 1:* would be 400 MB per round. --skip drops rows by name.

Needs root (Dovecot runs mail as `nobody`), the packages in scripts/packages/bench.txt
and the Postline binaries in $POSTLINE_BUILD_DIR/bin (default build/bin).
"""
from __future__ import annotations

import argparse
import contextlib
import re
import signal
import smtplib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

PASSWORD = "Qm7 tile vapor 42"  # passes authd's policy: no user name in it, not a dictionary word
NEEDLE = "zanzibarquux"
SENDER = "someone@sender.example"
RCPT = "reader@bench.test"  # the To: of every message, the same on both sides

# (name for --skip, command; {range} is 1:* or the last --body-range messages)
OPERATIONS = [
    ("select", "SELECT INBOX"),
    ("flags", "UID FETCH 1:* (FLAGS)"),
    ("envelope", "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)"),
    ("headers", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])"),
    ("body", "FETCH {range} (BODY.PEEK[])"),
    ("binary", "FETCH {range} (BINARY.PEEK[1])"),
    ("search", f'SEARCH TEXT "{NEEDLE}"'),
]
SCENARIOS = {
    "default": dict(messages=1000, sizes="1k,4k,16k,48k", body_range=0, time_limit=900),
    "large": dict(messages=100000, sizes="4k", body_range=1000, time_limit=3600),
}


def make_mailbox(m: int, sizes: list[int], needle_every: int) -> tuple[list[bytes], int]:
    specs = []
    with_needle = 0
    for i in range(m):
        needle = NEEDLE if needle_every and i % needle_every == needle_every // 2 else None
        with_needle += needle is not None
        specs.append((i, sizes[i % len(sizes)], SENDER, RCPT, needle, 3))
    return b.make_messages(specs), with_needle


def load_smtp(platform, user: str, msgs: list[bytes], deadline: float) -> float:
    """Delivery through Postline's MX and the queue (when APPEND is not there)."""
    t0 = time.monotonic()
    s = smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=60)
    for i, m in enumerate(msgs):
        if i and i % 50 == 0:
            s.quit()
            s = smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=60)
        s.sendmail(SENDER, [user], m)
    s.quit()

    def count():
        c = b.RawImap(platform.ports["imap"])
        try:
            c.login(user, PASSWORD)
            _, untagged, _ = c.command("STATUS INBOX (MESSAGES)")
            return int(re.search(rb"MESSAGES (\d+)", b"".join(untagged)).group(1))
        finally:
            c.close()
    b.ps.wait_until(lambda: count() >= len(msgs), timeout=max(1, deadline - time.monotonic()),
                    interval=0.5, what="delivery of the mailbox")
    return time.monotonic() - t0


def fill(name: str, port: int, user: str, msgs: list[bytes], args, deadline: float) -> b.FillResult:
    b.log(f"[{name}] filling INBOX with {len(msgs)} messages (pipelined APPEND, {args.load_connections} connections)")
    r = b.bulk_append(port, b.split_job(user, PASSWORD, msgs, args.load_connections),
                      connections=args.load_connections, window=args.load_window, deadline=deadline,
                      label=f"[{name}] ", multiappend=args.multiappend)
    b.log(f"[{name}] fill: {r.describe()}")
    return r


def time_operations(port: int, user: str, ops: list[tuple[str, str, int]], m: int, expect_hits: int,
                    expect_body_bytes: int | None, select_repeats: int = 1) -> dict[str, tuple[float, str]]:
    """One round. SELECT takes well under a millisecond on both servers, so one
    sample per round is mostly scheduling noise: with select_repeats > 1 it is
    issued that many times in a row and the round's figure is their median."""
    c = b.RawImap(port, timeout=600)
    out = {}
    try:
        c.login(user, PASSWORD)
        for name, cmd, expect_n in ops:
            samples = []
            for _ in range(select_repeats if name == "select" else 1):
                t0 = time.monotonic()
                status, untagged, lit = c.command(cmd, ok=False)
                samples.append(time.monotonic() - t0)
            dt = sorted(samples)[len(samples) // 2]
            check = ""
            if not status.split(b" ", 2)[1:2] == [b"OK"]:
                check = "FAILED: " + status.decode(errors="replace").strip()[:120]
            elif name == "select":
                exists = [int(l.split()[1]) for l in untagged if l.endswith(b" EXISTS\r\n")]
                if exists != [m]:
                    check = f"WRONG: EXISTS {exists} != {m}"
            elif " FETCH " in f" {cmd} ":
                n = sum(1 for l in untagged if b" FETCH " in l[:30])
                check = f"{n} msgs" + (f", {lit / 1e6:.1f} MB" if lit else "")
                if n != expect_n:
                    check = f"WRONG: {check}, expected {expect_n}"
                elif name == "body" and expect_body_bytes is not None and lit != expect_body_bytes:
                    check = f"WRONG: {lit} body bytes, APPENDed {expect_body_bytes}"
            elif name == "search":
                hits = sum(len(l.split()) - 2 for l in untagged if l.startswith(b"* SEARCH"))
                check = f"{hits} hits"
                if hits != expect_hits:
                    check = f"WRONG: {hits} hits, expected {expect_hits}"
            out[name] = (dt, check)
    finally:
        c.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--scenario", choices=sorted(SCENARIOS), default="default",
                    help="default: 1000 messages of 1k,4k,16k,48k; large: 100000 x 4k, body rows on the last 1000")
    ap.add_argument("--messages", type=int, help="mailbox size M (default 1000; large: 100000)")
    ap.add_argument("--sizes", help="message sizes in turn (default 1k,4k,16k,48k; large: 4k)")
    ap.add_argument("--body-range", type=int,
                    help="BODY.PEEK[]/BINARY.PEEK[1] on the last N messages only (default 0 = 1:*; large: 1000)")
    ap.add_argument("--needle-every", type=int, default=50, help="one message in N contains the needle (default 50)")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per server, in the medians (default 3)")
    ap.add_argument("--warmup", type=int, default=1,
                    help="rounds per server before the timed ones, not in the medians; the first is printed as 'cold' (default 1)")
    ap.add_argument("--select-repeats", type=int, default=1,
                    help="SELECTs in a row per warm round, the round's figure being their median (default 1: "
                         "the first SELECT of a fresh connection, what clients do; >1 measures re-SELECT of the "
                         "selected mailbox, which Dovecot answers from its open index in ~0.05 ms)")
    ap.add_argument("--skip", default="", help="comma list of rows to leave out: " + ",".join(n for n, _ in OPERATIONS))
    ap.add_argument("--targets", default="postline,dovecot", help="comma list (default postline,dovecot)")
    ap.add_argument("--load", choices=("append", "smtp"), default="append",
                    help="how Postline's mailbox is filled (default append: the bulk loader; smtp: MX + queue)")
    ap.add_argument("--load-connections", type=int, default=4, help="bulk loader: connections per server (default 4)")
    ap.add_argument("--load-window", type=int, default=16, help="bulk loader: APPENDs in flight per connection (default 16)")
    ap.add_argument("--multiappend", type=int, default=100,
                    help="bulk loader: messages per MULTIAPPEND command where the server has it (Dovecot); 0 = never (default 100)")
    ap.add_argument("--time-limit", type=float, help="whole run, seconds (default 900; large: 3600)")
    ap.add_argument("--keep", action="store_true", help="keep work directories (logs)")
    args = ap.parse_args()
    for key, value in SCENARIOS[args.scenario].items():
        if getattr(args, key) is None:
            setattr(args, key, value)
    if not 1 <= args.messages <= 200000 or not 1 <= args.repeats <= 50 or not 0 <= args.warmup <= 10:
        ap.error("--messages 1..200000, --repeats 1..50, --warmup 0..10")
    if args.load_connections < 1 or args.load_window < 1 or args.body_range < 0:
        ap.error("--load-connections and --load-window at least 1, --body-range at least 0")
    sizes = [b.parse_size(s) for s in args.sizes.split(",") if s.strip()]
    targets = b.parse_targets(ap, args.targets, ("postline", "postline-s3", "dovecot"))
    skip = {s.strip() for s in args.skip.split(",") if s.strip()}
    if skip - {n for n, _ in OPERATIONS}:
        ap.error(f"--skip: unknown rows {', '.join(sorted(skip - {n for n, _ in OPERATIONS}))}")

    m = args.messages
    body_n = min(args.body_range, m) if args.body_range else m
    body_range = "1:*" if body_n == m else f"{m - body_n + 1}:*"
    ops = []
    for name, cmd in OPERATIONS:
        if name not in skip:
            n = body_n if "{range}" in cmd else m
            ops.append((name, cmd.format(range=body_range), n))

    deadline = b.start_run(args.time_limit)
    failures: list[str] = []
    loads: dict[str, tuple[b.FillResult | None, str]] = {}
    timings: dict[str, list[dict]] = {t: [] for t in targets}
    cold: dict[str, dict] = {}

    b.log(f"generating {m} messages")
    msgs, expect_hits = make_mailbox(m, sizes, args.needle_every)
    body_bytes = sum(len(x) for x in msgs) if body_n == m else None

    with contextlib.ExitStack() as stack:
        servers: dict[str, tuple[int, str]] = {}
        try:
            if "postline" in targets:
                if b.postline_binaries_built(failures):
                    with b.target_setup("postline", failures):
                        pg_url = stack.enter_context(b.pg_server())
                        p = stack.enter_context(b.postline_platform(pg_url, keep=args.keep))
                        user = "bench@postline.test"
                        p.add_user(user, PASSWORD)
                        if args.load == "append":
                            try:
                                loads["postline"] = (fill("postline", p.ports["imap"], user, msgs, args, deadline), "append")
                            except b.ImapError as e:
                                if getattr(e, "done", None) != 0:
                                    raise
                                b.log(f"[postline] APPEND refused ({e}); delivering over SMTP instead")
                                loads["postline"] = (None, f"smtp: APPEND refused, {load_smtp(p, user, msgs, deadline):.0f} s")
                        else:
                            loads["postline"] = (None, f"smtp, {load_smtp(p, user, msgs, deadline):.0f} s")
                        servers["postline"] = (p.ports["imap"], user)
            if "postline-s3" in targets:
                # The same, with the bodies in S3 (the tests' S3 server on loopback).
                with b.target_setup("postline-s3", failures):
                    pg_url = pg_url if "postline" in servers else stack.enter_context(b.pg_server())
                    s3_env = stack.enter_context(b.s3_test_server(keep=args.keep))
                    p3 = stack.enter_context(b.postline_platform(pg_url, extra_env=s3_env, keep=args.keep))
                    user = "bench@postline.test"
                    p3.add_user(user, PASSWORD)
                    loads["postline-s3"] = (fill("postline-s3", p3.ports["imap"], user, msgs, args, deadline), "append")
                    servers["postline-s3"] = (p3.ports["imap"], user)
            if "dovecot" in targets:
                with b.target_setup("dovecot", failures):
                    workdir = b.scratch_workdir(stack, args.keep)
                    dc = b.DovecotPeer(workdir)
                    dc.add_user("peer", PASSWORD)
                    stack.enter_context(dc)
                    loads["dovecot"] = (fill("dovecot", dc.port, "peer", msgs, args, deadline), "append")
                    servers["dovecot"] = (dc.port, "peer")

            rounds = args.warmup + args.repeats
            for rnd in range(rounds):
                order = list(servers) if rnd % 2 == 0 else list(reversed(list(servers)))
                for name in order:
                    port, user = servers[name]
                    kind = "warm-up" if rnd < args.warmup else "timed"
                    b.log(f"[{name}] round {rnd + 1}/{rounds} ({kind})")
                    try:
                        # The cold round's SELECT is the first one: not repeated.
                        t = time_operations(port, user, ops, m, expect_hits, body_bytes,
                                            select_repeats=1 if rnd == 0 else args.select_repeats)
                    except b.BenchTimeout:
                        raise
                    except Exception as e:  # noqa: BLE001
                        failures.append(f"{name} round {rnd + 1}: {e}")
                        b.log(f"[{name}] FAILED: {e}")
                        continue
                    if rnd == 0:
                        cold[name] = t
                    if rnd >= args.warmup:
                        timings[name].append(t)
        except b.BenchTimeout as e:
            failures.append(str(e))
        finally:
            signal.alarm(0)

    names = [t for t in targets if timings.get(t) or cold.get(t)]
    both = set(names) >= {"postline", "dovecot"}
    s3_pair = set(names) >= {"postline", "postline-s3"}
    print()
    print(f"imap_fetch: mailbox of {m} messages ({args.sizes} bytes in turn, needle in {expect_hits}), the same "
          f"messages on both servers; {args.warmup} warm-up + {args.repeats} timed rounds alternating servers, "
          f"one fresh logged-in connection per round" + (f"; body rows on the last {body_n} messages" if body_n != m else ""))
    print()
    print("fill (bulk loader):")
    rows = []
    for n in names:
        r, how = loads.get(n, (None, "-"))
        if r is None:
            rows.append([n, "-", "-", "-", "-", how])
        else:
            rows.append([n, r.messages, f"{r.seconds:.1f}", f"{r.rate:.0f}", f"{r.bytes / 1e6 / r.seconds:.1f}", r.how])
    print(b.table(["target", "messages", "seconds", "msg/s", "MB/s", "how"], rows))
    if both and loads.get("postline", (None,))[0] and loads.get("dovecot", (None,))[0]:
        print(f"fill time postline/dovecot: {loads['postline'][0].seconds / loads['dovecot'][0].seconds:.2f}x")

    def print_table(title: str, per_server: dict[str, list[dict]], with_min: bool):
        print()
        print(title)
        headers = ["operation"] + names + (["postline/dovecot"] if both else []) + (["s3/postgres"] if s3_pair else [])
        rows = []
        for name, cmd, _ in ops:
            row = [cmd]
            med = {}
            for n in names:
                vals = [t[name][0] for t in per_server.get(n, []) if name in t]
                checks = sorted({t[name][1] for t in per_server.get(n, []) if name in t})
                med[n] = b.median(vals)
                cell = b.fmt_ms(med[n])
                if with_min:
                    cell += f" [{b.fmt_ms(min(vals) if vals else float('nan'))}]"
                row.append(cell + (f" {'; '.join(c for c in checks if c)}" if any(checks) else ""))
            if both:
                row.append(f"{med['postline'] / med['dovecot']:.2f}x" if med.get("dovecot") else "-")
            if s3_pair:
                row.append(f"{med['postline-s3'] / med['postline']:.2f}x" if med.get("postline") else "-")
            rows.append(row)
        print(b.table(headers, rows))

    print_table(f"warm: ms, median of {args.repeats} rounds [min]", timings, True)
    if cold:
        print_table("cold: ms, each server's first round after the fill", {n: [t] for n, t in cold.items()}, False)
    print()
    if s3_pair:
        print("s3/postgres > 1 means bodies from S3 are slower than from PostgreSQL (postline-s3: "
              "mailstore.blob_backend s3, the S3 test server on loopback; both Postlines share one PostgreSQL).")
    print("postline/dovecot > 1 means Postline is slower. Dovecot: Maildir, no FTS plugin (SEARCH TEXT reads"
          " every message; its cache file fills on first use). Postline: mailstore in PostgreSQL."
          " Cold: no read since the fill, OS page cache not dropped."
          + (f" Warm SELECT: the median of {args.select_repeats} SELECTs in a row within each round."
             if args.select_repeats > 1 else ""))
    for f in failures:
        print(f"FAILED: {f}")
    wrong = [n for n in names for t in timings[n] + ([cold[n]] if n in cold else []) for (_, c) in t.values()
             if c.startswith(("WRONG", "FAILED"))]
    b.print_footer()
    return 1 if failures or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
