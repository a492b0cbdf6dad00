"""Brute-force defence end to end (issue 7): 100 wrong passwords from one IP
are slowed, then that IP is blocked, while the owner logging in from another
IP still gets in; the operator sees and lifts the block with the CLI."""
from __future__ import annotations

import json
import smtplib
import ssl
import time

import pytest

USER = "victim@throttle.example"
PASSWORD = "Right-Password-55"
ATTACKER = "127.0.0.1"
OWNER = "127.0.0.2"  # all of 127/8 is loopback on Linux: a second source address


@pytest.fixture(scope="module")
def throttled(fresh_platform_factory):
    # Production delays (up to 8 s) made short, thresholds as shipped (5 / 20).
    p = fresh_platform_factory({
        "POSTLINE_AUTH_THROTTLE_MAX_DELAY": "1s",
        "POSTLINE_AUTH_THROTTLE_ACCOUNT_MAX_DELAY": "1s",
        # smtpd drops a session after a few failures; we reconnect anyway.
    })
    p.add_user(USER, PASSWORD)
    return p


def attempt(platform, password, source):
    """One AUTH PLAIN on a fresh submission connection: (reply code, seconds)."""
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_submission"], timeout=60,
                      source_address=(source, 0)) as smtp:
        smtp.ehlo("client.test")
        smtp.starttls(context=ctx)
        smtp.ehlo("client.test")
        smtp.user, smtp.password = USER, password
        start = time.monotonic()
        try:
            code, _ = smtp.auth("PLAIN", smtp.auth_plain)
        except smtplib.SMTPAuthenticationError as e:
            code = e.smtp_code
        return code, time.monotonic() - start


def test_wrong_passwords_are_slowed_then_blocked(throttled):
    results = [attempt(throttled, f"guess-{i}", ATTACKER) for i in range(100)]
    codes = [code for code, _ in results]
    took = [seconds for _, seconds in results]
    # The first attempts are plain failures and quick.
    assert codes[:5] == [535] * 5
    assert max(took[:4]) < 0.9, took[:5]
    # Then each failure waits (0.25 s, 0.5 s, then the 1 s cap here)...
    assert all(code == 535 for code in codes[5:20]), codes[:25]
    assert min(took[7:20]) >= 0.9, took[5:20]
    # ...and after 20 failures the IP is refused outright, quickly, as a temporary error.
    assert codes[20:] == [454] * 80, codes[18:30]
    assert max(took[21:]) < 0.9
    blocked = throttled.metric_value("authd", "postline_authd_throttled_total", {"action": "blocked"})
    delayed = throttled.metric_value("authd", "postline_authd_throttled_total", {"action": "delayed"})
    assert blocked >= 80 and delayed >= 15


def test_right_password_from_the_blocked_ip_is_refused(throttled):
    assert attempt(throttled, PASSWORD, ATTACKER)[0] == 454


def test_owner_elsewhere_still_gets_in(throttled):
    code, seconds = attempt(throttled, PASSWORD, OWNER)
    assert code == 235
    assert seconds < 5  # slowed at most by the account's capped delay


def test_operator_sees_and_lifts_the_block(throttled):
    entries = json.loads(throttled.cli("throttle", "list", "--json").stdout)
    [ip] = [e for e in entries if e["scope"] == "ip" and e["key"] == ATTACKER]
    assert ip["blocked_until"] != ""
    assert "127.0.0.1" in throttled.cli("throttle", "list").stdout
    throttled.cli("throttle", "unblock", ATTACKER)
    assert attempt(throttled, PASSWORD, ATTACKER)[0] == 235
    log = throttled.logs["authd"].read_text(errors="replace")
    assert "audit login outcome=throttled" in log and "detail=ip_blocked" in log
    assert 'audit admin action=unblock key="127.0.0.1"' in log
