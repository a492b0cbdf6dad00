#!/usr/bin/python3
"""IMAP reading a big mailbox: Postline's imapd next to a private Dovecot.

A mailbox of M messages (default 1000, several sizes, a needle word in every 50th) is
APPENDed to Postline (imapd -> mailstore in PostgreSQL) and to a private Dovecot
(Maildir in a temp dir). Then, on a fresh logged-in connection each, timed R times,
alternating the two servers:

    SELECT INBOX
    FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)     -- what a client lists a folder with
    FETCH 1:* (BODY.PEEK[])                          -- every full body
    FETCH 1:* (BINARY.PEEK[1])                       -- a body part, transfer-decoded (RFC 3516)
    FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)]) -- a header section, as clients list with
    SEARCH TEXT "needle"                            -- Postline: pg_trgm index; Dovecot: no FTS plugin, it reads the mails

    /usr/bin/python3 bench/imap_fetch.py [--messages 1000] [--repeats 3]

Needs root (Dovecot runs mail as `nobody`), the packages in scripts/packages/bench.txt
and the Postline binaries in $POSTLINE_BUILD_DIR/bin (default build/bin).
"""
from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import smtplib
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

PASSWORD = "bench password 1"
NEEDLE = "zanzibarquux"
SENDER = "someone@sender.example"

OPERATIONS = [
    ("SELECT INBOX", "SELECT INBOX"),
    ("FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)", "FETCH 1:* (FLAGS UID RFC822.SIZE ENVELOPE)"),
    ("FETCH 1:* (BODY.PEEK[])", "FETCH 1:* (BODY.PEEK[])"),
    ("FETCH 1:* (BINARY.PEEK[1])", "FETCH 1:* (BINARY.PEEK[1])"),
    ("FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])", "FETCH 1:* (BODY.PEEK[HEADER.FIELDS (FROM SUBJECT)])"),
    (f'SEARCH TEXT "{NEEDLE}"', f'SEARCH TEXT "{NEEDLE}"'),
]


def make_mailbox(m: int, sizes: list[int], rcpt: str, needle_every: int) -> tuple[list[bytes], int]:
    msgs = []
    with_needle = 0
    for i in range(m):
        needle = NEEDLE if needle_every and i % needle_every == needle_every // 2 else None
        with_needle += needle is not None
        msgs.append(b.make_message(i, sizes[i % len(sizes)], SENDER, rcpt, needle=needle, seed=3))
    return msgs, with_needle


def load_append(port: int, user: str, msgs: list[bytes], deadline: float) -> float:
    c = b.RawImap(port)
    try:
        c.login(user, PASSWORD)
        t0 = time.monotonic()
        for i, m in enumerate(msgs):
            if time.monotonic() > deadline:
                raise b.BenchTimeout("time limit while loading the mailbox")
            try:
                c.append("INBOX", m)
            except b.ImapError as e:
                e.index = i
                raise
        return time.monotonic() - t0
    finally:
        c.close()


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


def time_operations(port: int, user: str, expect_hits: int, m: int) -> dict[str, tuple[float, str]]:
    c = b.RawImap(port)
    out = {}
    try:
        c.login(user, PASSWORD)
        for label, cmd in OPERATIONS:
            t0 = time.monotonic()
            status, untagged, lit = c.command(cmd, ok=False)
            dt = time.monotonic() - t0
            check = ""
            if not status.split(b" ", 2)[1:2] == [b"OK"]:
                check = "FAILED: " + status.decode(errors="replace").strip()[:120]
            elif cmd.startswith("SELECT"):
                exists = [int(l.split()[1]) for l in untagged if l.endswith(b" EXISTS\r\n")]
                if exists != [m]:
                    check = f"EXISTS {exists} != {m}"
            elif cmd.startswith("FETCH"):
                n = sum(1 for l in untagged if b" FETCH " in l[:30])
                check = f"{n} msgs" + (f", {lit / 1e6:.1f} MB" if lit else "")
                if n != m:
                    check = "WRONG: " + check
            elif cmd.startswith("SEARCH"):
                hits = sum(len(l.split()) - 2 for l in untagged if l.startswith(b"* SEARCH"))
                check = f"{hits} hits"
                if hits != expect_hits:
                    check = f"WRONG: {hits} hits, expected {expect_hits}"
            out[label] = (dt, check)
    finally:
        c.close()
    return out


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=1000, help="mailbox size M (default 1000)")
    ap.add_argument("--sizes", default="1k,4k,16k,48k", help="message sizes in turn (default 1k,4k,16k,48k)")
    ap.add_argument("--needle-every", type=int, default=50, help="one message in N contains the needle (default 50)")
    ap.add_argument("--repeats", type=int, default=3, help="timed rounds per server (default 3)")
    ap.add_argument("--targets", default="postline,dovecot", help="comma list (default postline,dovecot)")
    ap.add_argument("--load", choices=("append", "smtp"), default="append",
                    help="how Postline's mailbox is filled (default append; smtp: MX + queue)")
    ap.add_argument("--time-limit", type=float, default=900, help="whole run, seconds (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep work directories (logs)")
    args = ap.parse_args()
    if not 1 <= args.messages <= 100000 or not 1 <= args.repeats <= 50:
        ap.error("--messages 1..100000, --repeats 1..50")
    sizes = [b.parse_size(s) for s in args.sizes.split(",") if s.strip()]
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    if any(t not in ("postline", "dovecot") for t in targets):
        ap.error("targets: postline, dovecot")

    b.sigterm_as_interrupt()
    b.time_limit(args.time_limit)
    deadline = time.monotonic() + args.time_limit - 30
    failures: list[str] = []
    loads: dict[str, tuple[float, str]] = {}
    timings: dict[str, list[dict]] = {t: [] for t in targets}
    expect_hits = 0

    with contextlib.ExitStack() as stack:
        servers: dict[str, tuple[int, str]] = {}
        try:
            if "postline" in targets:
                missing = b.check_postline_binaries()
                if missing:
                    failures.append(f"postline: binaries missing in {b.ps.build_dir() / 'bin'}: {', '.join(missing)}")
                else:
                    try:
                        pg_url = stack.enter_context(b.pg_server())
                        p = stack.enter_context(b.postline_platform(pg_url, keep=args.keep))
                        user = "bench@postline.test"
                        p.add_user(user, PASSWORD)
                        msgs, expect_hits = make_mailbox(args.messages, sizes, user, args.needle_every)
                        b.log(f"[postline] loading {len(msgs)} messages ({args.load})")
                        how = args.load
                        try:
                            secs = (load_append(p.ports["imap"], user, msgs, deadline) if how == "append"
                                    else load_smtp(p, user, msgs, deadline))
                        except b.ImapError as e:
                            if getattr(e, "index", None) != 0:
                                raise
                            b.log(f"[postline] APPEND refused ({e}); delivering over SMTP instead")
                            how = "smtp: APPEND refused"
                            secs = load_smtp(p, user, msgs, deadline)
                        loads["postline"] = (secs, how)
                        servers["postline"] = (p.ports["imap"], user)
                    except b.BenchTimeout:
                        raise
                    except Exception as e:  # noqa: BLE001
                        failures.append(f"postline: {e}")
                        b.log(f"[postline] FAILED: {e}")
            if "dovecot" in targets:
                try:
                    workdir = b.peer_workdir("postline-bench-dovecot-")
                    if not args.keep:
                        stack.callback(shutil.rmtree, workdir, True)
                    dc = b.DovecotPeer(workdir)
                    dc.add_user("peer", PASSWORD)
                    stack.enter_context(dc)
                    msgs, expect_hits = make_mailbox(args.messages, sizes, "peer@peer.test", args.needle_every)
                    b.log(f"[dovecot] loading {len(msgs)} messages (append)")
                    loads["dovecot"] = (load_append(dc.port, "peer", msgs, deadline), "append")
                    servers["dovecot"] = (dc.port, "peer")
                except b.BenchTimeout:
                    raise
                except Exception as e:  # noqa: BLE001
                    failures.append(f"dovecot: {e}")
                    b.log(f"[dovecot] FAILED: {e}")

            for rnd in range(args.repeats):
                order = list(servers) if rnd % 2 == 0 else list(reversed(list(servers)))
                for name in order:
                    port, user = servers[name]
                    b.log(f"[{name}] round {rnd + 1}/{args.repeats}")
                    try:
                        timings[name].append(time_operations(port, user, expect_hits, args.messages))
                    except b.BenchTimeout:
                        raise
                    except Exception as e:  # noqa: BLE001
                        failures.append(f"{name} round {rnd + 1}: {e}")
                        b.log(f"[{name}] FAILED: {e}")
        except b.BenchTimeout as e:
            failures.append(str(e))
        finally:
            signal.alarm(0)

    names = [t for t in targets if timings.get(t)]
    print()
    print(f"imap_fetch: mailbox of {args.messages} messages ({args.sizes} bytes in turn, needle in "
          f"{expect_hits}), {args.repeats} rounds alternating servers, one fresh logged-in connection per round;")
    print("times in ms: median of the rounds (min in brackets)")
    print()
    headers = ["operation"] + names + (["postline/dovecot"] if set(names) >= {"postline", "dovecot"} else [])
    rows = []
    load_row = ["load: APPEND (or SMTP) all M"]
    for n in names:
        secs, how = loads.get(n, (float("nan"), "-"))
        load_row.append(f"{secs * 1000:.0f} ({args.messages / secs:.0f} msg/s, {how})")
    if len(headers) > len(names) + 1:
        load_row.append(f"{loads['postline'][0] / loads['dovecot'][0]:.2f}x")
    rows.append(load_row)
    for label, _ in OPERATIONS:
        row = [label]
        med = {}
        for n in names:
            vals = [t[label][0] for t in timings[n] if label in t]
            checks = sorted({t[label][1] for t in timings[n] if label in t})
            med[n] = b.median(vals)
            row.append(f"{b.fmt_ms(med[n])} [{b.fmt_ms(min(vals) if vals else float('nan'))}]"
                       + (f" {'; '.join(c for c in checks if c)}" if any(checks) else ""))
        if len(headers) > len(names) + 1:
            row.append(f"{med['postline'] / med['dovecot']:.2f}x" if med.get("dovecot") else "-")
        rows.append(row)
    print(b.table(headers, rows))
    print()
    print("postline/dovecot > 1 means Postline is slower. Dovecot: Maildir, no FTS plugin (SEARCH TEXT reads"
          " every message; its cache files help from the second round on). Postline: mailstore in PostgreSQL.")
    for f in failures:
        print(f"FAILED: {f}")
    wrong = [n for n in names for t in timings[n] for (_, c) in t.values() if c.startswith(("WRONG", "FAILED", "EXISTS"))]
    b.print_footer()
    return 1 if failures or wrong else 0


if __name__ == "__main__":
    sys.exit(main())
