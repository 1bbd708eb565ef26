"""A SQLite store's backend object: what tapevm's own tables and followers ask of its database.

See ``stores.backend.Backend`` for the contract of each member.  One writer at
a time (``BEGIN IMMEDIATE``), so rowids commit in order and are the global
log's positions; SQLite has no notifications across processes, so a
follower polls.
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from eventsourcing.sqlite import SQLiteTrackingRecorder

from tapevm.infrastructure.stores.records.commit_record import CommitRecord
from tapevm.infrastructure.stores.sqlite.recorder import (
    TapeSQLiteRecorder,
    raw_connection,
)
from tapevm.infrastructure.stores.sqlite.tracking import open_sqlite_tracking_recorder, tracked_transaction


class SQLiteBackend:
    """The backend of a SQLite store file (one datastore, one recorder)."""

    placeholder = "?"
    blob_type = "BLOB"
    now = "((julianday('now') - 2440587.5) * 86400.0)"
    advisory_locks = False
    compact_table = " WITHOUT ROWID"

    def __init__(self, recorder: TapeSQLiteRecorder) -> None:
        self.recorder = recorder
        self.datastore = recorder.datastore

    def table(self, name: str) -> str:
        return name

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        out: list[list[tuple[Any, ...]]] = []
        with self.datastore.get_connection(commit=True) as conn:
            raw = raw_connection(conn)
            c = raw.cursor()
            try:
                c.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    c.execute(sql, tuple(params))
                    out.append([tuple(r) for r in c.fetchall()] if c.description else [])
                c.execute("COMMIT")
            except BaseException:
                if raw.in_transaction:  # SQLite may have rolled back already (a full disk)
                    with contextlib.suppress(sqlite3.Error):
                        c.execute("ROLLBACK")
                raise
        return out

    @contextmanager
    def cursor(self, commit: bool) -> Iterator[Any]:
        if not commit:
            with self.datastore.transaction(commit=False) as c:
                c.sqlite_cursor.row_factory = None
                yield c
            return
        # A cache (verified when read, rebuilt when missing) commits with synchronous=NORMAL: no fsync
        # of its own.  In WAL mode that is still corruption-safe, and the next form's FULL commit syncs
        # the WAL up to and including it (the WAL is written in order).  Event commits keep the pool's
        # setting: the connection gets it back before it returns to the pool, or is closed.
        with self.datastore.get_connection(commit=True) as conn:
            raw = raw_connection(conn)
            raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with conn.transaction(commit=True) as c:
                    c.sqlite_cursor.row_factory = None
                    yield c
            finally:
                try:
                    raw.execute(f"PRAGMA synchronous={self.datastore.pool.synchronous}")
                except sqlite3.Error:
                    conn.close()  # never hand a connection with a weaker setting back to the pool
                    raise

    def rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in cursor.fetchall()]

    def tables_exist_sql(self, names: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        listed = ", ".join(f"'{name}'" for name in names)
        return f"SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ({listed})", ()

    def ddl_lock(self) -> list[str]:
        return []  # BEGIN IMMEDIATE already serialises writers

    def tracking_recorder(self) -> SQLiteTrackingRecorder:
        return open_sqlite_tracking_recorder(self.datastore)

    def tracked_transaction(self, tracking: Any, name: str, *, after: int, to: int) -> AbstractContextManager[Any]:
        return tracked_transaction(self.datastore, tracking, name, after=after, to=to)

    def log_reader(self) -> SQLiteLogReader:
        return SQLiteLogReader(self.recorder)

    def vacuum(self) -> tuple[int, int]:
        with self.datastore.get_connection(commit=False) as conn:
            raw = raw_connection(conn)
            size = "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()"
            before = int(raw.execute(size).fetchone()[0])
            raw.execute("VACUUM")  # (outside a transaction: the pool's connections autocommit)
            raw.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # the rewritten pages leave the WAL for the file
            return before, int(raw.execute(size).fetchone()[0])


class SQLiteLogReader:
    """The global log by rowid (the library's notifications): one writer at a time, so rowids commit in order."""

    listens = False

    def __init__(self, recorder: TapeSQLiteRecorder) -> None:
        self.recorder = recorder

    def read_after(self, position: int, limit: int) -> tuple[list[CommitRecord], bool]:
        notes = self.recorder.select_notifications(start=position, limit=limit, inclusive_of_start=False)
        return [CommitRecord(n.id, str(n.originator_id), n.originator_version, n.topic, n.state) for n in notes], False

    def last_position(self) -> int:
        return int(self.recorder.max_notification_id() or 0)

    def waiter(self) -> AbstractContextManager[Any]:
        return _Poller()


class _Poller:
    def __enter__(self) -> Any:
        return self.wait

    def __exit__(self, *exc: object) -> None:
        pass

    @staticmethod
    def wait(seconds: float, stop: threading.Event) -> None:
        stop.wait(seconds)
