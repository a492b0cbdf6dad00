#!/usr/bin/python3
"""SMTP acceptance and local delivery: Postline's MX port next to a private Postfix.

N messages (several sizes) go over loopback from C concurrent smtplib clients to
  (a) Postline's MX port, for a local user, through queued into the mailstore, and
  (b) a private Postfix instance (own config_directory, own queue, virtual(8) into a
      Maildir) on another loopback port,
one after the other in the same run. For each: accepted msgs/s, per-message latency
(MAIL FROM .. 250 after DATA) p50/p99, and the time until the mail is visible in the
mailbox (Postline: IMAP STATUS INBOX; Postfix: files in Maildir/new).

    /usr/bin/python3 bench/smtp_accept.py [--messages 500] [--concurrency 4] [--sizes 2k,16k,128k]
    /usr/bin/python3 bench/smtp_accept.py --client smtp-source --messages 5000 --concurrency 20 --sizes 4k

--client smtp-source sends with Postfix's own load generator (smtp-source(1), one message
per connection) instead of the Python clients; it reports no per-message latency.
CPU: each target's processes (Postline: smtpd, queued, authd and PostgreSQL; Postfix: its
master and every daemon under it) from the first message sent until the last one is
visible, per delivered message. imapd's CPU is shown apart and left out of the total: it
is the watcher's STATUS polling (Postfix's mailbox is watched by listing a directory).

Needs root (Postfix), the packages in scripts/packages/bench.txt, and the Postline
binaries in $POSTLINE_BUILD_DIR/bin (default build/bin). PostgreSQL: $POSTLINE_TEST_PG_URL,
else a throwaway one from scripts/pg.
"""
from __future__ import annotations

import argparse
import contextlib
import imaplib
import queue
import shutil
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

SENDER = "load@sender.example"
PASSWORD = "Qm7 tile vapor 42"  # passes authd's policy: no user name in it, not a dictionary word


class Result:
    def __init__(self, name: str):
        self.name = name
        self.note = ""
        self.latencies: list[float] = []   # seconds, MAIL FROM .. 250 after the dot
        self.accepted_at: list[float] = []  # monotonic time of each 250 after DATA
        self.errors: list[str] = []
        self.t_start = self.t_end = 0.0
        self.visible: list[tuple[float, int]] = []  # (time, count) when the count changed
        self.delivery_complete_at: float | None = None
        self.delivery_observed = True
        self.bytes = 0
        self.cpu: dict[str, float] = {}  # CPU seconds per process group, sending .. all visible
        self.wal_bytes: float | None = None  # WAL PostgreSQL wrote over the same span (insert LSN)
        self.latency_measured = True
        # The load generator's own CPU over the same span (this process's sending threads and
        # watcher; smtp-source as a child): it shares the machine with the server measured.
        self.client_cpu: float | None = None

    @property
    def accepted(self) -> int:
        return len(self.accepted_at)


def send_all(port: int, rcpt: str, messages: list[bytes], concurrency: int, per_conn: int, result: Result,
             deadline: float):
    """C threads, each with its own connection (renewed every `per_conn` messages)."""
    todo: queue.Queue[int] = queue.Queue()
    for i in range(len(messages)):
        todo.put(i)
    lock = threading.Lock()

    def worker():
        conn = None
        sent_on_conn = 0
        try:
            while time.monotonic() < deadline:
                try:
                    i = todo.get_nowait()
                except queue.Empty:
                    return
                try:
                    if conn is None or sent_on_conn >= per_conn:
                        if conn is not None:
                            with contextlib.suppress(Exception):
                                conn.quit()
                        conn = smtplib.SMTP("127.0.0.1", port, local_hostname="loadgen.bench.test", timeout=60)
                        conn.ehlo()
                        sent_on_conn = 0
                    t0 = time.monotonic()
                    conn.sendmail(SENDER, [rcpt], messages[i])
                    t1 = time.monotonic()
                    sent_on_conn += 1
                    with lock:
                        result.latencies.append(t1 - t0)
                        result.accepted_at.append(t1)
                        result.bytes += len(messages[i])
                except (smtplib.SMTPException, OSError) as e:
                    with lock:
                        result.errors.append(f"{type(e).__name__}: {e}"[:200])
                    with contextlib.suppress(Exception):
                        conn.close()
                    conn = None
        finally:
            if conn is not None:
                with contextlib.suppress(Exception):
                    conn.quit()

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(concurrency)]
    result.t_start = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()) + 5)
    result.t_end = time.monotonic()


def _children_cpu() -> float:
    """CPU seconds of this process's children that have been waited for (smtp-source)."""
    import resource
    ru = resource.getrusage(resource.RUSAGE_CHILDREN)
    return ru.ru_utime + ru.ru_stime


def send_smtp_source(port: int, rcpt: str, count: int, sessions: int, size: int, result: Result, deadline: float):
    """Postfix's smtp-source: `count` messages of `size` payload bytes over `sessions` parallel
    sessions, one message per connection (no -d). Only the wall time is known."""
    cmd = ["/usr/sbin/smtp-source", "-s", str(sessions), "-m", str(count), "-l", str(size), "-f", SENDER,
           "-t", rcpt, "-M", "loadgen.bench.test", f"127.0.0.1:{port}"]
    result.latency_measured = False
    result.t_start = time.monotonic()
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=max(1.0, deadline - time.monotonic()))
    except subprocess.TimeoutExpired:
        result.errors.append("smtp-source timed out")
        r = None
    result.t_end = time.monotonic()
    if r is not None and r.returncode != 0:
        result.errors.append(f"smtp-source exit {r.returncode}: {(r.stderr or r.stdout).strip()[:200]}")
    elif r is not None:
        # smtp-source stops at the first error reply; exit 0 means every message got 250.
        result.accepted_at = [result.t_end] * count
        result.bytes = count * size


class Watcher(threading.Thread):
    """Polls a mailbox count every `interval` s and records when it changes."""

    def __init__(self, count_fn, result: Result, baseline: int, interval: float = 0.025):
        super().__init__(daemon=True)
        self.count_fn, self.result, self.baseline, self.interval = count_fn, result, baseline, interval
        self.stop_event = threading.Event()
        self.target: int | None = None  # set when sending is done
        self.error: str | None = None

    def run(self):
        last = -1
        while not self.stop_event.is_set():
            try:
                n = self.count_fn() - self.baseline
            except Exception as e:  # noqa: BLE001
                self.error = f"{type(e).__name__}: {e}"
                time.sleep(self.interval)
                continue
            now = time.monotonic()
            if n != last:
                self.result.visible.append((now, n))
                last = n
            if self.target is not None and n >= self.target:
                self.result.delivery_complete_at = now
                return
            time.sleep(self.interval)


def run_target(name: str, port: int, rcpt: str, count_fn, messages, warmup, args, deadline,
               cpu_groups: dict[str, list[int]] | None = None, wal_fn=None) -> Result:
    result = Result(name)
    b.log(f"[{name}] warm-up: {len(warmup)} messages")
    if warmup:
        send_all(port, rcpt, warmup, args.concurrency, args.msgs_per_conn, Result(name + "-warmup"), deadline)
    baseline = 0
    if count_fn:
        with contextlib.suppress(TimeoutError):
            b.ps.wait_until(lambda: count_fn() >= len(warmup), timeout=min(60, max(1, deadline - time.monotonic())),
                            what=f"{name} warm-up delivery")
        baseline = count_fn()
    watcher = None
    if count_fn:
        watcher = Watcher(count_fn, result, baseline)
        watcher.start()
    else:
        result.delivery_observed = False
    cpu0 = {g: b.tree_cpu_seconds(pids) for g, pids in (cpu_groups or {}).items()}
    client0 = time.process_time() + _children_cpu()
    wal0 = None
    with contextlib.suppress(Exception):
        wal0 = wal_fn() if wal_fn else None
    if args.client == "smtp-source":
        b.log(f"[{name}] smtp-source: {len(messages)} messages, {args.concurrency} sessions")
        send_smtp_source(port, rcpt, len(messages), args.concurrency, args.source_size, result, deadline)
    else:
        b.log(f"[{name}] sending {len(messages)} messages with {args.concurrency} clients")
        send_all(port, rcpt, messages, args.concurrency, args.msgs_per_conn, result, deadline)
    if watcher:
        watcher.target = result.accepted
        watcher.join(max(0.0, min(args.delivery_timeout, deadline - time.monotonic())))
        watcher.stop_event.set()
        if watcher.error and not result.visible:
            result.delivery_observed = False
            result.note += f" delivery not observed ({watcher.error})"
    result.cpu = {g: b.tree_cpu_seconds(pids) - cpu0[g] for g, pids in (cpu_groups or {}).items()}
    result.client_cpu = time.process_time() + _children_cpu() - client0
    with contextlib.suppress(Exception):
        if wal0 is not None:
            result.wal_bytes = wal_fn() - wal0
    if "imapd_pg" in result.cpu and "postgres" in result.cpu:
        result.cpu["postgres"] -= result.cpu["imapd_pg"]  # the watcher's backends, shown apart
    return result


def summarize(r: Result) -> dict:
    elapsed = max(1e-9, r.t_end - r.t_start)
    out = {
        "accepted": r.accepted,
        "errors": len(r.errors),
        "accept_rate": r.accepted / elapsed,
        "mb_per_s": r.bytes / elapsed / 1e6,
        "lat_p50": b.percentile(r.latencies, 50),
        "lat_p99": b.percentile(r.latencies, 99),
        "lat_max": max(r.latencies) if r.latencies else float("nan"),
        "all_visible_s": float("nan"),
        "deliv_rate": float("nan"),
        "visible_p50": float("nan"),
        "visible_p99": float("nan"),
        "delivered": None,
    }
    counted = {g: v for g, v in r.cpu.items() if g not in ("imapd", "imapd_pg")}
    out["cpu_ms_per_msg"] = (sum(counted.values()) * 1000 / r.accepted) if r.accepted and counted else float("nan")
    out["cpu_split"] = {g: v * 1000 / r.accepted for g, v in r.cpu.items()} if r.accepted else {}
    if not r.latency_measured:
        out["lat_p50"] = out["lat_p99"] = out["lat_max"] = float("nan")
    if not r.delivery_observed or not r.visible:
        return out
    out["delivered"] = r.visible[-1][1]
    if r.delivery_complete_at is not None:
        out["all_visible_s"] = r.delivery_complete_at - r.t_start
        out["deliv_rate"] = r.accepted / max(1e-9, r.delivery_complete_at - r.t_start)
    # Accept -> visible per message, by rank: the k-th message to become visible is
    # matched with the k-th 250 (mailboxes fill in roughly FIFO order; the poll adds <= 25 ms).
    accepted = sorted(r.accepted_at)
    delays = []
    vi = 0
    for k, t250 in enumerate(accepted, start=1):
        while vi < len(r.visible) and r.visible[vi][1] < k:
            vi += 1
        if vi >= len(r.visible):
            break
        delays.append(max(0.0, r.visible[vi][0] - t250))
    if r.latency_measured:  # smtp-source: no time of each 250, so no 250 -> visible either
        out["visible_p50"] = b.percentile(delays, 50)
        out["visible_p99"] = b.percentile(delays, 99)
    return out


def make_messages(n: int, sizes: list[int], rcpt: str, seed: int) -> list[bytes]:
    return [b.make_message(i, sizes[i % len(sizes)], SENDER, rcpt, seed=seed) for i in range(n)]


def postmaster_pid(pg_url: str) -> int:
    """The PostgreSQL server's postmaster (its backends are its children)."""
    data = subprocess.run(["psql", pg_url, "-Atc", "SHOW data_directory"], check=True, capture_output=True,
                          text=True).stdout.strip()
    return int((Path(data) / "postmaster.pid").read_text().split()[0])


@contextlib.contextmanager
def postline_target(args):
    missing = b.check_postline_binaries()
    if missing:
        raise RuntimeError(f"Postline binaries missing in {b.ps.build_dir() / 'bin'}: {', '.join(missing)}")
    extra = dict(kv.split("=", 1) for kv in args.set)
    # --dmarc: the sender's DMARC record asks for reports (rua=), so every message is a DMARC
    # evaluation that smtpd records for aggregate reports when POSTLINE_REPORTS_SEND=true.
    with b.pg_server() as pg_url, b.postline_platform(pg_url, extra, keep=args.keep, dmarc_rua=args.dmarc) as p:
        rcpt = "bench@postline.test"
        p.add_user(rcpt, PASSWORD)
        imap = None

        def count_imap():
            nonlocal imap
            if imap is None:
                imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"], timeout=10)
                imap.login(rcpt, PASSWORD)
            typ, data = imap.status("INBOX", "(MESSAGES)")
            if typ != "OK":
                raise RuntimeError(f"STATUS: {typ} {data}")
            text = data[0].decode()
            return int(text.rsplit("MESSAGES", 1)[1].strip(" )"))

        def count_metrics():
            return int(p.metric_value("queued", "postline_queued_deliveries_total", {"outcome": "delivered"}))

        count_fn = count_imap
        try:
            count_imap()
            how = "IMAP STATUS INBOX (MESSAGES)"
        except Exception as e:  # noqa: BLE001
            b.log(f"[postline] IMAP not usable for watching delivery ({e}); using queued metrics")
            count_fn, how = count_metrics, "postline_queued_deliveries_total{outcome=delivered}"
        groups = {svc: [p.procs[svc].pid] for svc in ("smtpd", "queued", "authd", "imapd") if svc in p.procs}
        with contextlib.suppress(Exception):
            groups["postgres"] = [postmaster_pid(pg_url)]
        # The backends that answer imapd, i.e. the watcher's STATUS polls (every 25 ms, counting
        # the unseen messages of a growing INBOX): apart like imapd itself, and taken out of
        # "postgres" (run_target). Postfix's watcher lists a directory, which costs Postfix nothing.
        with contextlib.suppress(Exception):
            if "imapd" in groups and "postgres" in groups:
                groups["imapd_pg"] = b.backends_of(pg_url, groups["imapd"][0])
        try:
            def wal_bytes():
                # The insert position, not pg_stat_wal (backends flush that at most once a second).
                return float(subprocess.run(["psql", pg_url, "-qAtc", "SELECT pg_current_wal_insert_lsn() - '0/0'"],
                                            capture_output=True, text=True, check=True).stdout)

            transport = ("Unix sockets (PostgreSQL, gRPC to queued and authd; POSTLINE_BENCH_TRANSPORT=unix)"
                         if b.unix_transport() else "TCP on 127.0.0.1")
            yield {"port": p.ports["smtp_mx"], "rcpt": rcpt, "count": count_fn, "how": how, "platform": p,
                   "note": f"services talk over {transport};",
                   "cpu_groups": groups, "wal": wal_bytes}
        finally:
            with contextlib.suppress(Exception):
                if imap is not None:
                    imap.logout()


@contextlib.contextmanager
def postfix_target(args):
    workdir = b.peer_workdir("postline-bench-postfix-")
    try:
        try:
            peer = b.PostfixPeer(workdir, users=["peer"])
            if args.peer == "smtp-sink":
                raise RuntimeError("--peer smtp-sink was asked for")
            peer.start()
        except Exception as e:  # noqa: BLE001
            with contextlib.suppress(Exception):
                peer.stop()
            b.log(f"[postfix] a private Postfix could not start ({e}); falling back to smtp-sink")
            with smtp_sink_target(workdir, str(e)) as t:
                yield t
            return
        try:
            groups = {}
            with contextlib.suppress(Exception):
                groups["postfix"] = [int((peer.queue / "pid" / "master.pid").read_text().split()[0])]
            yield {"port": peer.port, "rcpt": "peer@peer.test", "count": lambda: peer.delivered("peer"),
                   "how": "files in Maildir/new", "note": "private Postfix 3.7 (virtual(8) into a Maildir)",
                   "cpu_groups": groups}
        finally:
            peer.stop()
    finally:
        if args.keep:
            b.log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@contextlib.contextmanager
def smtp_sink_target(workdir: Path, why: str):
    port = b.free_port()
    proc = subprocess.Popen(["/usr/sbin/smtp-sink", "-u", b.MAIL_USER, f"127.0.0.1:{port}", "256"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    try:
        b.ps.wait_until(lambda: b.socket.create_connection(("127.0.0.1", port), timeout=1).close() or True,
                        timeout=10, what="smtp-sink")
        yield {"name": "smtp-sink", "port": port, "rcpt": "peer@peer.test", "count": None, "how": "-",
               "note": f"LOWER BOUND: Postfix smtp-sink (accepts and discards; no queue, no delivery) because {why}"}
    finally:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(10)
        if proc.poll() is None:
            proc.kill()


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=500, help="messages per target (default 500)")
    ap.add_argument("--concurrency", type=int, default=4, help="concurrent SMTP clients (default 4)")
    ap.add_argument("--sizes", default="2k,16k,128k", help="message sizes, used in turn (default 2k,16k,128k)")
    ap.add_argument("--msgs-per-conn", type=int, default=10, help="messages per SMTP connection (default 10)")
    ap.add_argument("--warmup", type=int, default=10, help="untimed messages first (default 10)")
    ap.add_argument("--targets", default="postline,postfix", help="comma list of postline,postfix (default both)")
    ap.add_argument("--peer", choices=("postfix", "smtp-sink"), default="postfix",
                    help="the peer: a private Postfix instance (default) or smtp-sink (a lower bound)")
    ap.add_argument("--delivery-timeout", type=float, default=120, help="wait for delivery after sending (s)")
    ap.add_argument("--time-limit", type=float, default=900, help="whole run, seconds (default 900)")
    ap.add_argument("--keep", action="store_true", help="keep work directories (logs)")
    ap.add_argument("--client", choices=("python", "smtp-source"), default="python",
                    help="load generator: Python smtplib threads (default) or Postfix's smtp-source")
    ap.add_argument("--dmarc", action="store_true",
                    help="the sender's domain publishes DMARC with rua= (issue 20: measure "
                         "--set POSTLINE_REPORTS_SEND=true against false)")
    ap.add_argument("--rounds", type=int, default=1,
                    help="repeat the run R times, the targets' order alternating, and print the median of "
                         "each ratio (default 1; on a noisy machine 5 says more than one run)")
    ap.add_argument("--set", action="append", default=[], metavar="POSTLINE_KEY=VALUE",
                    help="extra Postline setting for this run, e.g. POSTLINE_QUEUE_DELIVER_DURING_ENQUEUE=false")
    args = ap.parse_args()
    if any("=" not in kv or not kv.startswith("POSTLINE_") for kv in args.set):
        ap.error("--set takes POSTLINE_KEY=VALUE")
    if args.rounds < 1 or args.rounds > 50:
        ap.error("--rounds must be 1..50")
    if args.messages < 1 or args.messages > 100000 or args.concurrency < 1 or args.concurrency > 256:
        ap.error("--messages must be 1..100000 and --concurrency 1..256")
    sizes = [b.parse_size(s) for s in args.sizes.split(",") if s.strip()]
    args.source_size = sizes[0]
    if args.client == "smtp-source":
        if not Path("/usr/sbin/smtp-source").exists():
            ap.error("--client smtp-source needs /usr/sbin/smtp-source (apt-get install postfix)")
        args.warmup = 0
    targets = [t.strip() for t in args.targets.split(",") if t.strip()]
    for t in targets:
        if t not in ("postline", "postfix"):
            ap.error(f"unknown target {t}")

    deadline = b.start_run(args.time_limit)
    failures = []
    per_round = []
    for k in range(args.rounds):
        order = targets if k % 2 == 0 else list(reversed(targets))
        if args.rounds > 1:
            b.log(f"round {k + 1} of {args.rounds}: {', '.join(order)}")
        results = measure(order, args, sizes, deadline, failures)
        print_results(results, args)
        per_round.append({r.name: s for r, s, _ in results})
        if failures:
            break
    import signal
    signal.alarm(0)
    for f in failures:
        print(f"FAILED: {f}")
    if args.rounds > 1:
        print_medians(per_round, targets)
    b.print_footer()
    return 1 if failures else 0


def measure(targets, args, sizes, deadline, failures) -> list:
    results: list[tuple[Result, dict, str]] = []
    try:
        for name in targets:
            make = postline_target if name == "postline" else postfix_target
            with b.target_setup(name, failures):
                with make(args) as t:
                    msgs = make_messages(args.messages, sizes, t["rcpt"], seed=1)
                    warm = make_messages(args.warmup, sizes, t["rcpt"], seed=2)
                    r = run_target(t.get("name", name), t["port"], t["rcpt"], t["count"], msgs, warm, args, deadline,
                                   t.get("cpu_groups"), t.get("wal"))
                    r.note = (t.get("note", "") + r.note).strip()
                    s = summarize(r)
                    if name == "postline" and "platform" in t:
                        p = t["platform"]
                        with contextlib.suppress(Exception):
                            s["queue"] = {o: int(p.metric_value("queued", "postline_queued_deliveries_total",
                                                                 {"outcome": o}))
                                          for o in ("delivered", "deferred", "bounced")}
                    results.append((r, s, t["how"]))
    except b.BenchTimeout as e:
        failures.append(str(e))
    return results


def print_results(results, args):
    print()
    if args.client == "smtp-source":
        print(f"smtp_accept: smtp-source, {args.messages} messages of {args.source_size} payload bytes, "
              f"{args.concurrency} sessions, one message per connection, loopback, one target at a time")
    else:
        print(f"smtp_accept: {args.messages} messages of {args.sizes} bytes (in turn), {args.concurrency} concurrent "
              f"clients, {args.msgs_per_conn} messages per connection, loopback, one target at a time")
    print()
    rows = []
    for r, s, how in results:
        rows.append([r.name, f"{s['accepted']}/{args.messages}", s["errors"], f"{s['accept_rate']:.1f}",
                     f"{s['mb_per_s']:.2f}", b.fmt_ms(s["lat_p50"]), b.fmt_ms(s["lat_p99"]), b.fmt_ms(s["lat_max"]),
                     "-" if s["delivered"] is None else f"{s['delivered']}",
                     "-" if s["all_visible_s"] != s["all_visible_s"] else f"{s['all_visible_s']:.2f}",
                     "-" if s["deliv_rate"] != s["deliv_rate"] else f"{s['deliv_rate']:.1f}",
                     b.fmt_ms(s["visible_p50"]), b.fmt_ms(s["visible_p99"]),
                     "-" if s["cpu_ms_per_msg"] != s["cpu_ms_per_msg"] else f"{s['cpu_ms_per_msg']:.2f}"])
    print(b.table(["target", "accepted", "errors", "accepted/s", "MB/s", "p50 ms", "p99 ms", "max ms",
                   "visible", "all visible s", "delivered/s", "250->visible p50 ms", "p99 ms", "CPU ms/msg"], rows))
    if len(results) == 2:
        (r1, s1, _), (r2, s2, _) = results

        def ratio(key):
            a, c = s1[key], s2[key]
            return "-" if not (a == a and c == c and c) else f"{a / c:.2f}x"
        print(f"ratio {r1.name}/{r2.name}: accepted/s {ratio('accept_rate')}, delivered/s {ratio('deliv_rate')}, "
              f"p50 {ratio('lat_p50')}, p99 {ratio('lat_p99')}, CPU/msg {ratio('cpu_ms_per_msg')}")
    print()
    print("accepted/s: 250s after DATA / wall time of the sending phase; p50/p99/max: MAIL FROM .. 250 per message;")
    print("visible: messages seen in the mailbox; all visible s: first send .. last one visible;")
    print("250->visible: k-th 250 matched with the k-th message to appear (mailbox polled every 25 ms).")
    print("CPU ms/msg: the target's processes from the first message sent until the last one is visible, per")
    print("accepted message (Postline: smtpd+queued+authd+postgres; imapd and imapd_pg, its PostgreSQL backends,")
    print("the watcher's polling, apart).")
    for r, s, how in results:
        if s.get("cpu_split"):
            print(f"  {r.name} CPU ms/msg: " + ", ".join(f"{g} {v:.2f}" for g, v in s["cpu_split"].items()))
        if r.wal_bytes is not None and r.accepted:
            print(f"  {r.name} WAL: {r.wal_bytes / r.accepted / 1024:.1f} KiB per accepted message "
                  f"({r.bytes / r.accepted / 1024:.1f} KiB of message)")
        if r.client_cpu is not None and r.accepted:
            elapsed = max(1e-9, (r.delivery_complete_at or r.t_end) - r.t_start)
            print(f"  {r.name} load generator CPU: {r.client_cpu * 1000 / r.accepted:.2f} ms/msg "
                  f"({r.client_cpu / elapsed:.2f} of a CPU; the client and the watcher, on the same machine)")
    for r, s, how in results:
        extra = f"; queued deliveries {s['queue']}" if "queue" in s else ""
        print(f"  {r.name}: delivery watched via {how}{extra}" + (f"; {r.note}" if r.note else ""))
        for err in sorted(set(r.errors))[:5]:
            print(f"    error: {err} (x{r.errors.count(err)})")


def print_medians(per_round: list[dict], targets: list[str]):
    """Each ratio of the first target to the second, per round and its median (the rounds
    alternate which one runs first)."""
    if len(targets) != 2:
        return
    first, second = targets
    print()
    print(f"{len(per_round)} rounds, the order alternating; ratio {first}/{second} per round and median:")
    for key, label in (("accept_rate", "accepted/s"), ("deliv_rate", "delivered/s"), ("lat_p99", "p99"),
                       ("cpu_ms_per_msg", "CPU/msg")):
        values = []
        for rnd in per_round:
            a, c = rnd.get(first, {}).get(key), rnd.get(second, {}).get(key)
            if a is not None and c and a == a and c == c:
                values.append(a / c)
        if values:
            print(f"  {label:12s} {' '.join(f'{v:.2f}x' for v in values)}   median {b.median(values):.2f}x")


if __name__ == "__main__":
    sys.exit(main())
