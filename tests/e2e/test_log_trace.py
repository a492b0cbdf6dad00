"""Structured logs (issue 17): with log.format=json every line of every service
is one JSON object - the "listening" lines too - and one message can be
followed from SMTP through the queue into the mailbox and out over IMAP by one
trace id (its queue id) in all four logs: smtpd at 250, queued at enqueue and
delivery, authd when it resolved the recipient for that message, imapd when a
client fetched the body. Run once with delivery inside the Enqueue transaction
and once through the queue workers (another delivery key, and queued itself
asks authd for the quota)."""
from __future__ import annotations

import imaplib
import json
import re
import smtplib
import socket
import ssl

import pytest

from platform_support import SERVICES, free_port, wait_until

USER = "trace@example.test"
PASSWORD = "correct horse battery staple"
SENDER = "bob@remote.test"
CLIENT = re.compile(r"^127\.0\.0\.1:\d+$")
REQUIRED = ("ts", "level", "service", "msg")
TAGGED = ("session", "queue_id", "trace_id", "client", "user")


def records(platform, service: str) -> list[dict]:
    """Every line of the service's log (stdout and stderr) as JSON; fails on any other line."""
    out = []
    for n, line in enumerate(platform.logs[service].read_bytes().splitlines(), 1):
        text = line.decode("utf-8")  # the formatter escapes anything that is not UTF-8
        try:
            record = json.loads(text)
        except json.JSONDecodeError as e:
            raise AssertionError(f"{service} log line {n} is not JSON ({e}): {text!r}") from None
        assert isinstance(record, dict), (service, n, text)
        for key in REQUIRED:
            assert isinstance(record.get(key), str), (service, n, key, text)
        assert record["service"] == service, text
        for key in TAGGED:
            assert key not in record or (isinstance(record[key], str) and record[key]), (service, n, key, text)
        # Tags that were lifted are not left in the message as well.
        assert not re.match(r"^\[[sqtcu]:", record["msg"]), text
        out.append(record)
    return out


def send(platform, subject: str) -> str:
    """One message to USER over the MX port; the queue id from smtpd's 250."""
    message = (f"From: Bob <{SENDER}>\r\nTo: <{USER}>\r\nSubject: {subject}\r\n"
               f"Message-ID: <{subject}@remote.test>\r\n\r\nfollow me\r\n").encode()
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("client.remote.test")
        assert smtp.mail(SENDER)[0] == 250
        assert smtp.rcpt(USER)[0] == 250
        code, reply = smtp.data(message)
    assert code == 250, reply
    m = re.search(rb"queued as ([0-9A-Za-z]+)", reply)
    assert m, reply
    return m.group(1).decode()


def fetch_body(platform, subject: str) -> bytes:
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(USER, PASSWORD)

        def delivered():
            typ, data = imap.select("INBOX", readonly=True)
            assert typ == "OK", data
            typ, data = imap.uid("SEARCH", None, "SUBJECT", subject)
            assert typ == "OK", data
            return data[0].split()

        uids = wait_until(delivered, timeout=30, what="the message in INBOX")
        typ, data = imap.uid("FETCH", uids[-1], "(BODY.PEEK[])")
        assert typ == "OK", data
        return next(part[1] for part in data if isinstance(part, tuple))
    finally:
        imap.logout()


def one(found: list[dict], what: str) -> dict:
    assert found, f"no record: {what}"
    return found[0]


@pytest.mark.parametrize("during_enqueue", [True, False], ids=["delivered_in_enqueue", "delivered_by_workers"])
def test_one_message_followed_through_four_logs(fresh_platform_factory, during_enqueue):
    platform = fresh_platform_factory({
        "POSTLINE_LOG_FORMAT": "json",
        "POSTLINE_LOG_LEVEL": "debug",  # authd's and imapd's trace lines are debug (docs/operations.md)
        "POSTLINE_QUEUE_DELIVER_DURING_ENQUEUE": "true" if during_enqueue else "false",
    })
    platform.add_user(USER, PASSWORD)
    subject = f"trace-{'enqueue' if during_enqueue else 'workers'}"
    qid = send(platform, subject)
    assert b"follow me" in fetch_body(platform, subject)

    def traced(service):
        return [r for r in records(platform, service) if r.get("trace_id") == qid]

    # imapd writes its lines last (the FETCH, then the disconnect after LOGOUT).
    wait_until(lambda: traced("imapd") and any("disconnect" in r["msg"] and r.get("user") == USER
                                              for r in records(platform, "imapd")),
               timeout=15, what="imapd's trace and disconnect records")

    logs = {s: records(platform, s) for s in SERVICES}

    # The listening lines are records like the rest, with the ports in use.
    ports = platform.ports
    expected = {
        "authd": {f"listening grpc on 127.0.0.1:{ports['auth_grpc']}", f"listening http on 127.0.0.1:{ports['authd_http']}"},
        "queued": {f"listening grpc on 127.0.0.1:{ports['queue_grpc']}", f"listening http on 127.0.0.1:{ports['queued_http']}"},
        "smtpd": {f"listening mx on 127.0.0.1:{ports['smtp_mx']}", f"listening http on 127.0.0.1:{ports['smtpd_http']}"},
        "imapd": {f"listening imap on 127.0.0.1:{ports['imap']}", f"listening imaps on 127.0.0.1:{ports['imaps']}",
                  f"listening http on 127.0.0.1:{ports['imapd_http']}"},
    }
    for service, lines in expected.items():
        listening = {r["msg"] for r in logs[service] if r["msg"].startswith("listening ")}
        assert lines <= listening, (service, listening)

    # smtpd: the 250, with session, client, sender, size and recipient count.
    accepted = one([r for r in logs["smtpd"] if r.get("queue_id") == qid and "message queued" in r["msg"]],
                   "smtpd's 250")
    assert accepted["level"] == "info" and accepted["trace_id"] == qid, accepted
    assert CLIENT.match(accepted["client"]), accepted
    assert f"from=<{SENDER}>" in accepted["msg"] and "nrcpt=1" in accepted["msg"], accepted
    assert re.search(r"size=\d+", accepted["msg"]), accepted
    session = accepted["session"]
    connect = one([r for r in logs["smtpd"] if r.get("session") == session and r["msg"].startswith("connect ")],
                  "smtpd's connect")
    assert connect["client"] == accepted["client"] and "listener=mx" in connect["msg"], connect
    closed = one([r for r in logs["smtpd"] if r.get("session") == session and r["msg"].startswith("disconnect ")],
                 "smtpd's disconnect")
    assert "reason=quit" in closed["msg"] and re.search(r"bytes_in=[1-9]\d* bytes_out=[1-9]", closed["msg"]), closed

    # queued: the enqueue and the local delivery (user, mailbox, uid).
    queued = [r for r in logs["queued"] if r.get("queue_id") == qid]
    assert all(r["trace_id"] == qid for r in queued), queued
    enqueued = one([r for r in queued if r["msg"].startswith("queued from=")], "queued's enqueue")
    assert f"from=<{SENDER}>" in enqueued["msg"] and "nrcpt=1" in enqueued["msg"], enqueued
    delivered = one([r for r in queued if "relay=local" in r["msg"] and "state=delivered" in r["msg"]],
                    "queued's local delivery")
    assert delivered["user"] == USER, delivered
    assert re.search(r"delivered to INBOX uid \d+", delivered["msg"]), delivered

    # authd: the recipient look-up it served for this message (smtpd's RCPT;
    # through the workers queued asks again for the quota).
    lookups = [r for r in logs["authd"] if r.get("trace_id") == qid]
    assert any("ResolveRecipient" in r["msg"] and USER in r["msg"] and "local" in r["msg"] for r in lookups), \
        logs["authd"][-20:]
    assert len(lookups) >= (1 if during_enqueue else 2), lookups

    # imapd: the body fetch names the message by its trace id, with the user
    # and the session, whose connect, login and disconnect are at info.
    fetched = one([r for r in logs["imapd"] if r.get("trace_id") == qid and "FETCH body" in r["msg"]],
                  "imapd's body fetch")
    assert fetched["user"] == USER and CLIENT.match(fetched["client"]), fetched
    imap_session = fetched["session"]
    same = [r for r in logs["imapd"] if r.get("session") == imap_session]
    connect = one([r for r in same if r["msg"].startswith("connect ")], "imapd's connect")
    assert connect["level"] == "info" and connect["client"] == fetched["client"], connect
    assert "listener=imap" in connect["msg"] and "tls=no" in connect["msg"], connect
    login = one([r for r in same if "logged in as" in r["msg"]], "imapd's login")
    assert login["level"] == "info" and login["user"] == USER and "(LOGIN)" in login["msg"], login
    closed = one([r for r in same if r["msg"].startswith("disconnect ")], "imapd's disconnect")
    assert closed["level"] == "info" and closed["user"] == USER and closed["client"] == fetched["client"], closed
    assert "reason=logout" in closed["msg"] and re.search(r"bytes_in=[1-9]\d* bytes_out=[1-9]", closed["msg"]), closed


def test_peer_strings_stay_inside_their_fields(fresh_platform_factory):
    """A user name with CR LF, quotes and a forged tag: one record, the forged
    parts inside `msg`, no field taken over."""
    platform = fresh_platform_factory({"POSTLINE_LOG_FORMAT": "json"})
    forged = b'mallory"\r\n{"level":"info","user":"alice"} [q:FORGED] x'
    with socket.create_connection(("127.0.0.1", platform.ports["imap"]), timeout=10) as sock:
        f = sock.makefile("rb")
        assert f.readline().startswith(b"* OK"), "greeting"
        # A non-synchronising literal (RFC 7888) carries the CR LF inside the user name.
        sock.sendall(b"a1 LOGIN {%d+}\r\n" % len(forged) + forged + b' "wrong password"\r\n')
        line = f.readline()
        while line.startswith(b"*"):
            line = f.readline()
        assert line.startswith(b"a1 NO"), line
        sock.sendall(b"a2 LOGOUT\r\n")

    def failed():
        return [r for r in records(platform, "imapd") if "login failed for mallory" in r["msg"]]

    found = wait_until(failed, timeout=15, what="the failed login record")
    record = found[0]
    assert "queue_id" not in record and "user" not in record, record
    assert "FORGED" in record["msg"] and "\\x0d\\x0a" in record["msg"], record
    # authd audits the same login: the user name escaped inside its own record too.
    audited = wait_until(lambda: [r for r in records(platform, "authd")
                                  if "audit login" in r["msg"] and "mallory" in r["msg"]],
                         timeout=15, what="authd's audit record of the failed login")
    assert all("\\x0d\\x0a" in r["msg"] and "\r" not in r["msg"] and "\n" not in r["msg"] for r in audited), audited
    assert not any(r.get("queue_id") == "FORGED" or r.get("user") == "alice" for s in SERVICES
                   for r in records(platform, s))


def test_remote_attempts_carry_the_trace_id(fresh_platform_factory):
    """Mail from an authenticated user to another domain, through a smarthost
    that defers the first try: smtpd's 250 names the user, authd resolved the
    remote address for that message, and each of queued's attempts is a record
    with the message's ids."""
    controller_mod = pytest.importorskip("aiosmtpd.controller", reason="aiosmtpd (python3-aiosmtpd) is not installed")
    tries = []

    class Smarthost:
        async def handle_DATA(self, server, session, envelope):
            tries.append(list(envelope.rcpt_tos))
            return "451 4.7.1 try again" if len(tries) == 1 else "250 2.0.0 relayed"

    controller = controller_mod.Controller(Smarthost(), hostname="127.0.0.1", port=free_port())
    controller.start()
    try:
        platform = fresh_platform_factory({
            "POSTLINE_LOG_FORMAT": "json",
            "POSTLINE_QUEUE_RELAYHOST": f"127.0.0.1:{controller.port}",
            "POSTLINE_QUEUE_TLS": "off",
            "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        })
        platform.add_user(USER, PASSWORD)
        remote = "carol@elsewhere.test"
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=30) as smtp:
            smtp.starttls(context=ctx)
            smtp.login(USER, PASSWORD)
            assert smtp.mail(USER)[0] == 250
            assert smtp.rcpt(remote)[0] == 250
            code, reply = smtp.data(b"Subject: out\r\n\r\nto the world\r\n")
        assert code == 250, reply
        qid = re.search(rb"queued as ([0-9A-Za-z]+)", reply).group(1).decode()

        def attempts():
            found = [r for r in records(platform, "queued")
                     if r.get("queue_id") == qid and f"to=<{remote}>" in r["msg"]]
            return found if any("state=delivered" in r["msg"] for r in found) else None

        found = wait_until(attempts, timeout=30, what="the second, successful attempt")
        assert [re.search(r"state=(\w+) attempts=(\d+)", r["msg"]).groups() for r in found] == \
            [("deferred", "1"), ("delivered", "2")], found
        assert all(r["trace_id"] == qid and "user" not in r for r in found), found
        assert len(tries) == 2

        accepted = one([r for r in records(platform, "smtpd") if r.get("queue_id") == qid and "message queued" in r["msg"]],
                       "smtpd's 250")
        assert accepted["user"] == USER and CLIENT.match(accepted["client"]), accepted
        assert any(r.get("trace_id") == qid and f"<{remote}>: remote" in r["msg"] for r in records(platform, "authd"))
    finally:
        controller.stop()
