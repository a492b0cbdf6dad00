"""Outbound transport security (issue 20), end to end against real components on loopback:
MTA-STS (RFC 8461), DANE (RFC 7672) and REQUIRETLS (RFC 8689).

- DNS: a private Debian unbound serving `dane.example.` signed with ldns-signzone (valid,
  mismatching and bogus TLSA records) and `sts.example.` unsigned; queued validates through
  libunbound with the zone's KSK as dns.trust_anchor_file;
- an HTTPS server (Python http.server + ssl, a test CA = queue.tls_ca_file) publishing the
  MTA-STS policies;
- two aiosmtpd MX hosts (127.0.0.1 offering REQUIRETLS, 127.0.0.2 not) presenting, by SNI,
  a certificate that matches its MX name, one for another name, or a self-signed one that
  only DANE-EE vouches for.
A local user submits through smtpd (587, STARTTLS, AUTH; REQUIRETLS where tested); what
queued did is read from the MX hosts, `postline queue show`, the DSNs in the INBOX and
postline_queued_transport_policy_total."""
from __future__ import annotations

import email
import imaplib
from email import policy as email_policy

import pytest

import queue_support
from platform_support import free_port, wait_until
from queue_support import queue_json
import transport_security_support as ts

pytest.importorskip("aiosmtpd.controller")
pytest.importorskip("dns.resolver")

SENDER = "sender@example.test"
PASSWORD = "transport security test password"


@pytest.fixture(scope="module")
def peers(tmp_path_factory):
    missing = ts.tools_missing()
    if missing:
        pytest.skip(missing)
    if not ts.loopback_alias_usable("127.0.0.2"):
        pytest.skip("127.0.0.2 cannot be bound here (the second MX host needs it)")
    d = tmp_path_factory.mktemp("transport")
    ca = ts.TestCa(d)
    mx_port = free_port()
    valid = ca.leaf("valid", ["mx.enforce.sts.example", "mx.notlisted.sts.example", "mx.refresh.sts.example",
                              "mx.norequire.sts.example", "mx.redirect.sts.example", "mx.plain.sts.example", "mx.ta.dane.example"])
    wrong = ca.leaf("wrong", ["other.sts.example"])
    dane_ee = ca.leaf("dane-ee", ["mx.good.dane.example"], self_signed=True)
    unrelated = ca.leaf("unrelated", ["unrelated.test"], self_signed=True)
    sni = {name: valid for name in ["mx.enforce.sts.example", "mx.notlisted.sts.example", "mx.refresh.sts.example",
                                   "mx.norequire.sts.example", "mx.redirect.sts.example", "mx.plain.sts.example",
                                   "mx.ta.dane.example"]}
    sni.update({"mx.mismatch.sts.example": wrong, "mx.testing.sts.example": wrong, "mx.good.dane.example": dane_ee,
                "mx.bad.dane.example": dane_ee, "mx.bogus.dane.example": dane_ee})

    sts_domains = ["enforce", "mismatch", "notlisted", "testing", "refresh", "norequire", "redirect"]
    web = ca.leaf("policy-host", [f"mta-sts.{d_}.sts.example" for d_ in sts_domains] + ["mta-sts.good.dane.example"])
    https = ts.PolicyServer(*web)
    https.publish("enforce.sts.example", ts.policy("enforce", ["*.enforce.sts.example"]))
    https.publish("mismatch.sts.example", ts.policy("enforce", ["mx.mismatch.sts.example"]))
    https.publish("notlisted.sts.example", ts.policy("enforce", ["mx2.notlisted.sts.example", "*.elsewhere.test"]))
    https.publish("testing.sts.example", ts.policy("testing", ["mx.testing.sts.example"]))
    https.publish("refresh.sts.example", ts.policy("testing", ["mx.refresh.sts.example"]))
    https.publish("norequire.sts.example", ts.policy("enforce", ["mx.norequire.sts.example"]))
    https.publish("redirect.sts.example", ts.policy("enforce", ["nowhere.test"]), status=301)
    # DANE wins over MTA-STS: this policy would refuse mx.good.dane.example.
    https.publish("good.dane.example", ts.policy("enforce", ["nothing.good.dane.example"]))
    https.start()

    dns_ = ts.Unbound(d)
    for name in sts_domains + ["plain"]:
        address = "127.0.0.2" if name == "norequire" else "127.0.0.1"
        dns_.unsigned_records += [f"{name} IN MX 10 mx.{name}", f"mx.{name} IN A {address}",
                                  f"mta-sts.{name} IN A 127.0.0.1"]
        if name != "plain":
            dns_.unsigned_records.append(f'_mta-sts.{name} IN TXT "v=STSv1; id={name}1"')
    other_key = "ab" * 32
    for name, tlsa in [("good", f"3 1 1 {ts.spki_sha256(dane_ee[0])}"), ("ta", f"2 0 1 {ts.cert_sha256(ca.cert)}"),
                       ("bad", f"3 1 1 {ts.spki_sha256(unrelated[0])}"),
                       ("bogus", f"3 1 1 {ts.spki_sha256(dane_ee[0])}")]:
        dns_.signed_records += [f"{name} IN MX 10 mx.{name}", f"mx.{name} IN A 127.0.0.1",
                                f"_{mx_port}._tcp.mx.{name} IN TLSA {tlsa}"]
    dns_.signed_records += ['_mta-sts.good IN TXT "v=STSv1; id=g1"', "mta-sts.good IN A 127.0.0.1"]
    # Signed, but no TLSA (a secure proof of absence): no DANE, opportunistic TLS.
    dns_.signed_records += ["notlsa IN MX 10 mx.notlsa", "mx.notlsa IN A 127.0.0.1"]
    # Changed after signing: its RRSIG no longer verifies.
    dns_.corrupt.append((f"_{mx_port}._tcp.mx.bogus.dane.example.", "TLSA", f"3 1 1 {other_key}"))
    dns_.start()

    mx1 = ts.RecordingMx(offer_requiretls=True)
    mx2 = ts.RecordingMx(offer_requiretls=False)
    default = ca.leaf("default", ["default.test"], self_signed=True)
    c1 = ts.start_mx("127.0.0.1", mx_port, mx1, ts.sni_context(default, sni))
    c2 = ts.start_mx("127.0.0.2", mx_port, mx2, ts.sni_context(default, sni))
    try:
        yield {"ca": ca, "dns": dns_, "https": https, "mx1": mx1, "mx2": mx2, "mx_port": mx_port}
    finally:
        c1.stop()
        c2.stop()
        dns_.stop()
        https.stop()


@pytest.fixture(scope="module")
def platform(fresh_platform_factory, peers):
    p = fresh_platform_factory({
        "POSTLINE_DNS_SERVERS": f"127.0.0.1:{peers['dns'].port}",
        "POSTLINE_DNS_TRUST_ANCHOR_FILE": str(peers["dns"].trust_anchor),
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(peers["mx_port"]),
        "POSTLINE_QUEUE_MTA_STS_PORT": str(peers["https"].port),
        "POSTLINE_QUEUE_TLS_CA_FILE": str(peers["ca"].cert),
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "3s",
        "POSTLINE_QUEUE_MAX_LIFETIME": "1h",
        "POSTLINE_QUEUE_HOSTNAME": "mail.example.test",
        "POSTLINE_QUEUE_CONNECT_TIMEOUT": "5s",
        "POSTLINE_QUEUE_COMMAND_TIMEOUT": "10s",
        # TLS reporting (RFC 8460) records every policy outcome; counts reach the table each second.
        "POSTLINE_REPORTS_SEND": "true",
        "POSTLINE_REPORTS_FLUSH_INTERVAL": "1s",
    })
    p.add_user(SENDER, PASSWORD)
    return p


# --- helpers -------------------------------------------------------------------------------------

def wait_for(platform, predicate, timeout=40, what="condition"):
    """wait_until that shows queued's log when it times out (the fresh platform's files are removed)."""
    try:
        return wait_until(predicate, timeout=timeout, what=what)
    except TimeoutError as e:
        raise TimeoutError(f"{e}\n---- queued log ----\n{platform.log_tail('queued', 60)}") from None


def submit(platform, rcpt: str, subject: str, requiretls: bool = False, headers: str = "") -> None:
    msg = (f"From: {SENDER}\r\nTo: {rcpt}\r\nSubject: {subject}\r\n{headers}"
           f"Message-ID: <{subject.replace(' ', '-')}@example.test>\r\n\r\nsecret body of {subject}\r\n")
    queue_support.submit(platform, SENDER, PASSWORD, [rcpt], msg.encode(), check_extension="requiretls",
                         mail_options=["REQUIRETLS"] if requiretls else [])


def recipient(platform, address: str) -> dict:
    rows = platform.psql(
        "SELECT m.queue_id FROM queue_messages m JOIN queue_recipients r ON r.message_id = m.id "
        f"WHERE r.address = '{address}' AND NOT m.is_dsn").split()
    assert len(rows) == 1, rows
    [rcpt] = queue_json(platform, "show", rows[0])["recipients"]
    return rcpt


def attempted(platform, address: str) -> dict:
    return wait_for(platform, lambda: (lambda r: r if r["history"] else None)(recipient(platform, address)), 40,
                    f"an attempt for {address}")


def policy_count(platform, policy: str, result: str) -> float:
    return platform.metric_value("queued", "postline_queued_transport_policy_total",
                                 {"policy": policy, "result": result})


def wait_count(platform, policy: str, result: str, at_least: float):
    wait_for(platform, lambda: policy_count(platform, policy, result) >= at_least, 20,
             f"postline_queued_transport_policy_total{{{policy},{result}}} >= {at_least}")


def inbox_reports(platform, address: str) -> list[email.message.EmailMessage]:
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(SENDER, PASSWORD)
        typ, data = imap.select("INBOX", readonly=True)
        count = int(data[0])
        if count == 0:
            return []
        typ, data = imap.fetch(f"1:{count}", "(BODY.PEEK[])")
        msgs = [email.message_from_bytes(p[1], policy=email_policy.default) for p in data if isinstance(p, tuple)]
        return [m for m in msgs if m.get_content_type() == "multipart/report" and address in m.as_string()]
    finally:
        imap.logout()


# --- MTA-STS -------------------------------------------------------------------------------------

def test_enforce_delivers_over_tls_verified_for_the_mx(platform, peers):
    before = policy_count(platform, "sts", "success")
    submit(platform, "bob@enforce.sts.example", "sts enforce ok")
    wait_for(platform, lambda: peers["mx1"].messages_for("bob@enforce.sts.example"), timeout=40, what="delivery")
    [got] = peers["mx1"].messages_for("bob@enforce.sts.example")
    assert got["tls"]
    wait_count(platform, "sts", "success", before + 1)
    # Cached in PostgreSQL by the TXT id, with its max_age.
    row = platform.psql("SELECT policy_id, max_age, expires_at > now() FROM queue_mta_sts_policies "
                        "WHERE domain = 'enforce.sts.example'").split("|")
    assert [c.strip() for c in row] == ["enforce1", "86400", "t"]


def test_enforce_defers_a_certificate_for_another_name(platform, peers):
    before = policy_count(platform, "sts", "certificate-host-mismatch")
    submit(platform, "bob@mismatch.sts.example", "sts mismatch")
    rcpt = attempted(platform, "bob@mismatch.sts.example")
    assert rcpt["state"] == "deferred"
    reply = rcpt["history"][0]["reply"]
    assert "MTA-STS" in reply and "mx.mismatch.sts.example" in reply and "hostname mismatch" in reply, reply
    assert rcpt["history"][0]["remote_reply"] is False
    wait_count(platform, "sts", "certificate-host-mismatch", before + 1)
    assert not peers["mx1"].messages_for("bob@mismatch.sts.example"), "never delivered in clear or unverified"


def test_enforce_defers_an_mx_the_policy_does_not_name(platform, peers):
    submit(platform, "bob@notlisted.sts.example", "sts not listed")
    rcpt = attempted(platform, "bob@notlisted.sts.example")
    assert rcpt["state"] == "deferred"
    reply = rcpt["history"][0]["reply"]
    assert "451 4.7.5 MTA-STS: MX host mx.notlisted.sts.example is not in the MTA-STS policy" in reply, reply
    assert not peers["mx1"].messages_for("bob@notlisted.sts.example")
    assert policy_count(platform, "sts", "validation-failure") >= 1


def test_testing_mode_delivers_and_counts_the_failure(platform, peers):
    before = policy_count(platform, "sts", "certificate-host-mismatch")
    submit(platform, "bob@testing.sts.example", "sts testing")
    wait_for(platform, lambda: peers["mx1"].messages_for("bob@testing.sts.example"), timeout=40, what="delivery in testing mode")
    wait_count(platform, "sts", "certificate-host-mismatch", before + 1)


def test_tls_required_no_header_delivers_despite_enforce(platform, peers):
    submit(platform, "carol@mismatch.sts.example", "tls required no", headers="TLS-Required: No\r\n")
    wait_for(platform, lambda: peers["mx1"].messages_for("carol@mismatch.sts.example"), timeout=40,
               what="delivery of a TLS-Required: No message")
    [got] = peers["mx1"].messages_for("carol@mismatch.sts.example")
    assert got["tls"], "TLS is still used when offered"


def test_a_redirected_policy_is_a_fetch_error_and_no_policy(platform, peers):
    before = policy_count(platform, "sts", "sts-policy-fetch-error")
    submit(platform, "bob@redirect.sts.example", "sts redirect")
    wait_for(platform, lambda: peers["mx1"].messages_for("bob@redirect.sts.example"), timeout=40,
               what="opportunistic delivery without a policy")
    assert peers["https"].hits_for("redirect.sts.example") >= 1
    wait_count(platform, "sts", "sts-policy-fetch-error", before + 1)
    assert "redirect.sts.example" not in platform.psql("SELECT domain FROM queue_mta_sts_policies")


def test_the_cached_policy_applies_until_the_txt_id_changes(platform, peers):
    https, dns_ = peers["https"], peers["dns"]
    submit(platform, "a@refresh.sts.example", "refresh one")
    wait_for(platform, lambda: peers["mx1"].messages_for("a@refresh.sts.example"), timeout=40, what="first delivery")
    hits = https.hits_for("refresh.sts.example")
    assert hits == 1
    # A new policy on the web server alone changes nothing: the id is the same.
    https.publish("refresh.sts.example", ts.policy("enforce", ["mx9.refresh.sts.example"]))
    submit(platform, "b@refresh.sts.example", "refresh two")
    wait_for(platform, lambda: peers["mx1"].messages_for("b@refresh.sts.example"), timeout=40, what="second delivery (cached)")
    assert https.hits_for("refresh.sts.example") == hits
    # A new id: fetched again, and the new (enforce, other MX) policy defers.
    dns_.unsigned_records = [r.replace('id=refresh1"', 'id=refresh2"') for r in dns_.unsigned_records]
    dns_.reload()
    wait_until(lambda: any("id=refresh2" in a for a in dns_.answers("_mta-sts.refresh.sts.example", "TXT")),
               timeout=15, what="the new TXT id served")
    submit(platform, "c@refresh.sts.example", "refresh three")
    rcpt = attempted(platform, "c@refresh.sts.example")
    assert rcpt["state"] == "deferred" and "not in the MTA-STS policy" in rcpt["history"][0]["reply"]
    assert https.hits_for("refresh.sts.example") == hits + 1
    row = platform.psql("SELECT policy_id FROM queue_mta_sts_policies WHERE domain = 'refresh.sts.example'")
    assert row.strip() == "refresh2"


# --- DANE ----------------------------------------------------------------------------------------

def test_dane_ee_delivers_and_mta_sts_is_ignored_for_that_mx(platform, peers):
    before = policy_count(platform, "tlsa", "success")
    submit(platform, "bob@good.dane.example", "dane ee")
    wait_for(platform, lambda: peers["mx1"].messages_for("bob@good.dane.example"), timeout=40, what="DANE-EE delivery")
    assert peers["mx1"].messages_for("bob@good.dane.example")[0]["tls"]
    wait_count(platform, "tlsa", "success", before + 1)


def test_dane_ta_delivers(platform, peers):
    submit(platform, "bob@ta.dane.example", "dane ta")
    wait_for(platform, lambda: peers["mx1"].messages_for("bob@ta.dane.example"), timeout=40, what="DANE-TA delivery")


def test_a_certificate_no_tlsa_record_matches_is_deferred(platform, peers):
    before = policy_count(platform, "tlsa", "validation-failure")
    submit(platform, "bob@bad.dane.example", "dane mismatch")
    rcpt = attempted(platform, "bob@bad.dane.example")
    assert rcpt["state"] == "deferred"
    reply = rcpt["history"][0]["reply"]
    assert "454 4.7.5 DANE: mx.bad.dane.example" in reply and "TLSA" in reply, reply
    wait_count(platform, "tlsa", "validation-failure", before + 1)
    assert not peers["mx1"].messages_for("bob@bad.dane.example")


def test_a_signed_zone_without_tlsa_falls_back_to_opportunistic_tls(platform, peers):
    before = policy_count(platform, "no-policy-found", "success")
    submit(platform, "bob@notlsa.dane.example", "dane no tlsa")
    wait_for(platform, lambda: peers["mx1"].messages_for("bob@notlsa.dane.example"), what="opportunistic delivery")
    assert peers["mx1"].messages_for("bob@notlsa.dane.example")[0]["tls"]
    wait_count(platform, "no-policy-found", "success", before + 1)


def test_bogus_tlsa_records_defer_without_connecting(platform, peers):
    before = policy_count(platform, "tlsa", "dnssec-invalid")
    submit(platform, "bob@bogus.dane.example", "dane bogus")
    rcpt = attempted(platform, "bob@bogus.dane.example")
    assert rcpt["state"] == "deferred"
    reply = rcpt["history"][0]["reply"]
    assert reply.startswith("451 4.7.5 DANE:") and "bogus" in reply, reply
    wait_count(platform, "tlsa", "dnssec-invalid", before + 1)
    assert not peers["mx1"].messages_for("bob@bogus.dane.example")


# --- REQUIRETLS ----------------------------------------------------------------------------------

def test_requiretls_end_to_end(platform, peers):
    submit(platform, "rt@enforce.sts.example", "requiretls sts", requiretls=True)
    submit(platform, "rt@good.dane.example", "requiretls dane", requiretls=True)
    for address in ("rt@enforce.sts.example", "rt@good.dane.example"):
        wait_for(platform, lambda: peers["mx1"].messages_for(address), timeout=40, what=f"REQUIRETLS delivery to {address}")
        [got] = peers["mx1"].messages_for(address)
        assert got["tls"] and got["requiretls"], "relayed with MAIL FROM ... REQUIRETLS"
    assert platform.psql("SELECT count(*) FROM queue_messages WHERE requiretls").strip() == "2"


@pytest.mark.parametrize("address, why", [
    ("rt@norequire.sts.example", "does not offer REQUIRETLS"),
    ("rt@plain.sts.example", "authenticated by neither an MTA-STS policy nor DANE"),
])
def test_requiretls_bounces_with_5_7_30_and_returns_headers_only(platform, peers, address, why):
    submit(platform, address, f"requiretls bounce {address}", requiretls=True)
    wait_for(platform, lambda: inbox_reports(platform, address), timeout=40, what="a 5.7.30 DSN")
    [report] = inbox_reports(platform, address)
    parts = list(report.iter_parts())
    status = parts[1].as_string()
    assert "Status: 5.7.30" in status and why in status, status
    assert parts[2].get_content_type() == "text/rfc822-headers", "RFC 8689 4.3: the header only"
    assert "secret body" not in report.as_string()
    assert not peers["mx1"].messages_for(address) and not peers["mx2"].messages_for(address)


# --- TLS reporting (RFC 8460) of the outcomes above -----------------------------------------------

def tls_rows(platform, domain: str) -> list[tuple[str, str, str, int]]:
    out = platform.psql("SELECT policy_type, result_type, mx_host, sessions FROM tls_report_rows"
                        f" WHERE policy_domain = '{domain}' ORDER BY 1, 2, 3")
    return [tuple(c.strip() for c in line.split("|")[:3]) + (int(line.split("|")[3]),)
            for line in out.splitlines() if line.strip()]


@pytest.mark.parametrize("domain, policy, result", [
    ("enforce.sts.example", "sts", ""),                             # a successful session
    ("mismatch.sts.example", "sts", "certificate-host-mismatch"),
    ("testing.sts.example", "sts", "certificate-host-mismatch"),
    ("good.dane.example", "tlsa", ""),
    ("bad.dane.example", "tlsa", "validation-failure"),
])
def test_policy_outcomes_reach_the_tls_report_rows(platform, peers, domain, policy, result):
    """What the MTA-STS and DANE tests above did is what TLS reporting counts, with the policy type
    of the domain (not no-policy-found) and the RFC 8460 result type."""
    def reported():
        rows = tls_rows(platform, domain)
        return rows if any(r[0] == policy and r[1] == result and r[3] >= 1 for r in rows) else None
    rows = wait_for(platform, reported, timeout=20, what=f"a {policy}/{result or 'success'} row for {domain}")
    assert all(r[0] == policy for r in rows), rows
