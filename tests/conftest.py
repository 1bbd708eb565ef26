"""Shared fixtures: real stores (SQLite files in tmp dirs, PostgreSQL when reachable)."""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings

from tapevm.infrastructure import logs

settings.register_profile("dev", max_examples=30, deadline=None)
settings.register_profile(
    "ci", max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow]
)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "dev"))

# tapevm configures structlog when it first logs; configured here, before any test captures logs,
# so that capturing (which restores the configuration it found) never leaves structlog's own default
logs.configure(logging.WARNING, force=True)

POSTGRES_URL = os.environ.get("TAPE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def postgres_reachable() -> str | None:
    """None when a server answers, else the reason it does not."""
    try:
        import psycopg

        with psycopg.connect(POSTGRES_URL.split("?")[0], connect_timeout=3):
            return None
    except Exception as e:  # any failure means: no usable server
        return f"{type(e).__name__}: {str(e).strip().splitlines()[0] if str(e).strip() else ''}"


@pytest.fixture(scope="session")
def postgres_url() -> str:
    reason = postgres_reachable()
    if reason is not None:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI=true but PostgreSQL at {POSTGRES_URL} is not reachable: {reason}")
        pytest.skip(f"no PostgreSQL server at {POSTGRES_URL} ({reason}); set TAPE_TEST_POSTGRES to test it")
    return POSTGRES_URL


@pytest.fixture
def sqlite_path(tmp_path: Path) -> str:
    return str(tmp_path / "store.db")


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh, empty store location on each backend (one PostgreSQL schema per test)."""
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    base = request.getfixturevalue("postgres_url")
    schema = "t_" + uuid.uuid4().hex[:12]
    yield f"{base}?schema={schema}"
    import psycopg

    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def thorough() -> bool:
    """The thorough run: the 'ci' hypothesis profile, which .ci/run sets."""
    return os.environ.get("HYPOTHESIS_PROFILE") == "ci"


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """``@pytest.mark.slow`` tests (full-size load, crash, fuzz runs) run in the thorough run or with ``-m slow``."""
    if thorough() or "slow" in (config.getoption("-m") or ""):
        return
    skip = pytest.mark.skip(reason="slow: runs with HYPOTHESIS_PROFILE=ci (as .ci/run sets) or with -m slow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)
