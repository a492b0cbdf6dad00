"""Built-in ACME end to end (issue 17): postline-webd obtains, installs and
renews the certificate from Pebble (Debian's RFC 8555 test CA), answering
http-01 on its plain-HTTP port; smtpd, imapd and webd pick the new files up by
themselves (tls.reload_check_interval) without a restart and without dropping
open connections; a failing order keeps the old certificate and is retried.

Everything is real: the four services and webd as processes, Pebble on
loopback (its own CA, which the test fetches from Pebble's management port to
verify what the services present), and dnsmasq answering the certified names
with 127.0.0.1 (Pebble's validation authority asks it, so every other name
under .test is NXDOMAIN). Pebble's listener gets a certificate from a CA this
test makes with openssl; webd trusts it through acme.ca_file.

Pebble refuses 30 % of nonces here (PEBBLE_WFE_NONCEREJECT; its default is 5 %), so
webd's badNonce retry runs in every order, and the renewal test checks it was counted.
"""
from __future__ import annotations

import json
import os
import shutil
import smtplib
import socket
import ssl
import subprocess
import urllib.request
from pathlib import Path

import pytest

from dns_support import dnsmasq
from platform_support import Platform, free_port, new_workdir, wait_until

PEBBLE = shutil.which("pebble") or "/usr/bin/pebble"
NAMES = ["mail.acme.test", "imap.acme.test"]
MISSING = "missing.acme.test"  # not in the DNS server: NXDOMAIN for Pebble's validation


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, capture_output=True)


def make_test_ca(directory: Path) -> tuple[Path, Path]:
    """A CA and a key pair it signed for 127.0.0.1 (Pebble's HTTPS listener)."""
    ca_key, ca_cert = directory / "test-ca.key", directory / "test-ca.pem"
    openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "2",
            "-subj", "/CN=postline acme test CA", "-keyout", str(ca_key), "-out", str(ca_cert))
    return ca_key, ca_cert


def sign_with_test_ca(directory: Path, ca: tuple[Path, Path], stem: str, sans: str, days: int,
                      cn: str) -> tuple[Path, Path]:
    ca_key, ca_cert = ca
    key, csr, cert = directory / f"{stem}.key", directory / f"{stem}.csr", directory / f"{stem}.pem"
    ext = directory / f"{stem}.ext"
    ext.write_text(f"subjectAltName={sans}\n")
    openssl("req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-subj", f"/CN={cn}",
            "-keyout", str(key), "-out", str(csr))
    openssl("x509", "-req", "-in", str(csr), "-CA", str(ca_cert), "-CAkey", str(ca_key), "-CAcreateserial",
            "-days", str(days), "-extfile", str(ext), "-out", str(cert))
    return cert, key


class Pebble:
    def __init__(self, workdir: Path, ca: tuple[Path, Path], http_port: int, dns: str):
        self.port, self.mgmt_port = free_port(), free_port()
        cert, key = sign_with_test_ca(workdir, ca, "pebble-listener", "IP:127.0.0.1,DNS:localhost", 2, "localhost")
        self.trust = ssl.create_default_context(cafile=str(ca[1]))
        config = workdir / "pebble.json"
        config.write_text(json.dumps({"pebble": {
            "listenAddress": f"127.0.0.1:{self.port}",
            "managementListenAddress": f"127.0.0.1:{self.mgmt_port}",
            "certificate": str(cert), "privateKey": str(key),
            "httpPort": http_port, "tlsPort": free_port(),
            "ocspResponderURL": "", "externalAccountBindingRequired": False}}))
        self.log = workdir / "pebble.log"
        env = dict(os.environ, PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="30")
        with open(self.log, "ab") as log:
            self.proc = subprocess.Popen([PEBBLE, "-config", str(config), "-dnsserver", dns], stdout=log,
                                         stderr=subprocess.STDOUT, env=env, stdin=subprocess.DEVNULL)
        wait_until(lambda: self.get(f"https://127.0.0.1:{self.port}/dir"), timeout=20, what="pebble's directory")

    @property
    def directory_url(self) -> str:
        return f"https://127.0.0.1:{self.port}/dir"

    def get(self, url: str) -> bytes:
        assert self.proc.poll() is None, self.log.read_text()
        with urllib.request.urlopen(url, context=self.trust, timeout=5) as r:
            return r.read()

    def issuing_root(self) -> str:
        """The root Pebble issues from (made anew each run), as PEM."""
        return self.get(f"https://127.0.0.1:{self.mgmt_port}/roots/0").decode()

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def presented(ctx: ssl.SSLContext, kind: str, port: int) -> dict:
    """The certificate a service shows to a client that trusts only `ctx`'s
    roots (verified: chain and validity); {"names", "serial"}."""
    if kind == "smtp":
        with smtplib.SMTP("127.0.0.1", port, local_hostname="client.acme.test", timeout=10) as s:
            s.starttls(context=ctx)
            cert = s.sock.getpeercert()
    else:  # implicit TLS: imapd's 993 analogue, webd's HTTPS
        with socket.create_connection(("127.0.0.1", port), timeout=10) as raw, \
                ctx.wrap_socket(raw, server_hostname=NAMES[0]) as tls:
            cert = tls.getpeercert()
    return {"names": sorted(v for k, v in cert.get("subjectAltName", ()) if k == "DNS"),
            "serial": cert["serialNumber"]}


def verifying_context(root_pem: str) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cadata=root_pem)
    # Names are compared by the test (all of NAMES), not by one server_hostname.
    ctx.check_hostname = False
    return ctx


@pytest.fixture(scope="module")
def acme(pg_server_url):
    if not os.path.exists(PEBBLE):
        print("SKIP reason: pebble is not installed (Debian package pebble, scripts/packages/test.txt)")
        pytest.skip("pebble is not installed (Debian package pebble, scripts/packages/test.txt)")
    workdir = new_workdir("postline-acme-")
    tls_dir = workdir / "tls"
    tls_dir.mkdir()
    platform = Platform(pg_server_url, workdir)
    # The services start on a self-signed certificate (what webd writes as a
    # placeholder when there is none; here the platform's own): with ACME on,
    # a self-signed certificate is always replaced.
    cert, key = tls_dir / "cert.pem", tls_dir / "key.pem"
    shutil.copy(platform.cert, cert)
    shutil.copy(platform.key, key)
    key.chmod(0o600)
    platform.env.update({
        "POSTLINE_TLS_CERT_FILE": str(cert), "POSTLINE_TLS_KEY_FILE": str(key),
        "POSTLINE_TLS_RELOAD_CHECK_INTERVAL": "1s",
        "POSTLINE_SMTP_HOSTNAME": NAMES[0], "POSTLINE_WEB_IMAP_HOSTNAME": NAMES[1],
    })
    ca = make_test_ca(workdir)
    records = [f"--address=/{n}/127.0.0.1" for n in NAMES]
    pebble = None
    try:
        with dnsmasq(records, probe=NAMES[0]) as dns:
            pebble = Pebble(workdir, ca, platform.ports["web_redirect"], dns)
            platform.start_all()
            acme_env = {
                "POSTLINE_ACME_ENABLED": "true",
                "POSTLINE_ACME_DIRECTORY_URL": pebble.directory_url,
                "POSTLINE_ACME_CA_FILE": str(ca[1]),
                "POSTLINE_ACME_CONTACT_EMAIL": "postmaster@acme.test",
                "POSTLINE_ACME_ACCOUNT_KEY_FILE": str(workdir / "acme-account.key"),
                "POSTLINE_ACME_CHECK_INTERVAL": "1s",
            }
            platform.start_webd(acme_env)
            assert platform.ports["web_redirect"] == pebble_http_port(pebble), "webd's challenge port moved"
            yield platform, pebble, ca, cert, key
    finally:
        platform.stop_all()
        if pebble:
            pebble.stop()
        if not os.environ.get("POSTLINE_KEEP_TEST_DIRS"):
            shutil.rmtree(workdir, ignore_errors=True)


def pebble_http_port(pebble: Pebble) -> int:
    return json.loads((pebble.log.parent / "pebble.json").read_text())["pebble"]["httpPort"]


def all_present(platform: Platform, ctx: ssl.SSLContext, serial: str | None = None):
    """The three services' certificates once each shows an issued one for
    NAMES (and, given `serial`, that very one); else falsy (polled)."""
    got = {
        "smtpd": presented(ctx, "smtp", platform.ports["smtp_submission"]),
        "imapd": presented(ctx, "tls", platform.ports["imaps"]),
        "webd": presented(ctx, "tls", platform.ports["web_https"]),
    }
    for service, cert in got.items():
        if cert["names"] != sorted(NAMES) or (serial and cert["serial"] != serial):
            return None
    return got


def installed_serial(cert_file: Path) -> str:
    out = subprocess.run(["openssl", "x509", "-in", str(cert_file), "-noout", "-serial"], check=True,
                         capture_output=True, text=True).stdout
    return out.strip().split("=", 1)[1].upper()


def test_webd_obtains_a_certificate_and_every_service_presents_it(acme):
    platform, pebble, _, cert, key = acme
    wait_until(lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"}) >= 1,
               timeout=60, what="webd's first ACME order")
    ctx = verifying_context(pebble.issuing_root())
    serial = installed_serial(cert)
    # Handshakes that verify against Pebble's root alone: the placeholder (self-signed) would fail them.
    got = wait_until(lambda: all_present(platform, ctx, serial), timeout=30,
                     what="smtpd, imapd and webd presenting the issued certificate")
    assert {c["serial"] for c in got.values()} == {serial}
    assert oct(key.stat().st_mode & 0o777) == "0o600"
    assert oct((platform.workdir / "acme-account.key").stat().st_mode & 0o777) == "0o600"
    # No process was restarted: the ones the platform started are all still running.
    for service in ("smtpd", "imapd", "webd"):
        assert platform.procs[service].poll() is None
        assert platform.metric_value(service, "postline_tls_reloads_total", {"trigger": "file", "outcome": "ok"}) >= 1
        assert platform.metric_value(service, "postline_tls_reloads_total", {"outcome": "error"}) == 0
    # The expiry metric follows the reload.
    not_after = platform.metric_value("imapd", "postline_tls_certificate_not_after_timestamp_seconds",
                                      {"setting": "tls.cert_file"})
    assert not_after > platform.metric_value("webd", "postline_acme_last_renewal_timestamp_seconds") > 0
    assert platform.metric_value("webd", "postline_acme_renewal_due_timestamp_seconds") > 0
    # Pebble fetched the key authorizations from webd's plain-HTTP port.
    assert platform.metric_value("webd", "postline_webd_requests_total", {"path": "acme_challenge", "status": "200"}) > 0
    # The challenge port still redirects everything else, and unknown tokens are not answered.
    conn = socket.create_connection(("127.0.0.1", platform.ports["web_redirect"]), timeout=5)
    conn.sendall(b"GET /.well-known/acme-challenge/not-a-pending-token HTTP/1.1\r\nHost: mail.acme.test\r\n"
                 b"Connection: close\r\n\r\n")
    reply = b""
    while chunk := conn.recv(4096):
        reply += chunk
    conn.close()
    assert reply.startswith(b"HTTP/1.1 301"), reply


def imap_line(tls: ssl.SSLSocket) -> bytes:
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = tls.recv(1)
        assert chunk, "imapd closed the connection"
        line += chunk
    return line


def test_renewal_reaches_every_service_and_keeps_open_connections(acme):
    platform, pebble, ca, cert, key = acme
    wait_until(lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"}) >= 1,
               timeout=60, what="webd's first ACME order")
    ctx = verifying_context(pebble.issuing_root())
    first = installed_serial(cert)
    wait_until(lambda: all_present(platform, ctx, first), timeout=30, what="the first certificate everywhere")
    issued_before = platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"})

    # An IMAP session over TLS, opened before the renewal.
    raw = socket.create_connection(("127.0.0.1", platform.ports["imaps"]), timeout=10)
    session = ctx.wrap_socket(raw, server_hostname=NAMES[1])
    assert imap_line(session).startswith(b"* OK")

    # A certificate for the same names that expires tomorrow, put in place as
    # an operator (or cert-manager) would: webd must find it due and renew.
    soon_cert, soon_key = sign_with_test_ca(platform.workdir, ca, "expiring", ",".join(f"DNS:{n}" for n in NAMES), 1,
                                            NAMES[0])
    tmp = key.with_suffix(".new")
    shutil.copy(soon_key, tmp)
    tmp.chmod(0o600)
    os.replace(tmp, key)
    shutil.copy(soon_cert, tmp)
    os.replace(tmp, cert)

    wait_until(lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"})
               > issued_before, timeout=60, what="webd renewing the expiring certificate")
    second = installed_serial(cert)
    assert second != first
    got = wait_until(lambda: all_present(platform, ctx, second), timeout=30,
                     what="smtpd, imapd and webd presenting the renewed certificate")
    assert {c["serial"] for c in got.values()} == {second}

    # The session from before the renewal still has its TLS session and works.
    session.sendall(b"a1 NOOP\r\n")
    assert imap_line(session).startswith(b"a1 OK"), "NOOP after the renewal"
    session.sendall(b"a2 LOGOUT\r\n")
    assert imap_line(session).startswith(b"* BYE")
    assert imap_line(session).startswith(b"a2 OK")
    session.close()
    for service in ("smtpd", "imapd", "webd"):
        assert platform.procs[service].poll() is None
    # Two orders' worth of signed requests at Pebble's 30 % refusals: badNonce was met and retried
    # (otherwise no order would have been issued).
    assert platform.metric_value("webd", "postline_acme_bad_nonce_retries_total") > 0


def test_a_failing_order_keeps_the_certificate_and_is_retried(acme):
    platform, pebble, _, cert, _ = acme
    wait_until(lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"}) >= 1,
               timeout=60, what="webd's first ACME order")
    ctx = verifying_context(pebble.issuing_root())
    serial = installed_serial(cert)
    wait_until(lambda: all_present(platform, ctx, serial), timeout=30, what="the issued certificate everywhere")
    before = cert.read_bytes()
    # A name DNS does not know: Pebble's validation gets NXDOMAIN, the order fails.
    platform.stop("webd")
    platform.start_webd({"POSTLINE_ACME_NAMES": ",".join([*NAMES, MISSING])})
    failed = lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "failed"})  # noqa: E731
    wait_until(lambda: failed() >= 1, timeout=60, what="the failing order to be counted")
    # ... and retried at the next check (acme.check_interval 1s), failing again.
    wait_until(lambda: failed() >= 2, timeout=60, what="the failing order to be retried")
    assert platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"}) == 0
    assert cert.read_bytes() == before
    log = platform.logs["webd"].read_text(errors="replace")
    assert "failed, keeping the current certificate" in log and MISSING in log, platform.log_tail("webd")
    # Every service still presents the certificate it had.
    assert all_present(platform, ctx, serial)
    # The names go back: the next check finds the certificate fine and orders nothing.
    platform.stop("webd")
    platform.extra_env.pop("POSTLINE_ACME_NAMES")
    platform.env.pop("POSTLINE_ACME_NAMES")
    platform.start_webd()
    wait_until(lambda: platform.metric_value("webd", "postline_acme_renewal_due_timestamp_seconds") > 0,
               timeout=30, what="webd's check finding the certificate not due")
    assert platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "failed"}) == 0
    assert installed_serial(cert) == serial


def test_webd_starts_on_a_placeholder_when_there_is_no_certificate(acme):
    """A new installation: no file at tls.cert_file. webd writes a self-signed
    placeholder, starts on it, and replaces it with an issued certificate."""
    platform, pebble, _, _, _ = acme
    fresh = platform.workdir / "fresh-tls"
    fresh.mkdir()
    cert, key = fresh / "cert.pem", fresh / "key.pem"
    saved = {k: platform.env[k] for k in ("POSTLINE_TLS_CERT_FILE", "POSTLINE_TLS_KEY_FILE")}
    platform.stop("webd")
    try:
        platform.start_webd({"POSTLINE_TLS_CERT_FILE": str(cert), "POSTLINE_TLS_KEY_FILE": str(key)})
        assert "wrote a self-signed placeholder" in platform.logs["webd"].read_text(errors="replace")
        wait_until(lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"}) >= 1,
                   timeout=60, what="webd replacing its placeholder")
        ctx = verifying_context(pebble.issuing_root())
        serial = installed_serial(cert)
        got = wait_until(lambda: (lambda c: c if c["serial"] == serial else None)(
            presented(ctx, "tls", platform.ports["web_https"])), timeout=30, what="webd presenting the issued one")
        assert got["names"] == sorted(NAMES)
        assert oct(key.stat().st_mode & 0o777) == "0o600"
    finally:
        platform.stop("webd")
        for k, v in saved.items():
            platform.extra_env[k] = platform.env[k] = v
        platform.start_webd()


def test_an_acme_server_outside_acme_ca_file_is_refused(acme):
    """webd verifies the CA's HTTPS certificate against acme.ca_file: trusting
    another CA (the platform's self-signed certificate), every order fails at
    the TLS handshake and the installed certificate stays."""
    platform, _, _, cert, _ = acme
    before = cert.read_bytes()
    platform.stop("webd")
    # renew_before above any lifetime: every check finds the certificate due.
    override = {"POSTLINE_ACME_CA_FILE": str(platform.cert), "POSTLINE_ACME_RENEW_BEFORE": "100000d"}
    saved = {k: platform.env[k] for k in override if k in platform.env}
    try:
        platform.start_webd(override)
        wait_until(lambda: platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "failed"}) >= 1,
                   timeout=60, what="the order to fail at the TLS handshake")
        assert platform.metric_value("webd", "postline_acme_orders_total", {"outcome": "issued"}) == 0
        log = platform.logs["webd"].read_text(errors="replace")
        assert "certificate verify failed" in log, platform.log_tail("webd")
        assert cert.read_bytes() == before
    finally:
        platform.stop("webd")
        for k in override:
            platform.extra_env.pop(k, None)
            platform.env.pop(k, None)
        platform.env.update(saved)
        platform.extra_env.update(saved)
        platform.start_webd()
