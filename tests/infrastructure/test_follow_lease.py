"""Follower leases: exclusive, released by their holder, and dropped when the holder dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tapevm.infrastructure.followers.leases import FileLease, PostgresLease
from tapevm.infrastructure.stores.factory import open_store

HOLD = """
import sys, time
from pathlib import Path
from tapevm.infrastructure.followers.leases import FileLease
assert FileLease(Path(sys.argv[1])).try_acquire()
print("held", flush=True)
time.sleep(60)
"""


def test_a_file_lease_is_exclusive_and_dies_with_its_process(tmp_path: Path) -> None:
    path = tmp_path / "x.follow.lock"
    first, second = FileLease(path), FileLease(path)
    assert first.try_acquire() and first.try_acquire()  # held: asking again is a no-op
    assert not second.try_acquire()
    first.release()
    assert second.try_acquire()
    second.release()
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "held"
        assert not first.try_acquire()
        holder.send_signal(signal.SIGKILL)  # no release: the kernel drops the lock with the process
        holder.wait(timeout=30)
        deadline = time.monotonic() + 10
        while not first.try_acquire() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert first.try_acquire()
    finally:
        holder.kill()
        first.release()


@pytest.mark.postgres
def test_a_postgres_lease_is_exclusive_and_released(postgres_url: str) -> None:
    schema = "t_" + uuid.uuid4().hex[:12]
    with open_store(f"{postgres_url}?schema={schema}") as store:
        datastore = store.recorder.datastore  # type: ignore[attr-defined]
        key = f"{schema}:tapevm-follow:test"
        first, second = PostgresLease(datastore, key), PostgresLease(datastore, key)
        try:
            assert first.try_acquire() and first.try_acquire()
            assert not second.try_acquire()
            first.release()
            assert second.try_acquire()
        finally:
            first.release()
            second.release()
        assert first.try_acquire()  # released for good, not left on a pooled connection
        first.release()
    import psycopg

    with psycopg.connect(postgres_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
