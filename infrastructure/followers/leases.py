"""One running follower per projection; any other follower of it stands by.

Two followers of the same projection are always *correct* (each batch is
applied in one transaction that checks the tracked position, see
``tracked_transaction``), but racing wastes the loser's reading and decoding,
and the race repeats at every batch.  So a following worker first takes its
projection's lease and, while another process holds it, stands by: it polls
the lease, and takes over within a poll once the holder stops or dies.

The lease lives where the projection's data lives, and dies with its holder:

* a file lock (``flock``) beside a SQLite file: the read model's own file on
  every backend (it is local to the host), the store's file for the
  checkpoints of a SQLite store; the kernel drops it when the process ends;
* a session advisory lock on PostgreSQL for the checkpoints of a PostgreSQL
  store (followers on several hosts share them), held on a connection of the
  store's pool; the server drops it when the connection ends.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import Any, Protocol

STANDBY_POLL = 1.0  # seconds between a standing-by follower's attempts to take the lease


class FollowLease(Protocol):
    def try_acquire(self) -> bool:
        """Take the lease if it is free (True also when this object holds it already)."""
        ...

    def release(self) -> None:
        ...


class FileLease:
    """An exclusive ``flock`` on ``path`` (created if missing; never deleted: the lock, not the file, is the lease)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def try_acquire(self) -> bool:
        if self._fd is not None:
            return True
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return False
        self._fd = fd
        return True

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            with contextlib.suppress(OSError):
                fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)


class PostgresLease:
    """A session advisory lock named ``key``, held on one pooled connection for as long as the lease is held."""

    def __init__(self, datastore: Any, key: str) -> None:
        self.datastore = datastore
        self.key = key
        self._cm: Any = None
        self._conn: Any = None

    def try_acquire(self) -> bool:
        if self._conn is not None:
            return True
        cm = self.datastore.get_connection()
        conn = cm.__enter__()
        try:
            row = conn.execute("SELECT pg_try_advisory_lock(hashtext(%s)) AS ok", (self.key,)).fetchone()
            conn.commit()  # a session lock outlives the transaction; the connection must not idle inside one
        except BaseException:
            cm.__exit__(None, None, None)
            raise
        if not row["ok"]:
            cm.__exit__(None, None, None)
            return False
        self._cm, self._conn = cm, conn
        return True

    def release(self) -> None:
        cm, conn, self._cm, self._conn = self._cm, self._conn, None, None
        if conn is None:
            return
        try:
            conn.execute("SELECT pg_advisory_unlock(hashtext(%s))", (self.key,))
            conn.commit()
        except BaseException:
            with contextlib.suppress(Exception):
                conn.close()  # a lock it could not release must not go back to the pool with it
            raise
        finally:
            cm.__exit__(None, None, None)
