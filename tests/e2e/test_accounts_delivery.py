"""Where mail for an address goes (issue 7): aliases to several local and remote
targets, plus-addressing, catch-all, disabled users — checked at RCPT on the MX
port and, for delivery, by reading the INBOXes over IMAP."""
from __future__ import annotations

import smtplib
import uuid

import queue_support
from platform_support import wait_until

DOMAIN = "deliver.example"
ANNA, BOB = f"anna@{DOMAIN}", f"bob@{DOMAIN}"
PASSWORDS = {ANNA: "Quartz-Lantern-4821", BOB: "Quartz-Falcon-7713"}


def rcpt_codes(platform, *recipients) -> list[int]:
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
        mx.ehlo("remote.test")
        mx.mail("sender@remote.test")
        return [mx.rcpt(r)[0] for r in recipients]


def send(platform, rcpt: str) -> str:
    subject = f"to {rcpt} {uuid.uuid4().hex[:8]}"
    message = (f"From: sender@remote.test\r\nTo: {rcpt}\r\nSubject: {subject}\r\n"
               f"Message-ID: <{uuid.uuid4().hex}@remote.test>\r\n\r\nhello\r\n")
    with smtplib.SMTP("127.0.0.1", platform.ports["smtp_mx"], timeout=30) as mx:
        mx.sendmail("sender@remote.test", [rcpt], message.encode())
    return subject


def inbox_subjects(platform, user) -> list[str]:
    return queue_support.subjects(platform, user, PASSWORDS[user])


def delivered(platform, user, subject) -> bool:
    return wait_until(lambda: subject in inbox_subjects(platform, user), timeout=30, what=f"{subject!r} for {user}")


def setup_module_accounts(platform):
    for user, password in PASSWORDS.items():
        platform.add_user(user, password)


def test_rcpt_classification(platform):
    setup_module_accounts(platform)
    platform.cli("alias", "add", f"team@{DOMAIN}", ANNA, BOB, "someone@remote.example")
    assert rcpt_codes(platform, ANNA, f"ANNA@{DOMAIN.upper()}", f"anna+lists@{DOMAIN}", f"team@{DOMAIN}") == [250] * 4
    assert rcpt_codes(platform, f"nobody@{DOMAIN}", f"nobody+x@{DOMAIN}") == [550, 550]
    platform.cli("domain", "catch-all", DOMAIN, BOB)
    assert rcpt_codes(platform, f"nobody@{DOMAIN}") == [250]
    platform.cli("domain", "catch-all", DOMAIN, "--clear")
    # smtpd reuses a positive answer for smtp.recipient_cache_ttl (5 s): the
    # removal is seen within it.
    wait_until(lambda: rcpt_codes(platform, f"nobody@{DOMAIN}") == [550], timeout=15, interval=0.5,
               what="the removed catch-all refused")


def test_alias_delivers_to_every_local_target(platform):
    subject = send(platform, f"team@{DOMAIN}")
    assert delivered(platform, ANNA, subject)
    assert delivered(platform, BOB, subject)


def test_plus_address_delivers_to_the_base_user(platform):
    subject = send(platform, f"anna+newsletters@{DOMAIN}")
    assert delivered(platform, ANNA, subject)


def test_catch_all_delivers_unknown_local_parts(platform):
    platform.cli("domain", "catch-all", DOMAIN, BOB)
    try:
        subject = send(platform, f"random-{uuid.uuid4().hex[:6]}@{DOMAIN}")
        assert delivered(platform, BOB, subject)
    finally:
        platform.cli("domain", "catch-all", DOMAIN, "--clear")
