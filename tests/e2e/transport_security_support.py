"""Peers for tests/e2e/test_queue_transport_security.py (issue 20), all on loopback:

- a test CA and certificates made with the openssl CLI;
- DNS: a private Debian `unbound` serving two auth-zones (under example., not test.: unbound
  and libunbound answer NXDOMAIN for test. by default, RFC 6761), `dane.example.` signed with
  ldnsutils (ldns-keygen, ldns-signzone) and `sts.example.` unsigned; unbound itself does not
  validate (module-config "iterator"), queued's libunbound does, with the zone's KSK as
  its trust anchor. Records can be changed and the zones reloaded (SIGHUP);
- an HTTPS server (http.server + ssl) publishing MTA-STS policies per Host;
- SMTP peers (aiosmtpd) that pick their certificate by SNI and may offer REQUIRETLS.
"""
from __future__ import annotations

import hashlib
import http.server
import re
import shutil
import signal
import socket
import ssl
import subprocess
import threading
import time
from pathlib import Path

from platform_support import free_port, wait_until

UNBOUND = shutil.which("unbound") or "/usr/sbin/unbound"
LDNS_KEYGEN = shutil.which("ldns-keygen") or "/usr/bin/ldns-keygen"
LDNS_SIGNZONE = shutil.which("ldns-signzone") or "/usr/bin/ldns-signzone"


def tools_missing() -> str | None:
    for tool in (UNBOUND, LDNS_KEYGEN, LDNS_SIGNZONE):
        if not Path(tool).exists():
            return f"{tool} is not installed (scripts/packages/queue.txt: unbound, ldnsutils)"
    return None


# --- certificates --------------------------------------------------------------------

def _openssl(*args, cwd: Path):
    subprocess.run(["openssl", *args], check=True, capture_output=True, cwd=cwd)


class TestCa:
    """A CA and leaf certificates it signs (or self-signed ones)."""

    def __init__(self, directory: Path):
        self.dir = directory
        self.cert = directory / "ca.pem"
        self.key = directory / "ca.key"
        _openssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes", "-days", "2",
                 "-subj", "/CN=Postline transport test CA", "-addext", "basicConstraints=critical,CA:TRUE",
                 "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-keyout", str(self.key), "-out", str(self.cert),
                 cwd=directory)

    def leaf(self, name: str, sans: list[str], self_signed: bool = False) -> tuple[Path, Path]:
        cert, key, csr = self.dir / f"{name}.pem", self.dir / f"{name}.key", self.dir / f"{name}.csr"
        ext = self.dir / f"{name}.ext"
        ext.write_text("subjectAltName=" + ",".join(f"DNS:{s}" for s in sans) + "\n"
                       "basicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n")
        if self_signed:
            _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", f"/CN={sans[0]}",
                     "-addext", "subjectAltName=" + ",".join(f"DNS:{s}" for s in sans),
                     "-keyout", str(key), "-out", str(cert), cwd=self.dir)
            return cert, key
        _openssl("req", "-new", "-newkey", "rsa:2048", "-nodes", "-subj", f"/CN={sans[0]}", "-keyout", str(key),
                 "-out", str(csr), cwd=self.dir)
        _openssl("x509", "-req", "-in", str(csr), "-CA", str(self.cert), "-CAkey", str(self.key), "-CAcreateserial",
                 "-days", "2", "-extfile", str(ext), "-out", str(cert), cwd=self.dir)
        # The chain as servers send it: leaf, then the CA (DANE-TA(2) with a digest needs
        # the trust anchor in the chain, RFC 7671 5.2.2).
        cert.write_text(cert.read_text() + self.cert.read_text())
        return cert, key


def spki_sha256(cert: Path) -> str:
    """TLSA selector 1 (SubjectPublicKeyInfo), matching type 1 (SHA-256)."""
    pub = subprocess.run(["openssl", "x509", "-in", str(cert), "-noout", "-pubkey"], check=True,
                         capture_output=True).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=pub, check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


def cert_sha256(cert: Path) -> str:
    """TLSA selector 0 (full certificate), matching type 1."""
    der = subprocess.run(["openssl", "x509", "-in", str(cert), "-outform", "DER"], check=True,
                         capture_output=True).stdout
    return hashlib.sha256(der).hexdigest()


# --- DNS --------------------------------------------------------------------------------

class Unbound:
    """unbound on 127.0.0.1:<port> with the signed zone dane.example. and the unsigned sts.example."""

    SIGNED = "dane.example"
    UNSIGNED = "sts.example"

    def __init__(self, directory: Path):
        self.dir = directory
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.signed_records: list[str] = []
        self.unsigned_records: list[str] = []
        self.corrupt: list[tuple[str, str, str]] = []  # (owner, type, new rdata) applied after signing
        # The zone's keys: a KSK (the trust anchor queued is given) and a ZSK.
        self.ksk = self._keygen("-k")
        self.zsk = self._keygen()
        self.trust_anchor = directory / "trust-anchor.key"
        shutil.copy(directory / f"{self.ksk}.key", self.trust_anchor)

    def _keygen(self, *flags) -> str:
        out = subprocess.run([LDNS_KEYGEN, "-a", "ECDSAP256SHA256", *flags, self.SIGNED + "."], check=True,
                             capture_output=True, text=True, cwd=self.dir).stdout.strip()
        return out

    def _zone_text(self, origin: str, records: list[str]) -> str:
        head = [f"$ORIGIN {origin}.", "$TTL 60",
                f"@ IN SOA ns.{origin}. hostmaster.{origin}. {int(time.time())} 3600 600 86400 60",
                f"@ IN NS ns.{origin}.", f"ns IN A 127.0.0.1"]
        return "\n".join(head + records) + "\n"

    def write_zones(self):
        signed = self.dir / f"{self.SIGNED}.zone"
        signed.write_text(self._zone_text(self.SIGNED, self.signed_records))
        subprocess.run([LDNS_SIGNZONE, "-o", self.SIGNED + ".", str(signed), self.zsk, self.ksk], check=True,
                       capture_output=True, cwd=self.dir)
        text = (self.dir / f"{self.SIGNED}.zone.signed").read_text()
        # A record changed after signing keeps its (now wrong) RRSIG: bogus.
        for owner, rtype, rdata in self.corrupt:
            lines = text.split("\n")
            for i, line in enumerate(lines):
                fields = line.split()
                if len(fields) >= 5 and fields[0].lower() == owner.lower() and fields[3] == rtype:
                    lines[i] = "\t".join(fields[:4] + [rdata])
            text = "\n".join(lines)
        (self.dir / f"{self.SIGNED}.zone.served").write_text(text)
        (self.dir / f"{self.UNSIGNED}.zone").write_text(self._zone_text(self.UNSIGNED, self.unsigned_records))

    def start(self):
        self.write_zones()
        conf = self.dir / "unbound.conf"
        conf.write_text(f"""server:
  interface: 127.0.0.1
  port: {self.port}
  do-ip6: no
  do-daemonize: no
  use-syslog: no
  logfile: ""
  verbosity: 1
  username: ""
  chroot: ""
  directory: "{self.dir}"
  pidfile: "{self.dir}/unbound.pid"
  access-control: 127.0.0.0/8 allow
  module-config: "iterator"
  do-not-query-localhost: no
auth-zone:
  name: "{self.SIGNED}."
  zonefile: "{self.dir}/{self.SIGNED}.zone.served"
  for-downstream: yes
  for-upstream: yes
  fallback-enabled: no
auth-zone:
  name: "{self.UNSIGNED}."
  zonefile: "{self.dir}/{self.UNSIGNED}.zone"
  for-downstream: yes
  for-upstream: yes
  fallback-enabled: no
""")
        subprocess.run([shutil.which("unbound-checkconf") or "/usr/sbin/unbound-checkconf", str(conf)], check=True,
                       capture_output=True)
        self.log = open(self.dir / "unbound.log", "wb")
        self.proc = subprocess.Popen([UNBOUND, "-d", "-c", str(conf)], stdout=self.log, stderr=subprocess.STDOUT)
        wait_until(lambda: self.answers(f"ns.{self.SIGNED}"), timeout=15, what="unbound answering")

    def reload(self):
        """Rewrites (and re-signs) the zones and makes unbound read them again."""
        self.write_zones()
        self.proc.send_signal(signal.SIGHUP)

    def answers(self, name: str, rdtype: str = "A") -> list[str]:
        import dns.resolver  # python3-dnspython
        r = dns.resolver.Resolver(configure=False)
        r.nameservers = ["127.0.0.1"]
        r.port = self.port
        r.lifetime = 2
        try:
            return [a.to_text() for a in r.resolve(name, rdtype)]
        except Exception:  # noqa: BLE001 - not (yet) there
            return []

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        if getattr(self, "log", None):
            self.log.close()


# --- MTA-STS policies over HTTPS ------------------------------------------------------------

class PolicyServer:
    """https://mta-sts.<domain>:<port>/.well-known/mta-sts.txt for each domain in `policies`."""

    def __init__(self, cert: Path, key: Path):
        self.lock = threading.Lock()
        self.policies: dict[str, tuple[int, str, str]] = {}  # host -> (status, content type, body)
        self.hits: dict[str, int] = {}
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):  # noqa: N802
                host = (self.headers.get("Host") or "").split(":")[0].lower()
                with outer.lock:
                    outer.hits[host] = outer.hits.get(host, 0) + 1
                    entry = outer.policies.get(host) if self.path == "/.well-known/mta-sts.txt" else None
                if entry is None:
                    entry = (404, "text/plain", "not found\n")
                status, ctype, body = entry
                data = body.encode()
                self.send_response(status)
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                if 300 <= status < 400:
                    self.send_header("Location", f"https://{host}/elsewhere")
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):  # quiet
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(str(cert), str(key))
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def publish(self, domain: str, body: str, status: int = 200, content_type: str = "text/plain"):
        with self.lock:
            self.policies[f"mta-sts.{domain}"] = (status, content_type, body)

    def hits_for(self, domain: str) -> int:
        with self.lock:
            return self.hits.get(f"mta-sts.{domain}", 0)

    def start(self):
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


def policy(mode: str, mx: list[str], max_age: int = 86400) -> str:
    return "version: STSv1\r\nmode: " + mode + "\r\n" + "".join(f"mx: {m}\r\n" for m in mx) + \
        f"max_age: {max_age}\r\n"


# --- SMTP peers ----------------------------------------------------------------------------------

def sni_context(default: tuple[Path, Path], by_name: dict[str, tuple[Path, Path]]) -> ssl.SSLContext:
    """A server context that presents by_name[SNI] (or `default`)."""
    def make(pair):
        c = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        c.load_cert_chain(str(pair[0]), str(pair[1]))
        return c
    contexts = {name.lower(): make(pair) for name, pair in by_name.items()}
    ctx = make(default)

    def pick(sslobj, server_name, _ctx):
        if server_name and server_name.lower() in contexts:
            sslobj.context = contexts[server_name.lower()]
    ctx.sni_callback = pick
    return ctx


class RecordingMx:
    """aiosmtpd handler keeping what arrives; offers REQUIRETLS after STARTTLS when asked."""

    def __init__(self, offer_requiretls: bool):
        self.offer_requiretls = offer_requiretls
        self.lock = threading.Lock()
        self.received: list[dict] = []
        self.connections = 0

    async def handle_EHLO(self, server, session, envelope, hostname, responses):  # noqa: N802
        session.host_name = hostname
        if self.offer_requiretls and session.ssl is not None:
            responses.insert(-1, "250-REQUIRETLS")
        return responses

    async def handle_DATA(self, server, session, envelope):  # noqa: N802
        with self.lock:
            self.received.append({"rcpts": list(envelope.rcpt_tos), "tls": session.ssl is not None,
                                  "requiretls": getattr(session, "requiretls", False),
                                  "data": envelope.original_content or envelope.content})
        return "250 2.0.0 OK"

    def messages_for(self, address: str) -> list[dict]:
        with self.lock:
            return [m for m in self.received if address in m["rcpts"]]


def start_mx(address: str, port: int, handler: RecordingMx, tls_context: ssl.SSLContext):
    """aiosmtpd on address:port whose MAIL FROM takes RFC 8689 REQUIRETLS."""
    from aiosmtpd.controller import Controller
    from aiosmtpd.smtp import SMTP

    class RequireTlsSmtp(SMTP):
        async def smtp_MAIL(self, arg):  # noqa: N802
            self.session.requiretls = bool(arg and re.search(r"\sREQUIRETLS\b", arg, re.I))
            if arg:
                arg = re.sub(r"\s+REQUIRETLS\b", "", arg, flags=re.I)
            await super().smtp_MAIL(arg)

    class MxController(Controller):
        def factory(self):
            return RequireTlsSmtp(self.handler, **self.SMTP_kwargs)

    controller = MxController(handler, hostname=address, port=port, tls_context=tls_context, enable_SMTPUTF8=True)
    controller.start()
    return controller


def loopback_alias_usable(address: str) -> bool:
    with socket.socket() as s:
        try:
            s.bind((address, 0))
            return True
        except OSError:
            return False
