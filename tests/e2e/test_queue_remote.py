"""Remote delivery and DSNs (issue 4), end to end: real authd, smtpd, queued,
imapd and PostgreSQL; dnsmasq serving MX records on loopback; aiosmtpd as the
remote MX, told per recipient to answer 250, 451 or 550.

A local user submits (587 + STARTTLS + AUTH) mail to remote addresses; queued
looks the MX up through dnsmasq and delivers to aiosmtpd; failures come back as
RFC 3464 reports in the sender's INBOX, read with imaplib."""
from __future__ import annotations

import email
import threading
from email import policy

import pytest

from dns_support import dnsmasq
import queue_support
from platform_support import wait_until
from queue_support import new_dkim_key, queue_id_of, queue_json

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

SENDER = "sender@example.test"
PASSWORD = "queue test password"


# --- the remote MX -------------------------------------------------------------

class RemoteMx:
    """aiosmtpd handler: RCPT/DATA replies scripted per recipient address."""

    def __init__(self):
        self.lock = threading.Lock()
        self.rcpt_replies: dict[str, list[str]] = {}  # address -> replies to use in turn
        self.data_replies: dict[str, list[str]] = {}  # first recipient -> replies at end of DATA
        self.received: list[dict] = []

    def script(self, address: str, rcpt: list[str] | None = None, data: list[str] | None = None):
        with self.lock:
            self.rcpt_replies[address] = list(rcpt or [])
            self.data_replies[address] = list(data or [])

    def messages_for(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.received if address in m["rcpts"]]

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            replies = self.rcpt_replies.get(address)
            reply = replies.pop(0) if replies else "250 2.1.5 OK"
        if reply.startswith("250"):
            envelope.rcpt_tos.append(address)
        return reply

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            replies = self.data_replies.get(envelope.rcpt_tos[0]) if envelope.rcpt_tos else None
            reply = replies.pop(0) if replies else "250 2.0.0 OK queued"
            if reply.startswith("250"):
                self.received.append({
                    "mail_from": envelope.mail_from,
                    "rcpts": list(envelope.rcpt_tos),
                    "data": envelope.original_content or envelope.content,
                    "tls": session.ssl is not None,
                })
        return reply


# --- DNS on loopback ----------------------------------------------------------------

@pytest.fixture(scope="module")
def dns():
    with dnsmasq([
        "--mx-host=remote.test,mx.remote.test,10",
        "--host-record=mx.remote.test,127.0.0.1",
        "--mx-host=slow.test,mx.slow.test,10",
        "--host-record=mx.slow.test,127.0.0.1",
        # Two MX hosts: the preferred one refuses connections (nothing listens on 127.0.0.2).
        "--mx-host=fallback.test,mx1.fallback.test,10",
        "--mx-host=fallback.test,mx2.fallback.test,20",
        "--host-record=mx1.fallback.test,127.0.0.2",
        "--host-record=mx2.fallback.test,127.0.0.1",
        # RFC 7505 null MX: preference 0, exchange "." (raw RR type 15)
        "--dns-rr=nullmx.test,15,000000",
    ], probe="mx.remote.test") as address:
        yield address


@pytest.fixture(scope="module")
def remote_mx(fresh_platform_factory, tmp_path_factory):
    """The aiosmtpd MX, offering STARTTLS with a self-signed certificate."""
    handler = RemoteMx()
    with queue_support.remote_mx(aiosmtpd_controller, handler, tmp_path_factory.mktemp("mx"), "mx.remote.test",
                                 enable_SMTPUTF8=True) as port:
        yield handler, port


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    """An RSA key for example.test (selector "pl") and its DNS TXT record."""
    return new_dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.fixture(scope="module")
def queue_platform(fresh_platform_factory, dns, remote_mx, dkim_key):
    _, mx_port = remote_mx
    p = fresh_platform_factory({
        "POSTLINE_QUEUE_DKIM_KEYS": f"example.test:pl:{dkim_key[0]}",
        "POSTLINE_DNS_SERVERS": dns,
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(mx_port),
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_QUEUE_MAX_LIFETIME": "8s",
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        "POSTLINE_QUEUE_CONNECT_TIMEOUT": "5s",
        "POSTLINE_QUEUE_COMMAND_TIMEOUT": "10s",
    })
    p.add_user(SENDER, PASSWORD)
    return p


# --- helpers ---------------------------------------------------------------------------

def submit(platform, rcpts: list[str], subject: str) -> None:
    msg = (f"From: {SENDER}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\n"
           f"Message-ID: <{subject.replace(' ', '-')}@example.test>\r\n\r\nbody of {subject}\r\n")
    queue_support.submit(platform, SENDER, PASSWORD, rcpts, msg.encode())


def inbox(platform) -> list[email.message.EmailMessage]:
    return [email.message_from_bytes(raw, policy=policy.default)
            for raw in queue_support.inbox(platform, SENDER, PASSWORD)]


def reports_about(platform, address: str) -> list[email.message.EmailMessage]:
    out = []
    for m in inbox(platform):
        if m.get_content_type() == "multipart/report" and address in m.as_string():
            out.append(m)
    return out


def delivery_status(report: email.message.EmailMessage) -> str:
    assert report.get_content_type() == "multipart/report"
    assert report.get_param("report-type") == "delivery-status"
    parts = list(report.iter_parts())
    assert parts[0].get_content_type() == "text/plain"
    assert parts[1].get_content_type() == "message/delivery-status"
    return parts[1].as_string()




# --- tests -------------------------------------------------------------------------------

def test_remote_delivery_uses_starttls(queue_platform, remote_mx):
    handler, _ = remote_mx
    before = queue_platform.metric_value("queued", "postline_queued_deliveries_total",
                                         {"outcome": "delivered", "class": "remote"})
    submit(queue_platform, ["bob@remote.test"], "remote one")
    wait_until(lambda: handler.messages_for("bob@remote.test"), timeout=30, what="delivery to the remote MX")
    [got] = handler.messages_for("bob@remote.test")
    assert got["tls"], "opportunistic STARTTLS was offered and must be used"
    assert got["mail_from"] == SENDER
    assert b"Subject: remote one" in got["data"]
    qid = queue_id_of(queue_platform, "bob@remote.test")
    shown = queue_json(queue_platform, "show", qid)
    [rcpt] = shown["recipients"]
    assert rcpt["state"] == "delivered"
    assert rcpt["history"][-1]["mx_host"] == "mx.remote.test"
    wait_until(lambda: queue_platform.metric_value("queued", "postline_queued_deliveries_total",
                                                   {"outcome": "delivered", "class": "remote"}) >= before + 1,
               timeout=10, what="remote delivery counted")


def test_451_twice_then_250_delivers_once(queue_platform, remote_mx):
    handler, _ = remote_mx
    handler.script("carol@remote.test", data=["451 4.7.1 greylisted", "451 4.7.1 greylisted"])
    submit(queue_platform, ["carol@remote.test"], "greylisted")
    wait_until(lambda: handler.messages_for("carol@remote.test"), timeout=30, what="delivery after two deferrals")
    qid = queue_id_of(queue_platform, "carol@remote.test")
    wait_until(lambda: queue_json(queue_platform, "show", qid)["recipients"][0]["state"] == "delivered", timeout=10,
               what="recipient marked delivered")
    rcpt = queue_json(queue_platform, "show", qid)["recipients"][0]
    assert [a["outcome"] for a in rcpt["history"]] == ["deferred", "deferred", "delivered"]
    assert "451 4.7.1 greylisted" in rcpt["history"][0]["reply"]
    assert len(handler.messages_for("carol@remote.test")) == 1


def test_550_bounces_into_the_local_senders_inbox(queue_platform, remote_mx):
    handler, _ = remote_mx
    handler.script("nobody@remote.test", rcpt=["550 5.1.1 no such user here"])
    submit(queue_platform, ["nobody@remote.test"], "to nobody")
    wait_until(lambda: reports_about(queue_platform, "nobody@remote.test"), timeout=30, what="DSN in the INBOX")
    [report] = reports_about(queue_platform, "nobody@remote.test")
    status = delivery_status(report)
    assert "Final-Recipient: rfc822; nobody@remote.test" in status
    assert "Action: failed" in status
    assert "Status: 5.1.1" in status
    assert "Remote-MTA: dns; mx.remote.test" in status
    assert "550 5.1.1 no such user here" in status
    original = list(report.iter_parts())[2]
    assert original.get_content_type() in ("message/rfc822", "text/rfc822-headers")
    assert "Subject: to nobody" in original.as_string()
    assert queue_platform.metric_value("queued", "postline_queued_dsn_sent_total", {"type": "failed"}) >= 1
    assert not handler.messages_for("nobody@remote.test")


def test_null_mx_bounces_at_once(queue_platform):
    submit(queue_platform, ["someone@nullmx.test"], "to a null mx")
    wait_until(lambda: reports_about(queue_platform, "someone@nullmx.test"), timeout=30, what="null MX DSN")
    status = delivery_status(reports_about(queue_platform, "someone@nullmx.test")[0])
    assert "Status: 5.1.10" in status
    qid = queue_id_of(queue_platform, "someone@nullmx.test")
    rcpt = queue_json(queue_platform, "show", qid)["recipients"][0]
    assert rcpt["state"] == "bounced" and rcpt["attempts"] == 1


def test_nonexistent_domain_bounces(queue_platform):
    submit(queue_platform, ["someone@nowhere.test"], "to nowhere")
    wait_until(lambda: reports_about(queue_platform, "someone@nowhere.test"), timeout=30, what="NXDOMAIN DSN")
    assert "Status: 5.1.2" in delivery_status(reports_about(queue_platform, "someone@nowhere.test")[0])


def test_expiry_bounces_after_max_lifetime(queue_platform, remote_mx):
    handler, _ = remote_mx
    handler.script("late@slow.test", rcpt=["451 4.3.0 try again later"] * 100)
    submit(queue_platform, ["late@slow.test"], "never delivered")
    wait_until(lambda: reports_about(queue_platform, "late@slow.test"), timeout=40, what="expiry DSN")
    status = delivery_status(reports_about(queue_platform, "late@slow.test")[0])
    assert "Action: failed" in status
    assert "Status: 4.4.7" in status
    assert "451 4.3.0 try again later" in status
    qid = queue_id_of(queue_platform, "late@slow.test")
    rcpt = queue_json(queue_platform, "show", qid)["recipients"][0]
    assert rcpt["state"] == "expired"
    assert rcpt["attempts"] >= 2


def test_queue_cli_lists_retries_and_deletes(queue_platform, remote_mx):
    handler, _ = remote_mx
    handler.script("held@slow.test", rcpt=["451 4.3.0 busy"] * 100)
    submit(queue_platform, ["held@slow.test"], "held")
    qid = queue_id_of(queue_platform, "held@slow.test")
    wait_until(lambda: queue_json(queue_platform, "show", qid)["recipients"][0]["attempts"] >= 1, timeout=20,
               what="first attempt")
    listed = queue_json(queue_platform, "list")
    assert qid in [m["queue_id"] for m in listed]
    text = queue_platform.cli("queue", "list").stdout
    assert qid in text and "held@slow.test" in text
    assert "scheduled" in queue_platform.cli("queue", "retry", qid).stdout
    assert "deleted" in queue_platform.cli("queue", "delete", qid, "--bounce").stdout
    missing = queue_platform.cli("queue", "show", qid, check=False)
    assert missing.returncode != 0
    wait_until(lambda: reports_about(queue_platform, "held@slow.test"), timeout=30, what="DSN for the deleted message")


def test_dkim_signature_verifies_with_dkimpy(queue_platform, remote_mx, dkim_key):
    dkim = pytest.importorskip("dkim")
    handler, _ = remote_mx
    submit(queue_platform, ["signed@remote.test"], "signed mail")
    wait_until(lambda: handler.messages_for("signed@remote.test"), timeout=30, what="delivery of the signed mail")
    data = handler.messages_for("signed@remote.test")[0]["data"]
    assert data.startswith(b"DKIM-Signature:"), data[:200]
    txt = dkim_key[1].encode()

    def dnsfunc(name, timeout=5):
        return txt if name in (b"pl._domainkey.example.test.", "pl._domainkey.example.test.") else None

    assert dkim.verify(data, dnsfunc=dnsfunc)


def test_unreachable_preferred_mx_falls_back_to_the_next(queue_platform, remote_mx):
    handler, _ = remote_mx
    submit(queue_platform, ["x@fallback.test"], "fallback")
    wait_until(lambda: handler.messages_for("x@fallback.test"), timeout=30, what="delivery via the second MX")
    qid = queue_id_of(queue_platform, "x@fallback.test")
    rcpt = queue_json(queue_platform, "show", qid)["recipients"][0]
    assert rcpt["state"] == "delivered"
    assert rcpt["attempts"] == 1
    assert rcpt["history"][0]["mx_host"] == "mx2.fallback.test"


def test_recipients_at_one_domain_share_one_transaction(queue_platform, remote_mx):
    handler, _ = remote_mx
    submit(queue_platform, ["one@remote.test", "two@remote.test"], "two recipients")
    wait_until(lambda: handler.messages_for("one@remote.test"), timeout=30, what="delivery")
    [got] = handler.messages_for("one@remote.test")
    assert sorted(got["rcpts"]) == ["one@remote.test", "two@remote.test"]


def test_remote_reply_reaches_the_log_escaped(queue_platform, remote_mx):
    """A remote MX's reply is peer text: a bare CR, a NUL and an escape sequence inside it
    must not reach queued's log as raw bytes that split, forge or colour a line. (The SMTP
    client turns control characters of a reply into spaces when it reads it; the log line
    then goes through log::printable.)"""
    handler, _ = remote_mx
    forged = "451 4.7.1 grey\x00listed\r2026-12-03 queued info [q:deadbeef] delivered\x1b[2J"
    handler.script("escaped@remote.test", data=[forged] + ["250 2.0.0 OK"] * 3)
    submit(queue_platform, ["escaped@remote.test"], "escaped reply")
    log = queue_platform.logs["queued"]

    def deferral_line():
        return next((line for line in log.read_bytes().splitlines()
                     if b"to=<escaped@remote.test>" in line and b"state=deferred" in line), None)
    line = wait_until(deferral_line, timeout=30, interval=0.05, what="the deferral in queued's log")
    # The forged "line" stays inside the real one, after the reply code.
    assert b'reply="451 4.7.1 grey listed 2026-12-03 queued info [q:deadbeef] delivered' in line, line
    for raw in log.read_bytes().splitlines():
        assert not any(c < 0x20 and c != 0x09 for c in raw), raw
        assert b"queued info [q:deadbeef]" not in raw or b"to=<escaped@remote.test>" in raw, raw
