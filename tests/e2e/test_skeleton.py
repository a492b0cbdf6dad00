"""The walking skeleton (issue 2): one message from SMTP to IMAP through all
four services, the metrics that prove it, and no loss when the queue is down."""
from __future__ import annotations

import imaplib
import smtplib

import pytest

import queue_support
from platform_support import SERVICES, wait_until

USER = "alice@example.test"
PASSWORD = "correct horse battery staple"


def make_message(subject: str, body: str) -> bytes:
    return (
        f"From: Bob <bob@remote.test>\r\n"
        f"To: Alice <{USER}>\r\n"
        f"Subject: {subject}\r\n"
        f"Message-ID: <{subject.replace(' ', '-')}@remote.test>\r\n"
        f"Date: Wed, 25 Nov 2026 19:00:00 +0000\r\n"
        f"\r\n"
        f"{body}"
    ).encode()


def trace_prefix_ok(prefix: bytes) -> bool:
    """Only trace fields (RFC 5321 §4.4) and our verdict headers (RFC 8601
    Authentication-Results, X-Spam-Status) may be added in front of the message."""
    if not prefix:
        return True
    lines = prefix.decode("utf-8", "replace").split("\r\n")
    assert lines[-1] == "", prefix
    for line in lines[:-1]:
        if line[:1] in (" ", "\t"):
            continue  # folded continuation
        if not line.lower().startswith(("received:", "return-path:", "authentication-results:", "x-spam-status:")):
            return False
    return True


def fetch_all(platform) -> list[bytes]:
    return queue_support.inbox(platform, USER, PASSWORD)


def send(platform, message: bytes):
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("client.remote.test")
        smtp.sendmail("bob@remote.test", [USER], message)


@pytest.fixture(scope="module")
def account(platform):
    platform.add_user(USER, PASSWORD)
    return USER


def test_every_service_is_ready(platform):
    for service in SERVICES:
        assert platform.http_status(service, "/readyz") == 200, service
        assert platform.http_status(service, "/healthz") == 200, service


def test_message_travels_from_smtp_to_imap_byte_for_byte(platform, account):
    accepted_before = platform.metric_value("smtpd", "postline_smtpd_messages_accepted_total")
    enqueued_before = platform.metric_value("queued", "postline_queued_messages_enqueued_total")
    delivered_before = platform.metric_value("queued", "postline_queued_deliveries_total", {"outcome": "delivered"})

    message = make_message("skeleton one", "Hello Alice,\r\n.leading dot survives\r\n..two dots\r\nbye\r\n")
    send(platform, message)

    fetched = wait_until(lambda: fetch_all(platform), timeout=30, what="the message in INBOX")
    assert len(fetched) == 1
    assert fetched[0].endswith(message), fetched[0]
    assert trace_prefix_ok(fetched[0][: len(fetched[0]) - len(message)])

    assert platform.metric_value("smtpd", "postline_smtpd_messages_accepted_total") == accepted_before + 1
    assert platform.metric_value("queued", "postline_queued_messages_enqueued_total") == enqueued_before + 1
    wait_until(lambda: platform.metric_value("queued", "postline_queued_deliveries_total",
                                             {"outcome": "delivered"}) >= delivered_before + 1,
               what="delivered counter")
    assert platform.metric_value("imapd", "postline_imapd_logins_total", {"outcome": "success"}) >= 1
    assert platform.metric_value("authd", "postline_authd_logins_total") >= 1


def test_wrong_imap_password_is_authenticationfailed(platform, account):
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        with pytest.raises(imaplib.IMAP4.error) as err:
            imap.login(USER, "wrong password")
        assert "AUTHENTICATIONFAILED" in str(err.value)
    finally:
        imap.logout()


def test_unknown_local_recipient_refused_at_rcpt(platform, account):
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("client.remote.test")
        code, _ = smtp.mail("bob@remote.test")
        assert code == 250
        code, reply = smtp.rcpt("nobody@example.test")
        assert code == 550 and reply.startswith(b"5.1.1"), (code, reply)


def test_queue_down_gives_451_and_retry_after_restart_delivers(platform, account):
    before = len(fetch_all(platform))
    message = make_message("while queue down", "Sent while the queue was away.\r\n")

    platform.kill("queued")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=60) as smtp:
        smtp.ehlo("client.remote.test")
        with pytest.raises(smtplib.SMTPDataError) as err:
            smtp.sendmail("bob@remote.test", [USER], message)
        assert err.value.smtp_code == 451, err.value
        assert err.value.smtp_error.startswith(b"4.3.0"), err.value
    assert len(fetch_all(platform)) == before  # nothing half-delivered

    platform.start("queued")
    # The sending MTA retries, as any MTA does after a 4xx.
    send(platform, message)
    fetched = wait_until(lambda: (m := fetch_all(platform)) and len(m) == before + 1 and m,
                         timeout=30, what="the retried message")
    assert fetched[-1].endswith(message)
