"""Quota at local delivery: a full mailbox defers (452 4.2.2) until the quota is
raised and the queue retried; a message larger than the whole quota bounces at
once (552 5.2.2) with a DSN to a local sender. queued asks authd for the quota
at delivery time (ResolvedTarget.quota_bytes), so a raised quota counts."""
from __future__ import annotations

import re
import smtplib

import pytest

from platform_support import wait_until

USER = "small@example.test"
SENDER = "sender@example.test"
PASSWORD = "quota test password"


@pytest.fixture(scope="module")
def qp(platform):
    platform.add_user(USER, PASSWORD)
    platform.add_user(SENDER, PASSWORD)
    platform.cli("quota", "set", USER, "8KiB")
    return platform


def send_message(p, mail_from: str, rcpt: str, msg: bytes) -> str:
    """Sends one message; returns its queue id from smtpd's 250 ("Ok: queued as ID").
    (The queue keeps no body for a message delivered during Enqueue, so the id is
    how a test finds its rows.)"""
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo()
        assert smtp.mail(mail_from)[0] == 250
        assert smtp.rcpt(rcpt)[0] == 250
        code, text = smtp.data(msg)
    assert code == 250, (code, text)
    m = re.search(rb"queued as ([0-9A-Za-z]+)", text)
    assert m, text
    return m.group(1).decode()


def send(p, subject: str, body_bytes: int, mail_from: str = "bob@remote.test") -> str:
    body = ("x" * 70 + "\r\n") * (body_bytes // 72 + 1)
    msg = f"From: {mail_from}\r\nTo: {USER}\r\nSubject: {subject}\r\n\r\n{body}".encode()
    return send_message(p, mail_from, USER, msg)


def recipient(p, qid: str, user: str = USER) -> tuple[str, str, str]:
    """(queue_id, state, last_reply) of the user's recipient of message qid."""
    out = p.psql(
        "SELECT m.queue_id || '|' || r.state || '|' || coalesce(r.last_reply, '') FROM queue_messages m"
        " JOIN queue_recipients r ON r.message_id = m.id"
        f" WHERE r.address = '{user}' AND m.queue_id = '{qid}'").strip()
    if not out:
        return ("", "", "")
    qid, state, reply = out.split("|", 2)
    return qid, state, reply


def settled(p, qid: str, user: str = USER) -> tuple[str, str, str]:
    holder = {}

    def done():
        holder["r"] = recipient(p, qid, user)
        return holder["r"][1] in ("delivered", "deferred", "bounced")

    wait_until(done, timeout=30, what=f"{qid} settled")
    return holder["r"]


def test_full_mailbox_defers_then_arrives_after_quota_raise_and_retry(qp):
    deferred = None
    delivered = 0
    for i in range(12):
        subject = f"fill {i}"
        qid, state, reply = settled(qp, send(qp, subject, 2000))
        if state == "deferred":
            deferred = (subject, qid, reply)
            break
        assert state == "delivered", (state, reply)
        delivered += 1
    assert deferred is not None, "the 8KiB quota never filled"
    assert delivered >= 2
    subject, qid, reply = deferred
    assert reply.startswith("452 4.2.2"), reply
    show = qp.cli("queue", "show", qid).stdout
    assert "deferred" in show and "4.2.2" in show, show
    assert qp.metric_value("queued", "postline_queued_over_quota_total", {"result": "deferred"}) >= 1

    qp.cli("quota", "set", USER, "1MiB")
    qp.cli("queue", "retry", qid)
    wait_until(lambda: recipient(qp, qid)[1] == "delivered", timeout=30, what="retried delivery")


def test_message_larger_than_the_quota_bounces_at_once_with_a_dsn(qp):
    qp.cli("quota", "set", USER, "4KiB")
    qid, state, reply = settled(qp, send(qp, "too big", 10000, mail_from=SENDER))
    assert state == "bounced", (state, reply)
    assert reply.startswith("552 5.2.2"), reply
    # The DSN goes back to the local sender and is delivered into its mailbox.
    wait_until(lambda: qp.psql(
        "SELECT count(*) FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id"
        f" WHERE m.is_dsn AND r.address = '{SENDER}' AND r.state = 'delivered'"
        " AND position('5.2.2' in convert_from(m.body, 'UTF8')) > 0").strip() == "1",
        timeout=30, what="DSN delivered to the sender")
    assert qp.metric_value("queued", "postline_queued_over_quota_total", {"result": "bounced"}) >= 1


def test_message_count_limit_defers_then_arrives_after_raise(platform):
    """The MESSAGE resource (RFC 9208) at delivery: authd hands queued both
    limits (ResolvedTarget.quota_messages); the message over the count defers
    with 452 4.2.2 naming the count, and arrives once the limit is raised."""
    p = platform
    user = "counted@example.test"
    p.add_user(user, PASSWORD)
    p.cli("quota", "set", user, "--storage", "1GiB", "--messages", "2")

    ids = {}

    def send_to(subject):
        msg = f"From: bob@remote.test\r\nTo: {user}\r\nSubject: {subject}\r\n\r\nhello\r\n".encode()
        ids[subject] = send_message(p, "bob@remote.test", user, msg)

    def state_of(subject):
        return recipient(p, ids[subject], user)

    for subject in ("count 1", "count 2", "count 3"):
        send_to(subject)
        settled(p, ids[subject], user)
    assert state_of("count 1")[1] == "delivered" and state_of("count 2")[1] == "delivered"
    qid, state, reply = state_of("count 3")
    assert state == "deferred", (state, reply)
    assert reply.startswith("452 4.2.2") and "message count" in reply, reply

    p.cli("quota", "set", user, "--messages", "3")
    p.cli("queue", "retry", qid)
    wait_until(lambda: state_of("count 3")[1] == "delivered", timeout=30, what="delivery after the raise")
