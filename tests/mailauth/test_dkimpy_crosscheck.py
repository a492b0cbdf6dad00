"""DKIM cross-check between Postline (common/mailauth via mailauth_tool) and dkimpy.

Both directions, both algorithms, every canonicalisation: messages signed by dkimpy
must verify as pass in Postline, and Postline's signatures must verify in dkimpy.
DNS is never used: dkimpy gets a dnsfunc, mailauth_tool a file of TXT records.

Run: MAILAUTH_TOOL=build-mailauth/bin/mailauth_tool /usr/bin/python3 -m pytest tests/mailauth -q
"""
import base64
import os
import subprocess

import dkim
import pytest

TOOL = os.environ.get("MAILAUTH_TOOL", "build-mailauth/bin/mailauth_tool")
DOMAIN = "example.org"
CANONS = ["relaxed/relaxed", "simple/simple", "relaxed/simple", "simple/relaxed"]

MESSAGES = {
    "plain": (
        b"From: Alice <alice@example.org>\r\n"
        b"To: Bob <bob@example.net>\r\n"
        b"Subject: Lunch?\r\n"
        b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
        b"Message-ID: <plain.1@example.org>\r\n"
        b"\r\n"
        b"Are you free at noon?\r\n"
    ),
    "whitespace": (
        b"from: Alice   <alice@example.org>  \r\n"
        b"To: bob@example.net,\r\n"
        b"\tcarol@example.net\r\n"
        b"SUBJECT:   folded\r\n"
        b"   subject\t line \r\n"
        b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
        b"\r\n"
        b"  leading and trailing  \t\r\n"
        b"tabs\tin\t\tthe middle\r\n"
        b"\r\n"
        b"\r\n"
        b"\r\n"
    ),
    "empty_body": (
        b"From: alice@example.org\r\n"
        b"To: bob@example.net\r\n"
        b"Subject: nothing\r\n"
        b"\r\n"
    ),
    "eight_bit": (
        b"From: =?UTF-8?Q?J=C3=B6rg?= <joerg@example.org>\r\n"
        b"To: bob@example.net\r\n"
        b"Subject: Gr\xc3\xbc\xc3\x9fe\r\n"
        b"MIME-Version: 1.0\r\n"
        b"Content-Type: text/plain; charset=utf-8\r\n"
        b"Content-Transfer-Encoding: 8bit\r\n"
        b"\r\n"
        b"Sch\xc3\xb6ne Gr\xc3\xbc\xc3\x9fe\r\n"
        b"no final newline"
    ),
    "long_lines": (
        b"From: alice@example.org\r\n"
        b"To: bob@example.net\r\n"
        b"Subject: " + b"x" * 900 + b"\r\n"
        b"References: " + b" ".join(b"<%d@example.org>" % i for i in range(60)) + b"\r\n"
        b"\r\n" + (b"y" * 990 + b"\r\n") * 50
    ),
}


def run(args, data=b""):
    return subprocess.run([TOOL] + args, input=data, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("keys")
    out = {}
    for sel, typ in (("rsa", "rsa"), ("ed", "ed25519")):
        pem = d / (sel + ".pem")
        r = run(["keygen", "--domain", DOMAIN, "--selector", sel, "--type", typ, "--key-out", str(pem)])
        assert r.returncode == 0, r.stderr
        out[sel] = {"pem": pem, "txt": r.stdout.decode().strip()}
    # dkimpy wants PKCS#1 PEM for RSA and the base64 32-byte seed for Ed25519.
    out["rsa"]["dkimpy"] = subprocess.run(
        ["openssl", "rsa", "-in", str(out["rsa"]["pem"]), "-traditional"], capture_output=True, check=True
    ).stdout
    der = subprocess.run(
        ["openssl", "pkey", "-in", str(out["ed"]["pem"]), "-outform", "DER"], capture_output=True, check=True
    ).stdout
    out["ed"]["dkimpy"] = base64.b64encode(der[-32:])
    records = {"%s._domainkey.%s" % (s, DOMAIN): out[s]["txt"] for s in ("rsa", "ed")}
    dns_file = d / "dns.txt"
    dns_file.write_text("".join("%s\t%s\n" % kv for kv in records.items()))
    out["dns_file"] = str(dns_file)
    out["records"] = records
    return out


def dnsfunc_for(keys):
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        txt = keys["records"].get(name.rstrip("."))
        return txt.encode() if txt else None

    return dnsfunc


def postline_verify(keys, message):
    r = run(["verify", "--dns", keys["dns_file"]], message)
    return r.returncode, r.stdout.decode()


def dkimpy_sign(keys, message, sel, canon, alg, length=False):
    hdr, body = canon.split("/")
    sig = dkim.sign(
        message,
        sel.encode(),
        DOMAIN.encode(),
        keys[sel]["dkimpy"],
        canonicalize=(hdr.encode(), body.encode()),
        signature_algorithm=alg.encode(),
        length=length,
    )
    return sig + message


@pytest.mark.parametrize("name", sorted(MESSAGES))
@pytest.mark.parametrize("canon", CANONS)
@pytest.mark.parametrize("sel,alg", [("rsa", "rsa-sha256"), ("ed", "ed25519-sha256")])
def test_dkimpy_signed_verifies_in_postline(keys, name, canon, sel, alg):
    signed = dkimpy_sign(keys, MESSAGES[name], sel, canon, alg)
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(keys)), "dkimpy cannot verify its own signature"
    rc, out = postline_verify(keys, signed)
    assert rc == 0 and out.startswith("pass"), out


def test_dkimpy_rsa_sha1_is_pass_but_weak(keys):
    signed = dkimpy_sign(keys, MESSAGES["plain"], "rsa", "relaxed/relaxed", "rsa-sha1")
    rc, out = postline_verify(keys, signed)
    assert rc == 0 and "a=rsa-sha1" in out and "weak" in out, out


def test_dkimpy_length_tag(keys):
    signed = dkimpy_sign(keys, MESSAGES["plain"], "rsa", "relaxed/relaxed", "rsa-sha256", length=True)
    assert b"l=" in signed.split(b"\r\n\r\n")[0]
    rc, out = postline_verify(keys, signed)
    assert rc == 0 and out.startswith("pass"), out
    # Content appended after the signed length is not covered: never a pass in Postline,
    # although dkimpy (by design of l=) still accepts it.
    appended = signed + b"Unsigned spam appended here\r\n"
    assert dkim.verify(appended, dnsfunc=dnsfunc_for(keys))
    rc, out = postline_verify(keys, appended)
    assert rc == 1 and out.startswith("policy"), out


@pytest.mark.parametrize("name", sorted(MESSAGES))
@pytest.mark.parametrize("canon", CANONS)
@pytest.mark.parametrize("sel", ["rsa", "ed"])
def test_postline_signed_verifies_in_dkimpy(keys, name, canon, sel):
    r = run(["sign", "--key", str(keys[sel]["pem"]), "--domain", DOMAIN, "--selector", sel, "--canon", canon],
            MESSAGES[name])
    assert r.returncode == 0, r.stderr
    signed = r.stdout
    assert dkim.verify(signed, dnsfunc=dnsfunc_for(keys)), signed[:800]
    rc, out = postline_verify(keys, signed)
    assert rc == 0, out


def test_postline_length_tag_verifies_in_dkimpy(keys):
    r = run(["sign", "--key", str(keys["rsa"]["pem"]), "--domain", DOMAIN, "--selector", "rsa", "--length"],
            MESSAGES["whitespace"])
    assert r.returncode == 0, r.stderr
    assert dkim.verify(r.stdout, dnsfunc=dnsfunc_for(keys))


def test_tampering_detected_both_ways(keys):
    # Guards against a vacuous pass: a changed Subject must fail in both verifiers.
    r = run(["sign", "--key", str(keys["ed"]["pem"]), "--domain", DOMAIN, "--selector", "ed"], MESSAGES["plain"])
    forged = r.stdout.replace(b"Subject: Lunch?", b"Subject: Dinner?")
    assert not dkim.verify(forged, dnsfunc=dnsfunc_for(keys))
    assert postline_verify(keys, forged)[0] == 1
    signed = dkimpy_sign(keys, MESSAGES["plain"], "rsa", "relaxed/relaxed", "rsa-sha256")
    forged = signed.replace(b"Are you free", b"Are you paid")
    assert not dkim.verify(forged, dnsfunc=dnsfunc_for(keys))
    rc, out = postline_verify(keys, forged)
    assert rc == 1 and out.startswith("fail"), out
