"""PostgreSQL failover under load (issue 21; ctest label `ha`, `scripts/test --ha`):
three etcd members and two PostgreSQL members under Patroni on loopback
(tests/e2e/ha_support.py; synchronous replication, synchronous_mode on), the
four services on the multi-host URL with target_session_attrs=read-write.
Thousands of messages with unique Message-IDs (POSTLINE_HA_MESSAGES, default
2000) go over SMTP while the primary's PostgreSQL is killed with SIGKILL (the
postmaster and every backend at once); Patroni promotes the synchronous
standby. Once the old primary is back as the synchronous standby, smtpd is
restarted with smtp.enqueue_retry_window 0s (shorter than any failover), Patroni
is paused, and the new primary is killed the same way; once smtpd has answered
451 for what could not commit, Patroni resumes and the cluster fails back. The
first failover is invisible to senders (smtpd retries the Enqueue with the same
queue id until the new primary commits it); the second answers 451 4.3.0 for
what could not be committed - never 250.

Afterwards: every message that got 250 is in the mailbox exactly once (every
message whose answer was lost at most once), IDLE clients that stayed
connected all along were pushed every message, including those delivered
after each failover, and the time to recover (the kill to the first 250 of a
message sent after it) is printed.

Skips, saying why, when Patroni or etcd is not installed (scripts/packages/ha.txt)."""
from __future__ import annotations

import os
import re
import shutil
import socket
import threading
import time

import pytest

from exactly_once_support import Senders, assert_exactly_once, message_ids_in_inbox
from ha_support import HaCluster, missing_tools
from imap_wire import Wire
from platform_support import Platform, new_workdir, wait_until

USER = "ha@example.test"
PASSWORD = "ha failover test password"
PREFIX = "ha"
N = int(os.environ.get("POSTLINE_HA_MESSAGES", "2000"))
SENDERS = 8
IDLERS = 2


@pytest.fixture(scope="module")
def ha():
    why = missing_tools()
    if why:
        pytest.skip(why)
    workdir = new_workdir("postline-ha-")
    cluster = HaCluster(workdir)
    p = None
    try:
        cluster.start()
        p = Platform(cluster.url("postgres"), workdir, {
            "POSTLINE_LOG_LEVEL": "info",
            "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
            "POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP": "100",
        })
        assert "," in p.db_url and "target_session_attrs=read-write" in p.db_url, p.db_url
        assert "configuration ok" in p.cli("config", "check").stdout
        p.start_all()
        p.add_user(USER, PASSWORD)
        yield p, cluster
    except BaseException:
        print(cluster.log_tail())
        raise
    finally:
        if p is not None:
            p.stop_all()
        cluster.stop()
        if os.environ.get("POSTLINE_KEEP_TEST_DIRS"):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


class IdleWatcher:
    """An IMAP client in IDLE on INBOX for the whole test, recording every
    EXISTS the server pushes (and when)."""

    def __init__(self, port: int):
        self.wire = Wire(port)
        self.wire.login(USER, PASSWORD)
        r = self.wire.ok("SELECT INBOX")
        self.lock = threading.Lock()
        self.exists = [(time.monotonic(), int(m.group(1))) for u in r.untagged
                       if (m := re.match(rb"\* (\d+) EXISTS", u))]
        self.closed = None
        self.wire.sock.sendall(b"i1 IDLE\r\n")
        line = self.wire.f.readline()
        assert line.startswith(b"+"), line
        self.wire.sock.settimeout(None)  # pushes may pause while the database fails over
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self):
        try:
            while True:
                line = self.wire.f.readline()
                if not line:
                    self.closed = "the server closed the connection"
                    return
                if line.startswith(b"* BYE"):
                    self.closed = line.decode(errors="replace").strip()
                m = re.match(rb"\* (\d+) EXISTS", line)
                if m:
                    with self.lock:
                        self.exists.append((time.monotonic(), int(m.group(1))))
        except OSError as e:
            self.closed = self.closed or f"read failed: {e}"

    def latest(self) -> int:
        with self.lock:
            return self.exists[-1][1] if self.exists else 0

    def pushed_after(self, moment: float) -> int:
        with self.lock:
            return sum(1 for t, _ in self.exists if t > moment)

    def close(self):
        try:
            self.wire.sock.sendall(b"DONE\r\n")
            self.wire.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.wire.close()


def fail_over(cluster: HaCluster, senders: Senders, what: str, outage=None) -> dict:
    """Kills the primary's PostgreSQL; returns what happened and when. With
    `outage`, Patroni is paused first and `outage()` runs while there is no
    primary at all; the failover starts when it returns (times count from then)."""
    old = cluster.primary()
    assert old, "no primary before the kill"
    if outage:
        cluster.pause()
    killed_at = time.monotonic()
    cluster.kill_postgres(old)
    if outage:
        outage()
        cluster.resume()
        killed_at = time.monotonic()
    new = wait_until(lambda: (lambda m: m if m and m != old else None)(cluster.primary()), timeout=90, interval=0.1,
                     what=f"Patroni promoting the standby after {what}")
    promoted_at = time.monotonic()
    first_ack = wait_until(lambda: senders.first_ack_after(killed_at), timeout=90, interval=0.05,
                           what=f"the first 250 after {what}")
    return {"what": what, "old": old, "new": new, "killed_at": killed_at, "from": "resume" if outage else "kill",
            "promoted": promoted_at - killed_at, "recovered": first_ack - killed_at}


def test_failover_loses_and_duplicates_nothing_and_idle_clients_keep_their_pushes(ha):
    p, cluster = ha
    watchers = [IdleWatcher(p.ports["imap"]) for _ in range(IDLERS)]
    senders = Senders(p.ports["smtp_mx"], USER, N, prefix=PREFIX)
    threads = [threading.Thread(target=senders.run, daemon=True) for _ in range(SENDERS)]
    for t in threads:
        t.start()
    failovers = []
    started = time.monotonic()
    try:
        wait_until(lambda: senders.done() >= N // 3, timeout=180, interval=0.02, what=f"{N // 3} messages")
        failovers.append(fail_over(cluster, senders, "SIGKILL of the primary"))
        # Back to two members: the old primary rejoins (pg_rewind) as the
        # synchronous standby, so the second kill loses nothing either.
        wait_until(lambda: cluster.sync_standby() == failovers[0]["old"], timeout=120, interval=0.2,
                   what="the old primary back as the synchronous standby")
        # No Enqueue retries from here on: what cannot commit during the next
        # failover must be answered 451, and nothing may be answered 250 that
        # the new primary does not hold.
        p.stop("smtpd")
        p.start("smtpd", extra_env={"POSTLINE_SMTP_ENQUEUE_RETRY_WINDOW": "0s"})
        wait_until(lambda: senders.done() >= 2 * N // 3, timeout=180, interval=0.02, what=f"{2 * N // 3} messages")
        replies_before = senders.data_replies[451]

        def no_primary_means_451():
            wait_until(lambda: senders.data_replies[451] > replies_before, timeout=60, interval=0.05,
                       what="451 answers while there is no primary")

        failovers.append(fail_over(cluster, senders, "SIGKILL of the new primary (failover held until smtpd "
                                   "answered 451)", outage=no_primary_means_451))
        for t in threads:
            t.join(timeout=300)
        assert not any(t.is_alive() for t in threads), "senders did not finish"
    finally:
        senders.stop.set()
    sent = time.monotonic()

    try:
        assert len(senders.acked) + len(senders.unknown) == N
        assert len(senders.acked) >= N // 2, (len(senders.acked), len(senders.unknown))
        wait_until(lambda: p.psql("SELECT count(*) FROM queue_recipients WHERE state IN ('queued', 'deferred')")
                   .strip() == "0", timeout=120, interval=0.25, what="queue drained after the failovers")
        ids = wait_until(lambda: message_ids_in_inbox(p.ports["imap"], USER, PASSWORD, PREFIX), timeout=60,
                         interval=0.5, what="IMAP after the failovers")
        assert_exactly_once(senders, ids)
        checked = time.monotonic()

        # The IDLE sessions never noticed the database change hands: still
        # connected, pushed after each failover, and their last EXISTS is the
        # mailbox's size.
        total = sum(ids.values())
        for w in watchers:
            wait_until(lambda w=w: w.latest() == total or w.closed, timeout=60, interval=0.1,
                       what=f"an IDLE client told about all {total} messages (it has {w.latest()})")
            assert w.closed is None, w.closed
            assert w.latest() == total
            for f in failovers:
                assert w.pushed_after(f["killed_at"] + f["recovered"]) > 0, f"no push after {f['what']}"
    finally:
        for w in watchers:
            w.close()

    # What an operator sees (docs/operations.md "High availability"): the
    # pools dropped the dead primary's connections; queued, which smtpd kept
    # asking to Enqueue while there was no primary, counted the connects that
    # found none (imapd's and authd's pools may not have been asked during
    # those seconds); the LISTEN connections came back and said so.
    for service in ("queued", "imapd", "authd"):
        assert p.metric_value(service, "postline_db_pool_connections_dropped_total") > 0, service
    assert p.metric_value("queued", "postline_db_pool_connect_failures_total") > 0
    imapd_log = p.logs["imapd"].read_text(errors="replace")
    assert imapd_log.count("change notification connection re-established; resyncing sessions") >= 2, \
        p.log_tail("imapd")
    queued_log = p.logs["queued"].read_text(errors="replace")
    assert queued_log.count("queue notification listener reconnected; running a claim pass") >= 2, \
        p.log_tail("queued")

    # The first failover was covered by smtpd's Enqueue retries; without them
    # the second had to answer 451 (4.3.0) for the messages it could not commit.
    answered_451 = senders.data_replies[451] - replies_before
    assert answered_451 > 0, dict(senders.data_replies)
    assert all(code < 500 for code in senders.data_replies), dict(senders.data_replies)  # never 5xx for our fault

    for f in failovers:
        print(f"{f['what']}: {f['old']} -> {f['new']}; promoted {f['promoted']:.2f}s after the {f['from']}, "
              f"first 250 {f['recovered']:.2f}s after it (time to recover)")
    print(f"{N} messages: acknowledged {len(senders.acked)}, lost 0, duplicated 0; answer unknown "
          f"{len(senders.unknown)}, delivered without a 250 {len(senders.unknown & set(ids))}; "
          f"retried before data {senders.retries}; replies after the data {dict(senders.data_replies)} "
          f"({answered_451} times 451 in the second failover, smtpd without Enqueue retries)")
    print(f"sending took {sent - started:.1f}s ({N / (sent - started):.0f} messages/s through both failovers), "
          f"draining and counting {checked - sent:.1f}s")
