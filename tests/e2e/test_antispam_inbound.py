"""Inbound checks on the MX listener (issue 9): SPF, DKIM, DMARC with all DNS
from a local test server (antispam_support.LocalDns); the verdict in
Authentication-Results / X-Spam-Status; spam in Junk; DMARC p=reject refused;
DNSBL listing refused; greylisting 451 then accepted."""
from __future__ import annotations

import json
import re
import smtplib
import uuid

import pytest

from antispam_support import LocalDns, dkim_sign, make_dkim_key
from platform_support import wait_until
from smtp_support import ALICE, PASSWORD, stored_bodies, wait_delivered

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")


@pytest.fixture(scope="module")
def dns():
    d = LocalDns()
    # good.test: SPF pass for 127.0.0.1, DKIM key, DMARC reject.
    d.add_txt("good.test", "v=spf1 ip4:127.0.0.1 -all")
    d.add_txt("_dmarc.good.test", "v=DMARC1; p=reject")
    # bank.test: nothing may send for it, and DMARC says reject.
    d.add_txt("bank.test", "v=spf1 -all")
    d.add_txt("_dmarc.bank.test", "v=DMARC1; p=reject")
    # soft.test: softfail, no DMARC record.
    d.add_txt("soft.test", "v=spf1 ~all")
    # mx.test: SPF through the mx mechanism (MX then A lookups); void.test's
    # include target exists without records (no data, not NXDOMAIN)
    d.add_txt("mx.test", "v=spf1 mx include:empty.void.test -all")
    d.add_mx("mx.test", 10, "mail.mx.test")
    d.add_a("mail.mx.test", "127.0.0.1")
    d.add_name("empty.void.test")
    # the DNSBL used by the dnsbl module: 127.0.0.1 is listed with code 127.0.0.2
    d.add_a("1.0.0.127.bl.test", "127.0.0.2")
    yield d
    d.stop()


def start(factory, dns, extra=None):
    env = {"POSTLINE_DNS_SERVERS": dns.address, "POSTLINE_SMTP_HOSTNAME": "mx.example.test",
           # a softfail (2.0) alone is enough for Junk in these tests
           "POSTLINE_SPAM_JUNK_SCORE": "2"}
    env.update(extra or {})
    p = factory(env, start=False)
    p.migrate()
    for service in ("authd", "queued", "smtpd"):
        p.start(service)
    p.add_user(ALICE, PASSWORD)
    return p


@pytest.fixture(scope="module")
def plat(fresh_platform_factory, dns):
    return start(fresh_platform_factory, dns)


def message(sender: str, marker: str, extra_headers: str = "") -> bytes:
    return (f"From: {sender}\r\nTo: {ALICE}\r\nSubject: test {marker}\r\nDate: Wed, 25 Nov 2026 20:00:00 +0000\r\n"
            f"Message-ID: <{marker}@x.test>\r\n{extra_headers}\r\nHello {marker}\r\n").encode()


def mailbox_of(plat, marker: str) -> str:
    return plat.psql(
        "SELECT mb.name FROM mailstore_messages m JOIN mailstore_blobs b ON b.sha256 = m.blob_sha256 "
        "JOIN mailstore_mailboxes mb ON mb.user_id = m.user_id AND mb.mailbox_id = m.mailbox_id "
        f"WHERE position(convert_to('{marker}', 'UTF8') in b.data) > 0").strip()


def header_block(body: bytes) -> str:
    return body.split(b"\r\n\r\n", 1)[0].decode()


def test_signed_message_with_spf_pass_lands_in_inbox(plat, dns, tmp_path):
    pem = make_dkim_key(tmp_path, "good.test", "sel1", dns)
    m = "good" + uuid.uuid4().hex[:8]
    forged = "Authentication-Results: mx.example.test; dkim=pass; spf=pass; dmarc=pass\r\n"
    signed = dkim_sign(message("alice@good.test", m, forged), "good.test", "sel1", pem)
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        s.sendmail("bounce@good.test", [ALICE], signed)
    body = wait_delivered(plat, m)[0]
    head = header_block(body)
    ar = [l for l in head.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
          if l.lower().startswith("authentication-results:")]
    assert len(ar) == 1, head  # the forged one claiming our id is gone
    assert "dkim=pass" in ar[0] and "spf=pass" in ar[0] and "dmarc=pass" in ar[0], ar
    assert ar[0].startswith("Authentication-Results: mx.example.test"), ar
    assert "X-Spam-Status: No" in head
    assert wait_until(lambda: mailbox_of(plat, m), what="stored") == "INBOX"
    assert plat.metric_value("smtpd", "postline_smtpd_auth_results_total", {"method": "dkim", "result": "pass"}) >= 1
    assert plat.metric_value("smtpd", "postline_smtpd_spam_verdicts_total", {"action": "accept"}) >= 1


def test_spf_mx_mechanism_passes(plat):
    m = "mx" + uuid.uuid4().hex[:8]
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.mx.test")
        s.sendmail("a@mx.test", [ALICE], message("a@mx.test", m))
    head = header_block(wait_delivered(plat, m)[0])
    assert "spf=pass" in head and "smtp.mailfrom=a@mx.test" in head, head
    assert "dkim=none" in head, head


def test_forged_sender_of_reject_domain_is_refused(plat):
    m = "forged" + uuid.uuid4().hex[:8]
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("spammer.invalid")
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("ceo@bank.test", [ALICE], message("ceo@bank.test", m))
    assert err.value.smtp_code == 550, err.value
    assert err.value.smtp_error.startswith(b"5.7.1"), err.value
    assert b"bank.test" in err.value.smtp_error
    assert not stored_bodies(plat, m)
    assert plat.metric_value("smtpd", "postline_smtpd_messages_rejected_total", {"reason": "dmarc_reject"}) >= 1
    assert plat.metric_value("smtpd", "postline_smtpd_spam_verdicts_total", {"action": "reject"}) >= 1


def test_softfail_lands_in_junk(plat):
    m = "soft" + uuid.uuid4().hex[:8]
    # The client's own verdict header and mailbox wish are dropped.
    extra = "X-Spam-Status: No, score=-100\r\nX-Postline-Mailbox: INBOX\r\n"
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.soft.test")
        s.sendmail("news@soft.test", [ALICE], message("news@soft.test", m, extra))
    body = wait_delivered(plat, m)[0]
    head = header_block(body)
    assert "spf=softfail" in head
    assert "X-Spam-Status: Yes" in head and "SPF_SOFTFAIL" in head
    assert "score=-100" not in head and "X-Postline-Mailbox: INBOX" not in head
    assert wait_until(lambda: mailbox_of(plat, m), what="stored") == "Junk"
    assert plat.metric_value("smtpd", "postline_smtpd_spam_verdicts_total", {"action": "junk"}) >= 1
    # The queue keeps where it goes (Envelope.target_mailbox), and the operator sees it.
    # Its queue id is in smtpd's Received field (the queue keeps no body for
    # a message delivered during Enqueue).
    found = re.search(r"\(Postline\) with E?SMTPS?A? id ([0-9A-Za-z]+)", head)
    assert found, head
    qid = found.group(1)
    assert plat.psql(f"SELECT target_mailbox FROM queue_messages WHERE queue_id = '{qid}'").strip() == "Junk"
    shown = json.loads(plat.cli("queue", "show", qid, "--json").stdout)
    assert shown["target_mailbox"] == "Junk", shown
    assert "mailbox:   Junk" in plat.cli("queue", "show", qid).stdout


def test_dnsbl_listed_client_is_refused(fresh_platform_factory, dns):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_DNSBL_ZONES": "bl.test=127.0.0.2"})
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        s.mail("x@good.test")
        code, text = s.rcpt(ALICE)
    assert code == 554, (code, text)
    assert text.startswith(b"5.7.1") and b"bl.test" in text and b"127.0.0.1" in text, text
    assert p.metric_value("smtpd", "postline_smtpd_dnsbl_lookups_total", {"zone": "bl.test", "outcome": "listed"}) >= 1
    assert p.metric_value("smtpd", "postline_smtpd_messages_rejected_total", {"reason": "dnsbl"}) >= 1
    p.stop_all()


def test_dnsbl_other_return_code_is_not_a_listing(fresh_platform_factory, dns):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_DNSBL_ZONES": "bl.test=127.0.0.4"})
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        s.mail("x@good.test")
        code, text = s.rcpt(ALICE)
    assert code == 250, (code, text)
    p.stop_all()


def test_greylisting_defers_first_then_accepts(fresh_platform_factory, dns):
    p = start(fresh_platform_factory, dns, {"POSTLINE_SPAM_GREYLIST": "true", "POSTLINE_SPAM_GREYLIST_DELAY": "2s"})
    m = "grey" + uuid.uuid4().hex[:8]

    def attempt():
        with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
            s.ehlo("mail.good.test")
            s.mail("list@good.test")
            code, text = s.rcpt(ALICE)
            if code == 250:
                s.data(message("list@good.test", m))
            return code, text

    # Unknown recipients are refused as such, and leave no triplet behind.
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.good.test")
        s.mail("list@good.test")
        assert s.rcpt("nobody@example.test")[0] == 550
    assert p.psql("SELECT count(*) FROM smtp_greylist").strip() == "0"

    code, text = attempt()
    assert code == 451 and text.startswith(b"4.7.1"), (code, text)
    code, text = attempt()  # too early: still deferred
    assert code == 451, (code, text)
    # A real MTA retries minutes later; here the delay is 2 s. Poll, no sleep.
    wait_until(lambda: attempt()[0] == 250, timeout=20, interval=0.5, what="greylisting to pass")
    wait_delivered(p, m)
    assert p.psql("SELECT passed FROM smtp_greylist WHERE recipient = 'alice@example.test'").strip() == "t"
    assert p.metric_value("smtpd", "postline_smtpd_greylist_total", {"outcome": "new"}) == 1
    assert p.metric_value("smtpd", "postline_smtpd_greylist_total", {"outcome": "passed"}) >= 1
    # whitelisted now: the next message of the triplet passes at once
    assert attempt()[0] == 250
    p.stop_all()
