"""A tiny authoritative DNS server for the antispam e2e tests (python3-dnslib),
on loopback UDP and TCP (DKIM RSA keys do not fit in 512-octet UDP answers, so
c-ares retries over TCP), plus DKIM signing with dkimpy. Never the network."""
from __future__ import annotations

import base64
import subprocess
import threading
from pathlib import Path

import dkim
from dnslib import QTYPE, RCODE, RR, A, AAAA, MX, PTR, TXT
from dnslib.server import BaseResolver, DNSServer

from platform_support import free_port


class ZoneResolver(BaseResolver):
    def __init__(self):
        self.records: dict[str, list[tuple[str, object]]] = {}
        self.lock = threading.Lock()

    def add(self, name: str, rtype: str, rdata):
        with self.lock:
            self.records.setdefault(name.lower().rstrip("."), []).append((rtype, rdata))

    def resolve(self, request, handler):
        reply = request.reply()
        qname = str(request.q.qname).lower().rstrip(".")
        qtype = QTYPE[request.q.qtype]
        with self.lock:
            rrs = self.records.get(qname)
        if rrs is None:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply
        for rtype, rdata in rrs:
            if rtype == qtype:
                reply.add_answer(RR(request.q.qname, getattr(QTYPE, rtype), rdata=rdata, ttl=60))
        return reply


def txt(text: str) -> TXT:
    # Character-strings of at most 255 octets (RFC 1035 3.3.14).
    b = text.encode()
    return TXT([b[i:i + 255] for i in range(0, len(b), 255)])


class LocalDns:
    def __init__(self):
        self.resolver = ZoneResolver()
        self.port = free_port()
        self.servers = [DNSServer(self.resolver, port=self.port, address="127.0.0.1", tcp=tcp) for tcp in (False, True)]
        for s in self.servers:
            s.start_thread()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def add_txt(self, name: str, text: str):
        self.resolver.add(name, "TXT", txt(text))

    def add_a(self, name: str, ip: str):
        self.resolver.add(name, "A", A(ip))

    def add_mx(self, name: str, preference: int, exchange: str):
        self.resolver.add(name, "MX", MX(exchange, preference))

    def add_name(self, name: str):
        """Exists (NOERROR) with no records: answers are "no data", not NXDOMAIN."""
        self.resolver.records.setdefault(name.lower().rstrip("."), [])

    def stop(self):
        for s in self.servers:
            s.stop()


def make_dkim_key(directory: Path, domain: str, selector: str, dns: LocalDns) -> bytes:
    """An RSA-2048 key; publishes <selector>._domainkey.<domain>; returns the PEM."""
    key = directory / f"{domain}.{selector}.pem"
    subprocess.run(["openssl", "genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", str(key)],
                   check=True, capture_output=True)
    der = subprocess.run(["openssl", "pkey", "-in", str(key), "-pubout", "-outform", "DER"], check=True,
                         capture_output=True).stdout
    dns.add_txt(f"{selector}._domainkey.{domain}", "v=DKIM1; k=rsa; p=" + base64.b64encode(der).decode())
    return key.read_bytes()


def dkim_sign(message: bytes, domain: str, selector: str, pem: bytes) -> bytes:
    sig = dkim.sign(message, selector.encode(), domain.encode(), pem,
                    include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    return sig + message
