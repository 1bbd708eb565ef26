"""One write transaction that owns a projection's position: the projection's rows and its tracking row commit together.

This is what makes a follower apply every commit exactly once:

* the transaction first takes the projection's write lock (SQLite: ``BEGIN
  IMMEDIATE``, the database's single writer lock; PostgreSQL: a transaction
  advisory lock on the projection's name in the schema), then reads the
  projection's tracked position *inside* the lock and refuses to go on
  (``PositionMoved``, everything rolled back) unless it is the position the
  caller read its records after;
* the caller writes its rows on the cursor it is given;
* the new tracking position is inserted last, and everything commits at once.

A ``kill -9`` anywhere before the commit leaves neither the rows nor the
position; after it, both.  Two followers of the same projection can race: the
lock serialises them, the position check makes the loser roll back and
re-read, so nothing is applied twice whatever their batch boundaries (the
library's tracking insert alone would not catch a follower whose batch ends
past the winner's).

Positions are opaque increasing integers from ``LogTail``; this module only
compares them for equality with what the same projection stored.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking, TrackingRecorder
from eventsourcing.sqlite import SQLiteDatastore

from tapevm.domain.errors import PositionMoved, StoreError


def _is_postgres(datastore: Any) -> bool:
    return not isinstance(datastore, SQLiteDatastore)


@contextmanager
def tracked_transaction(datastore: Any, tracking: TrackingRecorder, name: str, *, after: int,
                        to: int) -> Iterator[Any]:
    """A cursor in a transaction that moves projection ``name`` from position ``after`` to ``to``.

    Raises PositionMoved (nothing written) if the stored position is not
    ``after``; StoreError on any database error (nothing written either).
    """
    if _is_postgres(datastore):
        with _postgres(datastore, tracking, name, after, to) as cursor:
            yield cursor
    else:
        with _sqlite(datastore, tracking, name, after, to) as cursor:
            yield cursor


@contextmanager
def _sqlite(datastore: Any, tracking: Any, name: str, after: int, to: int) -> Iterator[Any]:
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


@contextmanager
def _postgres(datastore: Any, tracking: Any, name: str, after: int, to: int) -> Iterator[Any]:
    from psycopg import Error as PsycopgError

    lock_key = f"tapevm-follower:{datastore.schema or 'public'}:{name}"
    try:
        with datastore.transaction(commit=True) as curs:
            curs.execute("SELECT pg_advisory_xact_lock(hashtextextended(%s, 0))", (lock_key,))
            curs.execute(tracking.max_tracking_id_statement, (name,))
            row = curs.fetchone()
            found = (row["max"] if isinstance(row, dict) else row[0]) if row else None
            if (found or 0) != after:
                raise PositionMoved(name, after, found or 0)
            yield curs
            tracking._insert_tracking(curs, Tracking(name, to))
    except IntegrityError as e:
        raise PositionMoved(name, after, to) from e
    except (PsycopgError, PersistenceError) as e:
        raise StoreError(f"projection {name!r}: {type(e).__name__}: {e}") from e
