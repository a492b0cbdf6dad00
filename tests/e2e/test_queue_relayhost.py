"""queue.relayhost (issue 4): all remote mail goes to one smarthost (aiosmtpd
requiring AUTH over STARTTLS); queued authenticates with AUTH PLAIN only over
TLS; a refused login defers the mail instead of bouncing it."""
from __future__ import annotations

import json
import threading

import pytest

import queue_support
from platform_support import free_port, server_tls_context, wait_until

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
aiosmtpd_smtp = pytest.importorskip("aiosmtpd.smtp")

SENDER = "relayed@example.test"
PASSWORD = "relay test password"
RELAY_USER = "relayuser"
RELAY_PASSWORD = "relay secret"


class Relay:
    def __init__(self):
        self.lock = threading.Lock()
        self.accept_auth = True
        self.auth_attempts = 0
        self.received: list[dict] = []

    def authenticator(self, server, session, envelope, mechanism, auth_data):
        with self.lock:
            self.auth_attempts += 1
            ok = (self.accept_auth and mechanism == "PLAIN" and session.ssl is not None
                  and auth_data.login == RELAY_USER.encode() and auth_data.password == RELAY_PASSWORD.encode())
        return aiosmtpd_smtp.AuthResult(success=ok, handled=False)  # handled=False: aiosmtpd answers 535

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append({"rcpts": list(envelope.rcpt_tos), "tls": session.ssl is not None,
                                  "authenticated": session.authenticated})
        return "250 2.0.0 relayed"

    def got(self, address):
        with self.lock:
            return [m for m in self.received if address in m["rcpts"]]


@pytest.fixture(scope="module")
def relay(tmp_path_factory):
    directory = tmp_path_factory.mktemp("relay")
    ctx = server_tls_context(directory, "relay.test")
    handler = Relay()
    controller = aiosmtpd_controller.Controller(handler, hostname="127.0.0.1", port=free_port(), tls_context=ctx,
                                                authenticator=handler.authenticator, auth_require_tls=True,
                                                auth_required=True)
    controller.start()
    try:
        yield handler, controller.port, directory
    finally:
        controller.stop()


@pytest.fixture(scope="module")
def relay_platform(fresh_platform_factory, relay):
    _, port, directory = relay
    secret = directory / "relay-password"
    secret.write_text(RELAY_PASSWORD + "\n")
    p = fresh_platform_factory({
        "POSTLINE_QUEUE_RELAYHOST": f"127.0.0.1:{port}",
        "POSTLINE_QUEUE_RELAYHOST_USERNAME": RELAY_USER,
        "POSTLINE_QUEUE_RELAYHOST_PASSWORD_FILE": str(secret),
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1h",
        "POSTLINE_QUEUE_COMMAND_TIMEOUT": "10s",
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
    })
    p.add_user(SENDER, PASSWORD)
    return p


def submit(platform, rcpt: str, subject: str):
    queue_support.submit(platform, SENDER, PASSWORD, [rcpt],
                         f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n\r\nhi\r\n".encode())


def recipient(platform, address):
    qid = platform.psql(f"SELECT m.queue_id FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id"
                        f" WHERE r.address = '{address}'").strip()
    return qid, json.loads(platform.cli("--json", "queue", "show", qid).stdout)["recipients"][0]


def test_remote_mail_goes_through_the_authenticated_relay(relay_platform, relay):
    handler, _, _ = relay
    submit(relay_platform, "someone@far-away.example", "via relay")
    wait_until(lambda: handler.got("someone@far-away.example"), timeout=30, what="relayed delivery")
    [got] = handler.got("someone@far-away.example")
    assert got["tls"] and got["authenticated"]


def test_refused_relay_login_defers_then_retry_delivers(relay_platform, relay):
    handler, _, _ = relay
    handler.accept_auth = False
    submit(relay_platform, "later@far-away.example", "relay refuses")
    try:
        wait_until(lambda: recipient(relay_platform, "later@far-away.example")[1]["attempts"] >= 1, timeout=30,
                   what="first attempt")
    except TimeoutError as e:
        raise AssertionError(f"{e}\n--- queued ---\n{relay_platform.log_tail('queued', 30)}"
                             f"\n--- smtpd ---\n{relay_platform.log_tail('smtpd', 10)}") from None
    qid, rcpt = recipient(relay_platform, "later@far-away.example")
    assert rcpt["state"] == "deferred", rcpt
    assert "AUTH" in rcpt["last_reply"]
    assert RELAY_PASSWORD not in relay_platform.log_tail("queued", 400)
    handler.accept_auth = True
    relay_platform.cli("queue", "retry", qid)
    wait_until(lambda: handler.got("later@far-away.example"), timeout=30, what="delivery after retry")
    assert recipient(relay_platform, "later@far-away.example")[1]["state"] == "delivered"
