"""DMARC aggregate reports, TLS reports and ARC, end to end (issue 20): real
authd, smtpd and queued on PostgreSQL; every DNS answer from a local server
(antispam_support.LocalDns); aiosmtpd as the Internet's MX, without STARTTLS.

- Mail from sender.test arrives at our MX (DMARC pass, and a forgery that fails
  p=quarantine). smtpd hands the evaluations to queued (RecordDmarc), queued
  counts them; `postline reports send` after the (2 s) period builds the
  RFC 7489 report and sends it through the queue, DKIM-signed for our domain,
  to the rua at reports.test, verified per RFC 7489 7.1. The report that
  arrives at the test MX validates against the RFC's XSD.
- A local user sends to remote.test, whose MX offers no STARTTLS: queued
  records "starttls-not-supported" and sends remote.test's _smtp._tls rua a
  TLS report (application/tlsrpt+gzip) that validates against RFC 8460's format.
- Reports others send about our domain (a zip DMARC report, a gzip TLS
  report) delivered to a local user are listed by `postline dmarc reports`
  and `postline tlsrpt reports`; one about somebody else's domain is not.
- An alias forwarding to remote.test: the message leaves ARC-sealed by
  example.test, and dkimpy's arc_verify says pass.
- A message whose DMARC fails (p=reject) but which a mailing list sealed with
  ARC (dkimpy's arc_sign): delivered when the list is in
  spam.arc_trusted_sealers, refused (550) when the sealer is somebody else.
"""
from __future__ import annotations

import base64
import email
import gzip
import io
import json
import pathlib
import shutil
import smtplib
import ssl
import subprocess
import threading
import time
import uuid
import zipfile
from email import policy

import dkim
import pytest

from antispam_support import LocalDns, make_dkim_key
from platform_support import free_port, wait_until
from smtp_support import ALICE, PASSWORD, stored_bodies, wait_delivered

aiosmtpd_controller = pytest.importorskip("aiosmtpd.controller")
jsonschema = pytest.importorskip("jsonschema")

pytestmark = pytest.mark.filterwarnings("ignore::DeprecationWarning")
DATA = pathlib.Path(__file__).resolve().parents[1] / "reports" / "data"


class Sink:
    """The remote MX: keeps every message it accepts."""

    def __init__(self):
        self.lock = threading.Lock()
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append({"from": envelope.mail_from, "rcpts": list(envelope.rcpt_tos),
                                  "data": envelope.original_content or envelope.content})
        return "250 2.0.0 OK"

    def to(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.messages if address in m["rcpts"]]


@pytest.fixture(scope="module")
def world(tmp_path_factory):
    d = LocalDns()
    keydir = tmp_path_factory.mktemp("keys")
    pem = make_dkim_key(keydir, "example.test", "pl", d)
    # The sender's domain: SPF for loopback, DMARC quarantine, reports to a third party...
    d.add_txt("sender.test", "v=spf1 ip4:127.0.0.1 -all")
    d.add_txt("_dmarc.sender.test", "v=DMARC1; p=quarantine; rua=mailto:dmarc-rua@reports.test!10m")
    # ...which agreed to receive them (RFC 7489 7.1).
    d.add_txt("sender.test._report._dmarc.reports.test", "v=DMARC1")
    # A domain whose rua destination never agreed: no report may go there.
    d.add_txt("unverified.test", "v=spf1 ip4:127.0.0.1 -all")
    d.add_txt("_dmarc.unverified.test", "v=DMARC1; p=none; rua=mailto:collector@elsewhere.test")
    d.add_txt("spoofer.test", "v=spf1 -all")
    for name in ("reports.test", "remote.test", "elsewhere.test"):
        d.add_mx(name, 10, "mx." + name)
        d.add_a("mx." + name, "127.0.0.1")
    d.add_txt("_smtp._tls.remote.test", "v=TLSRPTv1; rua=mailto:tlsrpt@reports.test")
    # ARC: a bank whose DMARC says reject, a list we trust to seal honestly, one we do not.
    d.add_txt("bank.test", "v=spf1 -all")
    d.add_txt("_dmarc.bank.test", "v=DMARC1; p=reject")
    arc_keys = {dom: make_dkim_key(keydir, dom, "arc", d) for dom in ("lists.test", "untrusted.test")}
    sink = Sink()
    controller = aiosmtpd_controller.Controller(sink, hostname="127.0.0.1", port=free_port())
    controller.start()
    yield {"dns": d, "sink": sink, "mx_port": controller.port, "key": keydir / "example.test.pl.pem", "pem": pem,
           "arc_keys": arc_keys}
    controller.stop()
    d.stop()


@pytest.fixture(scope="module")
def plat(fresh_platform_factory, world):
    p = fresh_platform_factory({
        "POSTLINE_DNS_SERVERS": world["dns"].address,
        "POSTLINE_SMTP_HOSTNAME": "mx.example.test",
        "POSTLINE_QUEUE_HOSTNAME": "mx.example.test",
        "POSTLINE_QUEUE_REMOTE_SMTP_PORT": str(world["mx_port"]),
        "POSTLINE_QUEUE_DKIM_KEYS": f"example.test:pl:{world['key']}",
        "POSTLINE_QUEUE_RETRY_SCHEDULE": "1s",
        "POSTLINE_REPORTS_SEND": "true",
        "POSTLINE_REPORTS_ORG_NAME": "Postline e2e",
        "POSTLINE_REPORTS_EMAIL": "dmarc-reports@example.test",
        "POSTLINE_REPORTS_PERIOD": "2s",
        "POSTLINE_REPORTS_CHECK_INTERVAL": "1h",   # the test runs the job (postline reports send)
        "POSTLINE_REPORTS_FLUSH_INTERVAL": "1s",
        "POSTLINE_SPAM_ARC_TRUSTED_SEALERS": "lists.test",
    }, start=False)
    p.migrate()
    for service in ("authd", "queued", "smtpd"):
        p.start(service)
    p.add_user(ALICE, PASSWORD)
    p.cli("alias", "add", "fwd@example.test", "carol@remote.test")
    return p


def mx_send(plat, mail_from: str, header_from: str, rcpt: str, marker: str, helo="mail.sender.test"):
    msg = (f"From: {header_from}\r\nTo: {rcpt}\r\nSubject: {marker}\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\n"
           f"Message-ID: <{marker}@sender.test>\r\n\r\nbody {marker}\r\n").encode()
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo(helo)
        s.sendmail(mail_from, [rcpt], msg)


def submit(plat, rcpt: str, marker: str):
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    msg = f"From: {ALICE}\r\nTo: {rcpt}\r\nSubject: {marker}\r\nMessage-ID: <{marker}@example.test>\r\n\r\nhi\r\n"
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_submission"], timeout=30) as s:
        s.ehlo("client.example.test")
        s.starttls(context=ctx)
        s.ehlo("client.example.test")
        s.login(ALICE, PASSWORD)
        s.sendmail(ALICE, [rcpt], msg.encode())


def dnsfunc(world):
    def lookup(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        for rtype, rdata in world["dns"].resolver.records.get(name.rstrip(".").lower(), []):
            if rtype == "TXT":
                return b"".join(rdata.data)
        return None
    return lookup


def send_reports_until(plat, wanted: list[str]) -> list[str]:
    """Runs the report job until every wanted "kind domain" has an outcome line."""
    seen: list[str] = []

    def done():
        out = json.loads(plat.cli("--json", "reports", "send").stdout)
        seen.extend(out["outcomes"])
        return all(any(line.startswith(w + " ") for line in seen) for w in wanted)

    try:
        wait_until(done, timeout=60, interval=0.5, what=f"reports for {wanted}")
    except TimeoutError as e:
        raise AssertionError(f"{e}\nqueued log:\n{plat.log_tail('queued', 60)}") from None
    return seen


def attachment(msg: email.message.EmailMessage, ctype: str) -> bytes:
    for part in msg.walk():
        if part.get_content_type() == ctype:
            return part.get_payload(decode=True)
    raise AssertionError(f"no {ctype} part in {msg.as_string()[:2000]}")


def test_dmarc_and_tls_reports_are_sent_and_valid(plat, world, tmp_path):
    sink = world["sink"]
    for i in range(3):
        mx_send(plat, "news@sender.test", "News <news@sender.test>", ALICE, f"good{i}-{uuid.uuid4().hex[:6]}")
    # A forgery: From sender.test, envelope and SPF of spoofer.test (-all): DMARC fails, p=quarantine.
    mx_send(plat, "x@spoofer.test", "Bank <ceo@sender.test>", ALICE, "forged-" + uuid.uuid4().hex[:6],
            helo="mail.spoofer.test")
    mx_send(plat, "a@unverified.test", "a@unverified.test", ALICE, "unverified-" + uuid.uuid4().hex[:6])
    submit(plat, "bob@remote.test", "tls-" + uuid.uuid4().hex[:6])
    wait_until(lambda: sink.to("bob@remote.test"), timeout=30, what="delivery to remote.test")
    # Counted in the queue's tables (smtpd and queued flush every second).
    wait_until(lambda: plat.psql("SELECT coalesce(sum(messages), 0) FROM dmarc_report_rows "
                                 "WHERE policy_domain = 'sender.test'").strip() == "4",
               timeout=30, what="DMARC evaluations recorded")
    wait_until(lambda: plat.psql("SELECT count(*) FROM tls_report_rows WHERE policy_domain = 'remote.test'"
                                 " AND result_type = 'starttls-not-supported'").strip() != "0",
               timeout=30, what="TLS outcome recorded")

    outcomes = send_reports_until(plat, ["dmarc sender.test", "dmarc unverified.test", "tlsrpt remote.test"])
    assert any(l.startswith("dmarc sender.test ") and l.endswith(" sent") for l in outcomes), outcomes
    assert any(l.startswith("dmarc unverified.test ") and l.endswith(" unverified") for l in outcomes), outcomes
    assert any(l.startswith("tlsrpt remote.test ") and l.endswith(" sent") for l in outcomes), outcomes

    # The DMARC report at the rua.
    wait_until(lambda: sink.to("dmarc-rua@reports.test"), timeout=30, what="DMARC report delivered")
    raw = sink.to("dmarc-rua@reports.test")[0]["data"]
    assert dkim.verify(raw, dnsfunc=dnsfunc(world)), "report not DKIM-signed by example.test"
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["Subject"].startswith("Report Domain: sender.test Submitter: example.test Report-ID: <")
    xml = gzip.decompress(attachment(msg, "application/gzip"))
    (tmp_path / "report.xml").write_bytes(xml)
    if not shutil.which("xmllint"):
        pytest.fail("xmllint missing (scripts/packages/test.txt: libxml2-utils)")
    checked = subprocess.run(["xmllint", "--noout", "--schema", str(DATA / "rfc7489-dmarc.xsd"),
                              str(tmp_path / "report.xml")], capture_output=True, text=True)
    assert checked.returncode == 0, checked.stderr + xml.decode()
    text = xml.decode()
    assert "<org_name>Postline e2e</org_name>" in text and "<domain>sender.test</domain>" in text
    assert "<count>3</count>" in text and "<count>1</count>" in text, text
    assert "<disposition>quarantine</disposition>" in text, text
    assert "<p>quarantine</p>" in text
    assert not sink.to("collector@elsewhere.test"), "a report went to an unverified destination"

    # The TLS report at remote.test's rua.
    wait_until(lambda: sink.to("tlsrpt@reports.test"), timeout=30, what="TLS report delivered")
    raw = sink.to("tlsrpt@reports.test")[0]["data"]
    msg = email.message_from_bytes(raw, policy=policy.default)
    assert msg["TLS-Report-Domain"] == "remote.test"
    assert msg["TLS-Report-Submitter"] == "example.test"
    assert msg.get_content_type() == "multipart/report" and msg.get_param("report-type") == "tlsrpt"
    doc = json.loads(gzip.decompress(attachment(msg, "application/tlsrpt+gzip")))
    jsonschema.validate(doc, json.loads((DATA / "rfc8460-tlsrpt.schema.json").read_text()),
                        format_checker=jsonschema.FormatChecker())
    policy_ = doc["policies"][0]
    assert policy_["policy"] == {"policy-type": "no-policy-found", "policy-domain": "remote.test"}
    assert policy_["summary"]["total-failure-session-count"] >= 1
    assert policy_["failure-details"][0]["result-type"] == "starttls-not-supported"
    assert policy_["failure-details"][0]["receiving-mx-hostname"] == "mx.remote.test"

    # Once is enough: a second run finds nothing new for those periods.
    again = json.loads(plat.cli("--json", "reports", "send").stdout)["outcomes"]
    assert not any(l.startswith("dmarc sender.test ") for l in again), again
    assert plat.metric_value("queued", "postline_queued_reports_sent_total", {"kind": "dmarc", "outcome": "sent"}) >= 1
    assert plat.metric_value("queued", "postline_queued_reports_sent_total",
                             {"kind": "dmarc", "outcome": "unverified"}) >= 1
    assert plat.metric_value("queued", "postline_queued_tls_sessions_total",
                             {"policy_type": "no-policy-found", "result": "starttls-not-supported"}) >= 1
    assert plat.metric_value("smtpd", "postline_smtpd_dmarc_report_evaluations_total", {"outcome": "sent"}) >= 5


GOOGLE_STYLE = """<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata><org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>
    <report_id>{rid}</report_id><date_range><begin>1764720000</begin><end>1764806399</end></date_range>
  </report_metadata>
  <policy_published><domain>{domain}</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p><sp>quarantine</sp>
    <pct>100</pct></policy_published>
  <record><row><source_ip>192.0.2.10</source_ip><count>7</count><policy_evaluated><disposition>none</disposition>
    <dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>{domain}</header_from>
    </identifiers><auth_results><spf><domain>{domain}</domain><result>pass</result></spf></auth_results></record>
  <record><row><source_ip>203.0.113.66</source_ip><count>2</count><policy_evaluated><disposition>quarantine
    </disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers>
    <header_from>{domain}</header_from></identifiers><auth_results><spf><domain>spoof.example</domain>
    <result>fail</result></spf></auth_results></record>
</feedback>
"""


def report_mail(to: str, subject: str, ctype: str, name: str, payload: bytes, extra: str = "") -> bytes:
    return (f"From: noreply@reporter.test\r\nTo: {to}\r\nSubject: {subject}\r\n{extra}MIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n--BB\r\nContent-Type: text/plain\r\n\r\nreport\r\n"
            f"--BB\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n"
            f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n"
            + base64.encodebytes(payload).decode().replace("\n", "\r\n") + "--BB--\r\n").encode()


def test_received_reports_are_listed(plat):
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("google.com!example.test!1764720000!1764806399.xml",
                   GOOGLE_STYLE.format(rid="g-4242", domain="example.test"))
    ours = report_mail(ALICE, "Report domain: example.test Submitter: google.com Report-ID: g-4242",
                       "application/zip", "google.com!example.test!1764720000!1764806399.zip", buf.getvalue())
    foreign = report_mail(ALICE, "Report domain: other.test Submitter: google.com Report-ID: g-1",
                          "application/gzip", "r.xml.gz",
                          gzip.compress(GOOGLE_STYLE.format(rid="g-1", domain="other.test").encode()))
    tls = {"organization-name": "Microsoft Corporation",
           "date-range": {"start-datetime": "2025-12-03T00:00:00Z", "end-datetime": "2025-12-03T23:59:59Z"},
           "contact-info": "tlsrpt-noreply@microsoft.com", "report-id": "ms-133",
           "policies": [{"policy": {"policy-type": "no-policy-found", "policy-domain": "example.test"},
                         "summary": {"total-successful-session-count": 9, "total-failure-session-count": 1},
                         "failure-details": [{"result-type": "certificate-expired", "receiving-ip": "192.0.2.1",
                                              "failed-session-count": 1}]}]}
    tls_mail = report_mail(ALICE, "Report Domain: example.test Submitter: microsoft.com Report-ID: <ms-133>",
                           "application/tlsrpt+gzip", "microsoft.com!example.test!1!2!x.json.gz",
                           gzip.compress(json.dumps(tls).encode()), "TLS-Report-Domain: example.test\r\n")
    for m in (ours, foreign, tls_mail):
        with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
            s.ehlo("mail.reporter.test")
            s.sendmail("noreply@reporter.test", [ALICE], m)

    def listed(kind):
        return json.loads(plat.cli("--json", kind, "reports").stdout)

    wait_until(lambda: listed("dmarc"), timeout=30, what="DMARC report stored")
    dmarc_rows = listed("dmarc")
    assert [r["report_id"] for r in dmarc_rows] == ["g-4242"], dmarc_rows
    row = dmarc_rows[0]
    assert row["domain"] == "example.test" and row["org_name"] == "google.com"
    assert row["messages"] == 9 and row["failed"] == 2
    assert row["report"]["records"][1]["source_ip"] == "203.0.113.66"
    table = plat.cli("dmarc", "reports", "--domain", "example.test").stdout
    assert "google.com" in table and "g-4242" in table and "2025-12-03 00:00" in table, table
    assert "no DMARC reports for other.test" in plat.cli("dmarc", "reports", "--domain", "other.test").stdout

    wait_until(lambda: listed("tlsrpt"), timeout=30, what="TLS report stored")
    tls_rows = listed("tlsrpt")
    assert tls_rows[0]["report_id"] == "ms-133" and tls_rows[0]["sessions"] == 10 and tls_rows[0]["failed"] == 1
    assert "Microsoft Corporation" in plat.cli("tlsrpt", "reports").stdout
    wait_until(lambda: plat.metric_value("queued", "postline_queued_reports_received_total",
                                         {"kind": "dmarc", "outcome": "not_ours"}) >= 1,
               timeout=30, what="foreign report refused")
    # The same report again is the same report.
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.reporter.test")
        s.sendmail("noreply@reporter.test", [ALICE], ours)
    wait_until(lambda: plat.metric_value("queued", "postline_queued_reports_received_total",
                                         {"kind": "dmarc", "outcome": "duplicate"}) >= 1,
               timeout=30, what="duplicate noticed")
    assert len(listed("dmarc")) == 1


def test_forwarded_mail_is_arc_sealed(plat, world):
    marker = "fwd-" + uuid.uuid4().hex[:6]
    mx_send(plat, "news@sender.test", "News <news@sender.test>", "fwd@example.test", marker)
    sink = world["sink"]
    wait_until(lambda: [m for m in sink.to("carol@remote.test") if marker.encode() in m["data"]], timeout=30,
               what="forwarded message delivered")
    raw = [m for m in sink.to("carol@remote.test") if marker.encode() in m["data"]][0]["data"]
    head = raw.split(b"\r\n\r\n", 1)[0]
    assert head.startswith(b"ARC-Seal: i=1; a=rsa-sha256; cv=none; d=example.test; s=pl;"), head[:300]
    assert b"ARC-Authentication-Results: i=1; mx.example.test;" in head
    cv, _results, comment = dkim.arc_verify(raw, dnsfunc=dnsfunc(world))
    assert cv == b"pass", comment


def sealed_by(world, sealer: str, marker: str) -> bytes:
    """A message from bank.test that went through a list at `sealer`, which checked it
    (its Authentication-Results), sealed it with ARC and changed nothing we could verify."""
    msg = (f"Authentication-Results: {sealer}; spf=pass smtp.mailfrom=bank.test; dkim=pass header.d=bank.test;"
           f" dmarc=pass header.from=bank.test\r\nFrom: CEO <ceo@bank.test>\r\nTo: {ALICE}\r\n"
           f"Subject: {marker}\r\nDate: Thu, 03 Dec 2026 10:00:00 +0000\r\nMessage-ID: <{marker}@bank.test>\r\n\r\n"
           f"list mail {marker}\r\n").encode()
    headers = dkim.arc_sign(msg, b"arc", sealer.encode(), world["arc_keys"][sealer], sealer.encode(),
                            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    assert headers, "dkimpy did not seal"
    return b"".join(headers) + msg


def test_trusted_arc_sealer_overrides_dmarc_reject(plat, world):
    # From the list's server: SPF for bank.test fails, no bank.test DKIM: DMARC fails (p=reject).
    marker = "arc-" + uuid.uuid4().hex[:6]
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.lists.test")
        s.sendmail("bounces@lists.test", [ALICE], sealed_by(world, "lists.test", marker))
    head = wait_delivered(plat, marker)[0].split(b"\r\n\r\n", 1)[0].decode()
    unfolded = head.replace("\r\n\t", " ").replace("\r\n ", " ")
    ours = [l for l in unfolded.split("\r\n") if l.startswith("Authentication-Results: mx.example.test")]
    assert ours, head
    assert "arc=pass" in ours[0] and "dmarc=fail" in ours[0] and "arc-override=lists.test" in ours[0], ours[0]
    # The same from a sealer nobody trusts is refused as DMARC says.
    other = "arc-" + uuid.uuid4().hex[:6]
    with smtplib.SMTP("127.0.0.1", plat.ports["smtp_mx"], timeout=60) as s:
        s.ehlo("mail.untrusted.test")
        with pytest.raises(smtplib.SMTPDataError) as err:
            s.sendmail("bounces@untrusted.test", [ALICE], sealed_by(world, "untrusted.test", other))
    assert err.value.smtp_code == 550 and b"DMARC" in err.value.smtp_error, err.value
    assert not stored_bodies(plat, other)
    assert plat.metric_value("smtpd", "postline_smtpd_auth_results_total", {"method": "arc", "result": "pass"}) >= 2
