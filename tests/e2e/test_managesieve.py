"""ManageSieve (RFC 5804, issue 19): the real `sieve-connect` client (Debian)
uploads, lists, activates and downloads a script over STARTTLS against the real
postline-managesieved and authd; a script with a syntax error is refused with
the line the error is on; quotas refuse what does not fit. Then the edge cases
no real client sends, over the raw protocol (tests/e2e/managesieve_wire.py):
plaintext authentication refused before TLS, pipelining across STARTTLS,
SCRAM-SHA-256 with the server's final message in OK (SASL ...), literals, the
response codes, the error limit, and the metrics that count all of it."""
from __future__ import annotations

import base64
import shutil
import socket
import ssl
import subprocess

import pytest

from managesieve_wire import Closed, ManageSieve
from platform_support import Platform, parse_metrics, wait_until
from sasl_support import ScramClient

USER = "sieve@sieve.example"
PASSWORD = "Correct-Horse-93"
OTHER = "other@sieve.example"

FILTER = b'require ["fileinto"];\r\nif header :contains "subject" "[list]" {\r\n  fileinto "Lists";\r\n}\r\n'
BROKEN = b'require ["fileinto"];\r\nif header :contains "subject" "x" {\r\n  fileinto "X";\r\n  frobnicate;\r\n}\r\n'


@pytest.fixture(scope="module")
def accounts(platform):
    platform.add_domain("sieve.example")
    platform.add_user(USER, PASSWORD)
    platform.add_user(OTHER, PASSWORD)
    return USER


def port(p: Platform) -> int:
    return p.ports["managesieve"]


def tls_context(p: Platform) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(p.cert))
    ctx.check_hostname = True
    return ctx


def connect(p: Platform) -> ManageSieve:
    return ManageSieve(port(p))


def logged_in(p: Platform, user: str = USER) -> ManageSieve:
    ms = connect(p)
    ms.starttls(tls_context(p))
    r = ms.authenticate_plain(user, PASSWORD)
    assert r.status == "OK", r
    return ms


def restart_managesieved(p: Platform, extra_env: dict | None = None):
    p.stop("managesieved")
    p.start("managesieved", extra_env=extra_env)


def metrics(p: Platform) -> dict:
    return parse_metrics(p.metrics_text("managesieved"))


def metric(p: Platform, name: str, **labels) -> float:
    return p.metric_value("managesieved", name, labels or None)


def managesieved_log(p: Platform) -> str:
    return p.logs["managesieved"].read_text(errors="replace")


# --- sieve-connect -------------------------------------------------------------
def sieve_connect(p: Platform, workdir, *args, user: str = USER, password: str = PASSWORD):
    """Runs sieve-connect against managesieved: STARTTLS is mandatory
    (--noclearchan) and the certificate is verified against the test CA."""
    exe = shutil.which("sieve-connect")
    if exe is None:
        pytest.skip("sieve-connect is not installed (Debian package sieve-connect, scripts/packages/test.txt)")
    cmd = [exe, "--server", "127.0.0.1", "--port", str(port(p)), "--nosrv", "--user", user, "--passwordfd", "0",
           "--authmech", "PLAIN", "--tlscafile", str(p.cert), "--tlshostname", "localhost", "--noclearchan", *args]
    result = subprocess.run(cmd, input=password + "\n", capture_output=True, text=True, timeout=60, cwd=workdir)
    print(f"$ sieve-connect {' '.join(args)} -> {result.returncode}\n{result.stdout}{result.stderr}")
    return result


def test_sieve_connect_uploads_lists_activates_over_starttls(platform, accounts, tmp_path):
    (tmp_path / "filter.siv").write_bytes(FILTER)
    up = sieve_connect(platform, tmp_path, "--localsieve", "filter.siv", "--remotesieve", "filter", "--upload")
    assert up.returncode == 0, up

    listed = sieve_connect(platform, tmp_path, "--list")
    assert listed.returncode == 0, listed
    assert "filter" in listed.stdout and "active" not in listed.stdout.lower(), listed.stdout

    act = sieve_connect(platform, tmp_path, "--remotesieve", "filter", "--activate")
    assert act.returncode == 0, act
    listed = sieve_connect(platform, tmp_path, "--list")
    line = next(l for l in listed.stdout.splitlines() if "filter" in l)
    assert "active" in line.lower(), listed.stdout

    down = sieve_connect(platform, tmp_path, "--remotesieve", "filter", "--localsieve", "back.siv", "--download")
    assert down.returncode == 0, down
    assert (tmp_path / "back.siv").read_bytes() == FILTER

    # The store agrees: the script, byte for byte, is the user's active one.
    user_id = platform.psql(f"SELECT id FROM auth_users WHERE email = '{USER}'").strip()
    assert platform.psql(f"SELECT name FROM mailstore_sieve_active WHERE user_id = {user_id}").strip() == "filter"
    # Every session went over TLS, and authd saw ManageSieve logins.
    log = managesieved_log(platform)
    assert "STARTTLS TLSv1." in log, log[-2000:]
    assert f"logged in as {USER} (PLAIN)" in log
    disconnects = [l for l in log.splitlines() if " disconnect after " in l and f"[u:{USER}]" in l]
    assert len(disconnects) >= 5 and all(" tls=TLSv1." in l for l in disconnects), disconnects
    assert PASSWORD not in log
    assert platform.metric_value("authd", "postline_authd_logins_total",
                                 {"protocol": "managesieve", "mechanism": "PLAIN", "outcome": "ok"}) >= 5
    assert metric(platform, "postline_managesieved_scripts_stored_total") >= 1


def test_mail_over_smtp_lands_in_the_folder_the_uploaded_script_names(platform, accounts, tmp_path):
    """The whole path of issue 19 with real clients: the script sieve-connect uploaded and
    activated above files a message that arrives over SMTP into "Lists"; another stays in INBOX."""
    import imaplib
    import smtplib
    import uuid
    (tmp_path / "filter.siv").write_bytes(FILTER)
    assert sieve_connect(platform, tmp_path, "--localsieve", "filter.siv", "--remotesieve", "filter",
                         "--upload").returncode == 0
    assert sieve_connect(platform, tmp_path, "--remotesieve", "filter", "--activate").returncode == 0
    imap = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
    try:
        imap.login(USER, PASSWORD)
        imap.create("Lists")  # NO when an earlier run made it: fine
    finally:
        imap.logout()
    marker = uuid.uuid4().hex[:8]
    for subject in (f"[list] digest {marker}", f"personal {marker}"):
        msg = (f"From: someone@remote.example\r\nTo: {USER}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{uuid.uuid4().hex}@remote.example>\r\n\r\nbody\r\n")
        with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
            mx.sendmail("someone@remote.example", [USER], msg.encode())

    def subjects(mailbox: str) -> list[str]:
        c = imaplib.IMAP4("127.0.0.1", platform.ports["imap"])
        try:
            c.login(USER, PASSWORD)
            typ, data = c.select(mailbox, readonly=True)
            if typ != "OK" or int(data[0]) == 0:
                return []
            typ, data = c.fetch("1:*", "(BODY.PEEK[HEADER.FIELDS (SUBJECT)])")
            return [part[1].decode().strip() for part in data if isinstance(part, tuple)]
        finally:
            c.logout()
    wait_until(lambda: any(marker in s and "[list]" in s for s in subjects("Lists")), timeout=30,
               what="the [list] message in Lists")
    wait_until(lambda: any(f"personal {marker}" in s for s in subjects("INBOX")), timeout=30,
               what="the other message in INBOX")
    assert not any(f"personal {marker}" in s for s in subjects("Lists"))
    assert not any(marker in s and "[list]" in s for s in subjects("INBOX"))


def test_sieve_connect_reports_the_syntax_error(platform, accounts, tmp_path):
    refused_before = metric(platform, "postline_managesieved_scripts_refused_total", reason="syntax")
    (tmp_path / "broken.siv").write_bytes(BROKEN)
    up = sieve_connect(platform, tmp_path, "--localsieve", "broken.siv", "--remotesieve", "broken", "--upload")
    assert up.returncode != 0, up
    said = up.stdout + up.stderr
    assert "line 4" in said and "frobnicate" in said, said
    check = sieve_connect(platform, tmp_path, "--localsieve", "broken.siv", "--checkscript")
    assert check.returncode != 0 and "line 4" in check.stdout + check.stderr, check
    listed = sieve_connect(platform, tmp_path, "--list")
    assert "broken" not in listed.stdout
    assert metric(platform, "postline_managesieved_scripts_refused_total", reason="syntax") == refused_before + 1


def test_sieve_connect_quota_refusals(platform, accounts, tmp_path):
    restart_managesieved(platform, {"POSTLINE_MANAGESIEVE_MAX_SCRIPTS": "2", "POSTLINE_MANAGESIEVE_MAX_SCRIPT_SIZE": "1KiB",
                                    "POSTLINE_MANAGESIEVE_MAX_TOTAL_SIZE": "1500"})
    try:
        big = b"# " + b"x" * 1100 + b"\r\nkeep;\r\n"
        (tmp_path / "big.siv").write_bytes(big)
        up = sieve_connect(platform, tmp_path, "--localsieve", "big.siv", "--upload", user=OTHER)
        assert up.returncode != 0, up
        assert "1024 octets" in up.stdout + up.stderr, up

        for name in ("one", "two"):
            (tmp_path / f"{name}.siv").write_bytes(b"# " + name.encode() + b"\r\n#" + b"-" * 800 + b"\r\nkeep;\r\n")
        assert sieve_connect(platform, tmp_path, "--localsieve", "one.siv", "--upload", user=OTHER).returncode == 0
        # 2 x ~815 octets > 1500 together.
        over_total = sieve_connect(platform, tmp_path, "--localsieve", "two.siv", "--upload", user=OTHER)
        assert over_total.returncode != 0 and "1500 octets together" in over_total.stdout + over_total.stderr, over_total
        (tmp_path / "small.siv").write_bytes(b"keep;\r\n")
        assert sieve_connect(platform, tmp_path, "--localsieve", "small.siv", "--upload", user=OTHER).returncode == 0
        third = sieve_connect(platform, tmp_path, "--localsieve", "two.siv", "--remotesieve", "three", "--upload",
                              user=OTHER)
        assert third.returncode != 0 and "At most 2 scripts" in third.stdout + third.stderr, third

        # The response codes themselves, over the raw protocol.
        with logged_in(platform, OTHER) as ms:
            assert ms.command('HAVESPACE "three" 10').code == "QUOTA/MAXSCRIPTS"
            assert ms.command('HAVESPACE "one.siv" 2000').code == "QUOTA/MAXSIZE"
            assert ms.command('HAVESPACE "small.siv" 1000').code == "QUOTA"  # ~815 + 1000 > 1500
            assert ms.command('HAVESPACE "small.siv" 600').status == "OK"
            r = ms.putscript("big", big)
            assert (r.status, r.code) == ("NO", "QUOTA/MAXSIZE"), r
        m = metrics(platform)
        for reason in ("maxsize", "quota", "maxscripts"):
            assert m[("postline_managesieved_scripts_refused_total", (("reason", reason),))] >= 1, reason
    finally:
        restart_managesieved(platform)


# --- the raw protocol ------------------------------------------------------------
def test_greeting_and_capabilities_after_starttls(platform, accounts):
    with connect(platform) as ms:
        caps = ManageSieve.capabilities_of(ms.greeting)
        assert ms.greeting.status == "OK"
        assert caps["IMPLEMENTATION"] == "Postline ManageSieve"
        assert "STARTTLS" in caps
        assert caps["VERSION"] == "1.0"
        assert caps["MAXREDIRECTS"] == "4"
        sieve = caps["SIEVE"].split()
        for ext in ("fileinto", "reject", "vacation", "variables", "imap4flags", "include", "body", "editheader"):
            assert ext in sieve, sieve
        after = ManageSieve.capabilities_of(ms.starttls(tls_context(platform)))
        assert "STARTTLS" not in after
        # What authd's ListMechanisms offers over TLS.
        assert {"PLAIN", "LOGIN", "SCRAM-SHA-256"} <= set(after["SASL"].split()), after
        assert ms.authenticate_plain(USER, PASSWORD).status == "OK"
        assert ms.capabilities()["OWNER"] == USER


def test_no_plaintext_authentication_before_tls(platform, accounts):
    restart_managesieved(platform, {"POSTLINE_MANAGESIEVE_ALLOW_PLAINTEXT_AUTH_FROM_LOOPBACK": "false"})
    try:
        with connect(platform) as ms:
            caps = ManageSieve.capabilities_of(ms.greeting)
            assert caps["SASL"] == "" and "STARTTLS" in caps, caps
            r = ms.authenticate_plain(USER, PASSWORD)
            assert (r.status, r.code) == ("NO", "ENCRYPT-NEEDED"), r
            # A command pipelined after STARTTLS arrived in plaintext: never run after the handshake.
            ir = base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()).decode()
            ms.send(f'STARTTLS\r\nAUTHENTICATE "PLAIN" "{ir}"\r\n')
            assert ms.read_response().status == "OK"
            ms.sock = tls_context(platform).wrap_socket(ms.sock, server_hostname="localhost")
            assert ms.read_response().status == "OK"  # capabilities, then OK
            r = ms.command("LISTSCRIPTS")
            assert (r.status, r.text) == ("NO", "Authenticate first"), r
            assert ms.authenticate_plain(USER, PASSWORD).status == "OK"
    finally:
        restart_managesieved(platform)


def test_scram_sha_256_with_server_final_in_ok(platform, accounts):
    with connect(platform) as ms:
        ms.starttls(tls_context(platform))
        scram = ScramClient(USER, PASSWORD)
        ms.send(f'AUTHENTICATE "SCRAM-SHA-256" "{base64.b64encode(scram.first()).decode()}"\r\n')
        challenge = ms.read_line()
        assert len(challenge) == 1 and isinstance(challenge[0], str), challenge
        final = scram.final(base64.b64decode(challenge[0]))
        ms.send(ManageSieve.literal(base64.b64encode(final)) + b"\r\n")
        r = ms.read_response()
        assert (r.status, r.code) == ("OK", "SASL"), r
        assert scram.verify(base64.b64decode(r.code_arg))
        assert ms.command("LISTSCRIPTS").status == "OK"


def test_wrong_password_cancel_and_counts(platform, accounts):
    failures = metric(platform, "postline_managesieved_logins_total", outcome="failure")
    with connect(platform) as ms:
        ms.starttls(tls_context(platform))
        r = ms.authenticate_plain(USER, "not-the-password")
        assert (r.status, r.text) == ("NO", "Authentication failed"), r
        ms.send('AUTHENTICATE "PLAIN"\r\n')
        assert ms.read_line() == [""]  # the empty challenge
        r = ms.command('"*"')
        assert (r.status, r.text) == ("NO", "Authentication cancelled"), r
        assert ms.authenticate_plain(USER, PASSWORD).status == "OK"
    assert metric(platform, "postline_managesieved_logins_total", outcome="failure") == failures + 1
    assert metric(platform, "postline_managesieved_logins_total", outcome="cancelled") >= 1
    assert platform.metric_value("authd", "postline_authd_logins_total",
                                 {"protocol": "managesieve", "mechanism": "PLAIN", "outcome": "invalid_credentials"}) >= 1
    assert "not-the-password" not in managesieved_log(platform)


def test_script_commands_and_response_codes(platform, accounts):
    with logged_in(platform, OTHER) as ms:
        for name in [l[0] for l in ms.command("LISTSCRIPTS").lines]:
            ms.command('SETACTIVE ""')
            ms.command(f'DELETESCRIPT "{name}"')
        # A synchronising-style literal {N} works the same as {N+}.
        r = ms.command(b'PUTSCRIPT "a" {5}\r\nkeep;')
        assert r.status == "OK", r
        assert ms.command('PUTSCRIPT "b" "discard;"').status == "OK"
        r = ms.command('GETSCRIPT "a"')
        assert r.status == "OK" and r.lines == [["keep;"]], r
        assert ms.command('GETSCRIPT "nope"').code == "NONEXISTENT"
        assert ms.command('SETACTIVE "a"').status == "OK"
        r = ms.command("LISTSCRIPTS")
        assert r.lines == [["a", ("atom", "ACTIVE")], ["b"]], r
        r = ms.command('DELETESCRIPT "a"')
        assert (r.status, r.code) == ("NO", "ACTIVE"), r
        assert ms.command('RENAMESCRIPT "a" "b"').code == "ALREADYEXISTS"
        assert ms.command('RENAMESCRIPT "zz" "c"').code == "NONEXISTENT"
        assert ms.command('RENAMESCRIPT "a" "c"').status == "OK"
        assert ms.command("LISTSCRIPTS").lines == [["b"], ["c", ("atom", "ACTIVE")]]
        # Several errors: one line each, as a literal.
        r = ms.command(b"CHECKSCRIPT " + ms.literal(b"frob;\r\nnicate;\r\n"))
        assert r.status == "NO" and r.text.startswith("line 1: ") and "\r\nline 2: " in r.text, r
        # A missing personal include is a warning, not an error (RFC 6609: looked up at run time).
        r = ms.putscript("inc", 'require "include";\r\ninclude "later";\r\n')
        assert (r.status, r.code) == ("OK", "WARNINGS") and 'included script "later"' in r.text, r
        r = ms.command('NOOP "my-tag"')
        assert (r.status, r.code, r.code_arg) == ("OK", "TAG", "my-tag"), r
        assert ms.command('PUTSCRIPT "bad\\q" "keep;"').text.startswith("Syntax error")
        r = ms.command("LOGOUT")
        assert r.status == "OK"
        with pytest.raises(Closed):
            ms.read_line()


def test_literal_over_the_script_size_is_read_and_refused(platform, accounts):
    with logged_in(platform, OTHER) as ms:
        big = b"#" * (300 * 1024)  # over the default 256 KiB
        r = ms.putscript("huge", big)
        assert (r.status, r.code) == ("NO", "QUOTA/MAXSIZE"), r
        assert ms.command("NOOP").status == "OK", "the session goes on"
        # Far beyond what is even read: BYE and the connection ends.
        ms.send(b'PUTSCRIPT "huge" {99999999+}\r\n')
        r = ms.read_response()
        assert r.status == "BYE", r


def test_before_login_commands_are_small(platform, accounts):
    with connect(platform) as ms:
        ms.send(b'AUTHENTICATE "PLAIN" {20000+}\r\n')
        r = ms.read_response()
        assert r.status == "BYE", r
        with pytest.raises((Closed, ConnectionError, socket.timeout)):
            ms.read_line()


def test_errors_end_in_bye(platform, accounts):
    errors = metric(platform, "postline_managesieved_protocol_errors_total", kind="too_many_errors")
    with connect(platform) as ms:
        for _ in range(19):
            assert ms.command("FROBNICATE").text == "Unknown command"
        ms.send(b"FROBNICATE\r\n")
        assert ms.read_response().status == "NO"
        assert ms.read_response().status == "BYE"
    assert metric(platform, "postline_managesieved_protocol_errors_total", kind="too_many_errors") == errors + 1
    # Peer bytes reach the log escaped.
    with logged_in(platform, OTHER) as ms:
        r = ms.command(b'PUTSCRIPT {3+}\r\na\x01z "keep;"')
        assert r.text == "Invalid script name: control character in script name", r
    wait_until(lambda: "(a\\x01z)" in managesieved_log(platform), timeout=10, what="the escaped name in the log")


def test_unauthenticate_and_login_again(platform, accounts):
    with logged_in(platform) as ms:
        assert ms.command("UNAUTHENTICATE").status == "OK"
        assert ms.command("LISTSCRIPTS").text == "Authenticate first"
        assert ms.authenticate_plain(OTHER, PASSWORD).status == "OK"
        assert ms.capabilities()["OWNER"] == OTHER


def test_metrics_and_readiness(platform, accounts):
    assert platform.http_status("managesieved", "/readyz") == 200
    assert platform.http_status("managesieved", "/healthz") == 200
    sessions = metric(platform, "postline_managesieved_sessions_total")
    with logged_in(platform) as ms:
        assert metric(platform, "postline_managesieved_sessions_active") == 1
        assert ms.putscript("counted", "keep;").status == "OK"
        assert ms.command("LOGOUT").status == "OK"
    wait_until(lambda: metric(platform, "postline_managesieved_sessions_active") == 0, timeout=10,
               what="the session to end")
    m = metrics(platform)
    assert m[("postline_managesieved_sessions_total", ())] == sessions + 1
    assert m[("postline_managesieved_commands_total", (("command", "PUTSCRIPT"), ("result", "ok")))] >= 1
    assert m[("postline_managesieved_commands_total", (("command", "AUTHENTICATE"), ("result", "ok")))] >= 1
    assert m[("postline_managesieved_logins_total", (("outcome", "success"),))] >= 1
    assert [v for (n, _), v in m.items() if n == "postline_managesieved_build_info"] == [1]
    assert any(n == "postline_managesieved_grpc_client_calls_total" for n, _ in m), "authd calls are counted"
    assert m[("postline_ready", ())] == 1


def test_shutdown_says_bye_to_idle_sessions(platform, accounts):
    with logged_in(platform) as ms:
        try:
            assert platform.stop("managesieved") == 0
            r = ms.read_response()
            assert (r.status, r.text) == ("BYE", "Server shutting down"), r
        finally:
            platform.start("managesieved")
    assert "reason=shutdown" in managesieved_log(platform)
