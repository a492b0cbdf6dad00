"""Mutual TLS between the services (grpc.tls_*): with it on, mail still travels
SMTP -> queued -> mailbox -> IMAP and the CLI still works, while a gRPC peer
without a certificate from the deployment's CA is refused at the handshake.
Half a configuration, or an unreadable file, stops a service at start-up."""
from __future__ import annotations

import imaplib
import smtplib
import socket
import ssl
import subprocess
from email.message import EmailMessage
from pathlib import Path

import pytest

from platform_support import Platform, new_workdir, wait_until

USER = "tls-user@example.test"
PASSWORD = "correct horse battery staple"

# HTTP/2 client connection preface followed by an empty SETTINGS frame.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00"


def openssl(*args: str, cwd: Path):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True)


def make_pki(directory: Path) -> dict[str, Path]:
    """A throwaway CA, one certificate it signed (server and client use, valid
    for 127.0.0.1/localhost) and one certificate from an unrelated CA."""
    directory.mkdir(parents=True, exist_ok=True)
    ext = directory / "leaf.ext"
    ext.write_text("subjectAltName=DNS:localhost,IP:127.0.0.1\nextendedKeyUsage=serverAuth,clientAuth\n")
    for ca in ("ca", "other-ca"):
        openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                "-subj", f"/CN=Postline test {ca}", "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", f"{ca}.key", "-out", f"{ca}.pem",
                cwd=directory)
    for leaf, ca in (("service", "ca"), ("stranger", "other-ca")):
        openssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                "-subj", f"/CN=postline-{leaf}", "-keyout", f"{leaf}.key", "-out", f"{leaf}.csr", cwd=directory)
        openssl("x509", "-req", "-in", f"{leaf}.csr", "-CA", f"{ca}.pem", "-CAkey", f"{ca}.key",
                "-CAcreateserial", "-days", "2", "-extfile", str(ext), "-out", f"{leaf}.pem", cwd=directory)
    return {name: directory / name for name in
            ("ca.pem", "service.pem", "service.key", "stranger.pem", "stranger.key")}


@pytest.fixture(scope="module")
def pki():
    directory = new_workdir("postline-grpc-pki-")
    return make_pki(directory)


def tls_env(pki) -> dict:
    return {
        "POSTLINE_GRPC_TLS_CERT_FILE": str(pki["service.pem"]),
        "POSTLINE_GRPC_TLS_KEY_FILE": str(pki["service.key"]),
        "POSTLINE_GRPC_TLS_CA_FILE": str(pki["ca.pem"]),
    }


@pytest.fixture(scope="module")
def tls_platform(fresh_platform_factory, pki):
    p = fresh_platform_factory(tls_env(pki))
    p.add_user(USER, PASSWORD)  # the CLI talks mutual TLS to authd
    return p


def h2_answer(port: int, cert: Path | None, key: Path | None, ca: Path) -> bytes:
    """Opens TLS (ALPN h2) to a gRPC port, sends the HTTP/2 preface, returns
    what the server answers; raises ssl.SSLError/OSError when refused."""
    context = ssl.create_default_context(cafile=str(ca))
    context.set_alpn_protocols(["h2"])
    if cert:
        context.load_cert_chain(str(cert), str(key))
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with context.wrap_socket(raw, server_hostname="localhost") as tls:
            tls.sendall(H2_PREFACE)
            return tls.recv(64)


def test_mail_travels_with_mutual_tls_between_services(tls_platform):
    p = tls_platform
    msg = EmailMessage()
    msg["From"] = "sender@remote.test"
    msg["To"] = USER
    msg["Subject"] = "over mutual TLS"
    msg.set_content("the queue and authd were reached over TLS\n")
    with smtplib.SMTP("127.0.0.1", p.ports["smtp_mx"], timeout=30) as smtp:
        smtp.ehlo("client.remote.test")
        smtp.send_message(msg)  # RCPT asks authd, DATA enqueues in queued: both gRPC

    def delivered():
        imap = imaplib.IMAP4("127.0.0.1", p.ports["imap"])
        try:
            imap.login(USER, PASSWORD)  # imapd -> authd over TLS
            typ, data = imap.select("INBOX", readonly=True)
            return typ == "OK" and int(data[0]) == 1
        finally:
            imap.logout()

    wait_until(delivered, timeout=30, what="the message in INBOX")
    assert p.metric_value("smtpd", "postline_smtpd_grpc_client_calls_total", {"code": "OK"}) > 0
    # The CLI reads the same grpc.tls_* keys.
    listing = p.cli("queue", "list", "--json").stdout
    assert listing.strip().startswith("["), listing


def test_managesieve_login_over_mutual_tls(tls_platform):
    """managesieved relays AUTHENTICATE to authd over the same mutual TLS."""
    from managesieve_wire import ManageSieve
    with ManageSieve(tls_platform.ports["managesieve"]) as ms:
        ms.starttls()
        assert ms.authenticate_plain(USER, PASSWORD).status == "OK"
        assert ms.command("LISTSCRIPTS").status == "OK"
    assert tls_platform.metric_value("managesieved", "postline_managesieved_grpc_client_calls_total",
                                     {"method": "SaslStart", "code": "OK"}) >= 1


def test_peer_with_certificate_from_our_ca_gets_http2(tls_platform, pki):
    answer = h2_answer(tls_platform.ports["auth_grpc"], pki["service.pem"], pki["service.key"], pki["ca.pem"])
    assert len(answer) >= 9 and answer[3] == 0x04, answer  # a SETTINGS frame


@pytest.mark.parametrize("client", ["no certificate", "certificate from another CA"])
def test_peer_without_our_certificate_is_refused(tls_platform, pki, client):
    cert, key = (None, None) if client == "no certificate" else (pki["stranger.pem"], pki["stranger.key"])
    for port in (tls_platform.ports["auth_grpc"], tls_platform.ports["queue_grpc"]):
        try:
            answer = h2_answer(port, cert, key, pki["ca.pem"])
        except (ssl.SSLError, ConnectionError) as e:
            print(f"port {port}, {client}: refused ({e})")
            continue
        assert answer == b"", f"port {port} answered a peer with {client}: {answer!r}"


def test_plaintext_client_cannot_use_a_tls_server(tls_platform):
    result = tls_platform.cli("user", "list", check=False, extra_env={
        "POSTLINE_GRPC_TLS_CERT_FILE": "", "POSTLINE_GRPC_TLS_KEY_FILE": "", "POSTLINE_GRPC_TLS_CA_FILE": ""})
    assert result.returncode == 1, result
    assert USER not in result.stdout


@pytest.mark.parametrize("service", ["authd", "queued", "smtpd", "imapd", "managesieved"])
def test_half_a_tls_configuration_stops_the_service(pg_server_url, pki, service):
    p = Platform(pg_server_url, new_workdir("postline-grpc-cfg-"))
    only_cert = {"POSTLINE_GRPC_TLS_CERT_FILE": str(pki["service.pem"])}
    result = subprocess.run([str(p.bin / f"postline-{service}")], capture_output=True, text=True, timeout=60,
                            env=p.process_env(only_cert), stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result
    assert "grpc.tls_ca_file" in result.stderr, result.stderr
    missing = dict(tls_env(pki), POSTLINE_GRPC_TLS_CA_FILE=str(p.workdir / "no-such-ca.pem"))
    result = subprocess.run([str(p.bin / f"postline-{service}")], capture_output=True, text=True, timeout=60,
                            env=p.process_env(missing), stdin=subprocess.DEVNULL)
    assert result.returncode == 2, result
    assert "no-such-ca.pem" in result.stderr, result.stderr


def test_cli_commands_without_grpc_ignore_the_tls_files(pg_server_url, pki):
    """`postline migrate` runs before compose's init has made the certificates."""
    p = Platform(pg_server_url, new_workdir("postline-grpc-cli-"))
    missing = dict(tls_env(pki), POSTLINE_GRPC_TLS_CA_FILE=str(p.workdir / "not-yet.pem"))
    assert p.cli("migrate", extra_env=missing, check=False).returncode == 0
    result = p.cli("user", "list", extra_env=missing, check=False)
    assert result.returncode == 2 and "not-yet.pem" in result.stderr, result
