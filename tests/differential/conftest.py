"""Fixtures for the differential tier: the e2e fixtures (a real PostgreSQL and a
real Postline platform on free ports, tests/e2e/conftest.py) plus a private
Dovecot (tests/e2e/dovecot_peer.py, the launcher bench/ uses too).

Nothing is copied: the e2e conftest is loaded under another module name and its
fixtures are re-exported here, so both tiers start the platform the same way.
"""
from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path

import pytest

E2E = Path(__file__).resolve().parents[1] / "e2e"
sys.path.insert(0, str(E2E))

_spec = importlib.util.spec_from_file_location("postline_e2e_conftest", E2E / "conftest.py")
_e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_e2e)
pg_server_url = _e2e.pg_server_url
platform = _e2e.platform

import dovecot_peer  # noqa: E402


@pytest.fixture(scope="module")
def dovecot():
    """A private Dovecot on a free port (skips, saying how to run it, when it cannot run)."""
    reason = dovecot_peer.unavailable_reason()
    if reason:
        message = f"differential tests skipped: {reason}; to run them, {dovecot_peer.INSTALL_HINT}"
        print(message)
        pytest.skip(message)
    workdir = dovecot_peer.peer_workdir("postline-diff-dovecot-")
    peer = dovecot_peer.DovecotPeer(workdir)
    try:
        peer.start()
        yield peer
    finally:
        peer.stop()
        shutil.rmtree(workdir, ignore_errors=True)
