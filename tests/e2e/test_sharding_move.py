"""Sharding (issue 21, docs/DESIGN.md "Sharding"): an account moved between two
mailstore shards while an IMAP client is connected in IDLE and SMTP deliveries
keep arriving loses nothing.

Two shards: "main" on db.url (where the directory and the queue live too) and
"s2", once a second database of the test PostgreSQL and once a database of a
second PostgreSQL cluster. During `postline account move`:
the IDLE client is told `* BYE [UNAVAILABLE]`, deliveries for the account defer
(452) and the queue retries them; afterwards every 250-acknowledged message is
in the INBOX on the new shard exactly once, the messages from before the move
keep their UIDs, flags and UIDVALIDITY, the old shard holds nothing of the
account, and a client that reconnects is pushed new mail."""
from __future__ import annotations

import json
import re
import shutil
import smtplib
import socket
import ssl
import threading
import time

import pytest

from imap_wire import Wire
from managesieve_wire import ManageSieve
from platform_support import new_workdir, start_test_postgres, stop_test_postgres, wait_until

USER = "mover@example.test"
OTHER = "stayer@example.test"
PASSWORD = "mo-ver test password"
BEFORE = 40


@pytest.fixture(scope="module", params=["database", "cluster"])
def sharded(request, fresh_platform_factory, pg_server_url):
    """s2 as a second database of the test server, then as a second PostgreSQL
    cluster of its own (scripts/pg on another free port)."""
    p = fresh_platform_factory({
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_SMTP_RECIPIENT_CACHE_TTL": "1s",
    }, start=False)
    second = pg_server_url
    cluster_dir = None
    if request.param == "cluster":
        cluster_dir = new_workdir("postline-e2e-pg2-")
        second = start_test_postgres(cluster_dir)
        request.addfinalizer(lambda: (stop_test_postgres(cluster_dir), shutil.rmtree(cluster_dir, ignore_errors=True)))
    p.s2_url = p._create_database(second)
    p.env["POSTLINE_MAILSTORE_SHARDS"] = f"main={p.db_url},s2={p.s2_url}"
    p.start_all()  # `postline migrate` runs the mailstore migrations on s2 too
    p.add_user(USER, PASSWORD)
    p.add_user(OTHER, PASSWORD)
    yield p
    p.stop_all()


def psql_on(url: str, sql: str) -> str:
    import subprocess
    return subprocess.run(["psql", url, "-Atq", "-c", sql], check=True, capture_output=True, text=True).stdout


def send(platform, rcpt: str, mid: str):
    body = f"From: bob@remote.test\r\nTo: {rcpt}\r\nSubject: {mid}\r\nMessage-ID: <{mid}>\r\n\r\n{mid}\r\n"
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.sendmail("bob@remote.test", [rcpt], body.encode())


def sieve_session(p) -> ManageSieve:
    ms = ManageSieve(p.ports["managesieve"])
    ctx = ssl.create_default_context(cafile=str(p.cert))
    ms.starttls(ctx)
    r = ms.authenticate_plain(USER, PASSWORD)
    assert r.status == "OK", r
    return ms


def message_ids(c: Wire) -> dict[int, str]:
    """UID -> Message-ID of the selected mailbox."""
    r = c.ok(b"UID FETCH 1:* (BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])")
    out = {}
    for line, lit in zip([l for l in r.untagged if b"FETCH" in l], r.literals):
        uid = int(re.search(rb"UID (\d+)", line).group(1))
        m = re.search(rb"<([^>]+)>", lit)
        out[uid] = m.group(1).decode() if m else ""
    return out


def flags(c: Wire) -> dict[int, bytes]:
    r = c.ok(b"UID FETCH 1:* (FLAGS)")
    return {int(re.search(rb"UID (\d+)", l).group(1)): re.search(rb"FLAGS \(([^)]*)\)", l).group(1)
            for l in r.untagged if b"FETCH" in l}


def uidvalidity(select_reply) -> int:
    for l in select_reply.untagged:
        m = re.search(rb"UIDVALIDITY (\d+)", l)
        if m:
            return int(m.group(1))
    raise AssertionError(select_reply.untagged)


def read_until(c: Wire, pattern: bytes, timeout: float) -> list[bytes]:
    """Lines from an IDLE connection until one matches (or the deadline)."""
    c.sock.settimeout(timeout)
    seen = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = c.f.readline()
        if not line:
            break
        seen.append(line)
        if re.search(pattern, line):
            return seen
    raise AssertionError(f"no {pattern!r} within {timeout}s: {seen}")


def test_account_moves_between_shards_while_connected_and_loses_nothing(sharded):
    p = sharded
    info = json.loads(p.cli("--json", "user", "show", USER).stdout)
    assert info["shard"] == "main" and not info["moving"], info
    user_id = info["id"]

    # A Sieve script (ManageSieve on the account's shard) moves with the account.
    with sieve_session(p) as ms:
        assert ms.command('PUTSCRIPT "mine" "keep;"').status == "OK"
        assert ms.command('SETACTIVE "mine"').status == "OK"
    for i in range(BEFORE):
        send(p, USER, f"before-{i}@remote.test")
    send(p, OTHER, "other-0@remote.test")
    a = Wire(p.ports["imap"])
    a.login(USER, PASSWORD)
    wait_until(lambda: len(message_ids(a) if a.ok(b"SELECT INBOX") else {}) == BEFORE, timeout=60,
               what="the first messages delivered")
    sel = a.ok(b"SELECT INBOX")
    uv_before = uidvalidity(sel)
    before = message_ids(a)
    a.ok(b"UID STORE 1:5 +FLAGS (\\Seen $Label1)")
    flags_before = flags(a)
    a.sock.sendall(b"i1 IDLE\r\n")
    assert a.f.readline().startswith(b"+")

    # Deliveries keep coming during the move: every 250 is recorded.
    acked: list[str] = []
    stop = threading.Event()

    def sender():
        n = 0
        while not stop.is_set():
            mid = f"during-{n}@remote.test"
            try:
                send(p, USER, mid)
                acked.append(mid)
            except (smtplib.SMTPException, OSError):
                pass  # not acknowledged: not promised
            n += 1
            time.sleep(0.05)

    t = threading.Thread(target=sender)
    t.start()
    try:
        wait_until(lambda: len(acked) >= 5, timeout=30, what="deliveries running")
        t0 = time.monotonic()
        out = p.cli("--json", "account", "move", USER, "--to", "s2", "--settle", "2s")
        moved = json.loads(out.stdout)
        print(f"move: {moved}, {time.monotonic() - t0:.2f}s wall")
        assert moved["moved"] and moved["to"] == "s2", moved
        assert moved["objects_copied"] == 0, moved  # bodies in PostgreSQL: no blob store involved
        # The IDLE client is told to go (the BYE follows the switch's start).
        seen = read_until(a, rb"^\* BYE \[UNAVAILABLE\]", timeout=30)
        print("IDLE client got:", seen[-1])
        time.sleep(1.0)  # a few more deliveries after the move
    finally:
        stop.set()
        t.join()
    a.close()

    info = json.loads(p.cli("--json", "user", "show", USER).stdout)
    assert info["shard"] == "s2" and not info["moving"], info

    # Every acknowledged message ends up delivered (deferred ones by retry).
    def all_delivered():
        left = p.psql("SELECT count(*) FROM queue_recipients WHERE state <> 'delivered'").strip()
        return left == "0"
    wait_until(all_delivered, timeout=90, what="every queued recipient delivered")

    b = Wire(p.ports["imap"])
    b.login(USER, PASSWORD)
    sel = b.ok(b"SELECT INBOX")
    assert uidvalidity(sel) == uv_before
    after = message_ids(b)
    ids = list(after.values())
    expected = {m for m in before.values()} | set(acked)
    assert len(ids) == len(set(ids)), "a message was stored twice"
    missing = expected - set(ids)
    assert not missing, f"{len(missing)} acknowledged messages missing: {sorted(missing)[:5]}"
    for uid, mid in before.items():
        assert after.get(uid) == mid, (uid, mid, after.get(uid))
    fl = flags(b)
    for uid, f in flags_before.items():
        assert fl[uid] == f, (uid, f, fl[uid])
    deferred = int(p.psql("SELECT count(*) FROM queue_attempts WHERE reply LIKE '452 4.2.0 mailbox being moved%'"))
    print(f"{len(before)} messages before, {len(acked)} acknowledged during the move, {len(ids)} in the INBOX, "
          f"{deferred} delivery attempts deferred while moving")
    assert deferred > 0, "no delivery met the switch: the test did not exercise the deferral"

    # Nothing of the account is left on the old shard; the other account stayed.
    assert psql_on(p.db_url, f"SELECT count(*) FROM mailstore_messages WHERE user_id = {user_id}").strip() == "0"
    assert psql_on(p.db_url, f"SELECT count(*) FROM mailstore_mailboxes WHERE user_id = {user_id}").strip() == "0"
    assert int(psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_messages WHERE user_id = {user_id}")) == len(ids)
    o = Wire(p.ports["imap"])
    o.login(OTHER, PASSWORD)
    o.ok(b"SELECT INBOX")
    assert list(message_ids(o).values()) == ["other-0@remote.test"]
    o.close()

    with sieve_session(p) as ms:
        r = ms.command("LISTSCRIPTS")
        assert r.status == "OK" and any("mine" in str(l) and "ACTIVE" in str(l) for l in r.lines), r
    assert psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_sieve_active WHERE user_id = {user_id}").strip() == "1"

    # The reconnected client is on the new shard and is pushed new mail.
    exists = len(ids)
    b.sock.sendall(b"i2 IDLE\r\n")
    assert b.f.readline().startswith(b"+")
    send(p, USER, "after-move@remote.test")
    seen = read_until(b, rb"^\* %d EXISTS" % (exists + 1), timeout=30)
    b.sock.sendall(b"DONE\r\n")
    read_until(b, rb"^i2 OK", timeout=10)
    assert "after-move@remote.test" in message_ids(b).values()
    b.close()

    # A second move back works the same way (and the mark on s2's side is lifted).
    out = json.loads(p.cli("--json", "account", "move", USER, "--to", "main", "--settle", "1s").stdout)
    assert out["moved"], out
    c = Wire(p.ports["imap"])
    c.login(USER, PASSWORD)
    sel = c.ok(b"SELECT INBOX")
    assert uidvalidity(sel) == uv_before
    assert len(message_ids(c)) == exists + 1
    c.close()
