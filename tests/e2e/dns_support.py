"""A private DNS server on loopback for e2e tests: dnsmasq answering the records a
test gives (dnsmasq options such as --mx-host, --txt-record, --srv-host), on a free
port; every other name under .test is NXDOMAIN. Shared by the queue, CLI and
toolkit tests so there is one way to start it and to know it answers."""
from __future__ import annotations

import contextlib
import os
import shutil
import socket
import struct
import subprocess

import pytest

from platform_support import free_port, wait_until

DNSMASQ = shutil.which("dnsmasq") or "/usr/sbin/dnsmasq"


def dns_query_ok(port: int, name: str) -> bool:
    """One A query for `name`; true when the server on `port` answers it."""
    q = struct.pack(">HHHHHH", 0x4242, 0x0100, 1, 0, 0, 0)
    for label in name.split("."):
        q += bytes([len(label)]) + label.encode()
    q += b"\x00" + struct.pack(">HH", 1, 1)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(0.5)
        try:
            s.sendto(q, ("127.0.0.1", port))
            data, _ = s.recvfrom(512)
            return data[:2] == b"\x42\x42"
        except OSError:
            return False


@contextlib.contextmanager
def dnsmasq(records: list[str], probe: str):
    """Yields "127.0.0.1:PORT" once dnsmasq answers an A query for `probe` (a name
    one of `records` gives an address); stops it afterwards."""
    if not os.path.exists(DNSMASQ):
        pytest.skip("dnsmasq is not installed (scripts/packages/queue.txt)")
    port = free_port()
    proc = subprocess.Popen([
        DNSMASQ, "--keep-in-foreground", "--no-resolv", "--no-hosts", "--no-poll", "--pid-file",
        "--user=root", f"--port={port}", "--listen-address=127.0.0.1", "--bind-interfaces",
        "--local=/test/",  # anything else under .test: NXDOMAIN
        *records,
    ], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        wait_until(lambda: dns_query_ok(port, probe), timeout=10, what="dnsmasq answering")
        yield f"127.0.0.1:{port}"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
