"""Disk full: a write that hits ENOSPC fails with one clear error and leaves the store readable and whole.

SQLite: the store lives on a small tmpfs mounted for the test (skipped where
mounting is not allowed) and forms run until the file system is full.
PostgreSQL: the server's disk cannot be filled from here, so a fault-injecting
wrapper makes the server's insert fail with ``DiskFull`` (SQLSTATE 53100),
the error PostgreSQL raises on ENOSPC.  Either way: the failing form raises a
StoreError whose message names the store and the cause (one line), nothing of
it is stored, every earlier form is intact, and once space is back the
session continues.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tapevm.domain.errors import StoreError
from tapevm.infrastructure.session.service import open_session
from tapevm.infrastructure.stores.factory import open_store

from ._checks import check_session_log


@contextlib.contextmanager
def small_tmpfs(size: str) -> Iterator[Path]:
    mount = Path(f"/tmp/tape-enospc-{uuid.uuid4().hex[:8]}")
    mount.mkdir()
    try:
        done = subprocess.run(check=False, args=["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(mount)],
                              capture_output=True, text=True)
        if done.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here ({done.stderr.strip() or done.returncode}); needs root")
        try:
            yield mount
        finally:
            subprocess.run(["umount", "-l", str(mount)], check=False)
    finally:
        shutil.rmtree(mount, ignore_errors=True)


def form(k: int) -> str:
    # incompressible text, so each form really takes space
    return f'(define v{k} "{os.urandom(3000).hex()}")'


def test_sqlite_store_on_a_full_disk(tmp_path: Path) -> None:
    if shutil.which("mount") is None:
        pytest.skip("no mount command")
    with small_tmpfs("1m") as mount:
        store_path = str(mount / "store.db")
        filler = mount / "filler"
        filler.write_bytes(os.urandom(200_000))  # deleted later, to give space back
        committed = 0
        with open_session("s", store_path) as s:
            error = None
            for k in range(10_000):
                try:
                    s.run(form(k))
                    committed += 1
                except StoreError as e:
                    error = e
                    break
            assert error is not None, "the tmpfs never filled up"
            message = str(error)
            assert "\n" not in message and store_path in message and "full" in message, message
            head = s.head
        # the store is readable and whole: every committed form is there, nothing of the failed one
        with open_store(store_path) as store:
            assert len(check_session_log(store, "s")) == committed
            assert store.last_seq("s") == head
        # the CLI says the same in one line, and exits 1 (another session: closing s may have found no room
        # to release its lease, which this process then takes over below)
        cli = subprocess.run(check=False, args=[_tape(), "--store", store_path, "eval", "-i", "t", form(99_999)],
                             capture_output=True, text=True)
        assert cli.returncode == 1 and cli.stderr.count("\n") == 1 and "full" in cli.stderr, cli.stderr
        # space comes back: the session continues where it stopped
        filler.unlink()
        with open_session("s", store_path, create=False) as s:
            assert s.head == head
            s.run(form(100_000))
        with open_store(store_path) as store:
            assert len(check_session_log(store, "s")) == committed + 1


@pytest.fixture
def pg_store_url(postgres_url: str) -> Iterator[str]:
    import psycopg

    schema = "t_" + uuid.uuid4().hex[:12]
    yield f"{postgres_url}?schema={schema}"
    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


@pytest.mark.postgres
def test_postgres_insert_failing_with_disk_full(pg_store_url: str) -> None:
    import psycopg

    base, schema = pg_store_url.split("?schema=")
    with open_session("s", pg_store_url) as s:
        for k in range(5):
            s.run(form(k))
        head = s.head
        # the server's INSERT fails as it does on ENOSPC: SQLSTATE 53100 disk_full
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f"""
                CREATE FUNCTION "{schema}".enospc() RETURNS trigger LANGUAGE plpgsql AS $$
                BEGIN RAISE EXCEPTION 'could not extend file "base/1/2": No space left on device'
                      USING ERRCODE = 'disk_full'; END $$;
                CREATE TRIGGER enospc BEFORE INSERT ON "{schema}".stored_events
                    FOR EACH ROW EXECUTE FUNCTION "{schema}".enospc();""")
        with pytest.raises(StoreError) as info:
            s.run(form(5))
        message = str(info.value)
        assert "\n" not in message and "No space left on device" in message, message
        assert "postgresql://" in message and s.head == head
        with open_store(pg_store_url) as store:
            assert len(check_session_log(store, "s")) == 5
        with psycopg.connect(base, autocommit=True) as conn:  # space is back
            conn.execute(f'DROP TRIGGER enospc ON "{schema}".stored_events')
        outcome = s.run(form(6))[0]
        assert outcome.ok and outcome.seq == head + 1  # the next form starts right after the old head
    with open_store(pg_store_url) as store:
        assert len(check_session_log(store, "s")) == 6


def _tape() -> str:
    from tests.cli.conftest import TAPE

    assert TAPE
    return TAPE
