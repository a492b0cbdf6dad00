"""ARC (RFC 8617) cross-check between Postline (common/mailauth via mailauth_tool)
and dkimpy's arc_sign / arc_verify (Debian's python3-dkim).

Both directions and mixed chains: a set dkimpy sealed must validate in
Postline, a set Postline sealed in dkimpy, and a chain of three hops sealed
alternately by the two must validate in both; a modified body breaks it in
both. No DNS: dkimpy gets a dnsfunc, mailauth_tool a file of TXT records.
"""
import os
import subprocess

import dkim
import pytest

TOOL = os.environ.get("MAILAUTH_TOOL", "build-mailauth/bin/mailauth_tool")
MESSAGE = (
    b"From: Alice <alice@origin.example>\r\n"
    b"To: list@forwarder.example\r\n"
    b"Subject: ARC test\r\n"
    b"Date: Wed, 25 Nov 2026 12:00:00 +0000\r\n"
    b"Message-ID: <arc.1@origin.example>\r\n"
    b"\r\n"
    b"Forwarded mail keeps its story.\r\n"
)


def run(args, data=b""):
    return subprocess.run([TOOL] + args, input=data, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def keys(tmp_path_factory):
    d = tmp_path_factory.mktemp("arc")
    out = {"records": {}}
    for domain in ("hop1.example", "hop2.example", "hop3.example"):
        pem = d / (domain + ".pem")
        r = run(["keygen", "--domain", domain, "--selector", "arc", "--type", "rsa", "--key-out", str(pem)])
        assert r.returncode == 0, r.stderr
        out[domain] = {
            "pem": str(pem),
            "pkcs1": subprocess.run(["openssl", "rsa", "-in", str(pem), "-traditional"], capture_output=True,
                                    check=True).stdout,
        }
        out["records"]["arc._domainkey." + domain] = r.stdout.decode().strip()
    dns_file = d / "dns.txt"
    dns_file.write_text("".join("%s\t%s\n" % kv for kv in out["records"].items()))
    out["dns_file"] = str(dns_file)
    return out


def dnsfunc_for(keys):
    def dnsfunc(name, timeout=5):
        name = name.decode() if isinstance(name, bytes) else name
        txt = keys["records"].get(name.rstrip("."))
        return txt.encode() if txt else None
    return dnsfunc


def with_ar(message, srv, arc=None):
    results = "spf=pass smtp.mailfrom=origin.example; dkim=none"
    if arc:
        results += "; arc=" + arc
    return ("Authentication-Results: %s; %s\r\n" % (srv, results)).encode() + message


def dkimpy_seal(keys, message, domain):
    headers = dkim.arc_sign(message, b"arc", domain.encode(), keys[domain]["pkcs1"], domain.encode(),
                            include_headers=[b"from", b"to", b"subject", b"date", b"message-id"])
    assert headers, "dkimpy did not seal"
    return b"".join(headers) + message


def postline_seal(keys, message, domain, cv=None):
    args = ["arc-seal", "--key", keys[domain]["pem"], "--domain", domain, "--selector", "arc",
            "--authserv-id", domain, "--dns", keys["dns_file"]]
    if cv:
        args += ["--cv", cv]
    r = run(args, message)
    assert r.returncode == 0, r.stderr
    return r.stdout


def postline_verify(keys, message):
    r = run(["arc-verify", "--dns", keys["dns_file"]], message)
    return r.stdout.decode().split(" ")[0], r.stdout.decode()


def dkimpy_verify(keys, message):
    cv, _results, comment = dkim.arc_verify(message, dnsfunc=dnsfunc_for(keys))
    # dkimpy answers None (not b"fail") when an older AMS it checks raises.
    return (cv or b"fail").decode(), comment


def test_no_chain_is_none_in_both(keys):
    assert postline_verify(keys, MESSAGE)[0] == "none"
    assert dkimpy_verify(keys, MESSAGE)[0] == "none"


def test_dkimpy_sealed_validates_in_postline(keys):
    sealed = dkimpy_seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
    assert dkimpy_verify(keys, sealed)[0] == "pass"
    result, line = postline_verify(keys, sealed)
    assert result == "pass", line


def test_postline_sealed_validates_in_dkimpy(keys):
    sealed = postline_seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
    assert b"ARC-Seal: i=1;" in sealed and b"cv=none" in sealed
    assert postline_verify(keys, sealed)[0] == "pass"
    cv, comment = dkimpy_verify(keys, sealed)
    assert cv == "pass", comment


def test_three_hops_alternating(keys):
    m = dkimpy_seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
    # hop 2 (Postline) verified the chain on arrival: arc=pass in its A-R.
    m = postline_seal(keys, with_ar(m, "hop2.example", "pass"), "hop2.example")
    assert postline_verify(keys, m)[0] == "pass"
    assert dkimpy_verify(keys, m)[0] == "pass"
    # hop 3 (dkimpy) on top of Postline's set.
    m = dkimpy_seal(keys, with_ar(m, "hop3.example", "pass"), "hop3.example")
    result, line = postline_verify(keys, m)
    assert result == "pass" and " i=3 " in line, line
    assert dkimpy_verify(keys, m)[0] == "pass"


def test_postline_verifies_the_chain_itself_when_sealing(keys):
    m = dkimpy_seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
    m = postline_seal(keys, with_ar(m, "hop2.example", "pass"), "hop2.example")  # cv from --dns check
    assert b"cv=pass" in m
    assert dkimpy_verify(keys, m)[0] == "pass"


def test_modified_body_fails_in_both(keys):
    for seal in (dkimpy_seal, postline_seal):
        sealed = seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
        tampered = sealed.replace(b"keeps its story", b"tells another story")
        assert postline_verify(keys, tampered)[0] == "fail"
        assert dkimpy_verify(keys, tampered)[0] == "fail"


def test_modified_seal_fails_in_both(keys):
    m = dkimpy_seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
    m = postline_seal(keys, with_ar(m, "hop2.example", "pass"), "hop2.example")
    # The oldest AAR rewritten: only the seals cover it.
    tampered = m.replace(b"ARC-Authentication-Results: i=1; hop1.example; spf=pass",
                         b"ARC-Authentication-Results: i=1; hop1.example; spf=fail")
    assert tampered != m
    assert postline_verify(keys, tampered)[0] == "fail"
    assert dkimpy_verify(keys, tampered)[0] == "fail"


def test_failed_chain_is_sealed_with_cv_fail_and_stays_failed(keys):
    m = dkimpy_seal(keys, with_ar(MESSAGE, "hop1.example"), "hop1.example")
    m = m.replace(b"keeps its story", b"was changed on the way")
    m = postline_seal(keys, with_ar(m, "hop2.example", "fail"), "hop2.example")
    assert b"cv=fail" in m
    assert postline_verify(keys, m)[0] == "fail"
    assert dkimpy_verify(keys, m)[0] == "fail"
