#!/usr/bin/python3
"""IMAP push latency (issue 6): from SMTP's 250 to the untagged EXISTS on idling clients.

Two IMAP clients log in, SELECT INBOX and IDLE. By default they sit on two different
postline-imapd instances (the second started with port overrides against the same
database), so the path measured is smtpd -> queued -> mailstore commit -> NOTIFY ->
every imapd's LISTEN -> EXISTS. Then N messages are sent one at a time over SMTP; for
each, the time from the 250 after DATA to each client's `* n EXISTS` is recorded.

The peer in the same run: a private Postfix delivering (virtual(8)) into the Maildir of a
private Dovecot whose two clients IDLE on it (Dovecot notices new files via inotify).

    /usr/bin/python3 bench/imap_push_latency.py [--messages 50] [--instances 2]

If Postline's imapd does not offer IDLE yet, the benchmark says so and exits 0.
"""
from __future__ import annotations

import argparse
import contextlib
import re
import shutil
import signal
import smtplib
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import benchlib as b  # noqa: E402

PASSWORD = "Qm7 tile vapor 42"  # passes authd's policy: no user name in it, not a dictionary word
SENDER = "pusher@sender.example"
EXISTS_RE = re.compile(rb"^\* (\d+) EXISTS\r\n$")


class IdleNotSupported(Exception):
    pass


class IdleClient(threading.Thread):
    """Logs in, SELECTs INBOX, IDLEs; records (monotonic time, n) for each EXISTS."""

    def __init__(self, name: str, port: int, user: str, password: str):
        super().__init__(daemon=True)
        self.name_ = name
        self.c = b.RawImap(port, timeout=None)
        caps = self.c.command("CAPABILITY")[1]
        self.c.login(user, password)
        caps += self.c.command("CAPABILITY")[1]
        if not any(b" IDLE" in line.upper() for line in caps):
            raise IdleNotSupported(f"{name}: no IDLE in CAPABILITY ({b''.join(caps).decode(errors='replace').strip()})")
        _, untagged, _ = self.c.command("SELECT INBOX")
        self.exists = max([int(m.group(1)) for m in map(EXISTS_RE.match, untagged) if m] or [0])
        try:
            self.tag = self.c.idle_start()
        except b.ImapError as e:
            raise IdleNotSupported(f"{name}: {e}") from None
        self.events: list[tuple[float, int]] = []
        self.cond = threading.Condition()
        self.error: str | None = None
        self.stopping = False

    def run(self):
        try:
            while not self.stopping:
                line, _ = self.c.read_response_line()
                now = time.monotonic()
                m = EXISTS_RE.match(line)
                if m:
                    with self.cond:
                        self.exists = int(m.group(1))
                        self.events.append((now, self.exists))
                        self.cond.notify_all()
        except Exception as e:  # noqa: BLE001
            if not self.stopping:
                self.error = f"{type(e).__name__}: {e}"
            with self.cond:
                self.cond.notify_all()

    def wait_exists(self, n: int, timeout: float) -> float | None:
        """Time at which EXISTS first reached n, or None."""
        deadline = time.monotonic() + timeout
        with self.cond:
            while self.exists < n and self.error is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)
            for t, k in self.events:
                if k >= n:
                    return t
        return None

    def close(self):
        self.stopping = True
        with contextlib.suppress(Exception):
            self.c.sock.sendall(b"DONE\r\n")
        with contextlib.suppress(Exception):
            self.c.sock.shutdown(2)
        self.c.close()


def measure(name: str, smtp_port: int, rcpt: str, clients: list[IdleClient], n: int, per_msg_timeout: float,
            deadline: float):
    for c in clients:
        c.start()
    delays = {c.name_: [] for c in clients}
    missed = {c.name_: 0 for c in clients}
    smtp = smtplib.SMTP("127.0.0.1", smtp_port, timeout=60)
    try:
        for i in range(n):
            if time.monotonic() > deadline:
                raise b.BenchTimeout("time limit while sending")
            base = {c.name_: c.exists for c in clients}
            msg = b.make_message(i, 2048, SENDER, rcpt, seed=6)
            smtp.sendmail(SENDER, [rcpt], msg)
            t250 = time.monotonic()
            for c in clients:
                t = c.wait_exists(base[c.name_] + 1, per_msg_timeout)
                if t is None:
                    missed[c.name_] += 1
                    if c.error:
                        raise RuntimeError(f"{c.name_}: {c.error}")
                else:
                    delays[c.name_].append(t - t250)
    finally:
        with contextlib.suppress(Exception):
            smtp.quit()
    return delays, missed


def start_second_imapd(p, workdir: Path):
    """Another postline-imapd on the same database with its own ports (DESIGN: port overrides)."""
    ports = {"imap": b.free_port(), "imaps": b.free_port(), "http": b.free_port()}
    env = p.process_env({"POSTLINE_IMAP_PORT": str(ports["imap"]), "POSTLINE_IMAP_TLS_PORT": str(ports["imaps"]),
                         "POSTLINE_IMAP_HTTP_PORT": str(ports["http"])})
    log = open(workdir / "imapd2.log", "ab")
    proc = subprocess.Popen([str(p.bin / "postline-imapd")], stdout=log, stderr=subprocess.STDOUT, env=env,
                            stdin=subprocess.DEVNULL)
    log.close()

    def ready():
        if proc.poll() is not None:
            raise RuntimeError(f"second imapd exited with {proc.returncode}")
        import urllib.request
        with urllib.request.urlopen(f"http://127.0.0.1:{ports['http']}/readyz", timeout=2) as r:
            return r.status == 200
    try:
        b.ps.wait_until(ready, timeout=30, what="second imapd /readyz")
    except BaseException:
        stop_proc(proc)
        raise
    return proc, ports["imap"]


def stop_proc(proc):
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def summarize(target: str, delays, missed, rows):
    for name in delays:
        d = delays[name]
        rows.append([target, name, len(d), missed[name], b.fmt_ms(b.percentile(d, 50)), b.fmt_ms(b.percentile(d, 99)),
                     b.fmt_ms(max(d) if d else float("nan")), b.fmt_ms(min(d) if d else float("nan"))])


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--messages", type=int, default=50, help="messages, sent one at a time (default 50)")
    ap.add_argument("--instances", type=int, choices=(1, 2), default=2,
                    help="Postline imapd instances the two clients use (default 2)")
    ap.add_argument("--targets", default="postline,dovecot", help="comma list (default postline,dovecot)")
    ap.add_argument("--per-message-timeout", type=float, default=10, help="wait for EXISTS, seconds (default 10)")
    ap.add_argument("--time-limit", type=float, default=600, help="whole run, seconds (default 600)")
    ap.add_argument("--keep", action="store_true", help="keep work directories (logs)")
    args = ap.parse_args()
    if not 1 <= args.messages <= 10000:
        ap.error("--messages 1..10000")
    targets = b.parse_targets(ap, args.targets, ("postline", "dovecot"))

    deadline = b.start_run(args.time_limit)
    rows: list[list] = []
    failures: list[str] = []
    notes: list[str] = []
    idle_missing = None

    try:
        if "postline" in targets:
            if b.postline_binaries_built(failures):
                with contextlib.ExitStack() as stack:
                    clients: list[IdleClient] = []
                    try:
                        pg_url = stack.enter_context(b.pg_server())
                        p = stack.enter_context(b.postline_platform(pg_url, keep=args.keep))
                        user = "push@postline.test"
                        p.add_user(user, PASSWORD)
                        ports = [p.ports["imap"]]
                        if args.instances == 2:
                            proc, port2 = start_second_imapd(p, p.workdir)
                            stack.callback(stop_proc, proc)
                            ports.append(port2)
                        else:
                            ports.append(p.ports["imap"])
                        for k, port in enumerate(ports):
                            c = IdleClient(f"client {k + 1} (imapd #{k + 1 if args.instances == 2 else 1})",
                                           port, user, PASSWORD)
                            clients.append(c)
                        b.log(f"[postline] {len(clients)} clients idling; sending {args.messages} messages")
                        delays, missed = measure("postline", p.ports["smtp_mx"], user, clients, args.messages,
                                                 args.per_message_timeout, deadline)
                        summarize("postline", delays, missed, rows)
                    except IdleNotSupported as e:
                        idle_missing = str(e)
                    except b.BenchTimeout:
                        raise
                    except Exception as e:  # noqa: BLE001
                        failures.append(f"postline: {e}")
                        b.log(f"[postline] FAILED: {e}")
                    finally:
                        for c in clients:
                            c.close()
        if "dovecot" in targets:
            workdir = b.peer_workdir("postline-bench-push-peer-")
            clients = []
            try:
                with contextlib.ExitStack() as stack:
                    mail_root = workdir / "mail"
                    (workdir / "postfix").mkdir()
                    (workdir / "dovecot").mkdir()
                    dc = b.DovecotPeer(workdir / "dovecot", mail_root=mail_root)
                    dc.add_user("peer", PASSWORD)
                    stack.enter_context(dc)
                    pf = stack.enter_context(b.PostfixPeer(workdir / "postfix", users=["peer"], mail_root=mail_root))
                    for k in range(2):
                        clients.append(IdleClient(f"client {k + 1}", dc.port, "peer", PASSWORD))
                    b.log(f"[postfix+dovecot] 2 clients idling; sending {args.messages} messages")
                    delays, missed = measure("postfix+dovecot", pf.port, "peer@peer.test", clients, args.messages,
                                             args.per_message_timeout, deadline)
                    summarize("postfix+dovecot", delays, missed, rows)
                    for c in clients:
                        c.close()
                    clients = []
            except b.BenchTimeout:
                raise
            except Exception as e:  # noqa: BLE001
                failures.append(f"postfix+dovecot: {e}")
                b.log(f"[postfix+dovecot] FAILED: {e}")
            finally:
                for c in clients:
                    c.close()
                if args.keep:
                    b.log(f"kept {workdir}")
                else:
                    shutil.rmtree(workdir, ignore_errors=True)
    except b.BenchTimeout as e:
        failures.append(str(e))
    finally:
        signal.alarm(0)

    print()
    print(f"imap_push_latency: {args.messages} messages of 2 KiB sent one at a time over SMTP to a mailbox with two"
          f" IDLE clients; delay = untagged EXISTS seen by the client - 250 after DATA seen by the sender (ms)")
    if idle_missing:
        print()
        print(f"POSTLINE: IDLE IS NOT AVAILABLE in postline-imapd ({idle_missing}); nothing measured for Postline.")
    print()
    if rows:
        print(b.table(["target", "client", "pushed", "missed", "p50 ms", "p99 ms", "max ms", "min ms"], rows))
        print()
        print(f"missed: no EXISTS within {args.per_message_timeout:g}s. A negative min means EXISTS arrived before"
              " the sender read its 250.")
        if "postline" in targets and not idle_missing:
            print(f"postline: the two clients use {args.instances} imapd instance(s) on one database.")
        if "dovecot" in targets:
            print("postfix+dovecot: a private Postfix (virtual(8), Maildir) and a private Dovecot 2.3 on that"
                  " Maildir, both clients on one Dovecot.")
    for n in notes:
        print(n)
    for f in failures:
        print(f"FAILED: {f}")
    b.print_footer()
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
