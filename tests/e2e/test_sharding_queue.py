"""Sharding (issue 21, docs/DESIGN.md "Sharding"): the queue's side for accounts
on a shard other than the one on db.url ("s2", a second database of the test
PostgreSQL; the queue and shard "main" are on db.url).

- Sieve at delivery runs on s2: fileinto stores on s2 (nothing on main), the
  vacation reply is queued once (kept with the run on s2, queued with the
  recipient's outcome on db.url).
- Enqueue-time delivery into s2: the message is delivered right after the
  Enqueue commit by queued's hand-off, not by a worker's claim
  (postline_queued_immediate_deliveries_total{result="delivered"}, and the
  recipient has exactly one attempt); across a kill -9 of queued right after
  the 250 the message is in the mailbox exactly once.
- BURL (RFC 4468) of a draft of an account on s2 that queued never delivered
  to: FetchUrl asks authd's directory for the account's shard."""
from __future__ import annotations

import json
import re
import smtplib
import ssl
import urllib.parse

import pytest

from imap_wire import Wire
from managesieve_wire import ManageSieve
from platform_support import wait_until

PASSWORD = "sh-ard queue password"
SIEVER = "siever@example.test"    # on s2, with a Sieve script
FAR = "far@example.test"          # on s2, no script
DRAFTER = "drafter@example.test"  # on s2, never receives mail (BURL)
NEAR = "near@example.test"        # on main

SCRIPT = ('require ["fileinto", "mailbox", "vacation"];\r\n'
          'if header :contains "subject" "report" { fileinto :create "Reports"; }\r\n'
          'vacation :days 1 :subject "Away" "I am away.";\r\n')


@pytest.fixture(scope="module")
def sharded(fresh_platform_factory, pg_server_url):
    p = fresh_platform_factory({"POSTLINE_QUEUE_RETRY_SCHEDULE": "1s"}, start=False)
    p.s2_url = p._create_database(pg_server_url)
    p.env["POSTLINE_MAILSTORE_SHARDS"] = f"main={p.db_url},s2={p.s2_url}"
    p.start_all()
    for user in (SIEVER, FAR, DRAFTER):
        p.add_domain("example.test")
        p.cli("user", "add", user, "--shard", "s2", "--password-stdin", input=PASSWORD + "\n")
    p.add_user(NEAR, PASSWORD)
    for user in (SIEVER, FAR, DRAFTER):
        assert json.loads(p.cli("--json", "user", "show", user).stdout)["shard"] == "s2"
    yield p
    p.stop_all()


def psql_on(url: str, sql: str) -> str:
    import subprocess
    return subprocess.run(["psql", url, "-Atq", "-c", sql], check=True, capture_output=True, text=True).stdout


def user_id(p, user: str) -> int:
    return int(json.loads(p.cli("--json", "user", "show", user).stdout)["id"])


def send(p, rcpt: str, subject: str, sender: str = "bob@remote.test"):
    mid = f"{subject}@remote.test"
    body = f"From: {sender}\r\nTo: {rcpt}\r\nSubject: {subject}\r\nMessage-ID: <{mid}>\r\n\r\n{subject}\r\n"
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=30) as smtp:
        smtp.sendmail(sender, [rcpt], body.encode())


def count_subject(p, user: str, mailbox: str, subject: str) -> int:
    c = Wire(p.ports["imap"])
    try:
        c.login(user, PASSWORD)
        r = c.run(f'EXAMINE "{mailbox}"')
        if not r.ok:
            return 0
        found = c.ok(f'UID SEARCH SUBJECT "{subject}"').lines(b"* SEARCH")[0].split()[2:]
        return len(found)
    finally:
        c.close()


def recipient_state(p, subject: str) -> str:
    return p.psql("SELECT r.state || ' ' || r.attempts FROM queue_recipients r JOIN queue_messages m"
                  f" ON m.id = r.message_id WHERE m.header_subject = '{subject}'").strip()


def test_sieve_runs_for_an_account_on_the_second_shard(sharded):
    p = sharded
    with ManageSieve(p.ports["managesieve"]) as ms:
        ms.starttls(ssl.create_default_context(cafile=str(p.cert)))
        assert ms.authenticate_plain(SIEVER, PASSWORD).status == "OK"
        assert ms.putscript("main", SCRIPT).status == "OK"
        assert ms.command('SETACTIVE "main"').status == "OK"
    uid = user_id(p, SIEVER)
    assert psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_sieve_active WHERE user_id = {uid}").strip() == "1"

    send(p, SIEVER, "weekly report one")
    wait_until(lambda: recipient_state(p, "weekly report one").startswith("delivered"), timeout=30,
               what="the delivery through the script")
    assert count_subject(p, SIEVER, "Reports", "weekly report one") == 1
    assert count_subject(p, SIEVER, "INBOX", "weekly report one") == 0
    # Everything of the run is on s2; nothing of the account on main.
    assert psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_sieve_runs WHERE user_id = {uid}").strip() == "1"
    assert psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_sieve_vacation WHERE user_id = {uid}").strip() == "1"
    assert p.psql(f"SELECT count(*) FROM mailstore_messages WHERE user_id = {uid}").strip() == "0"
    reply = "SELECT count(*) FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id" \
            " WHERE r.address = 'bob@remote.test' AND m.header_subject = 'Away'"
    wait_until(lambda: p.psql(reply).strip() == "1", timeout=30, what="the vacation reply queued")
    # A second message from the same sender: filed, no second reply.
    send(p, SIEVER, "weekly report two")
    wait_until(lambda: recipient_state(p, "weekly report two").startswith("delivered"), timeout=30,
               what="the second delivery")
    assert count_subject(p, SIEVER, "Reports", "weekly report two") == 1
    assert p.psql(reply).strip() == "1"
    assert p.metric_value("queued", "postline_queued_sieve_runs_total", {"result": "ok"}) >= 2


def test_a_second_shard_account_is_delivered_right_after_enqueue(sharded):
    p = sharded
    before = p.metric_value("queued", "postline_queued_immediate_deliveries_total", {"result": "delivered"})
    send(p, FAR, "handed over")
    wait_until(lambda: recipient_state(p, "handed over") == "delivered 1", timeout=30, what="the delivery")
    assert count_subject(p, FAR, "INBOX", "handed over") == 1
    # By the hand-off, not by a worker (a worker's claim would not count here).
    assert p.metric_value("queued", "postline_queued_immediate_deliveries_total",
                          {"result": "delivered"}) == before + 1
    attempts = p.psql("SELECT count(*) FROM queue_attempts a JOIN queue_recipients r ON r.id = a.recipient_id"
                      " JOIN queue_messages m ON m.id = r.message_id WHERE m.header_subject = 'handed over'")
    assert attempts.strip() == "1"
    assert "(right after Enqueue)" in p.log_tail("queued", 400)


def test_exactly_once_across_a_kill_of_queued_right_after_the_250(sharded):
    p = sharded
    send(p, FAR, "killed after enqueue")
    p.kill("queued")  # right after the 250: the hand-off may or may not have run
    p.start("queued")
    # Delivered by whoever was first (the hand-off before the kill, or a
    # worker after the grace), deduplicated by the delivery key.
    wait_until(lambda: recipient_state(p, "killed after enqueue").startswith("delivered"), timeout=60,
               what="the delivery after the restart")
    assert count_subject(p, FAR, "INBOX", "killed after enqueue") == 1
    uid = user_id(p, FAR)
    assert psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_deliveries WHERE user_id = {uid}"
                             " AND delivery_key LIKE 'w/%'").strip() != "0"


DRAFT = (b"From: drafter@example.test\r\nTo: near@example.test\r\nSubject: BURL from s2\r\n"
         b"Message-ID: <burl-s2@example.test>\r\n\r\nA draft on the second shard.\r\n")


def test_burl_of_a_draft_on_the_second_shard(sharded):
    p = sharded
    c = Wire(p.ports["imap"])
    try:
        c.login(DRAFTER, PASSWORD)
        r = c.ok("APPEND Drafts (\\Draft)", literal=DRAFT)
        m = re.search(rb"APPENDUID (\d+) (\d+)", r.status)
        assert m, r.status
        rump = (f"imap://{urllib.parse.quote(DRAFTER, safe='')}@imap.example.test/Drafts;UIDVALIDITY={int(m.group(1))}"
                f"/;UID={int(m.group(2))};URLAUTH=submit+{urllib.parse.quote(DRAFTER, safe='')}")
        (line,) = c.ok(f'GENURLAUTH "{rump}" INTERNAL').lines(b"* GENURLAUTH ")
        url = re.fullmatch(rb'\* GENURLAUTH "([^"]+)"', line).group(1).decode()
    finally:
        c.close()
    uid = user_id(p, DRAFTER)
    assert psql_on(p.s2_url, f"SELECT count(*) FROM mailstore_urlauth_keys WHERE user_id = {uid}").strip() == "1"
    s = smtplib.SMTP("127.0.0.1", p.ports["smtp_submission"], timeout=30)
    try:
        s.ehlo("client.example.test")
        s.starttls(context=ssl.create_default_context(cafile=str(p.cert)))
        s.ehlo("client.example.test")
        s.login(DRAFTER, PASSWORD)
        s.ehlo("client.example.test")
        s.mail(DRAFTER)
        s.rcpt(NEAR)
        code, text = s.docmd("BURL", url + " LAST")
        assert code == 250, text
    finally:
        s.quit()
    wait_until(lambda: count_subject(p, NEAR, "INBOX", "BURL from s2") == 1, timeout=30,
               what="the BURL message in near's INBOX")
