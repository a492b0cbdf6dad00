"""Operator queue tools (issue 17), end to end through the real CLI: hold /
release (held mail is never attempted, also across a queued restart), filters
on list and on the bulk forms, delete --filter refusing without --force,
`queue view` printing the stored bytes exactly (escaped only on a terminal, a
5 MB message included), and `queue show` naming the destination of a DNS
failure as our own decision instead of "local".

Real authd, smtpd, queued, imapd and PostgreSQL; dnsmasq on loopback serves the
MX records; aiosmtpd is the remote MX, deferring per recipient on request."""
from __future__ import annotations

import base64
import os
import pty
import subprocess
import threading
import time

import pytest

from dns_support import dnsmasq
import queue_support
from platform_support import wait_until
from queue_support import queue_id_of, queue_json

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

SENDER = "admin-sender@example.test"
PASSWORD = "queue admin test password"


class RemoteMx:
    """aiosmtpd handler: addresses in `deferring` get 451 at RCPT; counts RCPTs."""

    def __init__(self):
        self.lock = threading.Lock()
        self.deferring: set[str] = set()
        self.rcpts: dict[str, int] = {}
        self.received: list[dict] = []

    def rcpt_count(self, address: str) -> int:
        with self.lock:
            return self.rcpts.get(address, 0)

    def messages_for(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.received if address in m["rcpts"]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            self.rcpts[address] = self.rcpts.get(address, 0) + 1
            if address in self.deferring:
                return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append({"rcpts": list(envelope.rcpt_tos), "data": envelope.original_content})
        return "250 2.0.0 OK queued"


@pytest.fixture(scope="module")
def dns():
    with dnsmasq([
        "--mx-host=slow.test,mx.slow.test,10",
        "--host-record=mx.slow.test,127.0.0.1",
        "--mx-host=other.test,mx.other.test,10",
        "--host-record=mx.other.test,127.0.0.1",
    ], probe="mx.slow.test") as address:
        yield address


@pytest.fixture(scope="module")
def remote_mx(tmp_path_factory):
    handler = RemoteMx()
    with queue_support.remote_mx(aiosmtpd_controller, handler, tmp_path_factory.mktemp("mx"), "mx.slow.test",
                                 data_size_limit=64 * 1024 * 1024) as port:
        yield handler, port


@pytest.fixture(scope="module")
def platform(fresh_platform_factory, dns, remote_mx):
    _, mx_port = remote_mx
    p = fresh_platform_factory({
        "POSTLINE_DNS_SERVERS": dns,
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(mx_port),
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_QUEUE_MAX_LIFETIME": "1h",
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        "POSTLINE_QUEUE_CONNECT_TIMEOUT": "5s",
        "POSTLINE_QUEUE_COMMAND_TIMEOUT": "10s",
    })
    p.add_user(SENDER, PASSWORD)
    return p


# --- helpers ----------------------------------------------------------------------

def submit(platform, rcpts: list[str], raw: bytes) -> None:
    queue_support.submit(platform, SENDER, PASSWORD, rcpts, raw, timeout=60)


def message(subject: str, message_id: str, body: bytes = b"") -> bytes:
    return (f"From: {SENDER}\r\nTo: someone\r\nSubject: {subject}\r\nMessage-ID: <{message_id}>\r\n\r\n"
            .encode() + (body or f"body of {subject}\r\n".encode()))




def stored_body(platform, queue_id: str) -> bytes:
    b64 = platform.psql(f"SELECT encode(body, 'base64') FROM queue_messages WHERE queue_id = '{queue_id}'")
    return base64.b64decode("".join(b64.split()))


def attempts(platform, queue_id: str) -> int:
    return sum(r["attempts"] for r in queue_json(platform, "show", queue_id)["recipients"])


def cli_bytes(platform, *args) -> subprocess.CompletedProcess:
    """The CLI with stdout as bytes (a pipe: not a terminal)."""
    return subprocess.run([str(platform.bin / "postline"), *args], capture_output=True,
                          env=platform.process_env(), timeout=120)


def cli_on_a_terminal(platform, *args) -> bytes:
    """The CLI with stdout on a pseudo-terminal; returns what it wrote there."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(platform.bin / "postline"), *args], stdout=slave, stderr=subprocess.PIPE,
                            env=platform.process_env())
    os.close(slave)
    out = b""
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # EIO: the writer closed the terminal
            break
        if not chunk:
            break
        out += chunk
    os.close(master)
    assert proc.wait(timeout=60) == 0, proc.stderr.read()
    return out


def never_within(predicate, seconds: float, what: str, interval: float = 0.2):
    """Polls `predicate` for `seconds`; fails as soon as it holds."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        assert not predicate(), what
        time.sleep(interval)


# --- tests ------------------------------------------------------------------------------

def test_held_message_is_not_attempted_until_released(platform, remote_mx):
    handler, _ = remote_mx
    address = "held@slow.test"
    handler.deferring.add(address)
    submit(platform, [address], message("to be held", "held-1@example.test"))
    qid = queue_id_of(platform, address)
    wait_until(lambda: attempts(platform, qid) >= 1, timeout=30, what="first (deferred) attempt")

    held = queue_json(platform, "hold", qid)
    assert held == {"action": "hold", "messages": 1, "recipients": 1, "queue_ids": [qid]}
    shown = queue_json(platform, "show", qid)
    assert shown["held"] and shown["recipients"][0]["held"]
    assert "held" in platform.cli("queue", "list").stdout.split(qid, 1)[1].splitlines()[0]
    assert [m["queue_id"] for m in queue_json(platform, "list", "--state", "held")] == [qid]
    assert platform.metric_value("queued", "postline_queued_admin_actions_total", {"action": "hold"}) >= 1

    # The retry interval is 1s: a queued that ignored the hold would try again
    # several times in 4 s (retry and flush do not release it either).
    tried = attempts(platform, qid)
    rcpts = handler.rcpt_count(address)
    platform.cli("queue", "retry", qid)
    platform.cli("queue", "flush")
    never_within(lambda: attempts(platform, qid) > tried or handler.rcpt_count(address) > rcpts, 4,
                 "a held message was attempted")
    wait_until(lambda: platform.metric_value("queued", "postline_queued_held_messages") >= 1, timeout=20,
               what="held gauge")

    # Held survives a restart of queued (it is in the queue's tables).
    platform.stop("queued")
    platform.start("queued")
    assert queue_json(platform, "show", qid)["held"]
    never_within(lambda: handler.rcpt_count(address) > rcpts, 3, "a held message was attempted after a restart")

    # Released: attempted at once and delivered exactly once.
    handler.deferring.discard(address)
    released = queue_json(platform, "release", qid)
    assert released["messages"] == 1 and released["recipients"] == 1
    wait_until(lambda: handler.messages_for(address), timeout=30, what="delivery after release")
    wait_until(lambda: queue_json(platform, "show", qid)["recipients"][0]["state"] == "delivered", timeout=10,
               what="recipient delivered")
    never_within(lambda: len(handler.messages_for(address)) > 1, 2, "delivered more than once")
    assert not queue_json(platform, "show", qid)["held"]


def test_requeue_releases_and_delivers_now(platform, remote_mx):
    handler, _ = remote_mx
    address = "requeued@slow.test"
    handler.deferring.add(address)
    submit(platform, [address], message("requeue me", "requeue-1@example.test"))
    qid = queue_id_of(platform, address)
    wait_until(lambda: attempts(platform, qid) >= 1, timeout=30, what="first (deferred) attempt")
    queue_json(platform, "hold", qid)
    handler.deferring.discard(address)
    requeued = queue_json(platform, "requeue", qid)
    assert requeued == {"action": "requeue", "messages": 1, "recipients": 1, "queue_ids": [qid]}
    wait_until(lambda: handler.messages_for(address), timeout=30, what="delivery after requeue")
    shown = queue_json(platform, "show", qid)
    assert not shown["held"] and shown["requeued"] != "-"
    assert platform.metric_value("queued", "postline_queued_admin_actions_total", {"action": "requeue"}) >= 1


def test_filters_select_the_right_messages_and_bulk_delete_needs_force(platform, remote_mx):
    handler, _ = remote_mx
    addresses = ["f1@slow.test", "f2@slow.test", "f3@other.test"]
    handler.deferring.update(addresses)
    qids = {}
    for i, a in enumerate(addresses):
        submit(platform, [a], message(f"filter {i}", f"filter-{i}@example.test"))
        qids[a] = queue_id_of(platform, a)
    mine = set(qids.values())

    def listed(*args):
        return {m["queue_id"] for m in queue_json(platform, "list", *args)} & mine

    assert listed() == mine
    assert listed("--recipient", "F1@slow.test") == {qids["f1@slow.test"]}
    assert listed("--domain", "other.test") == {qids["f3@other.test"]}
    assert listed("--message-id", "<filter-1@example.test>") == {qids["f2@slow.test"]}
    assert listed("--message-id", "filter-1@example.test") == {qids["f2@slow.test"]}
    assert listed("--sender", SENDER) == mine
    assert listed("--sender", "someone-else@example.test") == set()
    assert listed("--older-than", "1h") == set()
    assert listed("--newer-than", "1h") == mine
    # The text table too, one row per matching recipient.
    text = platform.cli("queue", "list", "--domain", "slow.test").stdout
    assert "f1@slow.test" in text and "f2@slow.test" in text and "f3@other.test" not in text

    # Bad filter values are named, exit 2.
    bad = platform.cli("queue", "list", "--older-than", "soon", check=False)
    assert bad.returncode == 2 and "--older-than" in bad.stderr
    bad = platform.cli("queue", "list", "--state", "stuck", check=False)
    assert bad.returncode == 2 and "--state" in bad.stderr and "stuck" in bad.stderr

    # Bulk hold by filter, release by filter.
    held = queue_json(platform, "hold", "--domain", "slow.test")
    assert set(held["queue_ids"]) >= {qids["f1@slow.test"], qids["f2@slow.test"]}
    assert qids["f3@other.test"] not in held["queue_ids"]
    assert listed("--state", "held") == {qids["f1@slow.test"], qids["f2@slow.test"]}
    released = queue_json(platform, "release", "--domain", "slow.test")
    assert set(released["queue_ids"]) == set(held["queue_ids"])

    # delete with a filter: without --force it names the count and deletes nothing.
    refused = platform.cli("queue", "delete", "--domain", "slow.test", check=False)
    assert refused.returncode == 1
    assert "this removes 2 message(s)" in refused.stderr and "--force" in refused.stderr
    assert listed() == mine
    # A single explicit id needs no --force.
    assert "deleted" in platform.cli("queue", "delete", qids["f3@other.test"]).stdout
    deleted = queue_json(platform, "delete", "--domain", "slow.test", "--force")
    assert deleted["messages"] == 2
    assert set(deleted["queue_ids"]) == {qids["f1@slow.test"], qids["f2@slow.test"]}
    assert listed() == set()
    # Unknown queue ids are named.
    missing = platform.cli("queue", "hold", "NOSUCHQUEUEID", check=False)
    assert missing.returncode == 1 and "NOSUCHQUEUEID" in missing.stderr


def test_view_prints_the_stored_bytes_exactly(platform, remote_mx):
    handler, _ = remote_mx
    address = "view@slow.test"
    handler.deferring.add(address)
    body = b"line one\r\n\x1b[31mred\x1b[0m and caf\xc3\xa9\r\n\ttabbed\r\n"
    submit(platform, [address], message("view me", "view-1@example.test", body))
    qid = queue_id_of(platform, address)
    stored = stored_body(platform, qid)
    assert stored.endswith(body)

    whole = cli_bytes(platform, "queue", "view", qid, "--headers", "--body")
    assert whole.returncode == 0, whole.stderr
    assert whole.stdout == stored
    only_body = cli_bytes(platform, "queue", "view", qid, "--body").stdout
    assert only_body == body
    headers = cli_bytes(platform, "queue", "view", qid, "--headers").stdout
    assert stored.startswith(headers) and b"Message-ID: <view-1@example.test>" in headers
    assert b"\r\n\r\n" not in headers
    envelope = cli_bytes(platform, "queue", "view", qid, "--envelope").stdout.decode()
    assert f"<{SENDER}>" in envelope and f"<{address}>" in envelope
    # The recipient is pending: queued, deferred, or claimed by a worker at this instant.
    assert any(state in envelope for state in ("deferred", "queued", "delivering")), envelope
    assert "message-id: <view-1@example.test>" in envelope
    default = cli_bytes(platform, "queue", "view", qid).stdout
    assert default.endswith(stored) and f"<{address}>".encode() in default

    as_json = queue_json(platform, "view", qid)
    assert base64.b64decode(as_json["body_base64"]) == body
    assert base64.b64decode(as_json["header_base64"]) == headers
    assert as_json["recipients"][0]["address"] == address

    # On a terminal, control characters are escaped (ESC cannot reach it);
    # --raw writes them as they are.
    on_tty = cli_on_a_terminal(platform, "queue", "view", qid, "--body")
    assert b"\x1b" not in on_tty and b"\\x1b[31mred" in on_tty and "café".encode() in on_tty
    raw = cli_on_a_terminal(platform, "queue", "view", qid, "--body", "--raw")
    assert b"\x1b[31mred" in raw

    missing = platform.cli("queue", "view", "NOSUCHQUEUEID", check=False)
    assert missing.returncode == 1 and "NOSUCHQUEUEID" in missing.stderr


def test_a_5mb_message_views_fine(platform, remote_mx):
    handler, _ = remote_mx
    address = "big@slow.test"
    handler.deferring.add(address)
    line = b"0123456789abcdefghijklmnopqrstuvwxyz0123456789abcdefghijklmnopqrstuvwxyz\r\n"
    body = line * (5 * 1024 * 1024 // len(line) + 1)
    submit(platform, [address], message("big", "big-1@example.test", body))
    qid = queue_id_of(platform, address)
    stored = stored_body(platform, qid)
    assert len(stored) > 5 * 1024 * 1024
    out = cli_bytes(platform, "queue", "view", qid, "--headers", "--body")
    assert out.returncode == 0, out.stderr
    assert out.stdout == stored
    assert cli_bytes(platform, "queue", "view", qid, "--body").stdout == body
    platform.cli("queue", "delete", qid)


def test_show_names_the_destination_of_a_dns_failure(platform):
    address = "someone@nowhere.test"
    submit(platform, [address], message("to nowhere", "nowhere-1@example.test"))
    qid = queue_id_of(platform, address)
    wait_until(lambda: queue_json(platform, "show", qid)["recipients"][0]["state"] == "bounced", timeout=30,
               what="NXDOMAIN bounce")
    [attempt] = queue_json(platform, "show", qid)["recipients"][0]["history"]
    assert attempt["destination"] == "nowhere.test"
    assert attempt["mx_host"] == "" and attempt["remote_reply"] is False
    text = platform.cli("queue", "show", qid).stdout
    [line] = [l for l in text.splitlines() if "5.1.2" in l]
    assert "nowhere.test [local decision (no host reached)]" in line
    assert "  local  " not in line


def test_unknown_and_missing_words_are_named(platform):
    unknown = platform.cli("queue", "bogus", check=False)
    assert unknown.returncode == 2 and "bogus" in unknown.stderr
    bare = platform.cli("queue", check=False)
    assert bare.returncode == 2 and "hold" in bare.stderr and "view" in bare.stderr
    nothing = platform.cli("queue", "hold", check=False)
    assert nothing.returncode == 2 and "--all" in nothing.stderr
    both = platform.cli("queue", "release", "SOMEQUEUEID", "--all", check=False)
    assert both.returncode == 2 and "only one" in both.stderr
