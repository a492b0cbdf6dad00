"""Remote delivery conformance against a real Postfix (issue 22), both directions.

Postline -> Postfix: a private Postfix (tests/e2e/postfix_peer.py) is the MX of
pf.test on loopback (dnsmasq answers the MX), delivering with virtual(8) into
Maildirs, its 8BITMIME, SMTPUTF8 and DSN keywords hidden
(`smtpd_discard_ehlo_keywords`): a 7-bit-only receiver. Postfix's log tells how many
SMTP transactions carried a message (one queue id per received transaction).

Postfix -> Postline: a second private Postfix with `relayhost = [127.0.0.1]:<Postline's
MX port>` relays into Postline's MX; the mail is read back over IMAP.

Needs root and Debian's postfix; skips with the reason otherwise."""
from __future__ import annotations

import email
import email.utils
import smtplib
import ssl
import subprocess
import uuid
from email import policy

import pytest

import postfix_peer
import queue_support
from dns_support import dnsmasq
from platform_support import new_workdir, wait_until
from queue_support import new_dkim_key, queue_json

_reason = postfix_peer.unavailable_reason()
if _reason:
    print(f"test_queue_postfix skipped: {_reason}")
    pytest.skip(_reason, allow_module_level=True)

SENDER = "sender@example.test"
PASSWORD = "postfix conformance password"
LOCAL_USERS = [f"in{i}@example.test" for i in range(1, 5)]
REMOTE_USERS = ["a", "b", "c", "d"]
REMOTE_DOMAIN = "pf.test"         # MX 127.0.0.1: no 8BITMIME, SMTPUTF8, DSN
EIGHT_BIT_DOMAIN = "pf8.test"     # MX 127.0.0.2: the same Postfix, 8BITMIME offered
DEFER_SUBJECT = "defer me once"   # Postfix answers 4xx to DATA for it (header_checks)


# --- fixtures ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def dns():
    with dnsmasq([
        f"--mx-host={REMOTE_DOMAIN},mx.{REMOTE_DOMAIN},10",
        f"--host-record=mx.{REMOTE_DOMAIN},127.0.0.1",
        # The same Postfix on 127.0.0.2, offering 8BITMIME there.
        f"--mx-host={EIGHT_BIT_DOMAIN},mx.{EIGHT_BIT_DOMAIN},10",
        f"--host-record=mx.{EIGHT_BIT_DOMAIN},127.0.0.2",
    ], probe=f"mx.{REMOTE_DOMAIN}") as address:
        yield address


@pytest.fixture(scope="module")
def postfix_mx():
    """Postfix as the remote MX of pf.test on 127.0.0.1, offering neither 8BITMIME nor
    SMTPUTF8 nor DSN; on 127.0.0.2 (pf8.test) it offers them."""
    workdir = new_workdir("postline-postfix-mx-")
    # header_checks(5): a 4xx to the end of DATA for one test's subject, until that test
    # removes the rule (a rule added later would race with cleanup(8) processes already up).
    (workdir / "header_checks").write_text(f"/^Subject: {DEFER_SUBJECT}/ REJECT 4.7.1 come back later\n")
    peer = postfix_peer.PostfixPeer(workdir, users=REMOTE_USERS, domain=REMOTE_DOMAIN,
                                    hostname=f"mx.{REMOTE_DOMAIN}", syslog_name="postfix-e2e-mx",
                                    extra={"smtpd_discard_ehlo_keywords": "8bitmime, smtputf8, dsn",
                                           "header_checks": f"regexp:{workdir / 'header_checks'}"},
                                    extra_listeners={"127.0.0.2": ["-o", "smtpd_discard_ehlo_keywords="]},
                                    extra_mailboxes={f"a@{EIGHT_BIT_DOMAIN}": "pf8-a/"})
    with peer:
        yield peer


@pytest.fixture(scope="module")
def dkim_key(tmp_path_factory):
    """An RSA key for example.test (selector "pl") and its DNS TXT record."""
    return new_dkim_key(tmp_path_factory.mktemp("dkim"))


@pytest.fixture(scope="module")
def platform(fresh_platform_factory, dns, postfix_mx, dkim_key):
    p = fresh_platform_factory({
        "POSTLINE_QUEUE_DKIM_KEYS": f"example.test:pl:{dkim_key[0]}",
        "POSTLINE_DNS_SERVERS": dns,
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(postfix_mx.port),
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        "POSTLINE_QUEUE_CONNECT_TIMEOUT": "5s",
        "POSTLINE_QUEUE_COMMAND_TIMEOUT": "20s",
        # Two recipients per claim: a four-recipient message used to be cut in two here.
        "POSTLINE_QUEUE_BATCH_SIZE": "2",
    })
    p.add_user(SENDER, PASSWORD)
    for u in LOCAL_USERS:
        p.add_user(u, PASSWORD)
    return p


@pytest.fixture(scope="module")
def postfix_client(platform):
    """Postfix as a sending client: everything it gets goes to Postline's MX port."""
    workdir = new_workdir("postline-postfix-client-")
    peer = postfix_peer.PostfixPeer(workdir, users=(), hostname="client.bench.test", syslog_name="postfix-e2e-client",
                                    extra={
                                        "relayhost": f"[127.0.0.1]:{platform.ports['smtp_mx']}",
                                        "default_transport": "smtp",
                                        "relay_transport": "smtp",
                                        "smtp_tls_security_level": "may",
                                        "smtp_helo_name": "client.bench.test",
                                        # Postfix itself breaks lines over 998 octets when it sends
                                        # (CRLF SPACE inserted); off, so the MX sees what others send.
                                        "smtp_line_length_limit": "0",
                                    })
    with peer:
        yield peer


# --- helpers -----------------------------------------------------------------------------

def submit(platform, rcpts: list[str], data: bytes) -> None:
    """Port 587, STARTTLS, AUTH - as a mail client would."""
    queue_support.submit(platform, SENDER, PASSWORD, rcpts, data)


def message(subject: str, rcpts: list[str], body: str = "", extra_headers: str = "") -> tuple[str, bytes]:
    mid = f"{uuid.uuid4().hex}@example.test"
    text = (f"From: {SENDER}\r\nTo: {', '.join(rcpts)}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
            f"{extra_headers}\r\n{body or 'body of ' + subject + chr(13) + chr(10)}")
    return mid, text.encode()


def queue_id_by_message_id(platform, mid: str) -> str:
    [row] = queue_json(platform, "list", "--message-id", mid, "--state", "delivered") or [None]
    return row["queue_id"]


def inbox(platform, user: str) -> list[bytes]:
    return queue_support.inbox(platform, user, PASSWORD)


def with_message_id(messages: list[bytes], mid: str) -> list[bytes]:
    return [m for m in messages if f"<{mid}>".encode() in m]


# --- item 4: one transaction per message and destination ------------------------------

def test_four_recipients_arrive_in_one_transaction_on_first_try(platform, postfix_mx):
    rcpts = [f"{u}@{REMOTE_DOMAIN}" for u in REMOTE_USERS]
    mid, data = message("four at once", rcpts)
    submit(platform, rcpts, data)
    wait_until(lambda: all(with_message_id(postfix_mx.received(u), mid) for u in REMOTE_USERS), timeout=60,
               what="the message in all four Maildirs")
    transactions = postfix_mx.logged_transactions(mid, rcpts)
    assert len(transactions) == 1, (transactions, postfix_mx.log_tail())
    assert sorted(next(iter(transactions.values()))) == sorted(rcpts)


def test_four_recipients_retry_together_after_an_outage(platform, postfix_mx):
    rcpts = [f"{u}@{REMOTE_DOMAIN}" for u in REMOTE_USERS]
    mid, data = message("four after an outage", rcpts)
    postfix_mx.stop()
    try:
        submit(platform, rcpts, data)

        def deferred_twice():
            rows = queue_json(platform, "list", "--message-id", mid)
            if not rows:
                return None
            shown = queue_json(platform, "show", rows[0]["queue_id"])
            rs = shown["recipients"]
            return shown if len(rs) == 4 and all(r["state"] == "deferred" and r["attempts"] >= 2 for r in rs) else None
        shown = wait_until(deferred_twice, timeout=60, what="all four deferred twice while the MX is down")
        # One retry time for the transaction's recipients, and every attempt made together.
        assert len({r["next_attempt"] for r in shown["recipients"]}) == 1, shown["recipients"]
        times = [[a["time"] for a in r["history"]][:2] for r in shown["recipients"]]
        assert all(t == times[0] for t in times), times
        assert all(a["destination"] == f"mx.{REMOTE_DOMAIN}" and not a["remote_reply"]
                   for r in shown["recipients"] for a in r["history"]), shown["recipients"]
    finally:
        postfix_mx.restart()
    wait_until(lambda: all(with_message_id(postfix_mx.received(u), mid) for u in REMOTE_USERS), timeout=60,
               what="the message in all four Maildirs after the outage")
    transactions = postfix_mx.logged_transactions(mid, rcpts)
    assert len(transactions) == 1, (transactions, postfix_mx.log_tail())
    assert sorted(next(iter(transactions.values()))) == sorted(rcpts)


def test_four_recipients_retry_together_after_a_4xx_to_the_transaction(platform, postfix_mx):
    """Postfix answers the end of DATA with 4xx (header_checks REJECT with 4.7.1) until the
    rule is gone: the four are
    deferred together and delivered together in one transaction on the retry."""
    rcpts = [f"{u}@{REMOTE_DOMAIN}" for u in REMOTE_USERS]
    mid, data = message(DEFER_SUBJECT, rcpts)
    rules = postfix_mx.dir / "header_checks"
    try:
        submit(platform, rcpts, data)

        def deferred_by_postfix():
            rows = queue_json(platform, "list", "--message-id", mid)
            if not rows:
                return None
            rs = queue_json(platform, "show", rows[0]["queue_id"])["recipients"]
            return rs if len(rs) == 4 and all(r["state"] == "deferred" for r in rs) else None
        rs = wait_until(deferred_by_postfix, timeout=60, interval=0.02, what="the four deferred by Postfix's 4xx")
        assert len({r["next_attempt"] for r in rs}) == 1, rs
        for r in rs:
            last = r["history"][-1]
            assert last["reply"].startswith("4") and "come back later" in last["reply"], last
            assert last["remote_reply"] is True, last
    finally:
        rules.write_text("")
        postfix_mx.reload()
    wait_until(lambda: all(with_message_id(postfix_mx.received(u), mid) for u in REMOTE_USERS), timeout=60,
               what="the message in all four Maildirs after the 4xx")
    delivered = {q: r for q, r in postfix_mx.logged_transactions(mid, rcpts).items() if r}
    assert len(delivered) == 1, (postfix_mx.transactions(mid), postfix_mx.log_tail())
    assert sorted(next(iter(delivered.values()))) == sorted(rcpts)
    for u in REMOTE_USERS:
        assert len(with_message_id(postfix_mx.received(u), mid)) == 1, u


def test_postfix_relays_four_recipients_into_postline_as_one_message(platform, postfix_client):
    mid, data = message("four from postfix", LOCAL_USERS)
    postfix_client.sendmail("someone@bench.test", LOCAL_USERS, data)
    wait_until(lambda: all(with_message_id(inbox(platform, u), mid) for u in LOCAL_USERS), timeout=60,
               what="the relayed message in all four INBOXes")
    for u in LOCAL_USERS:
        [got] = with_message_id(inbox(platform, u), mid)
        assert got.endswith(data.split(b"\r\n\r\n", 1)[1]), got
    # One relayed transaction at Postfix, one message in Postline's queue.
    [sent] = postfix_client.logged_transactions(mid, LOCAL_USERS).values()
    assert sorted(sent) == sorted(LOCAL_USERS)
    rows = platform.psql(
        "SELECT count(DISTINCT m.id) FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id"
        f" WHERE m.header_message_id = '{mid}'").split()  # stored without <>
    assert rows == ["1"], rows



def test_postfix_retries_four_recipients_into_postline_after_an_outage(platform, postfix_client):
    """Postline's smtpd is down when Postfix tries: Postfix defers, and after smtpd is back
    (and `postqueue -f`) the four recipients arrive together, once each."""
    mid, data = message("four from postfix after an outage", LOCAL_USERS)
    platform.stop("smtpd")
    try:
        postfix_client.sendmail("someone@bench.test", LOCAL_USERS, data)
        wait_until(lambda: "status=deferred" in postfix_client.log_text()
                   and any(mid in line for line in postfix_client.log_text().splitlines()), timeout=60,
                   what="Postfix deferring the message while Postline's MX is down")
    finally:
        platform.start("smtpd")
    postfix_client.flush()
    wait_until(lambda: all(with_message_id(inbox(platform, u), mid) for u in LOCAL_USERS), timeout=60,
               what="the relayed message in all four INBOXes after the outage")
    for u in LOCAL_USERS:
        assert len(with_message_id(inbox(platform, u), mid)) == 1, u
    [sent] = postfix_client.logged_transactions(mid, LOCAL_USERS).values()
    assert sorted(sent) == sorted(LOCAL_USERS)
    rows = platform.psql(f"SELECT count(*) FROM queue_messages WHERE header_message_id = '{mid}'").split()
    assert rows == ["1"], rows


def test_postfix_relays_long_lines_into_postlines_mx_unchanged(platform, postfix_client):
    """The MX keeps accepting what other MTAs send: a 1,500-octet line arrives as it was."""
    mid, data = message("long line from postfix", [LOCAL_USERS[1]], body="z" * 1500 + "\r\nend\r\n")
    postfix_client.sendmail("someone@bench.test", [LOCAL_USERS[1]], data)
    [got] = wait_until(lambda: with_message_id(inbox(platform, LOCAL_USERS[1]), mid), timeout=60,
                       what="the long-line message in the INBOX")
    assert got.endswith(b"z" * 1500 + b"\r\nend\r\n")

# --- items 3 and 5: a local decision is reported as ours ------------------------------

def reports(platform, marker: str) -> list[email.message.EmailMessage]:
    out = []
    for raw in inbox(platform, SENDER):
        m = email.message_from_bytes(raw, policy=policy.default)
        if m.get_content_type() == "multipart/report" and marker in raw.decode("utf-8", "replace"):
            out.append(m)
    return out


def report_parts(report: email.message.EmailMessage) -> tuple[str, str]:
    """(the human-readable text, the message/delivery-status part) of a DSN."""
    parts = list(report.iter_parts())
    assert parts[1].get_content_type() in ("message/delivery-status", "message/global-delivery-status")
    return parts[0].get_content(), parts[1].as_string()


def test_smtputf8_refusal_is_reported_as_a_local_decision(platform, postfix_mx):
    """Postfix does not offer SMTPUTF8: queued decides 553 5.6.7 after EHLO, before any
    MAIL. The DSN must not put that in the remote's mouth (RFC 3464 2.3.5, 2.3.6)."""
    rcpt = f"j\u00fcrgen@{REMOTE_DOMAIN}"
    mid = f"{uuid.uuid4().hex}@example.test"
    data = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: utf8 envelope\r\nMessage-ID: <{mid}>\r\n\r\nhi\r\n").encode()
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=30) as smtp:
        smtp.ehlo("client.example.test")
        smtp.starttls(context=ctx)
        smtp.ehlo("client.example.test")
        smtp.login(SENDER, PASSWORD)
        smtp.sendmail(SENDER, [rcpt], data, mail_options=["SMTPUTF8"])
    [report] = wait_until(lambda: reports(platform, mid), timeout=60, what="the DSN for the SMTPUTF8 message")
    text, status = report_parts(report)
    assert f"decided by Postline at mail.example.test, while connected to host mx.{REMOTE_DOMAIN}" in text, text
    assert "said:" not in text, text
    assert "Status: 5.6.7" in status, status
    assert "Remote-MTA" not in status, status
    assert "Diagnostic-Code: smtp;" not in status, status
    assert "Diagnostic-Code: X-Postline; 553 5.6.7" in status, status
    assert mid not in postfix_mx.log_text(), "the remote never saw the message"
    # postline queue show: our decision while connected, not "local".
    [row] = queue_json(platform, "list", "--message-id", mid, "--state", "bounced")
    [r] = queue_json(platform, "show", row["queue_id"])["recipients"]
    [attempt] = r["history"]
    assert attempt["destination"] == f"mx.{REMOTE_DOMAIN}" and attempt["remote_reply"] is False, attempt
    shown = platform.cli("queue", "show", row["queue_id"]).stdout
    assert f"mx.{REMOTE_DOMAIN} [local decision]" in shown, shown


def test_a_remote_refusal_is_reported_as_the_remotes(platform, postfix_mx):
    """The counterpart: Postfix itself refuses an unknown user (550 5.1.1)."""
    rcpt = f"nobody@{REMOTE_DOMAIN}"
    mid, data = message("to an unknown remote user", [rcpt])
    submit(platform, [rcpt], data)
    [report] = wait_until(lambda: reports(platform, mid), timeout=60, what="the DSN for the refused recipient")
    text, status = report_parts(report)
    assert f"host mx.{REMOTE_DOMAIN} said: 550 5.1.1" in text, text
    assert "decided by Postline" not in text, text
    assert f"Remote-MTA: dns; mx.{REMOTE_DOMAIN}" in status, status
    assert "Diagnostic-Code: smtp; 550 5.1.1" in status, status


# --- item 1: 8-bit data to a server without 8BITMIME ------------------------------------

TEXT_8BIT = "Gr\u00fc\u00dfe aus K\u00f6ln, caf\u00e9 \u2013 na\u00efve \u00e9t\u00e9\r\nzweite Zeile = gleich\r\n"
BLOB_8BIT = bytes(range(0x80, 0x100)) * 4  # no CR/LF: legal in an 8bit part


def submit_8bit(platform, rcpts: list[str], data: bytes) -> None:
    queue_support.submit(platform, SENDER, PASSWORD, rcpts, data, mail_options=["BODY=8BITMIME"])


def eight_bit_multipart(mid: str, rcpt: str, subject: str) -> bytes:
    return (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n"
            "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"=-b-=\"\r\n\r\n"
            "--=-b-=\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n").encode() \
        + TEXT_8BIT.encode() \
        + (b"--=-b-=\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: 8bit\r\n\r\n") \
        + BLOB_8BIT + b"\r\n--=-b-=--\r\n"


def crlf(data: bytes) -> bytes:
    """virtual(8) stores Maildir files with LF line ends; what was sent had CRLF."""
    return data.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")


def dkim_verifies(data: bytes, dkim_key) -> bool:
    dkim = pytest.importorskip("dkim", reason="python3-dkim (Debian) verifies the signature independently")
    txt = dkim_key[1].encode()

    def dnsfunc(name, timeout=5):
        return txt if name in (b"pl._domainkey.example.test.", "pl._domainkey.example.test.") else None
    return bool(dkim.verify(data, dnsfunc=dnsfunc))


def test_eight_bit_to_a_seven_bit_postfix_arrives_converted_and_verifies(platform, postfix_mx, dkim_key):
    rcpt = f"a@{REMOTE_DOMAIN}"
    mid = f"{uuid.uuid4().hex}@example.test"
    submit_8bit(platform, [rcpt], eight_bit_multipart(mid, rcpt, "eight bit to seven"))
    [got] = wait_until(lambda: with_message_id(postfix_mx.received("a"), mid), timeout=60,
                       what="the converted message in a@'s Maildir")
    got = crlf(got)
    assert all(b < 0x80 for b in got), "8-bit octets reached a server without 8BITMIME"
    assert dkim_verifies(got, dkim_key), got[:600]
    parsed = email.message_from_bytes(got, policy=policy.default)
    text, blob = list(parsed.iter_parts())
    assert text["Content-Transfer-Encoding"] == "quoted-printable"
    # (The CRLF before the next boundary belongs to the delimiter, not to the part.)
    assert text.get_content().replace("\r\n", "\n") == TEXT_8BIT.replace("\r\n", "\n").rstrip("\n")
    assert blob["Content-Transfer-Encoding"] == "base64"
    assert blob.get_content() == BLOB_8BIT
    # The message as queued is still the 8-bit original: the conversion is per next hop.
    [row] = queue_json(platform, "list", "--message-id", mid, "--state", "delivered")
    stored = subprocess.run([str(platform.bin / "postline"), "queue", "view", row["queue_id"], "--body"],
                            capture_output=True, env=platform.process_env(), check=True).stdout
    assert BLOB_8BIT in stored


def test_eight_bit_to_an_eight_bit_postfix_goes_as_it_is(platform, postfix_mx, dkim_key):
    """The conversion is per next hop: where 8BITMIME is offered the original goes out."""
    rcpt = f"a@{EIGHT_BIT_DOMAIN}"
    mid = f"{uuid.uuid4().hex}@example.test"
    data = eight_bit_multipart(mid, rcpt, "eight bit to eight")
    submit_8bit(platform, [rcpt], data)
    [got] = wait_until(lambda: with_message_id(postfix_mx.received("pf8-a"), mid), timeout=60,
                       what="the message in the 8BITMIME MX's Maildir")
    got = crlf(got)
    assert got.endswith(data.split(b"\r\n\r\n", 1)[1]), got[-300:]
    assert BLOB_8BIT in got and b"quoted-printable" not in got
    assert dkim_verifies(got, dkim_key)


def test_eight_bit_header_without_smtputf8_bounces_as_our_decision(platform, postfix_mx):
    rcpt = f"b@{REMOTE_DOMAIN}"
    mid = f"{uuid.uuid4().hex}@example.test"
    data = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: Gr\u00fc\u00dfe im Betreff\r\nMessage-ID: <{mid}>\r\n\r\n"
            "K\u00f6ln\r\n").encode()
    submit_8bit(platform, [rcpt], data)
    [report] = wait_until(lambda: reports(platform, mid), timeout=60, what="the 5.6.3 DSN")
    text, status = report_parts(report)
    assert "Status: 5.6.3" in status, status
    assert "Remote-MTA" not in status and "Diagnostic-Code: smtp;" not in status, status
    assert "Diagnostic-Code: X-Postline; 554 5.6.3" in status, status
    assert "decided by Postline at mail.example.test" in text and "8BITMIME" in text, text
    assert "header" in text, text
    assert mid not in postfix_mx.log_text(), "nothing of it may reach the 7-bit server"


def test_postfix_relays_eight_bit_into_postline_unchanged(platform, postfix_client):
    """Postline's MX offers 8BITMIME: Postfix sends BODY=8BITMIME and the body arrives as sent."""
    mid = f"{uuid.uuid4().hex}@example.test"
    data = eight_bit_multipart(mid, LOCAL_USERS[0], "eight bit from postfix")
    postfix_client.sendmail("someone@bench.test", [LOCAL_USERS[0]], data)
    [got] = wait_until(lambda: with_message_id(inbox(platform, LOCAL_USERS[0]), mid), timeout=60,
                       what="the 8-bit message in the INBOX")
    assert got.endswith(data.split(b"\r\n\r\n", 1)[1]), got[-400:]
    assert BLOB_8BIT in got


# --- item 2: lines over 998 octets -------------------------------------------------------

def test_submission_refuses_a_line_over_998_octets_naming_it(platform):
    rcpt = f"c@{REMOTE_DOMAIN}"
    mid, data = message("too long", [rcpt], body="short\r\n" + "x" * 1500 + "\r\n")
    with pytest.raises(smtplib.SMTPDataError) as refused:
        submit(platform, [rcpt], data)
    assert refused.value.smtp_code == 550, refused.value
    text = refused.value.smtp_error.decode()
    assert text.startswith("5.6.0 Line 7 of the message is longer than 998 octets"), text
    assert queue_json(platform, "list", "--message-id", mid) == []
    # 998 octets is fine.
    mid, data = message("just fits", [rcpt], body="y" * 998 + "\r\n")
    submit(platform, [rcpt], data)
    assert queue_json(platform, "list", "--message-id", mid, "--state", "delivered") or \
        wait_until(lambda: queue_json(platform, "list", "--message-id", mid, "--state", "delivered"), timeout=60,
                   what="the 998-octet line delivered")


def mx_send(platform, mail_from: str, rcpts: list[str], data: bytes) -> None:
    """Another MTA delivering to Postline's MX (no AUTH)."""
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("other-mta.outside.test")
        smtp.sendmail(mail_from, rcpts, data)


def test_long_lines_accepted_on_the_mx_are_re_encoded_when_relayed(platform, postfix_mx, dkim_key):
    """An alias at example.test forwards to pf.test: the MX takes the long lines (other
    MTAs send them), queued re-encodes them before signing and sending."""
    platform.cli("alias", "add", "fwd-long@example.test", f"c@{REMOTE_DOMAIN}")
    long_text = ("a" * 1500 + "\r\n" + "b" * 3000 + " end\r\nlast\r\n")
    mid = f"{uuid.uuid4().hex}@example.test"
    data = (f"From: {SENDER}\r\nTo: fwd-long@example.test\r\nSubject: long lines via the MX\r\n"
            f"Message-ID: <{mid}>\r\nDate: {email.utils.formatdate()}\r\n"
            # (without a Date: Postfix would add one, and the signature covers Date: as absent)
            "MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n"
            + long_text).encode()
    mx_send(platform, "friend@outside.test", ["fwd-long@example.test"], data)
    [got] = wait_until(lambda: with_message_id(postfix_mx.received("c"), mid), timeout=60,
                       what="the relayed message in c@'s Maildir")
    got = crlf(got)
    assert max(len(line) for line in got.split(b"\r\n")) <= 998
    parsed = email.message_from_bytes(got, policy=policy.default)
    assert parsed["Content-Transfer-Encoding"] == "quoted-printable"
    assert parsed.get_content().replace("\r\n", "\n") == long_text.replace("\r\n", "\n")
    assert dkim_verifies(got, dkim_key), "signed after the re-encoding"


def test_a_long_header_line_that_cannot_be_re_encoded_bounces_as_our_decision(platform, postfix_mx):
    platform.cli("alias", "add", "fwd-hdr@example.test", f"d@{REMOTE_DOMAIN}")
    mid = f"{uuid.uuid4().hex}@example.test"
    data = (f"From: friend@outside.test\r\nTo: fwd-hdr@example.test\r\nSubject: {'s' * 1200}\r\n"
            f"Message-ID: <{mid}>\r\n\r\nbody\r\n").encode()
    mx_send(platform, "friend@outside.test", ["fwd-hdr@example.test"], data)
    rows = wait_until(lambda: queue_json(platform, "list", "--message-id", mid, "--state", "bounced"), timeout=60,
                      what="the relayed copy bounced")
    [r] = queue_json(platform, "show", rows[0]["queue_id"])["recipients"]
    assert r["address"] == f"d@{REMOTE_DOMAIN}"
    [attempt] = r["history"]
    assert attempt["reply"].startswith("554 5.6.3 the message has lines longer than 998 octets"), attempt
    assert "header line" in attempt["reply"], attempt
    assert attempt["remote_reply"] is False and attempt["destination"] == REMOTE_DOMAIN, attempt
    shown = platform.cli("queue", "show", rows[0]["queue_id"]).stdout
    assert f"{REMOTE_DOMAIN} [local decision (no host reached)]" in shown, shown
    assert mid not in postfix_mx.log_text()
