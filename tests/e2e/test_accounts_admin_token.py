"""The admin API behind a bearer token (issue 7, auth.admin_token_file): the CLI
with the token works, without it or with a wrong one it fails with a message
saying so; the auth API for smtpd/imapd is unaffected."""
from __future__ import annotations

import os
import secrets
import tempfile

import pytest


@pytest.fixture(scope="module")
def guarded(fresh_platform_factory):
    fd, path = tempfile.mkstemp(prefix="postline-admin-token-")
    os.write(fd, (secrets.token_urlsafe(32) + "\n").encode())
    os.close(fd)
    try:
        # Both authd and the CLI read POSTLINE_AUTH_ADMIN_TOKEN_FILE.
        yield fresh_platform_factory({"POSTLINE_AUTH_ADMIN_TOKEN_FILE": path})
    finally:
        os.unlink(path)


def test_cli_with_the_token_works(guarded):
    guarded.add_user("boss@token.example", "Quartz-Falcon-7713")
    assert "boss@token.example" in guarded.cli("user", "list").stdout


def test_cli_without_the_token_is_refused(guarded, tmp_path):
    result = guarded.cli("user", "list", check=False, extra_env={"POSTLINE_AUTH_ADMIN_TOKEN_FILE": ""})
    assert result.returncode == 1
    assert "bearer token" in result.stderr
    wrong = tmp_path / "wrong-token"
    wrong.write_text("not-the-token-at-all\n")
    result = guarded.cli("--admin-token-file", str(wrong), "domain", "list", check=False)
    assert result.returncode == 1 and "bearer token" in result.stderr
    log = guarded.logs["authd"].read_text(errors="replace")
    assert "audit admin action=ListUsers outcome=denied" in log
    assert "not-the-token-at-all" not in log


def test_mail_logins_need_no_admin_token(guarded):
    import smtplib
    import ssl
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    guarded.add_user("worker@token.example", "Quartz-Heron-7714")
    with smtplib.SMTP("127.0.0.1", guarded.ports["smtp_submission"], timeout=30) as smtp:
        smtp.starttls(context=ctx)
        assert smtp.login("worker@token.example", "Quartz-Heron-7714")[0] == 235
