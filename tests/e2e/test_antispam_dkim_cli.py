"""`postline dkim generate` (issue 9): the key file is private, the printed
record is what dkimpy (an independent implementation) needs to verify a
signature made with the key, and an existing key is never overwritten."""
from __future__ import annotations

import os
import re
import stat
import subprocess

import dkim
import pytest

from platform_support import build_dir


def generate(tmp_path, *args):
    return subprocess.run([str(build_dir() / "bin" / "postline"), "dkim", "generate", *args, "--out", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)


def record_from_zone_line(out: str) -> tuple[str, str]:
    m = re.search(r"^(\S+)\s+IN\s+TXT\s+\((.*)\)\s*$", out, re.M)
    assert m, out
    return m.group(1).rstrip("."), "".join(re.findall(r'"([^"]*)"', m.group(2)))


@pytest.mark.parametrize("key_type", ["rsa", "ed25519"])
def test_generated_key_verifies_in_dkimpy(tmp_path, key_type):
    r = generate(tmp_path, "example.org", "--selector", "s1", "--type", key_type)
    assert r.returncode == 0, r.stderr
    pem_path = tmp_path / "example.org.s1.pem"
    assert stat.S_IMODE(os.stat(pem_path).st_mode) == 0o600
    assert "PRIVATE KEY" not in r.stdout  # the secret is never printed
    name, txt = record_from_zone_line(r.stdout)
    assert name == "s1._domainkey.example.org"
    assert txt.startswith("v=DKIM1; k=" + key_type)

    msg = b"From: a@example.org\r\nTo: b@example.net\r\nSubject: hi\r\n\r\nbody\r\n"
    pem = pem_path.read_bytes()
    if key_type == "ed25519":
        pytest.importorskip("nacl")
        # dkimpy takes the raw 32-byte seed (base64) for ed25519, not PKCS#8
        der = subprocess.run(["openssl", "pkey", "-in", str(pem_path), "-outform", "DER"], capture_output=True,
                             check=True).stdout
        import base64
        pem = base64.b64encode(der[-32:])
    sig = dkim.sign(msg, b"s1", b"example.org", pem, include_headers=[b"from", b"to", b"subject"],
                    signature_algorithm=b"ed25519-sha256" if key_type == "ed25519" else b"rsa-sha256")

    def dnsfunc(qname, timeout=5):
        assert qname.decode().rstrip(".") == name
        return txt.encode()

    assert dkim.verify(sig + msg, dnsfunc=dnsfunc)


def test_existing_key_is_not_overwritten(tmp_path):
    assert generate(tmp_path, "example.org", "--selector", "s2").returncode == 0
    before = (tmp_path / "example.org.s2.pem").read_bytes()
    r = generate(tmp_path, "example.org", "--selector", "s2")
    assert r.returncode == 1 and "cannot create" in r.stderr, r
    assert (tmp_path / "example.org.s2.pem").read_bytes() == before


def test_bad_type_is_a_usage_error(tmp_path):
    assert generate(tmp_path, "example.org", "--type", "dsa").returncode == 2
