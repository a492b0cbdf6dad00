"""Every postline-smtpd limit through a real socket: the reply, the metric
(postline_smtpd_limits_hit_total{limit}) and that the session ends where it
should. Also graceful shutdown. Small limits via POSTLINE_SMTP_* overrides."""
from __future__ import annotations

import signal

import pytest

from platform_support import wait_until
from smtp_client import RawSmtp
from smtp_support import ALICE, BOB, PASSWORD, add_accounts, metric, start_without_imapd, tls_context, wait_delivered

LIMITS = {
    "POSTLINE_SMTP_MAX_MESSAGE_SIZE": "4KiB",
    "POSTLINE_SMTP_MAX_HEADER_SIZE": "1KiB",
    "POSTLINE_SMTP_MAX_RECIPIENTS": "2",
    "POSTLINE_SMTP_MAX_ERRORS": "3",
    "POSTLINE_SMTP_MAX_AUTH_FAILURES": "2",
    "POSTLINE_SMTP_MAX_MESSAGES_PER_SESSION": "1",
    "POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP": "3",
    "POSTLINE_SMTP_MAX_SESSIONS_PER_USER": "1",
    "POSTLINE_SMTP_COMMAND_TIMEOUT": "3s",
    "POSTLINE_SMTP_DATA_TIMEOUT": "3s",
}


@pytest.fixture(scope="module")
def plat(fresh_platform_factory):
    p = start_without_imapd(fresh_platform_factory, LIMITS)
    add_accounts(p)
    return p


def hits(plat, limit: str) -> float:
    return metric(plat, "postline_smtpd_limits_hit_total", {"limit": limit})


def session(plat) -> RawSmtp:
    c = RawSmtp(plat.ports["smtp_mx"])
    assert c.cmd("EHLO client.remote.test").code == 250
    return c


def test_message_size_by_parameter_and_by_data(plat):
    before = hits(plat, "message_size")
    with session(plat) as c:
        r = c.cmd("MAIL FROM:<bob@remote.test> SIZE=5000")
        assert (r.code, r.enhanced) == (552, "5.3.4")
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in c.replies(3)] == [250, 250, 354]
        c.send("Subject: big\r\n\r\n" + ("x" * 70 + "\r\n") * 80 + ".\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (552, "5.3.4")
        assert c.cmd("NOOP").code == 250
    assert hits(plat, "message_size") == before + 2
    assert metric(plat, "postline_smtpd_messages_rejected_total", {"reason": "size"}) >= 2


def test_header_size(plat):
    before = hits(plat, "header_size")
    with session(plat) as c:
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        c.replies(3)
        c.send("X-Filler: " + "h" * 1500 + "\r\n\r\nbody\r\n.\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (552, "5.3.4")
    assert hits(plat, "header_size") == before + 1


def test_recipients_per_message(plat):
    before = hits(plat, "recipients")
    with session(plat) as c:
        c.cmd("MAIL FROM:<bob@remote.test>")
        assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
        assert c.cmd(f"RCPT TO:<{BOB}>").code == 250
        r = c.cmd(f"RCPT TO:<{ALICE}>")
        assert (r.code, r.enhanced) == (452, "4.5.3")
    assert hits(plat, "recipients") == before + 1


def test_line_length(plat):
    before = hits(plat, "line_length")
    with session(plat) as c:
        ok = "NOOP " + "x" * (1000 - 7)  # exactly 1000 octets with CRLF
        assert c.cmd(ok).code == 250
        r = c.cmd(ok + "x")
        assert (r.code, r.enhanced) == (500, "5.5.2")
    assert hits(plat, "line_length") == before + 1


def test_errors_per_session(plat):
    before = hits(plat, "errors")
    with session(plat) as c:
        assert c.cmd("BOGUS1").code == 500
        assert c.cmd("BOGUS2").code == 500
        c.send("BOGUS3\r\n")
        assert c.reply().code == 500
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.7.0")
        assert c.closed_by_server()
    assert hits(plat, "errors") == before + 1


def test_auth_failures_per_session(plat):
    before = hits(plat, "auth_failures")
    with RawSmtp(plat.ports["smtp_submission"]) as c:
        c.cmd("EHLO c")
        c.starttls(tls_context(plat))
        c.cmd("EHLO c")
        # \0alice@example.test\0wrong
        bad = "AGFsaWNlQGV4YW1wbGUudGVzdAB3cm9uZw=="
        assert c.cmd("AUTH PLAIN " + bad).code == 535
        c.send("AUTH PLAIN " + bad + "\r\n")
        assert c.reply().code == 535
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.7.0")
        assert c.closed_by_server()
    assert hits(plat, "auth_failures") == before + 1
    assert metric(plat, "postline_smtpd_auth_total", {"mechanism": "PLAIN", "outcome": "failed"}) >= 2


def plain(user: str) -> str:
    import base64
    return base64.b64encode(f"\0{user}\0{PASSWORD}".encode()).decode()


def authenticated(plat, user: str):
    c = RawSmtp(plat.ports["smtp_submission"])
    c.cmd("EHLO c")
    c.starttls(tls_context(plat))
    c.cmd("EHLO c")
    return c, c.cmd("AUTH PLAIN " + plain(user))


def test_one_account_cannot_hold_every_submission_session(plat):
    """Issue 16: smtp.max_sessions_per_user (1 here): the account's next AUTH
    is refused with 454 4.7.0 while another account still logs in; the slot
    comes back when the session ends."""
    opened = []
    try:
        first, r = authenticated(plat, ALICE)
        opened.append(first)
        assert r.code == 235, r
        second, r = authenticated(plat, ALICE)
        opened.append(second)
        assert (r.code, r.enhanced) == (454, "4.7.0") and "Too many sessions" in r.text, r
        assert metric(plat, "postline_smtpd_auth_total", {"mechanism": "PLAIN", "outcome": "limit"}) >= 1
        other, r = authenticated(plat, BOB)
        opened.append(other)
        assert r.code == 235, r
        first.cmd("QUIT")
    finally:
        for c in opened:
            c.close()

    def again():
        c, r = authenticated(plat, ALICE)
        c.close()
        return r.code == 235
    wait_until(again, timeout=10, interval=0.05, what="ALICE's slot back after QUIT")


def test_messages_per_session(plat):
    before = hits(plat, "messages_per_session")
    with session(plat) as c:
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in c.replies(3)] == [250, 250, 354]
        c.send("Subject: one per session\r\n\r\nx\r\n.\r\n")
        assert c.reply().code == 250
        r = c.cmd("MAIL FROM:<bob@remote.test>")
        assert (r.code, r.enhanced) == (421, "4.7.0")
        assert c.closed_by_server()
    assert hits(plat, "messages_per_session") == before + 1


def test_connections_per_ip(plat):
    before = hits(plat, "connections")
    held = [RawSmtp(plat.ports["smtp_mx"]) for _ in range(3)]
    try:
        assert all(c.greeting.code == 220 for c in held)
        extra = RawSmtp(plat.ports["smtp_mx"])
        assert (extra.greeting.code, extra.greeting.enhanced) == (421, "4.7.0")
        assert extra.closed_by_server()
        extra.close()
    finally:
        for c in held:
            c.close()
    assert hits(plat, "connections") == before + 1


def test_command_timeout(plat):
    before = hits(plat, "command_timeout")
    with session(plat) as c:
        r = c.reply()  # nothing sent: the server gives up after smtp.command_timeout
        assert (r.code, r.enhanced) == (421, "4.4.2")
        assert c.closed_by_server()
    assert hits(plat, "command_timeout") == before + 1


def test_data_timeout(plat):
    before = hits(plat, "data_timeout")
    with session(plat) as c:
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in c.replies(3)] == [250, 250, 354]
        c.send("Subject: stalled\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.4.2")
    assert hits(plat, "data_timeout") == before + 1


def test_sigterm_lets_a_transaction_finish_then_exits_0(plat):
    with session(plat) as c:
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in c.replies(3)] == [250, 250, 354]
        proc = plat.procs["smtpd"]
        proc.send_signal(signal.SIGTERM)
        # New connections are no longer accepted once the listeners close.
        wait_until(lambda: _refused(plat.ports["smtp_mx"]), timeout=10, what="listener closed")
        c.send("Subject: finishing during shutdown\r\n\r\nmshutdown1\r\n.\r\n")
        r = c.reply()
        assert r.code == 250, r
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.3.2")
        assert proc.wait(timeout=15) == 0
    wait_delivered(plat, "mshutdown1")
    plat.procs.pop("smtpd", None)
    plat.start("smtpd")


def test_sigterm_tells_idle_sessions_421_before_closing(plat):
    """A client idle between transactions hears 421 4.3.2 (RFC 5321 3.8) when
    smtpd stops, instead of a silently dropped connection."""
    with session(plat) as c:
        proc = plat.procs["smtpd"]
        proc.send_signal(signal.SIGTERM)
        r = c.reply()
        assert (r.code, r.enhanced) == (421, "4.3.2"), r
        assert proc.wait(timeout=15) == 0
    plat.procs.pop("smtpd", None)
    plat.start("smtpd")


def _refused(port: int) -> bool:
    import socket
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def test_total_connections(fresh_platform_factory):
    p = start_without_imapd(fresh_platform_factory, {"POSTLINE_SMTP_MAX_CONNECTIONS": "2",
                                                     "POSTLINE_SMTP_MAX_CONNECTIONS_PER_IP": "100"})
    held = [RawSmtp(p.ports["smtp_mx"]), RawSmtp(p.ports["smtp_submission"])]
    try:
        assert all(c.greeting.code == 220 for c in held)
        extra = RawSmtp(p.ports["smtp_mx"])  # the limit spans all listeners
        assert (extra.greeting.code, extra.greeting.enhanced) == (421, "4.7.0")
        extra.close()
    finally:
        for c in held:
            c.close()
    assert hits(p, "connections") == 1
    # Slots come back when sessions end.
    wait_until(lambda: p.metric_value("smtpd", "postline_smtpd_sessions_active") == 0, what="sessions closed")
    with RawSmtp(p.ports["smtp_mx"]) as c:
        assert c.greeting.code == 220


def test_inflight_data_budget_answers_452_until_memory_is_free(fresh_platform_factory):
    """smtp.max_inflight_data caps the message bytes all sessions buffer at
    once: while one session holds most of it, another's message gets 452 4.3.1
    (try later, nothing lost); once the first is queued, the retry is taken.
    Each message byte counts 8 times (the copies smtpd makes until queued has
    it), so 8 MiB hold the 900 KiB one and not 200 KiB more."""
    p = start_without_imapd(fresh_platform_factory, {"POSTLINE_SMTP_MAX_MESSAGE_SIZE": "1MiB",
                                                     "POSTLINE_SMTP_MAX_INFLIGHT_DATA": "8MiB"})
    add_accounts(p)
    with RawSmtp(p.ports["smtp_mx"]) as holder, RawSmtp(p.ports["smtp_mx"]) as other:
        for c in (holder, other):
            assert c.cmd("EHLO client.remote.test").code == 250
        holder.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\n")
        assert [r.code for r in holder.replies(2)] == [250, 250]
        chunk = "Subject: held\r\n\r\n" + "x" * (900 * 1024 - 19) + "\r\n"
        holder.send(f"BDAT {len(chunk)}\r\n{chunk}")
        assert holder.reply().code == 250  # 900 KiB now buffered in smtpd

        message = "Subject: waits\r\n\r\n" + ("y" * 78 + "\r\n") * 2600 + ".\r\n"  # ~200 KiB
        other.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in other.replies(3)] == [250, 250, 354]
        other.send(message)
        r = other.reply()
        assert (r.code, r.enhanced) == (452, "4.3.1"), r
        assert hits(p, "inflight_data") == 1

        holder.send("BDAT 0 LAST\r\n")
        assert holder.reply().code == 250  # queued: its share is returned
        other.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in other.replies(3)] == [250, 250, 354]
        other.send(message)
        assert other.reply().code == 250
