"""Sieve at local delivery (issue 19), end to end: real authd, smtpd, queued and
imapd on PostgreSQL; dnsmasq serving the remote senders' MX on loopback and
aiosmtpd as that MX, where the vacation replies arrive. Last, queued is killed
with -9 in the middle of 300 Sieve deliveries: every copy, redirect and
vacation reply exists exactly once.

A user's script is uploaded with `postline sieve put` (ManageSieve is another
change); mail comes in over SMTP on the MX port; IMAP shows the folder the
script named; the remote MX shows each vacation reply: once per sender and
period, with a null reverse-path, DKIM-signed for our domain, and never to a
mailing list, bulk mail or the null sender."""
from __future__ import annotations

import email
import smtplib
import threading
import uuid
from email import policy

import pytest

from dns_support import dnsmasq
import queue_support
from platform_support import wait_until
from queue_support import delivered, new_dkim_key

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")

DOMAIN = "example.test"
BOB = f"bob@{DOMAIN}"
PASSWORD = "Sieve-Harbour-5531"

SCRIPT = """require ["fileinto", "mailbox", "vacation"];
if header :contains "subject" "[project]" {
  fileinto :create "Projects";
}
vacation :days 1 :subject "Out of office" "I am away until Monday.";
"""


class RemoteMx:
    """aiosmtpd handler that keeps whatever arrives."""

    def __init__(self):
        self.lock = threading.Lock()
        self.received: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.received.append({"mail_from": envelope.mail_from, "rcpts": list(envelope.rcpt_tos),
                                  "data": envelope.original_content or envelope.content})
        return "250 2.0.0 OK queued"

    def to(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.received if address in m["rcpts"]]


@pytest.fixture(scope="module")
def dns():
    with dnsmasq(["--mx-host=remote.test,mx.remote.test,10", "--host-record=mx.remote.test,127.0.0.1"],
                 probe="mx.remote.test") as address:
        yield address


@pytest.fixture(scope="module")
def remote_mx(tmp_path_factory):
    handler = RemoteMx()
    with queue_support.remote_mx(aiosmtpd_controller, handler, tmp_path_factory.mktemp("mx"), "mx.remote.test") as port:
        yield handler, port


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    return new_dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.fixture(scope="module")
def sieve_platform(fresh_platform_factory, dns, remote_mx, dkim_key, tmp_path_factory):
    _, mx_port = remote_mx
    p = fresh_platform_factory({
        "POSTLINE_QUEUE_DKIM_KEYS": f"{DOMAIN}:pl:{dkim_key[0]}",
        "POSTLINE_DNS_SERVERS": dns,
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(mx_port),
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
    })
    p.add_user(BOB, PASSWORD)
    script = tmp_path_factory.mktemp("sieve") / "main.sieve"
    script.write_text(SCRIPT)
    p.cli("sieve", "put", BOB, "main", str(script), "--activate")
    return p


def send_mx(platform, sender: str, subject: str, extra: str = "") -> str:
    message = (f"From: {sender or 'mailer-daemon@remote.test'}\r\nTo: {BOB}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{uuid.uuid4().hex}@remote.test>\r\n{extra}\r\nhello Bob\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
        mx.ehlo("mx.remote.test")
        mx.sendmail(sender, [BOB], message.encode())
    return subject


def subjects(platform, mailbox: str, user: str = BOB) -> list[str]:
    return queue_support.subjects(platform, user, PASSWORD, mailbox)


def queue_drained(platform) -> bool:
    return platform.psql("SELECT count(*) FROM queue_recipients WHERE state IN ('queued', 'deferred')").strip() == "0"


def test_cli_manages_scripts(sieve_platform, tmp_path):
    listed = sieve_platform.cli("--json", "sieve", "list", BOB).stdout
    assert '"name": "main"' in listed and '"active": true' in listed, listed
    assert sieve_platform.cli("sieve", "get", BOB, "main").stdout == SCRIPT
    broken = tmp_path / "broken.sieve"
    broken.write_text('require "fileinto";\nfileinto "a" "b";\n')
    result = sieve_platform.cli("sieve", "put", BOB, "broken", str(broken), check=False)
    assert result.returncode == 1
    assert "line 2:" in result.stderr, result.stderr
    assert "broken" not in sieve_platform.cli("sieve", "list", BOB).stdout
    # The active script is not deleted without --force (RFC 5804 2.10).
    refused = sieve_platform.cli("sieve", "delete", BOB, "main", check=False)
    assert refused.returncode == 1 and "active" in refused.stderr


def test_the_script_files_into_its_folder(sieve_platform):
    subject = send_mx(sieve_platform, "dave@remote.test", "[project] kickoff")
    wait_until(lambda: subject in subjects(sieve_platform, "Projects"), timeout=30, what="the message in Projects")
    assert subject not in subjects(sieve_platform, "INBOX")


def test_vacation_replies_once_per_period_signed_with_a_null_sender(sieve_platform, remote_mx, dkim_key):
    handler, _ = remote_mx
    wait_until(lambda: handler.to("dave@remote.test"), timeout=30, what="the vacation reply to dave")
    second = send_mx(sieve_platform, "dave@remote.test", "are you there")
    wait_until(lambda: second in subjects(sieve_platform, "INBOX"), timeout=30, what="the second message")
    wait_until(lambda: queue_drained(sieve_platform), timeout=30, what="the queue drained")
    replies = handler.to("dave@remote.test")
    assert len(replies) == 1, [r["data"][:300] for r in replies]
    reply = replies[0]
    assert reply["mail_from"] in ("", "<>"), reply["mail_from"]
    parsed = email.message_from_bytes(reply["data"], policy=policy.default)
    assert parsed["Subject"] == "Out of office"
    assert parsed["Auto-Submitted"] == "auto-replied"
    assert parsed["From"] == BOB
    assert "I am away until Monday." in parsed.get_content()
    dkim = pytest.importorskip("dkim")
    txt = dkim_key[1].encode()

    def dnsfunc(name, timeout=5):
        return txt if name in (b"pl._domainkey.example.test.", "pl._domainkey.example.test.") else None

    assert reply["data"].startswith(b"DKIM-Signature:"), reply["data"][:200]
    assert dkim.verify(reply["data"], dnsfunc=dnsfunc)
    # Another sender gets a reply of their own.
    send_mx(sieve_platform, "erin@remote.test", "hello")
    wait_until(lambda: handler.to("erin@remote.test"), timeout=30, what="the vacation reply to erin")


def test_a_sieve_redirect_leaves_arc_sealed(sieve_platform, remote_mx, dkim_key, tmp_path):
    """RFC 8617: mail a user's script redirects elsewhere is forwarded mail; it leaves with our
    ARC seal over smtpd's Authentication-Results, and dkimpy's arc_verify says pass."""
    handler, _ = remote_mx
    forwarder = f"fwd@{DOMAIN}"
    sieve_platform.add_user(forwarder, PASSWORD)
    script = tmp_path / "fwd.sieve"
    script.write_text('redirect "carol@remote.test";\n')
    sieve_platform.cli("sieve", "put", forwarder, "fwd", str(script), "--activate")
    marker = "redirect-" + uuid.uuid4().hex[:8]
    message = (f"From: News <news@remote.test>\r\nTo: {forwarder}\r\nSubject: {marker}\r\n"
               f"Message-ID: <{marker}@remote.test>\r\n\r\nforwarded by Sieve\r\n")
    with smtplib.SMTP("127.0.0.1", sieve_platform.ports["smtp_mx"], timeout=30) as mx:
        mx.ehlo("mx.remote.test")
        mx.sendmail("news@remote.test", [forwarder], message.encode())

    def arrived():
        return [m for m in handler.to("carol@remote.test") if marker.encode() in m["data"]]
    [got] = wait_until(arrived, timeout=30, what="the redirected copy at the remote MX")
    head = got["data"].split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.test; s=pl;"), head[:300]
    assert f"Delivered-To: {forwarder}".encode() in head, head
    dkim = pytest.importorskip("dkim")
    txt = dkim_key[1].encode()

    def dnsfunc(name, timeout=5):
        return txt if name in (b"pl._domainkey.example.test.", "pl._domainkey.example.test.") else None
    cv, _results, comment = dkim.arc_verify(got["data"], dnsfunc=dnsfunc)
    assert cv == b"pass", comment


def test_no_vacation_reply_to_lists_bulk_or_the_null_sender(sieve_platform, remote_mx):
    handler, _ = remote_mx
    sent = [
        send_mx(sieve_platform, "team@remote.test", "list traffic", "List-Id: <team.remote.test>\r\n"),
        send_mx(sieve_platform, "news@remote.test", "newsletter", "Precedence: bulk\r\n"),
        send_mx(sieve_platform, "", "a bounce"),
    ]
    wait_until(lambda: all(s in subjects(sieve_platform, "INBOX") for s in sent), timeout=30,
               what="the three messages in INBOX")
    wait_until(lambda: queue_drained(sieve_platform), timeout=30, what="the queue drained")
    assert handler.to("team@remote.test") == []
    assert handler.to("news@remote.test") == []
    assert handler.to("mailer-daemon@remote.test") == []
    # Every run went through the script without an error.
    assert sieve_platform.metric_value("queued", "postline_queued_sieve_runs_total", {"result": "ok"}) >= 6
    assert sieve_platform.metric_value("queued", "postline_queued_sieve_runs_total", {"result": "runtime_error"}) == 0


def test_a_broken_script_keeps_mail_in_inbox(sieve_platform, tmp_path):
    # `put` refuses a broken script; one stored by an older version (or by
    # hand) still never loses mail: INBOX, a log line and the metric.
    sieve_platform.psql(
        "UPDATE mailstore_sieve_scripts SET script = convert_to('require \"fileinto\"; fileinto \"a\" \"b\";', 'UTF8')")
    subject = send_mx(sieve_platform, "dave@remote.test", "[project] with a broken script")
    wait_until(lambda: subject in subjects(sieve_platform, "INBOX"), timeout=30, what="the message in INBOX")
    wait_until(lambda: sieve_platform.metric_value("queued", "postline_queued_sieve_runs_total",
                                                   {"result": "compile_error"}) == 1, timeout=10,
               what="the compile_error metric")
    assert "sieve compile_error" in sieve_platform.log_tail("queued", 200)


BULK, COPY = f"bulk@{DOMAIN}", f"copy@{DOMAIN}"
N = 300


def inject(platform, uid: int, tag: str, n: int = N):
    """n queued messages for BULK from n different senders, committed in one statement
    while queued is stopped (so every delivery happens with the instance under test)."""
    queue_support.inject_local(platform, BULK, uid, tag, n, numbered_senders=True)


def test_kill_9_during_sieve_deliveries_repeats_nothing(sieve_platform, remote_mx, tmp_path):
    handler, _ = remote_mx
    p = sieve_platform
    p.add_user(BULK, PASSWORD)
    p.add_user(COPY, PASSWORD)
    script = tmp_path / "bulk.sieve"
    script.write_text('require ["fileinto", "mailbox", "copy", "vacation"];\n'
                      'fileinto :create "Sorted";\n'
                      f'redirect :copy "{COPY}";\n'
                      'vacation :days 1 "Away, back soon.";\n')
    p.cli("sieve", "put", BULK, "main", str(script), "--activate")
    uid = int(p.psql(f"SELECT id FROM auth_users WHERE email = '{BULK}'").strip())
    p.stop("queued")
    inject(p, uid, "kill")
    p.start("queued")
    wait_until(lambda: delivered(p, "kill") >= 20, timeout=60, interval=0.02, what="Sieve deliveries under way")
    p.kill("queued")
    done_at_kill = delivered(p, "kill")
    assert done_at_kill < N, "all delivered before the kill: the test proves nothing"
    print(f"queued killed with {done_at_kill} of {N} Sieve deliveries done")
    p.start("queued")
    wait_until(lambda: delivered(p, "kill") == N, timeout=180, interval=0.25, what="the rest after the restart")
    wait_until(lambda: queue_drained(p), timeout=180, interval=0.25, what="the copies and replies delivered")
    expected = {f"kill {i}" for i in range(1, N + 1)}
    sorted_box = [s for s in subjects(p, "Sorted", BULK) if s.startswith("kill ")]
    assert len(sorted_box) == N and set(sorted_box) == expected
    copies = [s for s in subjects(p, "INBOX", COPY) if s.startswith("kill ")]
    assert len(copies) == N and set(copies) == expected
    for i in range(1, N + 1):
        assert len(handler.to(f"k{i}@remote.test")) == 1, f"k{i}@remote.test"
