"""Logging in with accounts made by the CLI (issue 7): SMTP submission and IMAP,
PLAIN / LOGIN / SCRAM-SHA-256, main and app passwords; disabled accounts; the
audit log and login metrics. Mechanisms a protocol service does not offer yet
are skipped with a reason, never passed silently."""
from __future__ import annotations

import base64
import imaplib
import smtplib
import ssl

import pytest

from sasl_support import ScramClient

USER = "login@accounts.example"
PASSWORD = "Correct-Horse-42"


def tls_context() -> ssl.SSLContext:
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE  # the test platform's self-signed certificate
    return ctx


@pytest.fixture(scope="module")
def accounts(platform):
    platform.add_user(USER, PASSWORD)
    app = platform.cli("app-password", "add", USER, "phone").stdout.strip()
    return {"app": app}


def submission(platform, source="127.0.0.1") -> smtplib.SMTP:
    smtp = smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=30, source_address=(source, 0))
    smtp.ehlo("client.test")
    smtp.starttls(context=tls_context())
    smtp.ehlo("client.test")
    return smtp


def smtp_login(platform, user, password, mechanism="PLAIN", source="127.0.0.1"):
    """Returns the SMTP reply code of the AUTH exchange."""
    with submission(platform, source) as smtp:
        smtp.user, smtp.password = user, password
        auth = {"PLAIN": smtp.auth_plain, "LOGIN": smtp.auth_login}[mechanism]
        try:
            code, _ = smtp.auth(mechanism, auth, initial_response_ok=(mechanism == "PLAIN"))
        except smtplib.SMTPAuthenticationError as e:
            code = e.smtp_code
        return code


def smtp_scram(platform, user, password) -> int:
    with submission(platform) as smtp:
        if "SCRAM-SHA-256" not in smtp.esmtp_features.get("auth", "").upper().split():
            pytest.skip("smtpd does not advertise SCRAM-SHA-256 yet (needs authd SaslStart/SaslStep)")
        client = ScramClient(user, password)
        code, resp = smtp.docmd("AUTH", "SCRAM-SHA-256 " + base64.b64encode(client.first()).decode())
        assert code == 334, (code, resp)
        code, resp = smtp.docmd(base64.b64encode(client.final(base64.b64decode(resp))).decode())
        if code == 334:  # server-final as a challenge
            assert client.verify(base64.b64decode(resp))
            code, resp = smtp.docmd("")
        return code


# --- SMTP submission -----------------------------------------------------------
@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_submission_password(platform, accounts, mechanism):
    assert smtp_login(platform, USER, PASSWORD, mechanism) == 235
    assert smtp_login(platform, USER, "wrong", mechanism) == 535
    assert smtp_login(platform, "nobody@accounts.example", "wrong", mechanism) == 535


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smtp_submission_app_password(platform, accounts, mechanism):
    assert smtp_login(platform, USER, accounts["app"], mechanism) == 235


def test_smtp_submission_scram(platform, accounts):
    assert smtp_scram(platform, USER, PASSWORD) == 235
    assert smtp_scram(platform, USER, accounts["app"]) == 235
    assert smtp_scram(platform, USER, "wrong") == 535


# --- IMAP ----------------------------------------------------------------------
def imap(platform) -> imaplib.IMAP4:
    client = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    client.starttls(ssl_context=tls_context())
    return client


def test_imap_login_password_and_app_password(platform, accounts):
    for password in (PASSWORD, accounts["app"]):
        client = imap(platform)
        try:
            assert client.login(USER, password)[0] == "OK"
        finally:
            client.logout()
    client = imap(platform)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.login(USER, "wrong")
    finally:
        client.logout()


def test_imap_authenticate_plain(platform, accounts):
    client = imap(platform)
    try:
        typ, _ = client.authenticate("PLAIN", lambda _: f"\0{USER}\0{PASSWORD}".encode())
        assert typ == "OK"
    finally:
        client.logout()


def imap_scram(platform, user, password) -> str:
    """AUTHENTICATE SCRAM-SHA-256 through imaplib (no SASL-IR); the tagged status."""
    client = imap(platform)
    try:
        assert "AUTH=SCRAM-SHA-256" in client.capabilities
        scram = ScramClient(user, password)
        # imapd sends the server-final message as a continuation and waits for an empty answer.
        steps = iter([lambda _: scram.first(), scram.final, lambda data: b"" if scram.verify(data) else None])
        try:
            typ, _ = client.authenticate("SCRAM-SHA-256", lambda data: next(steps)(data))
        except imaplib.IMAP4.error as e:
            return str(e)
        assert next(steps, "done") == "done"  # every step was used
        return typ
    finally:
        client.logout()


def test_imap_authenticate_scram(platform, accounts):
    before = platform.metric_value("imapd", "postline_imapd_logins_total", {"outcome": "success"})
    assert imap_scram(platform, USER, accounts["app"]) == "OK"
    assert imap_scram(platform, USER, PASSWORD) == "OK"
    assert "AUTHENTICATIONFAILED" in imap_scram(platform, USER, "wrong")
    assert "AUTHENTICATIONFAILED" in imap_scram(platform, "nobody@accounts.example", "wrong")
    assert platform.metric_value("imapd", "postline_imapd_logins_total", {"outcome": "success"}) == before + 2


def test_imap_scram_login_gets_the_quota(platform, accounts):
    # SaslStepResponse carries both limits (STORAGE and MESSAGE) like Authenticate.
    user = "scramquota@accounts.example"
    platform.add_user(user, PASSWORD)
    platform.cli("quota", "set", user, "5MiB", "--messages", "77")
    client = imap(platform)
    try:
        scram = ScramClient(user, PASSWORD)
        steps = iter([lambda _: scram.first(), scram.final, lambda data: b"" if scram.verify(data) else None])
        assert client.authenticate("SCRAM-SHA-256", lambda data: next(steps)(data))[0] == "OK"
        typ, data = client.getquotaroot("INBOX")
        assert typ == "OK"
        assert any(d and b"STORAGE" in d and b"5120" in d for d in data[1]), data
        assert any(d and b"MESSAGE 0 77" in d for d in data[1]), data
    finally:
        client.logout()


def raw_line(client: imaplib.IMAP4, line: str) -> str:
    client.send(line.encode() + b"\r\n")
    return client.readline().decode().rstrip("\r\n")


def test_imap_authenticate_scram_sasl_ir_cancel_and_bad_base64(platform, accounts):
    # SASL-IR (RFC 4959): client-first in the command; then server-first, the
    # proof, server-final as a continuation, an empty answer, tagged OK.
    client = imap(platform)
    try:
        scram = ScramClient(USER, PASSWORD)
        reply = raw_line(client, "a1 AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(scram.first()).decode())
        assert reply.startswith("+ "), reply
        reply = raw_line(client, base64.b64encode(scram.final(base64.b64decode(reply[2:]))).decode())
        assert reply.startswith("+ "), reply
        assert scram.verify(base64.b64decode(reply[2:]))
        reply = raw_line(client, "")
        assert reply.startswith("a1 OK "), reply
        assert raw_line(client, "a2 NOOP").startswith("a2 OK")
    finally:
        client.logout()
    client = imap(platform)
    try:
        # "*" cancels: tagged BAD, and the session can still log in.
        reply = raw_line(client, "b1 AUTHENTICATE SCRAM-SHA-256")
        assert reply == "+ ", repr(reply)
        assert raw_line(client, "*").startswith("b1 BAD ")
        scram = ScramClient(USER, PASSWORD)
        reply = raw_line(client, "b2 AUTHENTICATE SCRAM-SHA-256 " + base64.b64encode(scram.first()).decode())
        assert reply.startswith("+ "), reply
        assert raw_line(client, "not base64!").startswith("b2 BAD ")
        assert raw_line(client, "b3 AUTHENTICATE SCRAM-SHA-256 %%%").startswith("b3 BAD ")
        assert raw_line(client, "b4 AUTHENTICATE SCRAM-SHA-256 *").startswith("b4 BAD ")
        assert client.login(USER, PASSWORD)[0] == "OK"
    finally:
        client.logout()


def test_imap_authenticate_login(platform, accounts):
    def login_steps(user, password):
        answers = {b"Username:": user.encode(), b"Password:": password.encode()}
        return lambda challenge: answers[challenge]

    for password in (PASSWORD, accounts["app"]):
        client = imap(platform)
        try:
            assert "AUTH=LOGIN" in client.capabilities
            assert client.authenticate("LOGIN", login_steps(USER, password))[0] == "OK"
        finally:
            client.logout()
    client = imap(platform)
    try:
        with pytest.raises(imaplib.IMAP4.error, match="AUTHENTICATIONFAILED"):
            client.authenticate("LOGIN", login_steps(USER, "wrong"))
        # SASL-IR: the initial response is the user name.
        reply = raw_line(client, "c1 AUTHENTICATE LOGIN " + base64.b64encode(USER.encode()).decode())
        assert base64.b64decode(reply[2:]) == b"Password:", reply
        assert raw_line(client, base64.b64encode(PASSWORD.encode()).decode()).startswith("c1 OK ")
    finally:
        client.logout()


# --- disabled accounts, audit, metrics -----------------------------------------
def test_disabled_user_cannot_log_in_or_receive(platform):
    platform.add_user("off@accounts.example", "Quartz-Otter-7715")
    assert smtp_login(platform, "off@accounts.example", "Quartz-Otter-7715") == 235
    platform.cli("user", "disable", "off@accounts.example")
    assert smtp_login(platform, "off@accounts.example", "Quartz-Otter-7715") == 535
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
        mx.ehlo("remote.test")
        mx.mail("someone@remote.test")
        code, _ = mx.rcpt("off@accounts.example")
        assert code == 550
    platform.cli("user", "enable", "off@accounts.example")
    assert smtp_login(platform, "off@accounts.example", "Quartz-Otter-7715") == 235


def test_audit_log_and_metrics(platform, accounts):
    before_ok = platform.metric_value("authd", "postline_authd_logins_total", {"protocol": "smtp", "outcome": "ok"})
    before_bad = platform.metric_value("authd", "postline_authd_logins_total",
                                       {"protocol": "smtp", "outcome": "invalid_credentials"})
    assert smtp_login(platform, USER, PASSWORD) == 235
    assert smtp_login(platform, USER, "Not-The-Password-93") == 535
    assert platform.metric_value("authd", "postline_authd_logins_total",
                                 {"protocol": "smtp", "outcome": "ok"}) == before_ok + 1
    assert platform.metric_value("authd", "postline_authd_logins_total",
                                 {"protocol": "smtp", "outcome": "invalid_credentials"}) == before_bad + 1
    assert platform.metric_value("authd", "postline_authd_hash_duration_seconds_count") > 0
    log = platform.logs["authd"].read_text(errors="replace")
    assert f'audit login outcome=ok user="{USER}" protocol=smtp' in log
    assert f'audit login outcome=invalid_credentials user="{USER}"' in log
    assert PASSWORD not in log and "Not-The-Password-93" not in log and accounts["app"] not in log
