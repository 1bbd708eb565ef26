"""SQLite, the embedded default: the eventsourcing library's recorder, tuned for tapevm.

What we change in the library's ``SQLiteApplicationRecorder`` and why:

* durability: every connection sets ``synchronous=FULL`` (WAL mode, which the
  library already enables), so a committed form survives a power cut.
  ``durability="fast"`` selects ``synchronous=NORMAL``: commits may be lost on
  power failure (never corrupted), documented as an opt-in.
* writes start with ``BEGIN IMMEDIATE``: two writers contending for the store
  queue on SQLite's lock instead of failing on a read-to-write upgrade.
* inside that transaction the session's head is checked, so event numbers
  stay gapless and a stale writer gets a ConflictError, not a silent gap.
  A row is a commit record (see ``records/record_codec.py``): its version is its first
  event's number and its topic says how many events it holds, so the head is
  ``version + count - 1`` of the last row, read from the primary-key index.
* a writer holding the session's lease passes its fence (``lease=``, see
  ``records/stream_head.py``): the lease row is read under the same write
  lock, so a writer that lost its lease writes nothing.
* rows go in with one ``executemany`` (the library inserts row by row to
  collect rowids; we compute them from ``last_insert_rowid()``, valid because
  the transaction holds the write lock); tapevm's own appends are one row,
  whose rowid the cursor already knows.
"""

from __future__ import annotations

import contextlib
import sqlite3
import time
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import IntegrityError, OperationalError, PersistenceError, StoredEvent
from eventsourcing.sqlite import (
    SQLiteApplicationRecorder,
    SQLiteConnection,
    SQLiteConnectionPool,
    SQLiteCursor,
    SQLiteDatastore,
)

from tapevm.domain.errors import CorruptRecord, StoreError
from tapevm.infrastructure.stores.records.deleted_records import (
    DELETED_TABLE,
    SQLITE_STATEMENTS,
    first_deleted_sql,
    refuse_hole,
)
from tapevm.infrastructure.stores.records.events_table import EVENTS_TABLE, checked_starts, start_query
from tapevm.infrastructure.stores.records.stream_head import LeaseFence, check_fence, check_head, head_of

SYNCHRONOUS = {"full": "FULL", "fast": "NORMAL"}


def raw_connection(conn: SQLiteConnection) -> sqlite3.Connection:
    """The sqlite3 connection inside the library's connection wrapper.

    The library keeps it as ``_sqlite_conn`` and offers no public accessor;
    tapevm needs it for what the wrapper does not pass on (PRAGMAs,
    ``in_transaction``).  The SQLite room reaches it here and nowhere else.
    """
    return conn._sqlite_conn


class TapeSQLiteConnectionPool(SQLiteConnectionPool):
    """Adds the durability and lock-wait settings to every new connection."""

    def __init__(self, *, synchronous: str, **kwargs: Any) -> None:
        self.synchronous = synchronous
        super().__init__(**kwargs)

    def _create_connection(self) -> SQLiteConnection:
        # The library switches a new file to WAL on its first connections; while another
        # connection holds a lock, that switch fails at once with "database is locked" (SQLite
        # does not wait on the busy handler there).  Several processes opening a fresh store
        # together hit it: try again until the lock timeout, as any other lock wait would.
        deadline = time.monotonic() + (self.lock_timeout or 5)
        while True:
            try:
                conn = super()._create_connection()
                raw = raw_connection(conn)
                raw.execute(f"PRAGMA synchronous={self.synchronous}")
                raw.execute("PRAGMA foreign_keys=ON")
                return conn
            except sqlite3.OperationalError as e:
                if "locked" not in str(e) or time.monotonic() >= deadline:
                    raise OperationalError(str(e)) from e
                time.sleep(0.005)
            except (sqlite3.Error, UnicodeDecodeError) as e:  # a damaged file surfaces here, untranslated
                raise OperationalError(str(e)) from e


class TapeSQLiteDatastore(SQLiteDatastore):
    pool: TapeSQLiteConnectionPool

    def __init__(self, db_name: str, *, durability: str = "full", lock_timeout: int = 30) -> None:
        if durability not in SYNCHRONOUS:
            raise StoreError(f"unknown durability {durability!r}: use 'full' (default) or 'fast'")
        super().__init__(db_name, lock_timeout=lock_timeout, originator_id_type="text")
        self.pool = TapeSQLiteConnectionPool(
            synchronous=SYNCHRONOUS[durability], db_name=db_name, lock_timeout=lock_timeout
        )


class TapeSQLiteRecorder(SQLiteApplicationRecorder):
    """The library's application recorder with immediate, head-checked, batched inserts."""

    datastore: TapeSQLiteDatastore

    def __init__(self, datastore: TapeSQLiteDatastore) -> None:
        super().__init__(datastore, events_table_name=EVENTS_TABLE)
        self.create_table_statements.extend(SQLITE_STATEMENTS)  # the witness of deleted records
        self._select_last = (
            f"SELECT originator_version, topic FROM {EVENTS_TABLE} WHERE originator_id=? "
            "ORDER BY originator_version DESC LIMIT 1"
        )

    def insert_events(self, stored_events: Sequence[StoredEvent], **kwargs: Any) -> Sequence[int] | None:
        with self.datastore.get_connection(commit=True) as conn:
            cursor = conn.cursor()
            try:
                cursor.execute("BEGIN IMMEDIATE")
                ids = self._insert_events(cursor, stored_events, **kwargs)
                conn.commit()
                return ids
            except sqlite3.Error as e:  # e.g. "database or disk is full" at COMMIT: the library's error, not sqlite3's
                with contextlib.suppress(sqlite3.Error):
                    conn.rollback()
                raise (OperationalError if isinstance(e, sqlite3.OperationalError) else PersistenceError)(str(e)) from e
            except BaseException:
                conn.rollback()
                raise

    def _insert_events(
        self, c: SQLiteCursor, stored_events: Sequence[StoredEvent], **kwargs: Any
    ) -> Sequence[int] | None:
        if not stored_events:
            return []
        first = stored_events[0]
        fence: LeaseFence | None = kwargs.get("lease")
        if fence is not None:  # (under BEGIN IMMEDIATE's lock: no taker can change the row before COMMIT)
            c.execute(f"SELECT token, pid, host FROM {fence.table} WHERE session=?", (first.originator_id,))
            check_fence(str(first.originator_id), fence, c.fetchone())
        c.execute(self._select_last, (first.originator_id,))
        check_head(str(first.originator_id), first.originator_version, first.topic, _head_of(c.fetchone()),
                   fork_start=bool(kwargs.get("fork_start")))
        try:
            if len(stored_events) == 1:  # tapevm's commit record: one row, its rowid without another query
                c.execute(self.insert_events_statement,
                          (first.originator_id, first.originator_version, first.topic, first.state))
                rowid = c.sqlite_cursor.lastrowid
                if rowid is not None:
                    return [rowid]
            else:
                c.executemany(
                    self.insert_events_statement,
                    [(s.originator_id, s.originator_version, s.topic, s.state) for s in stored_events],
                )
        except sqlite3.IntegrityError as e:
            raise IntegrityError(e) from e
        c.execute("SELECT last_insert_rowid()")
        last = c.fetchone()[0]
        return list(range(last - len(stored_events) + 1, last + 1))

    def session_heads(self) -> list[tuple[str, int, int]]:
        """(session, last event number, stored bytes) for every session."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT s.originator_id, s.originator_version, s.topic, t.bytes FROM {EVENTS_TABLE} s "
                f"JOIN (SELECT originator_id, MAX(originator_version) AS v, SUM(LENGTH(state)) AS bytes "
                f"FROM {EVENTS_TABLE} GROUP BY originator_id) t "
                "ON s.originator_id = t.originator_id AND s.originator_version = t.v ORDER BY s.originator_id"
            )
            return [(r[0], _head_of((r[1], r[2])), r[3] or 0) for r in c.fetchall()]

    def head(self, stream: str) -> int:
        with self.datastore.transaction(commit=False) as c:
            c.execute(self._select_last, (stream,))
            return _head_of(c.fetchone())

    def record_start(self, stream: str, seq: int) -> int | None:
        """The first event number of the record holding event ``seq``."""
        with self.datastore.transaction(commit=False) as c:
            c.execute(
                f"SELECT MAX(originator_version) FROM {EVENTS_TABLE} WHERE originator_id=? AND originator_version<=?",
                (stream, seq),
            )
            row = c.fetchone()
            if row is None or row[0] is None:
                return None
            if not isinstance(row[0], int):  # a damaged file can hand back any type
                raise CorruptRecord(f"session {stream!r}: malformed event number {row[0]!r:.40} in the store")
            return row[0]

    def record_starts(self, stream: str, seqs: Sequence[int]) -> list[int | None]:
        """For each event number of ``seqs``: the first event number of the record holding it (an index
        seek each); first, a CorruptRecord if a record up to the last of them was deleted
        (``records/deleted_records.py``: one look-up, not a scan of the history)."""
        bounds = sorted(set(seqs))
        with self.datastore.transaction(commit=False) as c:
            c.execute(first_deleted_sql(EVENTS_TABLE, DELETED_TABLE, "?"), (stream, bounds[-1]))
            refuse_hole(stream, c.fetchone())
            c.execute(start_query(EVENTS_TABLE, "?", len(bounds)), [p for b in bounds for p in (stream, b)])
            rows = [tuple(r) for r in c.fetchall()]
        return checked_starts(stream, bounds, rows, seqs)

    def select_rows(self, stream: str, gt: int, lte: int | None, limit: int) -> list[tuple[int, str, bytes]]:
        """(seq, topic, state) rows; plain tuples, because a million rows of objects is slow."""
        sql = f"SELECT originator_version, topic, state FROM {EVENTS_TABLE} WHERE originator_id=? AND originator_version>?"
        params: list[Any] = [stream, gt]
        if lte is not None:
            sql += " AND originator_version<=?"
            params.append(lte)
        sql += " ORDER BY originator_version LIMIT ?"
        params.append(limit)
        with self.datastore.transaction(commit=False) as c:
            c.sqlite_cursor.row_factory = None  # plain tuples: sqlite3.Row costs a third of the read
            c.execute(sql, params)
            return c.fetchall()  # type: ignore[no-any-return]


def _head_of(row: Any) -> int:
    """The last event number held by a (version, topic) row, 0 for no row."""
    return 0 if row is None else head_of(row[0], row[1])


def open_sqlite_recorder(path: str, durability: str = "full") -> TapeSQLiteRecorder:
    try:
        datastore = TapeSQLiteDatastore(path, durability=durability)
        recorder = TapeSQLiteRecorder(datastore)
        recorder.create_table()
        return recorder
    except PersistenceError as e:
        detail = str(e).replace("\n", "\\n")  # a damaged schema's text can hold newlines: keep one line
        raise StoreError(f"cannot open SQLite store {path!r}: {detail}") from e
