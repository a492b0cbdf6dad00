"""Bad configuration stops a service with a message naming the key; a service
refuses a database whose schema it does not know (issue 2, DESIGN.md)."""
from __future__ import annotations

import subprocess

import pytest

from platform_support import SERVICES, Platform, new_workdir


@pytest.fixture(scope="module")
def unstarted(pg_server_url):
    """Binaries, ports and a fresh (unmigrated) database, but no running service."""
    return Platform(pg_server_url, new_workdir("postline-cfg-"))


def run(p: Platform, service: str, args=(), extra_env=None):
    return subprocess.run([str(p.bin / f"postline-{service}"), *args], capture_output=True, text=True,
                          env=p.process_env(extra_env), timeout=60, stdin=subprocess.DEVNULL)


@pytest.mark.parametrize("service", SERVICES)
def test_bad_environment_value_names_key(unstarted, service):
    result = run(unstarted, service, extra_env={"POSTLINE_IMAP_PORT": "not-a-port"})
    assert result.returncode == 2, result
    assert "imap.port" in result.stderr and "POSTLINE_IMAP_PORT" in result.stderr, result.stderr


@pytest.mark.parametrize("service", SERVICES)
def test_unknown_key_in_file_names_key(unstarted, service, tmp_path):
    config = tmp_path / "postline.yaml"
    config.write_text("smtp:\n  max_mesage_size: 10MiB\n")
    result = run(unstarted, service, ["--config", str(config)])
    assert result.returncode == 2, result
    assert "smtp.max_mesage_size" in result.stderr, result.stderr


def test_missing_config_file_is_an_error(unstarted, tmp_path):
    result = run(unstarted, "authd", ["--config", str(tmp_path / "nope.yaml")])
    assert result.returncode == 2
    assert "nope.yaml" in result.stderr


@pytest.mark.parametrize("service", ["authd", "queued", "imapd"])
def test_unmigrated_database_is_refused(unstarted, service):
    result = run(unstarted, service)
    assert result.returncode not in (0, 2), result
    assert "postline migrate" in result.stderr, result.stderr
