"""postline-webd end to end: real HTTPS (the platform's certificate as the
only trusted CA) against the running service, which asks the platform's
authd whether a domain is hosted here.

Every document is checked with xmllint (libxml2-utils): well-formed, and
valid against the XSDs in services/web/schemas. Those XSDs are ours: neither
Mozilla (autoconfig) nor Microsoft (POX autodiscover) publishes one, so they
are written from the formats' documentation (docs/web.md). The mobileconfig
is read with plistlib, and the signed one is verified with `openssl cms
-verify` against the certificate webd serves.
"""
from __future__ import annotations

import base64
import hashlib
import http.client
import json
import plistlib
import shutil
import ssl
import subprocess
import urllib.parse
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from platform_support import ROOT, parse_metrics, wait_until

SCHEMAS = ROOT / "services" / "web" / "schemas"
DOMAIN = "example.test"
USER = f"anna@{DOMAIN}"
# Every XML-special character in one address (a valid quoted-free local part
# it is not, but webd only echoes it, and must echo it escaped).
SPECIAL = f"o'neil&<co>\"x@{DOMAIN}"
SETTINGS_ENV = {
    "POSTLINE_WEB_IMAP_HOSTNAME": "imap.example.test",
    "POSTLINE_WEB_SMTP_HOSTNAME": "smtp.example.test",
    "POSTLINE_WEB_SUBMISSION_PORT": "2587",  # not the default, so "from config" is what is tested
    # Each test sees authd's answer now, not a cached one.
    "POSTLINE_WEB_DOMAIN_CACHE_TTL": "0",
    # The MTA-STS policy (issue 20): smtp.hostname is its mx, web.mta_sts_* its mode and max_age.
    "POSTLINE_SMTP_HOSTNAME": "mx.example.test",
    "POSTLINE_WEB_MTA_STS_MODE": "enforce",
    "POSTLINE_WEB_MTA_STS_MAX_AGE": "86400",
}
WANT_IMAP = [("imap.example.test", 993, "SSL"), ("imap.example.test", 143, "STARTTLS")]
WANT_SMTP = [("smtp.example.test", 465, "SSL"), ("smtp.example.test", 2587, "STARTTLS")]
AUTODISCOVER_NS = "{http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a}"
OUTLOOK_SCHEMA = "http://schemas.microsoft.com/exchange/autodiscover/outlook/responseschema/2006a"


def autodiscover_request(email: str, schema: str = OUTLOOK_SCHEMA) -> bytes:
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n'
        '<Autodiscover xmlns="http://schemas.microsoft.com/exchange/autodiscover/outlook/requestschema/2006">\n'
        f"  <Request>\n    <EMailAddress>{email}</EMailAddress>\n"
        f"    <AcceptableResponseSchema>{schema}</AcceptableResponseSchema>\n  </Request>\n</Autodiscover>\n"
    ).encode()


class Web:
    def __init__(self, platform, https_port: int):
        self.platform = platform
        self.port = https_port
        self.ctx = ssl.create_default_context(cafile=str(platform.cert))

    def request(self, method: str, path: str, body: bytes | None = None, headers: dict | None = None):
        conn = http.client.HTTPSConnection("127.0.0.1", self.port, context=self.ctx, timeout=10)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def get(self, path: str, **kw):
        return self.request("GET", path, **kw)

    def metric(self, name: str, labels: dict) -> float:
        return self.platform.metric_value("webd", name, labels)


def xmllint(body: bytes, tmp_path: Path, schema: str | None = None) -> str:
    if not shutil.which("xmllint"):
        pytest.fail("xmllint is missing: install libxml2-utils (scripts/packages/test.txt)")
    doc = tmp_path / "doc.xml"
    doc.write_bytes(body)
    args = ["xmllint", "--noout", "--nonet"]
    if schema:
        args += ["--schema", str(SCHEMAS / schema)]
    out = subprocess.run([*args, str(doc)], capture_output=True, text=True)
    assert out.returncode == 0, f"xmllint {schema or '(well-formedness)'}:\n{out.stderr}\n{body.decode(errors='replace')}"
    return out.stderr


def servers(root: ET.Element, element: str) -> list[tuple[str, int, str]]:
    return [(s.findtext("hostname"), int(s.findtext("port")), s.findtext("socketType"))
            for s in root.iter(element)]


@pytest.fixture(scope="module")
def web(platform):
    platform.add_domain(DOMAIN)
    return Web(platform, platform.start_webd(SETTINGS_ENV))


def q(email: str) -> str:
    return urllib.parse.quote(email, safe="")


def test_autoconfig_well_known_with_emailaddress(web, tmp_path):
    status, headers, body = web.get(f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={q(USER)}")
    assert status == 200, body
    assert headers["content-type"].startswith("text/xml")
    xmllint(body, tmp_path)
    xmllint(body, tmp_path, "autoconfig-v1.1.xsd")
    root = ET.fromstring(body)
    assert root.tag == "clientConfig" and root.get("version") == "1.1"
    assert root.find("emailProvider").get("id") == DOMAIN
    assert root.findtext("emailProvider/domain") == DOMAIN
    assert servers(root, "incomingServer") == WANT_IMAP
    assert servers(root, "outgoingServer") == WANT_SMTP
    assert {u.text for u in root.iter("username")} == {USER}
    assert {a.text for a in root.iter("authentication")} == {"password-cleartext"}


def test_head_gets_the_headers_of_get_without_a_body(web):
    path = f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={q(USER)}"
    _, get_headers, body = web.get(path)
    status, headers, head_body = web.request("HEAD", path)
    assert (status, head_body) == (200, b"")
    assert headers["content-length"] == get_headers["content-length"] == str(len(body))
    assert headers["content-type"] == get_headers["content-type"]


def test_autoconfig_by_host_name_uses_the_placeholder(web, tmp_path):
    status, _, body = web.get("/mail/config-v1.1.xml", headers={"Host": f"autoconfig.{DOMAIN}"})
    assert status == 200, body
    xmllint(body, tmp_path, "autoconfig-v1.1.xsd")
    root = ET.fromstring(body)
    assert root.findtext("emailProvider/domain") == DOMAIN
    assert {u.text for u in root.iter("username")} == {"%EMAILADDRESS%"}
    # The same path with an address works on any host name too.
    status, _, body = web.get(f"/mail/config-v1.1.xml?emailaddress={q(USER)}")
    assert status == 200 and {u.text for u in ET.fromstring(body).iter("username")} == {USER}


def check_autodiscover(body: bytes, tmp_path: Path, login: str):
    xmllint(body, tmp_path)
    xmllint(body, tmp_path, "autodiscover-response-2006.xsd")
    root = ET.fromstring(body)
    assert root.tag == "{http://schemas.microsoft.com/exchange/autodiscover/responseschema/2006}Autodiscover"
    protocols = [(p.findtext(f"{AUTODISCOVER_NS}Type"), p.findtext(f"{AUTODISCOVER_NS}Server"),
                  int(p.findtext(f"{AUTODISCOVER_NS}Port")), p.findtext(f"{AUTODISCOVER_NS}Encryption"))
                 for p in root.iter(f"{AUTODISCOVER_NS}Protocol")]
    encryption = {"SSL": "SSL", "STARTTLS": "TLS"}
    assert protocols == [("IMAP", h, p, encryption[s]) for h, p, s in WANT_IMAP] + \
                        [("SMTP", h, p, encryption[s]) for h, p, s in WANT_SMTP]
    assert {e.text for e in root.iter(f"{AUTODISCOVER_NS}LoginName")} == {login}
    assert {e.text for e in root.iter(f"{AUTODISCOVER_NS}SSL")} == {"on"}


def test_autodiscover_post_and_get(web, tmp_path):
    status, headers, body = web.request("POST", "/autodiscover/autodiscover.xml", body=autodiscover_request(USER),
                                        headers={"Content-Type": "text/xml"})
    assert status == 200, body
    assert headers["content-type"].startswith("text/xml")
    check_autodiscover(body, tmp_path, USER)
    # Outlook also spells it with capitals.
    status, _, body = web.request("POST", "/Autodiscover/Autodiscover.xml", body=autodiscover_request(USER))
    assert status == 200, body
    status, _, body = web.get(f"/autodiscover/autodiscover.xml?email={q(USER)}")
    assert status == 200, body
    check_autodiscover(body, tmp_path, USER)


def test_autodiscover_refuses_bad_requests_with_a_reason(web):
    status, _, body = web.request("POST", "/autodiscover/autodiscover.xml", body=b"<Autodiscover><Request>")
    assert status == 400 and b"the document ends inside an element" in body, body
    status, _, body = web.request("POST", "/autodiscover/autodiscover.xml",
                                  body=b'<!DOCTYPE a [<!ENTITY x "y">]><Autodiscover/>')
    assert status == 400 and b"DOCTYPE" in body, body
    mobilesync = "http://schemas.microsoft.com/exchange/autodiscover/mobilesync/responseschema/2006"
    status, _, body = web.request("POST", "/autodiscover/autodiscover.xml", body=autodiscover_request(USER, mobilesync))
    assert status == 404, body
    status, headers, _ = web.request("DELETE", "/autodiscover/autodiscover.xml")
    assert status == 405 and "POST" in headers["allow"]


def test_mobileconfig_unsigned(web, tmp_path):
    status, headers, body = web.get(f"/apple/mobileconfig?email={q(USER)}")
    assert status == 200, body
    assert headers["content-type"] == "application/x-apple-aspen-config"
    assert "attachment" in headers["content-disposition"]
    xmllint(body, tmp_path)
    profile = plistlib.loads(body)
    assert profile["PayloadType"] == "Configuration" and profile["PayloadVersion"] == 1
    (mail,) = profile["PayloadContent"]
    assert mail["PayloadType"] == "com.apple.mail.managed"
    assert mail["EmailAccountType"] == "EmailTypeIMAP"
    assert mail["EmailAddress"] == USER
    assert (mail["IncomingMailServerHostName"], mail["IncomingMailServerPortNumber"]) == WANT_IMAP[0][:2]
    assert (mail["OutgoingMailServerHostName"], mail["OutgoingMailServerPortNumber"]) == WANT_SMTP[0][:2]
    assert mail["IncomingMailServerUseSSL"] is True and mail["OutgoingMailServerUseSSL"] is True
    assert mail["IncomingMailServerUsername"] == USER == mail["OutgoingMailServerUsername"]
    assert mail["PayloadUUID"] != profile["PayloadUUID"]
    # The same address gets the same UUIDs: a new profile replaces the old one on the device.
    assert plistlib.loads(web.get(f"/apple/mobileconfig?email={q(USER)}")[2])["PayloadUUID"] == profile["PayloadUUID"]


def test_mta_sts_policy_is_served_and_its_id_is_the_one_dns_records_prints(web):
    status, headers, body = web.get("/.well-known/mta-sts.txt", headers={"Host": f"mta-sts.{DOMAIN}"})
    assert status == 200
    assert headers["content-type"] == "text/plain"
    assert body == b"version: STSv1\nmode: enforce\nmx: mx.example.test\nmax_age: 86400\n"
    # `postline dns records` with the same configuration prints this very policy, and a TXT id
    # derived from it (RFC 8461 3.1: the id changes exactly when the policy does).
    env = {k: v for k, v in SETTINGS_ENV.items() if k.startswith(("POSTLINE_SMTP_", "POSTLINE_WEB_MTA_STS"))}
    out = json.loads(web.platform.cli("--json", "dns", "records", DOMAIN, extra_env=env).stdout)
    assert out["mta_sts_policy"].encode() == body
    assert out["mta_sts_policy_url"] == f"https://mta-sts.{DOMAIN}/.well-known/mta-sts.txt"
    [txt] = [r for r in out["records"] if r["purpose"] == "mta-sts"]
    digest = base64.b64encode(hashlib.sha256(body).digest()).decode()
    assert txt["value"] == "v=STSv1; id=" + "".join(c for c in digest if c.isalnum())[:20]
    # Only on mta-sts.<hosted domain>.
    assert web.get("/.well-known/mta-sts.txt", headers={"Host": DOMAIN})[0] == 404
    assert web.get("/.well-known/mta-sts.txt", headers={"Host": "mta-sts.elsewhere.test"})[0] == 404
    assert web.metric("postline_webd_requests_total", {"path": "mta-sts", "status": "200"}) >= 1


def test_unknown_domain_gets_the_same_404_as_an_unknown_path(web):
    before = web.metric("postline_webd_requests_total", {"path": "autoconfig", "status": "404"})
    not_hosted = web.metric("postline_webd_domain_lookups_total", {"result": "not_hosted"})
    _, _, unknown_path = web.get("/no/such/page")
    for path in (f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={q('anna@elsewhere.test')}",
                 f"/mail/config-v1.1.xml",  # Host autoconfig.elsewhere.test below
                 f"/autodiscover/autodiscover.xml?email={q('anna@elsewhere.test')}",
                 f"/apple/mobileconfig?email={q('anna@elsewhere.test')}"):
        status, _, body = web.get(path, headers={"Host": "autoconfig.elsewhere.test"})
        assert (status, body) == (404, unknown_path), path
    status, _, body = web.request("POST", "/autodiscover/autodiscover.xml",
                                  body=autodiscover_request("anna@elsewhere.test"))
    assert (status, body) == (404, unknown_path)
    assert web.metric("postline_webd_requests_total", {"path": "autoconfig", "status": "404"}) == before + 2
    assert web.metric("postline_webd_domain_lookups_total", {"result": "not_hosted"}) == not_hosted + 5
    # A user that does not exist in a hosted domain gets settings like everyone
    # else: webd answers per domain, so it cannot be asked who has an account.
    assert web.get(f"/apple/mobileconfig?email={q('nobody-here@' + DOMAIN)}")[0] == 200


def test_xml_special_characters_in_the_address_are_escaped(web, tmp_path):
    raw = SPECIAL.encode()
    status, _, body = web.get(f"/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress={q(SPECIAL)}")
    assert status == 200, body
    xmllint(body, tmp_path, "autoconfig-v1.1.xsd")
    assert raw not in body
    assert {u.text for u in ET.fromstring(body).iter("username")} == {SPECIAL}
    # In the autodiscover request the client escapes it; webd decodes, checks and escapes again.
    escaped = SPECIAL.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;").replace('"', "&quot;")
    status, _, body = web.request("POST", "/autodiscover/autodiscover.xml", body=autodiscover_request(escaped))
    assert status == 200, body
    assert raw not in body
    check_autodiscover(body, tmp_path, SPECIAL)
    status, _, body = web.get(f"/apple/mobileconfig?email={q(SPECIAL)}")
    assert status == 200, body
    xmllint(body, tmp_path)
    assert raw not in body
    assert plistlib.loads(body)["PayloadContent"][0]["EmailAddress"] == SPECIAL


def test_bad_addresses_get_400_naming_the_problem(web):
    status, _, body = web.get("/.well-known/autoconfig/mail/config-v1.1.xml?emailaddress=nobody")
    assert (status, body) == (400, b"emailaddress: the address has no @\n")
    status, _, body = web.get(f"/apple/mobileconfig?email={q('a' * 65 + '@' + DOMAIN)}")
    assert (status, body) == (400, b"email: the local part is longer than 64 octets\n")
    status, _, body = web.get("/apple/mobileconfig?email=a%0d%0aX:%20y@example.test")
    assert (status, body) == (400, b"email: the address is not printable UTF-8\n")
    status, _, body = web.get("/apple/mobileconfig")
    assert (status, body) == (400, b"the email parameter is required\n")


def test_request_limits(web):
    before = web.metric("postline_webd_requests_total", {"path": "autodiscover", "status": "413"})
    big = autodiscover_request(USER).replace(b"<Request>", b"<Request><!--" + b"x" * (70 * 1024) + b"-->")
    status, _, body = web.request("POST", "/autodiscover/autodiscover.xml", body=big)
    assert (status, body) == (413, b"request body too large\n")
    assert web.metric("postline_webd_requests_total", {"path": "autodiscover", "status": "413"}) == before + 1
    # Just under the limit is read and answered.
    fits = autodiscover_request(USER).replace(b"<Request>", b"<Request><!--" + b"x" * (60 * 1024) + b"-->")
    assert web.request("POST", "/autodiscover/autodiscover.xml", body=fits)[0] == 200
    status, _, body = web.get("/mail/config-v1.1.xml", headers={"X-Padding": "p" * (9 * 1024)})
    assert (status, body) == (431, b"request header fields too large\n")


def test_expect_100_continue_gets_a_continue_before_the_body(web):
    """curl and .NET send larger POSTs with Expect: 100-continue and wait for
    the interim answer before the body (curl gives up waiting after a second)."""
    import socket
    body = autodiscover_request(USER)
    raw = socket.create_connection(("127.0.0.1", web.port), timeout=10)
    with web.ctx.wrap_socket(raw, server_hostname="127.0.0.1") as tls:
        tls.sendall(b"POST /autodiscover/autodiscover.xml HTTP/1.1\r\nHost: autodiscover.example.test\r\n"
                    b"Content-Type: text/xml\r\nExpect: 100-continue\r\nConnection: close\r\n"
                    b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n")
        interim = b""
        while b"\r\n\r\n" not in interim:
            chunk = tls.recv(4096)
            assert chunk, interim
            interim += chunk
        assert interim.startswith(b"HTTP/1.1 100 Continue\r\n"), interim
        tls.sendall(body)
        rest = interim.split(b"\r\n\r\n", 1)[1]
        while True:
            chunk = tls.recv(65536)
            if not chunk:
                break
            rest += chunk
    assert rest.startswith(b"HTTP/1.1 200 OK\r\n"), rest[:200]
    assert f"<LoginName>{USER}</LoginName>".encode() in rest


def test_plain_http_only_redirects_to_https(web):
    port = web.platform.ports["web_redirect"]
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    conn.request("GET", f"/mail/config-v1.1.xml?emailaddress={q(USER)}", headers={"Host": f"autoconfig.{DOMAIN}:80"})
    r = conn.getresponse()
    r.read()
    assert r.status == 301
    assert r.getheader("Location") == f"https://autoconfig.{DOMAIN}:{web.port}/mail/config-v1.1.xml?emailaddress={q(USER)}"
    conn.request("POST", "/autodiscover/autodiscover.xml", body=autodiscover_request(USER),
                 headers={"Host": f"autodiscover.{DOMAIN}"})
    r = conn.getresponse()
    assert r.status == 308 and b"<" not in r.read()  # no document over plain HTTP
    conn.request("GET", "/", headers={"Host": "evil.example/x"})
    r = conn.getresponse()
    assert (r.status, r.getheader("Location")) == (400, None)
    r.read()
    conn.close()
    assert web.metric("postline_webd_requests_total", {"path": "redirect", "status": "301"}) >= 1


def test_metrics_health_and_readiness(web):
    assert web.platform.http_status("webd", "/healthz") == 200
    assert web.platform.http_status("webd", "/readyz") == 200
    series = parse_metrics(web.platform.metrics_text("webd"))
    names = {name for name, _ in series}
    assert {"postline_webd_requests_total", "postline_webd_domain_lookups_total", "postline_webd_build_info",
            "postline_webd_tls_handshake_failures_total", "postline_webd_grpc_client_calls_total"} <= names
    assert series[("postline_webd_requests_total", (("path", "mobileconfig"), ("status", "200")))] >= 1


def test_tls_handshake_failure_is_counted_and_plain_http_on_https_gets_nothing(web):
    before = web.metric("postline_webd_tls_handshake_failures_total", {})
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    with pytest.raises((http.client.HTTPException, ConnectionError, OSError)):
        conn.request("GET", "/")
        conn.getresponse()
    conn.close()
    wait_until(lambda: web.metric("postline_webd_tls_handshake_failures_total", {}) == before + 1,
               what="a counted handshake failure")


def test_domain_check_unavailable_gives_503_and_readyz_follows_authd(web):
    plat = web.platform
    plat.stop("authd")
    try:
        wait_until(lambda: plat.http_status("webd", "/readyz") == 503, what="webd not ready without authd")
        status, headers, _ = web.get(f"/apple/mobileconfig?email={q(USER)}")
        assert status == 503 and headers["retry-after"] == "30"
    finally:
        plat.start("authd")
    wait_until(lambda: plat.http_status("webd", "/readyz") == 200, what="webd ready again")
    assert web.get(f"/apple/mobileconfig?email={q(USER)}")[0] == 200


def test_signed_mobileconfig_verifies_with_the_server_certificate(web, tmp_path):
    """Last: restarts webd with web.sign_mobileconfig on (and the domain cache on)."""
    plat = web.platform
    plat.stop("webd")
    web.port = plat.start_webd({"POSTLINE_WEB_SIGN_MOBILECONFIG": "true", "POSTLINE_WEB_DOMAIN_CACHE_TTL": "1h"})
    status, headers, body = web.get(f"/apple/mobileconfig?email={q(SPECIAL)}")
    assert status == 200, body
    assert headers["content-type"] == "application/x-apple-aspen-config"
    assert not body.startswith(b"<?xml")  # DER, not the bare plist
    signed, content = tmp_path / "signed.der", tmp_path / "content.plist"
    signed.write_bytes(body)
    out = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signed), "-CAfile",
                          str(plat.cert), "-purpose", "any", "-out", str(content)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert "Verification successful" in out.stderr
    plist = content.read_bytes()
    xmllint(plist, tmp_path)
    assert SPECIAL.encode() not in plist
    assert plistlib.loads(plist)["PayloadContent"][0]["EmailAddress"] == SPECIAL
    # The signer is the certificate webd serves.
    signer = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signed), "-noverify",
                             "-signer", str(tmp_path / "signer.pem"), "-out", "/dev/null"], capture_output=True)
    assert signer.returncode == 0, signer.stderr
    fingerprint = lambda p: subprocess.run(["openssl", "x509", "-noout", "-fingerprint", "-sha256", "-in", str(p)],
                                           capture_output=True, text=True, check=True).stdout
    assert fingerprint(tmp_path / "signer.pem") == fingerprint(plat.cert)
    # A tampered profile does not verify.
    tampered = bytearray(body)
    i = body.find(b"imap.example.test")
    assert i > 0
    tampered[i] = ord("X")
    signed.write_bytes(bytes(tampered))
    out = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(signed), "-CAfile",
                          str(plat.cert), "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert out.returncode != 0
    # With web.domain_cache_ttl, authd was asked once for both requests of the domain.
    assert web.get(f"/apple/mobileconfig?email={q(USER)}")[0] == 200
    assert web.metric("postline_webd_domain_lookups_total", {"result": "hosted"}) == 1
    assert web.metric("postline_webd_domain_cache_hits_total", {}) == 1


@pytest.mark.parametrize("env,message", [
    ({"POSTLINE_TLS_CERT_FILE": "", "POSTLINE_TLS_KEY_FILE": ""},
     "web.cert_file (or tls.cert_file) and its key are required: webd serves HTTPS only"),
    ({"POSTLINE_WEB_CERT_FILE": "/nonexistent/web.pem", "POSTLINE_WEB_KEY_FILE": "/nonexistent/web.key"},
     "web.cert_file: cannot load certificate chain /nonexistent/web.pem"),
    ({"POSTLINE_WEB_CERT_FILE": "/nonexistent/web.pem"}, "web.cert_file, web.key_file: set both or neither"),
    ({"POSTLINE_WEB_IMAPS_PORT": "0", "POSTLINE_WEB_IMAP_STARTTLS_PORT": "0"},
     "web.imaps_port, web.imap_starttls_port: at least one must be offered"),
    ({"POSTLINE_WEB_SMTP_HOSTNAME": "smtp example"}, 'web.smtp_hostname: "smtp example" is not a host name'),
    ({"POSTLINE_WEB_MAX_BODY_SIZE": "12"}, "web.max_body_size"),
])
def test_bad_configuration_stops_webd_naming_the_key(platform, env, message):
    """Exit 2 and a message naming the key, before any port is bound."""
    result = subprocess.run([str(platform.bin / "postline-webd")], capture_output=True, text=True, timeout=30,
                            env=platform.process_env({**SETTINGS_ENV, **env}), stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result
    assert message in result.stderr, result.stderr


def test_sighup_reloads_the_certificate_and_the_signing_key(web, tmp_path):
    """Last (it leaves web.cert_file set): a renewed certificate is served, and
    signs profiles, after SIGHUP, without a restart."""
    import signal

    plat = web.platform

    def make_pair(name: str) -> tuple[Path, Path]:
        cert, key = tmp_path / f"{name}.crt", tmp_path / f"{name}.key"
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
                        f"/CN={name}", "-addext", "subjectAltName=DNS:localhost,IP:127.0.0.1", "-keyout", str(key),
                        "-out", str(cert)], check=True, capture_output=True)
        return cert, key

    def der(pem_file: Path) -> bytes:
        return ssl.PEM_cert_to_DER_cert(pem_file.read_text())

    def served() -> bytes:
        return ssl.PEM_cert_to_DER_cert(ssl.get_server_certificate(("127.0.0.1", web.port), timeout=5))

    first_cert, first_key = make_pair("first")
    live_cert, live_key = tmp_path / "web.crt", tmp_path / "web.key"
    shutil.copy(first_cert, live_cert)
    shutil.copy(first_key, live_key)
    plat.stop("webd")
    web.port = plat.start_webd({"POSTLINE_WEB_CERT_FILE": str(live_cert), "POSTLINE_WEB_KEY_FILE": str(live_key)})
    assert served() == der(first_cert)
    second_cert, second_key = make_pair("second")
    shutil.copy(second_key, live_key)
    shutil.copy(second_cert, live_cert)
    plat.procs["webd"].send_signal(signal.SIGHUP)
    wait_until(lambda: served() == der(second_cert), what="the renewed certificate to be served")
    # Profiles are signed with the renewed pair too (web.sign_mobileconfig is still on).
    web.ctx = ssl.create_default_context(cafile=str(second_cert))
    status, _, body = web.get(f"/apple/mobileconfig?email={q(USER)}")
    assert status == 200
    (tmp_path / "p.der").write_bytes(body)
    out = subprocess.run(["openssl", "cms", "-verify", "-inform", "DER", "-in", str(tmp_path / "p.der"), "-CAfile",
                          str(second_cert), "-purpose", "any", "-out", "/dev/null"], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
