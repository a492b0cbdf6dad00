"""SMTP connection reuse (RFC 5321 3.3), end to end: 20 messages for one remote
domain go out over far fewer than 20 connections to the remote MX.

Same set-up as test_queue_remote.py (dnsmasq MX records, aiosmtpd with STARTTLS
as the remote MX), with queue.max_per_domain=1. The MX holds the first message
in DATA, so the domain's one session is busy while the other 19 are queued and
postponed behind it; then queued is killed (-9) in the middle of that session,
everything is made due at once and queued is started again: a backlog, as after
an outage. The MX counts the connections it accepts."""
from __future__ import annotations

import asyncio
import threading

import pytest

from platform_support import free_port, server_tls_context, wait_until
from test_queue_remote import PASSWORD, SENDER, RemoteMx, dns, submit  # noqa: F401 (dns is a fixture)

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

COUNT = 20


class GatedMx(RemoteMx):
    """Holds the first DATA until `gate` is set; counts accepted connections."""

    def __init__(self):
        super().__init__()
        self.gate = threading.Event()
        self.first_data = threading.Event()
        self.connections = 0

    async def handle_DATA(self, server, session, envelope):
        if not self.gate.is_set():
            self.first_data.set()
            await asyncio.get_running_loop().run_in_executor(None, self.gate.wait, 60)
        return await super().handle_DATA(server, session, envelope)


class CountingController(aiosmtpd_controller.Controller):
    def factory(self):
        # One SMTP protocol instance per accepted connection.
        self.handler.connections += 1
        return super().factory()


@pytest.fixture(scope="module")
def gated_mx(tmp_path_factory):
    directory = tmp_path_factory.mktemp("mx")
    ctx = server_tls_context(directory, "mx.remote.test")
    handler = GatedMx()
    controller = CountingController(handler, hostname="127.0.0.1", port=free_port(), tls_context=ctx)
    controller.start()
    try:
        yield handler, controller.port
    finally:
        handler.gate.set()
        controller.stop()


def test_twenty_messages_share_few_connections(fresh_platform_factory, dns, gated_mx):  # noqa: F811
    handler, mx_port = gated_mx
    p = fresh_platform_factory({
        "POSTLINE_DNS_SERVERS": dns,
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(mx_port),
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        "POSTLINE_QUEUE_MAX_PER_DOMAIN": "1",
        "POSTLINE_QUEUE_COMMAND_TIMEOUT": "60s",
    })
    p.add_user(SENDER, PASSWORD)

    submit(p, ["r0@remote.test"], "reuse 0")
    assert handler.first_data.wait(30), "the first message never reached DATA"
    for i in range(1, COUNT):
        submit(p, [f"r{i}@remote.test"], f"reuse {i}")
    # Every other message has been claimed and postponed behind the busy
    # domain at least once (no attempt counted).
    wait_until(lambda: p.psql(
        "SELECT count(*) FROM queue_recipients r JOIN queue_messages m ON m.id = r.message_id"
        " WHERE r.domain = 'remote.test' AND r.attempts = 0 AND r.address <> 'r0@remote.test'"
        " AND r.next_attempt_at > m.created_at + interval '1 second'").strip() == str(COUNT - 1),
        timeout=30, what="the other messages waiting for the domain's one session")
    # kill -9 in the middle of the first session: its slot must not stay taken.
    p.kill("queued")
    p.psql("UPDATE queue_recipients SET next_attempt_at = now() WHERE state IN ('queued', 'deferred')")
    handler.gate.set()
    before = handler.connections
    p.start("queued")

    wait_until(lambda: p.psql("SELECT count(*) FROM queue_recipients WHERE domain = 'remote.test'"
                              " AND state = 'delivered'").strip() == str(COUNT), timeout=60,
               what=f"all {COUNT} messages delivered")
    for i in range(COUNT):
        assert len(handler.messages_for(f"r{i}@remote.test")) == 1, f"r{i} not received exactly once"
    assert all(m["tls"] for m in handler.received), "every reused session is still the STARTTLS one"
    connections = handler.connections - before
    opened = p.metric_value("queued", "postline_queued_smtp_connections_total", {"reused": "false"})
    reused = p.metric_value("queued", "postline_queued_smtp_connections_total", {"reused": "true"})
    print(f"{COUNT} messages: {connections} connections accepted by the MX; "
          f"queued counted {opened:.0f} opened, {reused:.0f} reused")
    assert connections <= COUNT // 4, f"{connections} connections for {COUNT} messages"
    assert opened == connections
    assert reused == COUNT - connections
    # Nothing deferred on the way: a reused connection never costs an attempt.
    assert p.psql("SELECT max(attempts) FROM queue_recipients WHERE domain = 'remote.test'").strip() == "1"
