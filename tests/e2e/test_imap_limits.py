"""imapd's abuse limits through real sockets (issue 16): strangers that never
log in cannot take every slot (imap.max_unauthenticated_per_ip), one account
cannot either (imap.max_connections_per_user), a command before login is
small (imap.max_unauthenticated_command), and what a peer sends reaches the
log escaped."""
from __future__ import annotations

import socket

import pytest

from imap_wire import Wire, nonsync, raw
from platform_support import parse_metrics, wait_until

USER = "limits@example.test"
STRANGERS_USER = "strangers@example.test"
BIG_USER = "big@example.test"
PASSWORD = "li-mits test password"
OTHER = "other@example.test"


@pytest.fixture(scope="module")
def plat(fresh_platform_factory):
    p = fresh_platform_factory({
        "POSTLINE_IMAP_MAX_UNAUTHENTICATED_PER_IP": "3",
        "POSTLINE_IMAP_MAX_CONNECTIONS_PER_USER": "2",
        "POSTLINE_IMAP_MAX_UNAUTHENTICATED_COMMAND": "2KiB",
    })
    p.add_user(USER, PASSWORD)
    for u in (OTHER, STRANGERS_USER, BIG_USER):
        p.add_user(u, PASSWORD)
    return p


def metrics(plat) -> dict:
    import urllib.request
    with urllib.request.urlopen(f"http://127.0.0.1:{plat.ports['imapd_http']}/metrics", timeout=5) as r:
        return parse_metrics(r.read().decode())


def metric(plat, name: str, labels: dict) -> float:
    want = set(labels.items())
    return sum(v for (n, l), v in metrics(plat).items() if n == name and want <= set(l))


def greeting(port: int, source: str) -> tuple[socket.socket, bytes]:
    s = socket.create_connection(("127.0.0.1", port), timeout=10, source_address=(source, 0))
    return s, s.makefile("rb").readline()


def wire_from(port: int, source: str) -> Wire:
    w = Wire.__new__(Wire)
    w.sock = socket.create_connection(("127.0.0.1", port), timeout=30, source_address=(source, 0))
    w.f = w.sock.makefile("rb")
    w.n = 0
    w.greeting = w.f.readline()
    return w


def test_strangers_from_one_address_cannot_lock_out_another(plat):
    port = plat.ports["imap"]
    before = metric(plat, "postline_imapd_connections_refused_total", {"reason": "per_ip"})
    held = [greeting(port, "127.0.0.1") for _ in range(3)]
    logged_in = []
    try:
        assert all(g.startswith(b"* OK") for _, g in held), held
        s, g = greeting(port, "127.0.0.1")
        assert g.startswith(b"* BYE [UNAVAILABLE]") and b"your address" in g, g
        s.close()
        assert metric(plat, "postline_imapd_connections_refused_total", {"reason": "per_ip"}) == before + 1
        # Another address is not affected, and logs in.
        w = wire_from(port, "127.0.0.2")
        assert w.greeting.startswith(b"* OK"), w.greeting
        w.login(STRANGERS_USER, PASSWORD)
        logged_in.append(w)
        # One stranger leaves: its slot is free again (once the server saw the close).
        held.pop(0)[0].close()

        def connect():
            w = wire_from(port, "127.0.0.1")
            if w.greeting.startswith(b"* OK"):
                return w
            w.close()
            return None
        w = wait_until(connect, timeout=10, interval=0.05, what="a slot after one stranger left")
        # Logged in, it no longer counts as a stranger: there is room for one more.
        w.login(STRANGERS_USER, PASSWORD)
        logged_in.append(w)
        held.append(greeting(port, "127.0.0.1"))
        assert held[-1][1].startswith(b"* OK"), held[-1][1]
        s, g = greeting(port, "127.0.0.1")
        assert g.startswith(b"* BYE [UNAVAILABLE]"), g
        s.close()
    finally:
        for s, _ in held:
            s.close()
        for w in logged_in:
            w.close()


def test_one_account_cannot_take_every_slot(plat):
    port = plat.ports["imap"]
    before = metric(plat, "postline_imapd_logins_total", {"outcome": "limit"})
    first, second = Wire(port), Wire(port)
    first.login(USER, PASSWORD)
    second.login(USER, PASSWORD)
    third = Wire(port)
    r = third.run(f'LOGIN "{USER}" "{PASSWORD}"')
    assert r.no and b"[LIMIT]" in r.status, r.status
    assert metric(plat, "postline_imapd_logins_total", {"outcome": "limit"}) == before + 1
    # Another account is not affected.
    other = Wire(port)
    other.login(OTHER, PASSWORD)
    # UNAUTHENTICATE and LOGOUT give the slot back.
    first.ok("UNAUTHENTICATE")
    third.login(USER, PASSWORD)
    second.run("LOGOUT")
    second.close()

    def login_again():
        w = Wire(port)
        r = w.run(f'LOGIN "{USER}" "{PASSWORD}"')
        w.close()
        return r.ok
    wait_until(login_again, timeout=10, interval=0.05, what="the logged-out slot back")
    for w in (first, third, other):
        w.close()


def test_a_command_before_login_is_small(plat):
    port = plat.ports["imap"]
    w = Wire(port)
    r = w.run(f'LOGIN "{USER}"', literal=b"x" * 4096)
    assert r.no and b"[TOOBIG]" in r.status, r.status
    # Small literals add up: three of 1000 bytes in one command are too much.
    w.sock.sendall(b"t1 LOGIN {1000+}\r\n" + b"a" * 1000 + b" {1000+}\r\n" + b"b" * 1000 + b" {1000+}\r\n")
    line = w.f.readline()
    assert line.startswith(b"* BYE [TOOBIG]"), line
    w.close()
    # After login the full limit applies.
    w = Wire(port)
    w.login(BIG_USER, PASSWORD)
    r = w.run("APPEND INBOX", literal=b"Subject: big\r\n\r\n" + b"y" * 100000 + b"\r\n")
    assert r.ok, r.status
    w.close()


def test_peer_strings_reach_the_log_escaped(plat):
    port = plat.ports["imap"]
    w = Wire(port)
    forged = b"mallory\r\n2026-12-03 imapd info [s:deadbeef] logged in as alice@example.test"
    r = raw(w, b"LOGIN " + nonsync(forged) + b" " + nonsync(b"wrong password"))
    assert r.no, r.status
    w.close()
    log = plat.logs["imapd"]

    def logged():
        return b"login failed for mallory" in log.read_bytes()
    wait_until(logged, timeout=10, interval=0.05, what="the failed login in imapd's log")
    text = log.read_bytes()
    assert b"\n2026-12-03 imapd info [s:deadbeef]" not in text
    line = next(l for l in text.splitlines() if b"login failed for mallory" in l)
    assert b"\\x0d\\x0a2026-12-03" in line, line
