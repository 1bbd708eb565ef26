"""Tracking and process recorders on a tapevm store's own datastore.

Follower projections record how far they have read the global log with the
eventsourcing library's tracking recorders, in the same database as the log
(so a projection's writes and its position can commit in one transaction).
These are the library's classes, built on the datastore tapevm configured
(SQLite: WAL + ``synchronous=FULL``; PostgreSQL: the store's pool and schema);
the process recorders add tapevm's head check to the library's
"events + tracking in one transaction" insert (PostgreSQL's,
``TapePostgresProcessRecorder``, lives in postgres_backend.py with the rest of
that backend).  The library's own recorder
test cases run against all of them (tests/infrastructure/test_library_recorder_cases.py).
"""

from __future__ import annotations

import sys
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, StoredEvent, TrackingRecorder
from eventsourcing.sqlite import SQLiteCursor, SQLiteProcessRecorder, SQLiteTrackingRecorder

from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.sqlite import TapeSQLiteRecorder


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


def open_tracking_recorder(store: EventStore) -> TrackingRecorder:
    """A tracking recorder in the same database as ``store`` (tables created if missing)."""
    datastore = store.recorder.datastore  # type: ignore[attr-defined]
    # A PostgreSQL store has imported its backend already; a SQLite one must not pay for importing
    # psycopg (~0.15 s on every `tape` command), so the backend is looked up, not imported.
    backend = sys.modules.get("tapevm.infrastructure.stores.postgres")
    if backend is not None and isinstance(store.recorder, backend.TapePostgresRecorder):  # type: ignore[attr-defined]
        from eventsourcing.postgres import PostgresTrackingRecorder

        pg = PostgresTrackingRecorder(datastore)
        backend.create_tables(datastore, pg)
        return pg
    sq = SQLiteTrackingRecorder(datastore)
    create_sqlite_tracking_table(sq)
    return sq


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
