"""pytest fixtures for end-to-end tests. See platform.py."""
from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from platform_support import Platform, new_workdir, start_test_postgres, stop_test_postgres  # noqa: E402


@pytest.fixture(scope="session")
def pg_server_url():
    """The PostgreSQL server: ctest's fixture when run from ctest, else our own."""
    url_file = os.environ.get("POSTLINE_TEST_PG_URL_FILE")
    if url_file and Path(url_file).exists():
        yield Path(url_file).read_text().strip()
        return
    directory = new_workdir("postline-e2e-pg-")
    try:
        yield start_test_postgres(directory)
    finally:
        stop_test_postgres(directory)
        shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture(scope="module")
def platform(pg_server_url):
    """All five services running against a fresh database (one per test module)."""
    workdir = new_workdir("postline-e2e-")
    p = Platform(pg_server_url, workdir)
    try:
        p.start_all()
        yield p
    finally:
        p.stop_all()
        if os.environ.get("POSTLINE_KEEP_TEST_DIRS"):
            print(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="module")
def fresh_platform_factory(pg_server_url):
    """For tests that need special settings: factory(extra_env) -> started Platform."""
    made = []

    def make(extra_env=None, start=True):
        p = Platform(pg_server_url, new_workdir("postline-e2e-"), extra_env)
        made.append(p)
        if start:
            p.start_all()
        return p

    yield make
    for p in made:
        p.stop_all()
        shutil.rmtree(p.workdir, ignore_errors=True)
