"""Generated reports against the RFCs' schemas, and reports as other
organisations send them through Postline's reader.

- A DMARC aggregate report from Postline's generator (reports_tool, the code
  queued sends with) validates against the XSD of RFC 7489 appendix C
  (tests/reports/data/rfc7489-dmarc.xsd) with xmllint (libxml2-utils); a
  report with a required element removed does not (the check has teeth).
- A TLS report validates against RFC 8460's report format written as JSON
  Schema (data/rfc8460-tlsrpt.schema.json) with python3-jsonschema.
- Reports shaped like the big senders' (zip without namespace, gzip, plain
  JSON) are found and read by the extraction queued runs on received mail.

Needs /usr/bin/python3 with python3-jsonschema and xmllint (scripts/packages/test.txt).
"""
import base64
import gzip
import io
import json
import os
import pathlib
import shutil
import subprocess
import zipfile

import jsonschema
import pytest

TOOL = os.environ.get("REPORTS_TOOL", "build/bin/reports_tool")
DATA = pathlib.Path(__file__).parent / "data"


def tool(*args, data=b""):
    return subprocess.run([TOOL, *args], input=data, capture_output=True, timeout=60)


def xmllint(path):
    if not shutil.which("xmllint"):
        pytest.fail("xmllint is missing: apt-get install libxml2-utils (scripts/packages/test.txt)")
    return subprocess.run(["xmllint", "--noout", "--schema", str(DATA / "rfc7489-dmarc.xsd"), str(path)],
                          capture_output=True, text=True, timeout=60)


def test_dmarc_report_validates_against_rfc7489_xsd(tmp_path):
    r = tool("dmarc-sample")
    assert r.returncode == 0, r.stderr
    report = tmp_path / "report.xml"
    report.write_bytes(r.stdout)
    checked = xmllint(report)
    assert checked.returncode == 0, checked.stderr + r.stdout.decode()
    assert "validates" in checked.stderr
    # The IPv6 row is written in full: the XSD's pattern accepts nothing shorter.
    assert b"<source_ip>2001:db8:0:0:0:0:0:25</source_ip>" in r.stdout
    assert b"<type>sampled_out</type>" in r.stdout


def test_xsd_rejects_a_report_missing_a_required_element(tmp_path):
    bad = tool("dmarc-sample").stdout.replace(b"<p>reject</p>", b"")
    report = tmp_path / "bad.xml"
    report.write_bytes(bad)
    checked = xmllint(report)
    assert checked.returncode != 0, checked.stderr


def test_tlsrpt_report_validates_against_rfc8460_schema():
    r = tool("tlsrpt-sample")
    assert r.returncode == 0, r.stderr
    doc = json.loads(r.stdout)
    schema = json.loads((DATA / "rfc8460-tlsrpt.schema.json").read_text())
    jsonschema.validate(doc, schema, format_checker=jsonschema.FormatChecker())
    assert doc["policies"][0]["summary"] == {"total-successful-session-count": 40, "total-failure-session-count": 3}
    bad = dict(doc)
    bad["policies"] = [dict(doc["policies"][0], policy={"policy-type": "dane", "policy-domain": "x"})]
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(bad, schema)


def mime(subject, parts, extra=""):
    out = (f"From: noreply@reporter.example\r\nTo: dmarc@postline.test\r\nSubject: {subject}\r\n{extra}"
           "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BB\"\r\n\r\n")
    for ctype, name, payload in parts:
        out += (f"--BB\r\nContent-Type: {ctype}; name=\"{name}\"\r\nContent-Transfer-Encoding: base64\r\n"
                f"Content-Disposition: attachment; filename=\"{name}\"\r\n\r\n")
        out += base64.encodebytes(payload).decode().replace("\n", "\r\n")
    return (out + "--BB--\r\n").encode()


GOOGLE_STYLE = b"""<?xml version="1.0" encoding="UTF-8" ?>
<feedback>
  <report_metadata><org_name>google.com</org_name><email>noreply-dmarc-support@google.com</email>
    <report_id>4242</report_id><date_range><begin>1764806400</begin><end>1764892799</end></date_range>
  </report_metadata>
  <policy_published><domain>postline.test</domain><adkim>r</adkim><aspf>r</aspf><p>quarantine</p>
    <sp>quarantine</sp><pct>100</pct></policy_published>
  <record><row><source_ip>192.0.2.10</source_ip><count>7</count><policy_evaluated><disposition>none</disposition>
    <dkim>pass</dkim><spf>pass</spf></policy_evaluated></row><identifiers><header_from>postline.test</header_from>
    </identifiers><auth_results><dkim><domain>postline.test</domain><result>pass</result><selector>s1</selector>
    </dkim><spf><domain>postline.test</domain><result>pass</result></spf></auth_results></record>
  <record><row><source_ip>203.0.113.66</source_ip><count>4</count><policy_evaluated><disposition>quarantine
    </disposition><dkim>fail</dkim><spf>fail</spf></policy_evaluated></row><identifiers>
    <header_from>postline.test</header_from></identifiers><auth_results><spf><domain>spoof.example</domain>
    <result>fail</result></spf></auth_results></record>
</feedback>
"""


def test_zip_report_without_namespace_is_read():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as z:
        z.writestr("google.com!postline.test!1764806400!1764892799.xml", GOOGLE_STYLE)
    msg = mime("Report domain: postline.test Submitter: google.com Report-ID: 4242",
               [("application/zip", "google.com!postline.test!1764806400!1764892799.zip", buf.getvalue())])
    r = tool("extract", data=msg)
    assert r.returncode == 0, r.stderr
    assert r.stdout.decode().split() == ["dmarc", "postline.test", "11", "4"]


def test_gzip_report_and_tlsrpt_json_are_read():
    msg = mime("Report Domain: postline.test", [("application/gzip", "r.xml.gz", gzip.compress(GOOGLE_STYLE))])
    assert tool("extract", data=msg).stdout.decode().split()[:2] == ["dmarc", "postline.test"]
    tls = {"organization-name": "Microsoft Corporation", "date-range": {"start-datetime": "2025-12-04T00:00:00Z",
           "end-datetime": "2025-12-04T23:59:59Z"}, "contact-info": "tlsrpt-noreply@microsoft.com",
           "report-id": "133-abc", "policies": [{"policy": {"policy-type": "no-policy-found",
           "policy-domain": "postline.test"}, "summary": {"total-successful-session-count": 9,
           "total-failure-session-count": 1}, "failure-details": [{"result-type": "certificate-expired",
           "receiving-ip": "192.0.2.1", "failed-session-count": 1}]}]}
    msg = mime("Report Domain: postline.test", [("application/tlsrpt+gzip", "x.json.gz",
               gzip.compress(json.dumps(tls).encode()))], "TLS-Report-Domain: postline.test\r\n")
    assert tool("extract", data=msg).stdout.decode().split() == ["tlsrpt", "postline.test", "10", "1"]


def test_bomb_is_refused():
    bomb = gzip.compress(b"<" * (64 << 20))
    msg = mime("Report Domain: postline.test", [("application/gzip", "bomb.xml.gz", bomb)])
    r = tool("extract", data=msg)
    assert r.returncode == 1
    assert "limit" in r.stderr.decode()
