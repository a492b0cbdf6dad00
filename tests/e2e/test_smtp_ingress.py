"""postline-smtpd through real sockets (issue 3): listeners and policy, every
extension with smtplib, swaks and a byte-exact client, smuggling and STARTTLS
injection, and the metrics that record them."""
from __future__ import annotations

import base64
import hashlib
import hmac
import os
import signal
import smtplib
import ssl
import subprocess
import uuid

import pytest

from platform_support import wait_until
from smtp_client import RawSmtp
from smtp_support import (ALICE, BOB, PASSWORD, REMOTE, add_accounts, delivered_count, metric, queued_message,
                          queued_recipients,
                          start_without_imapd, stored_bodies, tls_context, wait_delivered)


@pytest.fixture(scope="module")
def plat(fresh_platform_factory):
    # A short Enqueue retry window: test_queue_down_gives_451_4_3_0 waits it out
    # (the 30 s default would race the client's 30 s read timeout).
    p = start_without_imapd(fresh_platform_factory, {"POSTLINE_SMTP_ENQUEUE_RETRY_WINDOW": "3s"})
    add_accounts(p)
    return p


def marker() -> str:
    return "m" + uuid.uuid4().hex[:16]


def simple_message(mark: str, extra_headers: str = "") -> str:
    return (f"From: Bob <bob@remote.test>\r\nTo: {ALICE}\r\nSubject: {mark}\r\n{extra_headers}\r\n"
            f"Hello {mark}\r\n.leading dot\r\n")


def mx(plat) -> int:
    return plat.ports["smtp_mx"]


def submit_login(plat, user=ALICE, password=PASSWORD) -> smtplib.SMTP:
    s = smtplib.SMTP("127.0.0.1", plat.ports["smtp_submission"], timeout=30)
    s.ehlo("client.example.test")
    s.starttls(context=tls_context(plat))
    s.ehlo("client.example.test")
    s.login(user, password)
    return s


# ---------------------------------------------------------------- listeners

def test_listeners_advertise_exactly_what_is_usable(plat):
    with smtplib.SMTP("127.0.0.1", mx(plat), timeout=30) as s:
        s.ehlo("client.remote.test")
        for ext in ("pipelining", "size", "8bitmime", "smtputf8", "enhancedstatuscodes", "starttls", "chunking",
                    "dsn"):
            assert s.has_extn(ext), ext
        assert not s.has_extn("auth")
        assert s.esmtp_features["size"] == str(50 * 1024 * 1024)

    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_submission"], timeout=30) as s:
        s.ehlo("client.example.test")
        assert s.has_extn("starttls") and not s.has_extn("auth")
        s.starttls(context=tls_context(plat))
        s.ehlo("client.example.test")
        assert not s.has_extn("starttls")
        assert s.esmtp_features["auth"].split() == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]

    with smtplib.SMTP_SSL("127.0.0.1", plat.ports["smtp_submissions"], timeout=30,
                          context=tls_context(plat)) as s:
        s.ehlo("client.example.test")
        assert not s.has_extn("starttls")
        assert "PLAIN" in s.esmtp_features["auth"]


def test_mx_delivers_locally_with_received_header(plat):
    m = marker()
    before = metric(plat, "postline_smtpd_messages_accepted_total")
    with smtplib.SMTP("127.0.0.1", mx(plat), timeout=30) as s:
        s.ehlo("client.remote.test")
        s.sendmail("bob@remote.test", [ALICE], simple_message(m))
    body = wait_delivered(plat, m)[0]
    # queued adds Return-Path at final delivery; ours is the first Received.
    if body.startswith(b"Return-Path:"):
        body = body.split(b"\r\n", 1)[1]
    assert body.startswith(b"Received: from client.remote.test ([127.0.0.1])\r\n\tby mx.example.test (Postline) "
                           b"with ESMTP id "), body[:200]
    assert f"\tfor <{ALICE}>;".encode() in body
    assert body.endswith(f"Hello {m}\r\n.leading dot\r\n".encode())
    assert b"Message-ID" not in body  # only submission adds one
    assert metric(plat, "postline_smtpd_messages_accepted_total") == before + 1


def test_mx_refuses_relay_and_unknown_users(plat):
    before_550 = metric(plat, "postline_smtpd_replies_total", {"code": "550"})
    before_relay = metric(plat, "postline_smtpd_messages_rejected_total", {"reason": "relay_denied"})
    with smtplib.SMTP("127.0.0.1", mx(plat), timeout=30) as s:
        s.ehlo("client.remote.test")
        assert s.mail("bob@remote.test")[0] == 250
        code, text = s.rcpt("nobody@example.test")
        assert (code, text[:5]) == (550, b"5.1.1")
        code, text = s.rcpt(REMOTE)
        assert (code, text[:5]) == (554, b"5.7.1")
    assert metric(plat, "postline_smtpd_replies_total", {"code": "550"}) == before_550 + 1
    assert metric(plat, "postline_smtpd_messages_rejected_total", {"reason": "relay_denied"}) == before_relay + 1


def test_plus_addressing_and_aliases_resolved_by_authd(plat):
    m = marker()
    with smtplib.SMTP("127.0.0.1", mx(plat), timeout=30) as s:
        s.ehlo("client.remote.test")
        s.sendmail("bob@remote.test", ["alice+news@example.test"], simple_message(m))
    wait_until(lambda: delivered_count(plat, m) == 1, what="plus-addressed delivery")
    plat.cli("alias", "add", "team@example.test", ALICE, BOB)
    m2 = marker()
    with smtplib.SMTP("127.0.0.1", mx(plat), timeout=30) as s:
        s.ehlo("client.remote.test")
        # The alias and one of its members: each mailbox gets the message once.
        s.sendmail("bob@remote.test", ["team@example.test", ALICE], simple_message(m2))
    wait_until(lambda: delivered_count(plat, m2) == 2, what="alias delivery to both members")
    assert delivered_count(plat, m2) == 2


RELAY_TRICKS = [
    "<dave@remote.test>",
    "<dave%remote.test@example.test>",
    "<remote.test!dave@example.test>",
    "<\"dave@remote.test\"@example.test>",
    "<\"dave%remote.test\"@example.test>",
    "<@example.test:dave@remote.test>",
    "<@example.test,@relay.test:dave@remote.test>",
    "<dave@remote.test@example.test>",
    "<dave>",
    "<dave@[127.0.0.1]>",
    "<dave@remote.test.>",
    "<dave@example.test@remote.test>",
    "<alice@example.test> <dave@remote.test>",
    "<dave@remote.test%example.test>",
]


@pytest.mark.parametrize("trick", RELAY_TRICKS)
def test_open_relay_tricks_are_refused(plat, trick):
    with RawSmtp(mx(plat)) as c:
        assert c.cmd("EHLO client.remote.test").code == 250
        assert c.cmd("MAIL FROM:<bob@remote.test>").code == 250
        r = c.cmd("RCPT TO:" + trick)
        assert 500 <= r.code < 600, (trick, r)
        assert c.cmd("DATA").code == 554


def test_vrfy_expn_help(plat):
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO client.remote.test")
        r = c.cmd(f"VRFY {ALICE}")
        assert (r.code, r.enhanced) == (252, "2.5.0")
        r2 = c.cmd("VRFY nobody@example.test")
        assert r2.code == 252 and r2.lines == r.lines  # no user enumeration
        assert c.cmd("EXPN staff").code == 502
        assert c.cmd("HELP").code == 214


def test_bad_commands_get_enhanced_codes_and_long_lines_are_refused(plat):
    with RawSmtp(mx(plat)) as c:
        r = c.cmd("FOO")
        assert (r.code, r.enhanced) == (500, "5.5.1")
        r = c.cmd("MAIL FROM:<a@b.test>")
        assert (r.code, r.enhanced) == (503, "5.5.1")
        c.cmd("EHLO client.remote.test")
        r = c.cmd("MAIL FROM:missing-brackets@b.test")
        assert (r.code, r.enhanced) == (501, "5.1.7")
        r = c.cmd("NOOP " + "x" * 5000)
        assert (r.code, r.enhanced) == (500, "5.5.2")
        assert c.cmd("NOOP").code == 250  # still in step


# ---------------------------------------------------------------- submission

def test_submission_requires_tls_and_auth(plat):
    with RawSmtp(plat.ports["smtp_submission"]) as c:
        c.cmd("EHLO client.example.test")
        r = c.cmd("AUTH PLAIN AGFsaWNlQGV4YW1wbGUudGVzdABjb3JyZWN0")
        assert (r.code, r.enhanced) == (530, "5.7.0")
        r = c.cmd(f"MAIL FROM:<{ALICE}>")
        assert (r.code, r.enhanced) == (530, "5.7.0")
        assert c.starttls(tls_context(plat)).code == 220
        c.cmd("EHLO client.example.test")
        r = c.cmd(f"MAIL FROM:<{ALICE}>")
        assert (r.code, r.enhanced) == (530, "5.7.0")


def test_auth_plain_and_login_good_and_bad(plat):
    ok_before = metric(plat, "postline_smtpd_auth_total", {"mechanism": "PLAIN", "outcome": "ok"})
    fail_before = metric(plat, "postline_smtpd_auth_total", {"mechanism": "LOGIN", "outcome": "failed"})
    tls_before = metric(plat, "postline_smtpd_tls_handshakes_total", {"outcome": "success"})
    s = submit_login(plat)  # smtplib picks PLAIN
    s.quit()
    for mech in ("PLAIN", "LOGIN"):
        with smtplib.SMTP("127.0.0.1", plat.ports["smtp_submission"], timeout=30) as s:
            s.ehlo("c")
            s.starttls(context=tls_context(plat))
            s.ehlo("c")
            s.user, s.password = ALICE, PASSWORD
            auth = s.auth_plain if mech == "PLAIN" else s.auth_login
            code, _ = s.auth(mech, auth, initial_response_ok=(mech == "PLAIN"))
            assert code == 235
        with smtplib.SMTP("127.0.0.1", plat.ports["smtp_submission"], timeout=30) as s:
            s.ehlo("c")
            s.starttls(context=tls_context(plat))
            s.ehlo("c")
            s.user, s.password = ALICE, "wrong"
            auth = s.auth_plain if mech == "PLAIN" else s.auth_login
            with pytest.raises(smtplib.SMTPAuthenticationError) as err:
                s.auth(mech, auth)
            assert err.value.smtp_code == 535 and err.value.smtp_error.startswith(b"5.7.8")
    assert metric(plat, "postline_smtpd_auth_total", {"mechanism": "PLAIN", "outcome": "ok"}) == ok_before + 2
    assert metric(plat, "postline_smtpd_auth_total", {"mechanism": "LOGIN", "outcome": "failed"}) == fail_before + 1
    assert metric(plat, "postline_smtpd_tls_handshakes_total", {"outcome": "success"}) >= tls_before + 5


def scram_sha256(c: RawSmtp, user: str, password: str, initial: bool):
    """A SCRAM-SHA-256 client (RFC 5802/7677) over AUTH; returns the final reply."""
    b64 = lambda b: base64.b64encode(b if isinstance(b, bytes) else b.encode()).decode()
    nonce = b64(os.urandom(18))
    first_bare = f"n={user.replace('=', '=3D').replace(',', '=2C')},r={nonce}"
    if initial:
        r = c.cmd("AUTH SCRAM-SHA-256 " + b64("n,," + first_bare))
    else:
        r = c.cmd("AUTH SCRAM-SHA-256")
        assert r.code == 334 and r.lines == [""], r
        r = c.cmd(b64("n,," + first_bare))
    assert r.code == 334, r
    server_first = base64.b64decode(r.lines[0]).decode()
    attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
    assert attrs["r"].startswith(nonce)
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(attrs["s"]), int(attrs["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = f"c=biws,r={attrs['r']}"
    auth_message = f"{first_bare},{server_first},{without_proof}".encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    r = c.cmd(b64(f"{without_proof},p={b64(proof)}"))
    if r.code != 334:
        return r
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = "v=" + b64(hmac.new(server_key, auth_message, hashlib.sha256).digest())
    assert base64.b64decode(r.lines[0]).decode() == expected  # the server knows the password too
    return c.cmd("")


@pytest.mark.parametrize("initial", [True, False])
def test_auth_scram_sha256_through_authd(plat, initial):
    before = metric(plat, "postline_smtpd_auth_total", {"mechanism": "SCRAM-SHA-256", "outcome": "ok"})
    with RawSmtp(plat.ports["smtp_submission"]) as c:
        c.cmd("EHLO c")
        c.starttls(tls_context(plat))
        c.cmd("EHLO c")
        r = scram_sha256(c, ALICE, PASSWORD, initial)
        assert (r.code, r.enhanced) == (235, "2.7.0"), r
        assert c.cmd(f"MAIL FROM:<{ALICE}>").code == 250
    with RawSmtp(plat.ports["smtp_submission"]) as c:
        c.cmd("EHLO c")
        c.starttls(tls_context(plat))
        c.cmd("EHLO c")
        r = scram_sha256(c, ALICE, "not the password", initial)
        assert (r.code, r.enhanced) == (535, "5.7.8"), r
    assert metric(plat, "postline_smtpd_auth_total", {"mechanism": "SCRAM-SHA-256", "outcome": "ok"}) == before + 1


def test_authenticated_relay_with_dsn_round_trip_and_submission_headers(plat):
    m = marker()
    with submit_login(plat) as s:
        s.ehlo("client.example.test")
        resp = s.sendmail(ALICE, [REMOTE], f"Subject: {m}\r\n\r\nbody\r\n",
                          mail_options=["RET=HDRS", "ENVID=QQ+2Bx", "BODY=8BITMIME"],
                          rcpt_options=["NOTIFY=SUCCESS,DELAY", "ORCPT=rfc822;dave@remote.test"])
        assert resp == {}
        code, text = s.noop()
        assert code == 250
    # smtplib does not expose the DATA reply: find the message by its subject.
    row = wait_until(lambda: plat.psql("SELECT queue_id FROM queue_messages WHERE position(convert_to('" + m +
                                       "', 'UTF8') in body) > 0").strip(), what="queued message")
    msg = queued_message(plat, row)
    assert msg["authenticated_user"] == ALICE
    assert msg["dsn_ret"] == "HDRS" and msg["dsn_envid"] == "QQ+2Bx" and msg["body_type"] == "8BITMIME"
    rcpts = queued_recipients(plat, row)
    assert rcpts == [{"address": REMOTE, "local": False, "notify": "SUCCESS,DELAY", "orcpt": "rfc822;dave@remote.test"}]
    body = msg["body"]
    assert b"with ESMTPSA id " + row.encode() in body
    assert b"(using TLSv1." in body and f"(authenticated user {ALICE})".encode() in body
    assert b"\r\nDate: " in body and f"\r\nMessage-ID: <{row}.".encode() in body


def test_submission_sender_must_be_owned(plat):
    plat.cli("alias", "add", "sales@example.test", ALICE)
    with submit_login(plat) as s:
        code, text = s.mail(BOB)
        assert (code, text[:5]) == (553, b"5.7.1")
        s.rset()
        assert s.mail("alice+lists@example.test")[0] == 250
        s.rset()
        assert s.mail("sales@example.test")[0] == 250  # an alias that delivers to alice
        s.rset()
        code, text = s.mail("nobody@example.test")
        assert (code, text[:5]) == (553, b"5.7.1")


def test_implicit_tls_submission(plat):
    m = marker()
    with smtplib.SMTP_SSL("127.0.0.1", plat.ports["smtp_submissions"], timeout=30, context=tls_context(plat)) as s:
        s.ehlo("client.example.test")
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [BOB], f"Subject: {m}\r\nMessage-ID: <{m}@client>\r\n\r\nvia 465\r\n")
    body = wait_delivered(plat, m)[0]
    assert b"with ESMTPSA id" in body and f"\tfor <{BOB}>".encode() in body
    assert body.count(b"Message-ID") == 1


# ---------------------------------------------------------------- extensions

def test_pipelining_in_one_write(plat):
    m = marker()
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO client.remote.test")
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nRCPT TO:<nobody@example.test>\r\nDATA\r\n")
        assert [r.code for r in c.replies(4)] == [250, 250, 550, 354]
        c.send(f"Subject: {m}\r\n\r\npipelined\r\n.\r\nNOOP\r\n")
        assert [r.code for r in c.replies(2)] == [250, 250]
    wait_delivered(plat, m)


def test_bdat_chunking_delivery(plat):
    m = marker()
    part1 = f"Subject: {m}\r\n\r\n".encode()
    part2 = b"line one\r\n.\r\nnot the end\r\n"
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO client.remote.test")
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\n".encode() + b"BDAT %d\r\n" % len(part1) + part1 +
               b"BDAT %d LAST\r\n" % len(part2) + part2)
        replies = c.replies(4)
        assert [r.code for r in replies] == [250, 250, 250, 250], replies
        assert "queued as" in replies[-1].text
    body = wait_delivered(plat, m)[0]
    assert body.endswith(part1 + part2)


def test_smtputf8_and_8bitmime(plat):
    m = marker()
    with smtplib.SMTP("127.0.0.1", mx(plat), timeout=30) as s:
        s.ehlo("client.remote.test")
        msg = f"Subject: {m}\r\n\r\nGrüße, Jöran\r\n".encode()
        s.sendmail("jöran@bücher.test", [ALICE], msg, mail_options=["SMTPUTF8", "BODY=8BITMIME"])
    body = wait_delivered(plat, m)[0]
    assert "Grüße".encode() in body and b"with UTF8SMTP id" in body
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO c")
        r = c.cmd("MAIL FROM:<jöran@bücher.test>")
        assert (r.code, r.enhanced) == (553, "5.6.7")


def test_swaks_mx_and_submission(plat):
    m = marker()
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(mx(plat)), "--from", "bob@remote.test",
                          "--to", ALICE, "--header", f"Subject: {m}", "--pipeline", "--silent", "2"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    wait_delivered(plat, m)
    m2 = marker()
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(plat.ports["smtp_submission"]), "-tls",
                          "--auth", "LOGIN", "--auth-user", ALICE, "--auth-password", PASSWORD, "--from", ALICE,
                          "--to", BOB, "--header", f"Subject: {m2}", "--silent", "2"],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stdout + out.stderr
    wait_delivered(plat, m2)
    out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(plat.ports["smtp_submission"]), "-tls",
                          "--auth", "PLAIN", "--auth-user", ALICE, "--auth-password", "wrong", "--from", ALICE,
                          "--to", BOB, "--silent", "2"], capture_output=True, text=True, timeout=60)
    assert out.returncode != 0 and "535 5.7.8" in out.stdout + out.stderr


# ---------------------------------------------------------------- attacks

SMUGGLING_SEPARATORS = [b"\n.\n", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r"]


@pytest.mark.parametrize("sep", SMUGGLING_SEPARATORS, ids=lambda s: s.hex())
def test_smtp_smuggling_is_refused_and_creates_no_second_message(plat, sep):
    m, hidden = marker(), marker()
    enq_before = plat.metric_value("queued", "postline_queued_messages_enqueued_total")
    rej_before = metric(plat, "postline_smtpd_messages_rejected_total", {"reason": "bare_newline"})
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO client.remote.test")
        c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
        assert [r.code for r in c.replies(3)] == [250, 250, 354]
        c.send(f"Subject: {m}\r\n\r\nfirst".encode() + sep +
               f"MAIL FROM:<admin@example.test>\r\nRCPT TO:<{BOB}>\r\nDATA\r\nSubject: {hidden}\r\n\r\nx\r\n"
               .encode() + b"\r\n.\r\n")
        r = c.reply()
        assert (r.code, r.enhanced) == (550, "5.6.11"), r
        assert c.cmd("NOOP").code == 250  # the session is in step: nothing was interpreted as commands
    assert plat.metric_value("queued", "postline_queued_messages_enqueued_total") == enq_before
    assert metric(plat, "postline_smtpd_messages_rejected_total", {"reason": "bare_newline"}) == rej_before + 1
    assert stored_bodies(plat, m) == [] and stored_bodies(plat, hidden) == []


def test_starttls_injection_is_discarded(plat):
    before = metric(plat, "postline_smtpd_limits_hit_total", {"limit": "starttls_injection"})
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO client.remote.test")
        c.send(f"STARTTLS\r\nMAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\n")
        r = c.reply()
        assert r.code == 220
        c.sock = tls_context(plat).wrap_socket(c.sock, server_hostname="localhost")
        # The pipelined MAIL was thrown away: RCPT has no transaction to join.
        r = c.cmd(f"RCPT TO:<{ALICE}>")
        assert (r.code, r.enhanced) == (503, "5.5.1")
        assert c.cmd("EHLO client.remote.test").code == 250
    assert metric(plat, "postline_smtpd_limits_hit_total", {"limit": "starttls_injection"}) == before + 1


def test_bad_tls_handshake_is_counted(plat):
    before = metric(plat, "postline_smtpd_tls_handshakes_total", {"outcome": "failure"})
    with RawSmtp(mx(plat)) as c:
        c.cmd("EHLO c")
        assert c.cmd("STARTTLS").code == 220
        c.send(b"this is not a TLS ClientHello\r\n\r\n")
        assert c.closed_by_server()
    wait_until(lambda: metric(plat, "postline_smtpd_tls_handshakes_total", {"outcome": "failure"}) == before + 1,
               what="handshake failure metric")


def test_session_duration_and_reply_metrics(plat):
    count_before = metric(plat, "postline_smtpd_session_duration_seconds_count")
    sessions_before = metric(plat, "postline_smtpd_sessions_total", {"listener": "mx"})
    with RawSmtp(mx(plat)) as c:
        c.cmd("QUIT")
        assert c.closed_by_server()
    wait_until(lambda: metric(plat, "postline_smtpd_session_duration_seconds_count") == count_before + 1,
               what="session duration histogram")
    assert metric(plat, "postline_smtpd_sessions_total", {"listener": "mx"}) == sessions_before + 1
    assert metric(plat, "postline_smtpd_replies_total", {"code": "221"}) >= 1
    assert metric(plat, "postline_smtpd_build_info") == 1


def test_sighup_reloads_the_certificate(plat):
    before = ssl.get_server_certificate(("127.0.0.1", plat.ports["smtp_submissions"]))
    new_cert, new_key = plat.workdir / "cert2.pem", plat.workdir / "key2.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "30", "-subj",
                    "/CN=localhost", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout",
                    str(new_key), "-out", str(new_cert)], check=True, capture_output=True)
    # Replace the files in place, as certbot's deploy hook would, then SIGHUP.
    plat.key.write_bytes(new_key.read_bytes())
    plat.cert.write_bytes(new_cert.read_bytes())
    plat.procs["smtpd"].send_signal(signal.SIGHUP)
    after = wait_until(lambda: (c := ssl.get_server_certificate(("127.0.0.1", plat.ports["smtp_submissions"])))
                       != before and c, what="the new certificate on 465")
    assert after.strip() == new_cert.read_text().strip()
    with RawSmtp(plat.ports["smtp_mx"]) as c:  # STARTTLS verifies against the new file
        c.cmd("EHLO c")
        assert c.starttls(tls_context(plat)).code == 220
        assert c.cmd("EHLO c").code == 250
    assert plat.procs["smtpd"].poll() is None


# ---------------------------------------------------------------- dependencies down (last: restarts services)

def test_authd_down_gives_451_4_4_3(plat):
    plat.kill("authd")
    try:
        with RawSmtp(mx(plat)) as c:
            c.cmd("EHLO client.remote.test")
            c.cmd("MAIL FROM:<bob@remote.test>")
            # An address smtpd has not resolved lately (a recent one may be
            # answered from its recipient cache, smtp.recipient_cache_ttl).
            r = c.cmd(f"RCPT TO:<never.asked.{uuid.uuid4().hex[:8]}@{ALICE.split('@')[1]}>")
            assert (r.code, r.enhanced) == (451, "4.4.3")
        assert plat.http_status("smtpd", "/readyz") == 503
    finally:
        plat.start("authd")
    wait_until(lambda: plat.http_status("smtpd", "/readyz") == 200, what="smtpd ready again")


def test_queue_down_gives_451_4_3_0(plat):
    plat.kill("queued")
    try:
        with RawSmtp(mx(plat)) as c:
            c.cmd("EHLO client.remote.test")
            c.send(f"MAIL FROM:<bob@remote.test>\r\nRCPT TO:<{ALICE}>\r\nDATA\r\n")
            assert [r.code for r in c.replies(3)] == [250, 250, 354]
            c.send("Subject: queue down\r\n\r\nx\r\n.\r\n")
            r = c.reply()
            assert (r.code, r.enhanced) == (451, "4.3.0")
    finally:
        plat.start("queued")
