"""The operator's CLI toolkit (issue 17), through the real `postline` binary
against real authd/queued/PostgreSQL and a real DNS server (dnsmasq on
loopback): unknown words named in errors, --json on commands that change
something (and on errors), destructive commands that list what they remove and
need --force, `dkim generate` printing the configuration, `dns records` and
`dns check` against a right and a wrong zone."""
from __future__ import annotations

import json
import os
import pty
import select
import subprocess
import time

import pytest

from dns_support import dnsmasq
from platform_support import build_dir, free_port

PASSWORD = "Quartz-Lantern-4821"


def ok(platform, *args, input=None, extra_env=None):
    return platform.cli(*args, input=input, extra_env=extra_env).stdout


def fails(platform, *args, code=None, input=None, extra_env=None):
    r = platform.cli(*args, input=input, check=False, extra_env=extra_env)
    assert r.returncode != 0, f"postline {' '.join(args)} should have failed:\n{r.stdout}"
    if code is not None:
        assert r.returncode == code, (r.returncode, r.stderr)
    return r


# --- unknown words -------------------------------------------------------------------

def test_unknown_words_are_named(platform):
    r = fails(platform, "frobnicate", code=2)  # (this was "import" until `postline import` existed)
    assert 'unknown command "frobnicate" for "postline" (expected one of: domain, user, alias' in r.stderr, r.stderr
    r = fails(platform, "user", "rename", "anna@example.org", code=2)  # ("show" until `postline user show` existed)
    assert r.stderr.startswith('postline: unknown command "rename" for "user" (expected one of: add, list, show, remove'), r.stderr
    r = fails(platform, "queue", "explode", code=2)
    assert 'unknown command "explode" for "queue" (expected one of: ' in r.stderr, r.stderr
    r = fails(platform, "dns", "zone", "example.org", code=2)
    assert 'unknown command "zone" for "dns" (expected one of: records, check)' in r.stderr, r.stderr
    r = fails(platform, "domain", "list", "extra", code=2)
    assert 'unexpected argument "extra" for "domain list"' in r.stderr, r.stderr
    r = fails(platform, "domain", "list", "--frobnicate", code=2)
    assert 'unknown option "--frobnicate" for "domain list"' in r.stderr, r.stderr
    r = fails(platform, "user", code=2)
    assert '"user" needs a command (one of: add, list' in r.stderr, r.stderr
    # With --json the same facts as one JSON object on stderr, nothing on stdout.
    r = fails(platform, "--json", "user", "rename", code=2)
    err = json.loads(r.stderr)
    assert err["exit_code"] == 2 and 'unknown command "rename" for "user"' in err["error"]
    assert r.stdout == ""


# --- --json on commands that change something --------------------------------------------

def test_changing_commands_print_json(platform):
    j = lambda *args, **kw: json.loads(ok(platform, "--json", *args, **kw))  # noqa: E731
    assert j("domain", "add", "JSON.example") == {"domain": "json.example", "added": True}
    added = j("user", "add", "ann@json.example", "--password-stdin", "--quota", "1GiB", input=PASSWORD + "\n")
    assert added["added"] is True and added["email"] == "ann@json.example" and added["quota_bytes"] == 1 << 30
    assert j("user", "passwd", "ann@json.example", "--password-stdin", input="Orchid-Nebula-2290\n") == {
        "email": "ann@json.example", "password_changed": True, "app_passwords_revoked": True}
    assert j("user", "disable", "ann@json.example") == {"email": "ann@json.example", "disabled": True}
    assert j("user", "enable", "ann@json.example") == {"email": "ann@json.example", "disabled": False}
    assert j("user", "set-name", "ann@json.example", "Ann") == {"email": "ann@json.example", "display_name": "Ann"}
    assert j("user", "set", "ann@json.example", "--admin", "on") == {"email": "ann@json.example", "admin": True}
    assert j("quota", "set", "ann@json.example", "2GiB", "--messages", "500") == {
        "email": "ann@json.example", "quota_bytes": 2 << 30, "quota_messages": 500}
    assert j("alias", "add", "team@json.example", "ann@json.example", "x@remote.example") == {
        "alias": "team@json.example", "targets": ["ann@json.example", "x@remote.example"]}
    assert j("alias", "remove", "team@json.example", "x@remote.example") == {
        "alias": "team@json.example", "removed_target": "x@remote.example"}
    assert j("domain", "catch-all", "json.example", "ann@json.example") == {
        "domain": "json.example", "catch_all": "ann@json.example"}
    assert j("domain", "catch-all", "json.example", "--clear") == {"domain": "json.example", "catch_all": ""}
    assert j("app-password", "add", "ann@json.example", "phone")["label"] == "phone"
    assert j("app-password", "remove", "ann@json.example", "phone") == {
        "email": "ann@json.example", "label": "phone", "revoked": True}
    err = json.loads(fails(platform, "--json", "throttle", "unblock", "192.0.2.99", code=1).stderr)
    assert "nothing is throttled for 192.0.2.99" in err["error"]
    migrated = j("migrate")
    assert migrated["applied"] == 0 and "auth" in migrated["components"]
    shown = j("config", "show")
    assert shown["auth"]["addr"] == platform.env["POSTLINE_AUTH_ADDR"]
    # Failures: one JSON object on stderr, exit status as without --json.
    r = fails(platform, "--json", "domain", "add", "json.example", code=1)
    assert r.stdout == ""
    err = json.loads(r.stderr)
    assert err["exit_code"] == 1 and "already exists" in err["error"]


# --- destructive commands ------------------------------------------------------------------

def test_domain_remove_lists_what_goes_and_needs_force(platform):
    for u in ("a", "b"):
        platform.add_user(f"{u}@gone.example", PASSWORD)
    ok(platform, "alias", "add", "team@gone.example", "a@gone.example", "b@gone.example")
    ok(platform, "domain", "catch-all", "gone.example", "a@gone.example")

    r = fails(platform, "domain", "remove", "gone.example", code=1)
    assert "refused without --force" in r.stderr
    assert "2 users: a@gone.example, b@gone.example" in r.stderr, r.stderr
    assert "1 alias: team@gone.example" in r.stderr and "catch-all: -> a@gone.example" in r.stderr
    # Nothing went: aliases included (issue 17: they used to vanish silently).
    assert [a["address"] for a in json.loads(ok(platform, "alias", "list", "gone.example", "--json"))] == [
        "team@gone.example"]

    r = fails(platform, "--json", "domain", "remove", "gone.example", code=1)
    err = json.loads(r.stderr)
    assert err["refused"] is True
    assert err["would_remove"]["users"] == ["a@gone.example", "b@gone.example"]
    assert err["would_remove"]["user_count"] == 2 and err["would_remove"]["aliases"] == ["team@gone.example"]

    done = json.loads(ok(platform, "--json", "domain", "remove", "gone.example", "--force"))
    assert done["domain"] == "gone.example" and done["removed"] is True and done["alias_count"] == 1
    assert "gone.example" not in [d["name"] for d in json.loads(ok(platform, "domain", "list", "--json"))]
    assert not [a for a in json.loads(ok(platform, "alias", "list", "--json")) if a["address"].endswith("@gone.example")]

    # An empty domain is exactly what the command names: no --force needed.
    ok(platform, "domain", "add", "empty.example")
    assert "removed domain empty.example" in ok(platform, "domain", "remove", "empty.example")
    assert "no such domain" in fails(platform, "domain", "remove", "never.example", code=1).stderr


def test_user_and_alias_remove_need_force(platform):
    platform.add_user("u@rm.example", PASSWORD)
    ok(platform, "app-password", "add", "u@rm.example", "laptop")
    ok(platform, "alias", "add", "list@rm.example", "u@rm.example", "other@remote.example")

    r = fails(platform, "user", "remove", "u@rm.example", code=1)
    assert "refused without --force" in r.stderr and "1 app password: laptop" in r.stderr, r.stderr
    assert "mailboxes and messages" in r.stderr and "list@rm.example" in r.stderr  # what stays is said too
    assert "u@rm.example" in [u["email"] for u in json.loads(ok(platform, "user", "list", "rm.example", "--json"))]
    out = ok(platform, "user", "remove", "u@rm.example", "--force")
    assert "removed user u@rm.example" in out and "laptop" in out
    assert json.loads(ok(platform, "user", "list", "rm.example", "--json")) == []

    r = fails(platform, "alias", "remove", "list@rm.example", code=1)
    assert "2 targets: other@remote.example, u@rm.example" in r.stderr, r.stderr
    ok(platform, "alias", "remove", "list@rm.example", "other@remote.example")  # one target: named exactly
    done = json.loads(ok(platform, "--json", "alias", "remove", "list@rm.example", "--force"))
    assert done == {"alias": "list@rm.example", "removed": True, "targets": ["u@rm.example"], "target_count": 1,
                    "stays": []}
    assert "no such alias" in fails(platform, "alias", "remove", "list@rm.example", "--force", code=1).stderr


def run_on_terminal(platform, args, answer):
    """Runs the CLI with stdin and stderr on a pseudo-terminal, answers its prompt."""
    master, slave = pty.openpty()
    proc = subprocess.Popen([str(platform.bin / "postline"), *args], stdin=slave, stderr=slave,
                            stdout=subprocess.PIPE, env=platform.process_env(), close_fds=True)
    os.close(slave)
    seen = b""
    deadline = time.monotonic() + 30
    try:
        while b"type yes" not in seen:
            assert time.monotonic() < deadline, f"no prompt: {seen!r}"
            ready, _, _ = select.select([master], [], [], 0.5)
            if ready:
                seen += os.read(master, 4096)
        os.write(master, answer.encode() + b"\n")
        out, _ = proc.communicate(timeout=30)
        with_rest = seen
        try:
            while select.select([master], [], [], 0.2)[0]:
                with_rest += os.read(master, 4096)
        except OSError:
            pass
        return proc.returncode, out.decode(), with_rest.decode(errors="replace")
    finally:
        os.close(master)
        if proc.poll() is None:
            proc.kill()


def test_terminal_operator_is_asked(platform):
    platform.add_user("t@tty.example", PASSWORD)
    code, _, term = run_on_terminal(platform, ["user", "remove", "t@tty.example"], "no")
    assert code == 1 and "this removes user t@tty.example" in term and "not confirmed" in term, term
    assert json.loads(ok(platform, "user", "list", "tty.example", "--json"))
    code, out, term = run_on_terminal(platform, ["user", "remove", "t@tty.example"], "yes")
    assert code == 0 and "removed user t@tty.example" in out, (out, term)
    assert json.loads(ok(platform, "user", "list", "tty.example", "--json")) == []


# --- dkim generate ----------------------------------------------------------------------

def test_dkim_generate_prints_the_configuration(platform, tmp_path):
    env = {"POSTLINE_QUEUE_DKIM_KEYS": "other.example:old:/etc/postline/dkim/other.pem"}
    out = ok(platform, "dkim", "generate", "example.org", "--selector", "s1", "--out", str(tmp_path), extra_env=env)
    key = tmp_path / "example.org.s1.pem"
    value = f"other.example:old:/etc/postline/dkim/other.pem,example.org:s1:{key}"
    assert f'  dkim_keys: "{value}"' in out, out
    assert f"POSTLINE_QUEUE_DKIM_KEYS={value}" in out
    # The printed entry is one queued can load: config check loads it the same way.
    check = ok(platform, "config", "check", extra_env={"POSTLINE_QUEUE_DKIM_KEYS": f"example.org:s1:{key}"})
    assert "configuration ok" in check
    j = json.loads(ok(platform, "--json", "dkim", "generate", "example.org", "--selector", "s2", "--out",
                      str(tmp_path), "--key-path", "/etc/postline/dkim/example.org.s2.pem"))
    assert j["config_entry"] == "example.org:s2:/etc/postline/dkim/example.org.s2.pem"
    assert j["environment"] == "POSTLINE_QUEUE_DKIM_KEYS=example.org:s2:/etc/postline/dkim/example.org.s2.pem"
    assert j["txt_record"].startswith("v=DKIM1; k=rsa; p=")


# --- dns records / dns check ---------------------------------------------------------------

@pytest.fixture(scope="module")
def dkim_keys(tmp_path_factory):
    """An RSA key for right.test (its record needs two strings) and one for wrong.test."""
    directory = tmp_path_factory.mktemp("dkim")
    bin_ = build_dir() / "bin" / "postline"
    keys = {}
    for domain in ("right.test", "wrong.test"):
        r = subprocess.run([str(bin_), "--json", "dkim", "generate", domain, "--selector", "s1", "--out",
                            str(directory)], capture_output=True, text=True, timeout=60,
                           env={k: v for k, v in os.environ.items() if not k.startswith("POSTLINE_")})
        assert r.returncode == 0, r.stderr
        keys[domain] = json.loads(r.stdout)
    return keys


@pytest.fixture(scope="module")
def zones(dkim_keys):
    right_dkim = dkim_keys["right.test"]["txt_record"]
    records = [
        # right.test: everything `dns records` asks for.
        "--mx-host=right.test,mail.right.test,10",
        "--host-record=mail.right.test,127.0.0.1",
        "--txt-record=right.test,v=spf1 mx -all",
        "--txt-record=right.test,google-site-verification=abc",
        # Over 255 octets: two character-strings of one record, as a zone file has them.
        f"--txt-record=s1._domainkey.right.test,{right_dkim[:200]},{right_dkim[200:]}",
        "--txt-record=_dmarc.right.test,v=DMARC1; p=quarantine; rua=mailto:postmaster@right.test",
        "--txt-record=_mta-sts.right.test,v=STSv1; id=20261203",
        "--cname=mta-sts.right.test,mail.right.test",
        "--txt-record=_smtp._tls.right.test,v=TLSRPTv1; rua=mailto:postmaster@right.test",
        "--srv-host=_submissions._tcp.right.test,mail.right.test,465,0,1",
        "--srv-host=_submission._tcp.right.test,mail.right.test,587,10,1",
        "--srv-host=_imaps._tcp.right.test,mail.right.test,993,0,1",
        "--srv-host=_imap._tcp.right.test,mail.right.test,143,10,1",
        "--cname=autoconfig.right.test,mail.right.test",
        "--host-record=autodiscover.right.test,127.0.0.1",  # an A record with the server's address is fine too
        # wrong.test: MX elsewhere, a different SPF, DKIM key of another key pair,
        # no DMARC, IMAPS on the container port, autoconfig pointing at another host.
        "--mx-host=wrong.test,mx.elsewhere.test,10",
        "--host-record=mx.elsewhere.test,127.0.0.9",
        "--host-record=mail.wrong.test,127.0.0.2",
        "--txt-record=wrong.test,v=spf1 -all",
        "--txt-record=s1._domainkey.wrong.test,v=DKIM1; k=rsa; p=MIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEAwrong",
        "--srv-host=_imaps._tcp.wrong.test,mail.wrong.test,1993,0,1",
        "--cname=autoconfig.wrong.test,web.elsewhere.test",
        "--host-record=web.elsewhere.test,127.0.0.10",
        # Reverse DNS: the host records above give their addresses PTRs; any other
        # loopback address has none (NXDOMAIN, not a refusal).
        "--local=/127.in-addr.arpa/",
    ]
    with dnsmasq(records, probe="mail.right.test") as address:
        yield address


def dns_env(domain, dkim_keys):
    directory = os.path.dirname(dkim_keys["right.test"]["private_key_file"])
    return {"POSTLINE_SMTP_HOSTNAME": f"mail.{domain}", "POSTLINE_QUEUE_HOSTNAME": f"mail.{domain}",
            "POSTLINE_QUEUE_DKIM_KEYS": f"right.test:s1:{directory}/right.test.s1.pem,"
                                        f"wrong.test:s1:{directory}/wrong.test.s1.pem"}


def test_dns_records(platform, dkim_keys):
    env = dns_env("right.test", dkim_keys)
    zone = ok(platform, "dns", "records", "right.test", extra_env=env)
    assert "right.test.                        IN MX    10 mail.right.test.\n" in zone, zone
    assert 'right.test.                        IN TXT   "v=spf1 mx -all"\n' in zone
    assert "s1._domainkey.right.test.          IN TXT   ( \"v=DKIM1; k=rsa; p=" in zone
    assert '_dmarc.right.test.                 IN TXT   "v=DMARC1; p=quarantine; rua=mailto:postmaster@right.test"' in zone
    assert "_submissions._tcp.right.test.      IN SRV   0 1 465 mail.right.test.\n" in zone
    assert "autoconfig.right.test.             IN CNAME mail.right.test.\n" in zone
    assert "; mail.right.test." in zone and "PTR" in zone  # address advice without --ipv4
    assert ";   mx: mail.right.test\n" in zone and "https://mta-sts.right.test/.well-known/mta-sts.txt" in zone

    j = json.loads(ok(platform, "--json", "dns", "records", "right.test", "--ipv4", "192.0.2.25", "--dmarc-policy",
                      "reject", "--report-address", "reports@example.net", extra_env=env))
    by = {(r["purpose"], r["type"]): r for r in j["records"]}
    # The DKIM record is the public half of the configured private key: what dkim generate printed.
    assert by[("dkim", "TXT")]["value"] == dkim_keys["right.test"]["txt_record"]
    assert by[("address", "A")]["value"] == "192.0.2.25"
    assert by[("dmarc", "TXT")]["value"] == "v=DMARC1; p=reject; rua=mailto:reports@example.net"
    assert by[("tls-rpt", "TXT")]["value"] == "v=TLSRPTv1; rua=mailto:reports@example.net"
    assert {r["purpose"] for r in j["records"]} >= {"mx", "address", "spf", "dkim", "dmarc", "mta-sts",
                                                   "mta-sts-host", "tls-rpt", "submission", "submissions", "imap",
                                                   "imaps", "autoconfig", "autodiscover"}
    assert j["mta_sts_policy"].startswith("version: STSv1\nmode: testing\nmx: mail.right.test\n")

    # Without a real host name there is nothing to point MX at.
    r = fails(platform, "dns", "records", "right.test", code=2)
    assert "smtp.hostname" in r.stderr and "localhost" in r.stderr
    # No key for a domain: the DKIM line says how to make one.
    zone = ok(platform, "dns", "records", "nokey.test", extra_env={"POSTLINE_SMTP_HOSTNAME": "mail.nokey.test"})
    assert "postline dkim generate nokey.test" in zone


def test_dns_check_right_zone(platform, dkim_keys, zones):
    env = dns_env("right.test", dkim_keys)
    r = platform.cli("dns", "check", "right.test", "--resolver", zones, "--ipv4", "127.0.0.1", extra_env=env,
                     check=False)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "all required records are right" in r.stdout
    j = json.loads(ok(platform, "--json", "dns", "check", "right.test", "--resolver", zones, extra_env=env))
    assert j["ok"] is True
    statuses = {r["purpose"]: r["status"] for r in j["records"]}
    assert set(statuses.values()) == {"ok"}, statuses
    autodiscover = [r for r in j["records"] if r["purpose"] == "autodiscover"][0]
    assert autodiscover["detail"] == "an A record with the server's address"
    # Without --resolver: dns.servers, as the services use it.
    j = json.loads(ok(platform, "--json", "dns", "check", "right.test", extra_env={**env, "POSTLINE_DNS_SERVERS": zones}))
    assert j["ok"] is True and j["resolver"] == zones


def test_dns_check_wrong_zone(platform, dkim_keys, zones):
    env = dns_env("wrong.test", dkim_keys)
    r = platform.cli("dns", "check", "wrong.test", "--resolver", zones, extra_env=env, check=False)
    assert r.returncode == 1, r.stdout + r.stderr
    out = r.stdout
    assert "WRONG      MX     wrong.test (mx, required)\n" in out, out
    assert "expected: 10 mail.wrong.test.\n" in out and "found:    10 mx.elsewhere.test.\n" in out
    assert "expected: v=spf1 mx -all\n" in out and "found:    v=spf1 -all\n" in out
    assert "MISSING    TXT    _dmarc.wrong.test (dmarc, required)" in out
    assert "records are missing or wrong" in r.stderr

    r = platform.cli("--json", "dns", "check", "wrong.test", "--resolver", zones, extra_env=env, check=False)
    assert r.returncode == 1
    j = json.loads(r.stdout)
    by = {x["purpose"]: x for x in j["records"]}
    assert j["ok"] is False
    assert by["mx"]["status"] == "wrong" and by["mx"]["found"] == ["10 mx.elsewhere.test."]
    assert by["address"]["status"] == "ok" and by["address"]["found"] == ["127.0.0.2"]
    assert by["spf"]["status"] == "wrong" and by["spf"]["found"] == ["v=spf1 -all"]
    assert by["dkim"]["status"] == "wrong" and "public half" in by["dkim"]["detail"]
    assert by["dmarc"]["status"] == "missing" and by["dmarc"]["fails"] is True
    assert by["imaps"]["status"] == "wrong" and by["imaps"]["found"] == ["0 1 1993 mail.wrong.test."]
    assert by["imap"]["status"] == "missing" and by["imap"]["fails"] is False  # recommended, may be absent
    assert by["autoconfig"]["status"] == "wrong" and by["autoconfig"]["found"][0] == "-> web.elsewhere.test"
    assert by["tls-rpt"]["status"] == "missing"
    # Reverse DNS of the server's address (127.0.0.2, from mail.wrong.test's A record).
    assert by["ptr"]["status"] == "ok" and by["ptr"]["name"] == "2.0.0.127.in-addr.arpa", by["ptr"]

    # --ipv4: the reverse DNS of the given addresses. 127.0.0.9's names another
    # host (mx.elsewhere.test); 127.0.0.77 has none.
    r = platform.cli("--json", "dns", "check", "wrong.test", "--resolver", zones, "--ipv4", "127.0.0.9",
                     "--ipv4", "127.0.0.77", extra_env=env, check=False)
    ptr = {x["name"]: x for x in json.loads(r.stdout)["records"]
           if x["purpose"] == "ptr"}
    assert ptr["9.0.0.127.in-addr.arpa"]["status"] == "wrong", ptr
    assert ptr["9.0.0.127.in-addr.arpa"]["address"] == "127.0.0.9"
    assert ptr["9.0.0.127.in-addr.arpa"]["found"] == ["mx.elsewhere.test"]
    assert "does not name mail.wrong.test" in ptr["9.0.0.127.in-addr.arpa"]["detail"]
    assert ptr["77.0.0.127.in-addr.arpa"]["status"] == "missing" and ptr["77.0.0.127.in-addr.arpa"]["fails"]
    r = fails(platform, "dns", "check", "wrong.test", "--resolver", zones, "--ipv4", "2001:db8::1", code=2,
              extra_env=env)
    assert "--ipv4 '2001:db8::1' is not an IPv4 address" in r.stderr

    # An unknown domain: everything missing, nothing crashes.
    r = platform.cli("--json", "dns", "check", "absent.test", "--resolver", zones, extra_env=env, check=False)
    assert r.returncode == 1
    statuses = {x["purpose"]: x["status"] for x in json.loads(r.stdout)["records"]}
    assert statuses.pop("address") == "ok" and statuses.pop("dkim") == "unchecked"  # no key configured for it
    assert statuses.pop("ptr") == "ok"  # smtp.hostname is mail.wrong.test here: its address has a PTR
    assert set(statuses.values()) == {"missing"}, statuses


def test_dns_check_resolver_errors(platform, dkim_keys):
    env = dns_env("right.test", dkim_keys)
    r = fails(platform, "dns", "check", "right.test", "--resolver", "not an address", code=2, extra_env=env)
    assert "--resolver" in r.stderr
    # Nothing listens there: every record is "unchecked", never "missing", exit 1.
    dead = f"127.0.0.1:{free_port()}"
    r = platform.cli("--json", "dns", "check", "right.test", "--resolver", dead, extra_env=env, check=False)
    assert r.returncode == 1, r.stderr
    assert {x["status"] for x in json.loads(r.stdout)["records"]} == {"unchecked"}
