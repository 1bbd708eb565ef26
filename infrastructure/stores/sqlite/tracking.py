"""Followers' positions in a SQLite database: the library's tracking recorder, and tapevm's tracked transaction.

Follower projections record how far they have read the global log with the
eventsourcing library's tracking recorders, in the same database as what
they write (so a projection's rows and its position commit in one
transaction).  The process recorder adds tapevm's head check to the
library's "events + tracking in one transaction" insert; the library's own
recorder test cases run against it
(tests/infrastructure/test_library_recorder_cases.py).

:func:`tracked_transaction` is the contract ``Backend.tracked_transaction``
states (exactly once: the writer lock, the position read inside it, the rows,
the new position, one commit).  It reaches two of the library's private
methods, ``_max_tracking_id`` and ``_insert_tracking``: their public twins
open a transaction of their own, and the position must be read and written
inside the caller's.  They are reached here and in the PostgreSQL room's
twin only.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, PersistenceError, StoredEvent, Tracking
from eventsourcing.sqlite import SQLiteCursor, SQLiteDatastore, SQLiteProcessRecorder, SQLiteTrackingRecorder

from tapevm.domain.errors import PositionMoved, StoreError
from tapevm.infrastructure.stores.sqlite.recorder import TapeSQLiteRecorder


class TapeSQLiteProcessRecorder(TapeSQLiteRecorder, SQLiteProcessRecorder):
    """Head-checked, immediate-mode inserts of events, plus the library's tracking row."""

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        ids = TapeSQLiteRecorder._insert_events(self, c, stored_events, **kwargs)
        tracking = kwargs.get("tracking")
        if tracking is not None:
            self._insert_tracking(c, tracking)
        return ids


def open_sqlite_tracking_recorder(datastore: SQLiteDatastore) -> SQLiteTrackingRecorder:
    """The library's tracking recorder on ``datastore``, its table created if missing."""
    recorder = SQLiteTrackingRecorder(datastore)
    create_sqlite_tracking_table(recorder)
    return recorder


def create_sqlite_tracking_table(recorder: SQLiteTrackingRecorder) -> None:
    """The library's ``create_table``, safe when several processes create the same table at once.

    The library checks whether the table exists, then creates it and inserts
    its migration row: two processes can both see "missing" and the second
    insert fails.  The table then exists, so a second attempt finds it.
    """
    try:
        recorder.create_table()
    except IntegrityError:
        recorder.tracking_table_exists = False
        recorder.create_table()


@contextmanager
def tracked_transaction(datastore: SQLiteDatastore, tracking: SQLiteTrackingRecorder, name: str, *, after: int,
                        to: int) -> Iterator[Any]:
    """A cursor in a transaction that moves projection ``name`` from position ``after`` to ``to``.

    Raises PositionMoved (nothing written) if the stored position is not
    ``after``; StoreError on any database error (nothing written either).
    """
    with datastore.get_connection(commit=True) as conn:
        cursor = conn.cursor()
        try:
            cursor.execute("BEGIN IMMEDIATE")  # the writer lock first: the position read below cannot go stale
            found = tracking._max_tracking_id(name, cursor) or 0
            if found != after:
                raise PositionMoved(name, after, found)
            yield cursor
            tracking._insert_tracking(cursor, Tracking(name, to))
            conn.commit()
        except BaseException as e:
            with contextlib.suppress(sqlite3.Error):
                conn.rollback()
            if isinstance(e, IntegrityError):  # the library's tracking insert refused: someone else moved it
                raise PositionMoved(name, after, to) from e
            if isinstance(e, (sqlite3.Error, PersistenceError)):
                raise StoreError(f"projection {name!r}: {type(e).__name__}: {e}") from e
            raise
