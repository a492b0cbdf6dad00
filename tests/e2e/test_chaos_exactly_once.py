"""Exactly once under faults (issues 14 and 16; ctest labels e2e and chaos):
thousands of messages with unique Message-IDs (POSTLINE_CHAOS_MESSAGES, default
2000) go over SMTP into one mailbox while, one after the other, queued, smtpd,
authd and imapd are killed (kill -9) and PostgreSQL crashes (immediate
shutdown, crash recovery on restart). Afterwards
every message that got 250 is in the mailbox exactly once, and every message
whose answer was lost or was not 250 after the data (the sender cannot know)
at most once.

The senders (exactly_once_support.py, shared with test_ha_failover.py) retry a
message only when it provably never reached smtpd's data phase (refused
connection, an error before DATA), as a real MTA's retry is safe then. PostgreSQL is a private cluster of this test (fsync on), so its
crash does not disturb other suites."""
from __future__ import annotations

import os
import re
import shutil
import subprocess
import threading
from pathlib import Path

import pytest

from exactly_once_support import Senders, assert_exactly_once, message_ids_in_inbox
from platform_support import ROOT, Platform, new_workdir, start_test_postgres, stop_test_postgres, wait_until

USER = "chaos@example.test"
PASSWORD = "ch-aos test password"
N = int(os.environ.get("POSTLINE_CHAOS_MESSAGES", "2000"))
SENDERS = 4


@pytest.fixture(scope="module")
def chaos():
    pgdir = new_workdir("postline-chaos-pg-")
    env_fsync = os.environ.get("POSTLINE_PG_FSYNC")
    os.environ["POSTLINE_PG_FSYNC"] = "on"  # a crash must not lose a committed message
    try:
        url = start_test_postgres(pgdir)
    finally:
        if env_fsync is None:
            os.environ.pop("POSTLINE_PG_FSYNC", None)
        else:
            os.environ["POSTLINE_PG_FSYNC"] = env_fsync
    port = int(re.search(r":(\d+)/", url).group(1))
    p = Platform(url, new_workdir("postline-chaos-"), {
        "POSTLINE_LOG_LEVEL": "info",
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP": "100",
    })
    try:
        p.start_all()
        p.add_user(USER, PASSWORD)
        yield p, pgdir, port
    finally:
        p.stop_all()
        stop_test_postgres(pgdir)
        shutil.rmtree(p.workdir, ignore_errors=True)
        shutil.rmtree(pgdir, ignore_errors=True)


def crash_postgres(pgdir, port):
    """Immediate shutdown (no checkpoint: recovery replays the WAL), then start
    again on the same port, as after a crash of the database host's process."""
    data = os.path.realpath(os.path.join(pgdir, "data"))
    pg_ctl = str(sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"))[-1])
    cmd = [pg_ctl, "-D", data, "-m", "immediate", "-w", "stop"]
    if os.geteuid() == 0:
        cmd = ["runuser", "-u", "postgres", "--"] + cmd
    subprocess.run(cmd, check=True, capture_output=True)
    env = dict(os.environ, POSTLINE_PG_FSYNC="on")
    subprocess.run([str(ROOT / "scripts" / "pg"), "start", str(pgdir), str(port)], check=True, capture_output=True,
                   env=env)


def test_every_acknowledged_message_is_delivered_exactly_once_across_crashes(chaos):
    p, pgdir, pg_port = chaos
    senders = Senders(p.ports["smtp_mx"], USER, N)
    threads = [threading.Thread(target=senders.run, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    try:
        faults = [
            ("kill -9 queued", lambda: (p.kill("queued"), p.start("queued"))),
            ("kill -9 smtpd", lambda: (p.kill("smtpd"), p.start("smtpd"))),
            ("kill -9 authd", lambda: (p.kill("authd"), p.start("authd"))),
            ("kill -9 imapd", lambda: (p.kill("imapd"), p.start("imapd"))),
            ("PostgreSQL crash", lambda: crash_postgres(pgdir, pg_port)),
        ]
        steps = len(faults) + 1
        for n, (name, fault) in enumerate(faults, start=1):
            wait_until(lambda n=n: senders.done() >= n * N // steps, timeout=180, interval=0.02,
                       what=f"{n * N // steps} messages before {name}")
            fault()
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "senders did not finish"
    finally:
        senders.stop.set()

    assert len(senders.acked) + len(senders.unknown) == N
    assert len(senders.acked) >= N // 2, (len(senders.acked), len(senders.unknown))
    # The database came back; smtpd and queued reconnected on their own.
    wait_until(lambda: p.psql("SELECT count(*) FROM queue_recipients WHERE state IN ('queued', 'deferred')").strip()
               == "0", timeout=120, interval=0.25, what="queue drained after the faults")
    # Right after the database came back, a LOGIN may still be answered
    # NO [UNAVAILABLE] while the services reconnect (the client's cue to
    # retry); retry as a client would.
    ids = wait_until(lambda: message_ids_in_inbox(p.ports["imap"], USER, PASSWORD), timeout=60, interval=0.5,
                     what="IMAP after the faults")
    assert_exactly_once(senders, ids)
    print(f"{N} messages: acknowledged {len(senders.acked)}, lost 0, duplicated 0; answer unknown "
          f"{len(senders.unknown)}, delivered without a 250 {len(senders.unknown & set(ids))}; "
          f"retried before data {senders.retries}")
