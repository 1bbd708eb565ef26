"""A PostgreSQL store's backend object: what tapevm's own tables and followers ask of its database.

See ``stores.backend.Backend`` for the contract of each member.  Tables live
in the store's schema; creating them is serialised by a transaction advisory
lock (``ddl_lock_sql``); followers read the log in commit order through the
visibility fence of ``log.py`` and wake on the NOTIFY the recorder sends after
every commit.

The tracked transaction reaches the library's private ``_insert_tracking``
of its tracking recorder: the public ``insert_tracking`` opens a transaction
of its own, and the position must be written inside the caller's.  It is
reached here and in the SQLite room's twin only.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager
from typing import Any

from eventsourcing.persistence import IntegrityError, PersistenceError, Tracking
from eventsourcing.postgres import PostgresDatastore, PostgresTrackingRecorder
from psycopg import Error as PsycopgError
from psycopg.sql import SQL, Identifier

from tapevm.domain.errors import PositionMoved, StoreError
from tapevm.infrastructure.stores.postgres.identifiers import qualified_name
from tapevm.infrastructure.stores.postgres.log import PostgresLogReader
from tapevm.infrastructure.stores.postgres.recorder import (
    TapePostgresRecorder,
    create_tables,
    ddl_lock_sql,
    open_postgres_recorder,
    redact_url,
)
from tapevm.infrastructure.stores.records.commit_record import CommitRecord


class PostgresBackend:
    """The backend of a PostgreSQL store (one schema of one database)."""

    placeholder = "%s"
    blob_type = "BYTEA"
    now = "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
    advisory_locks = True
    compact_table = ""

    def __init__(self, recorder: TapePostgresRecorder) -> None:
        self.recorder = recorder
        self.datastore: PostgresDatastore = recorder.datastore
        self.schema: str = self.datastore.schema  # (never empty: the library defaults it to "public")

    def table(self, name: str) -> str:
        return qualified_name(self.schema, name)

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        out: list[list[tuple[Any, ...]]] = []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            if any(sql.lstrip().upper().startswith("CREATE") for sql, _ in statements):
                curs.execute(ddl_lock_sql(self.schema))
            for sql, params in statements:
                curs.execute(sql.replace("?", "%s"), tuple(params))
                out.append([tuple(r.values()) for r in curs.fetchall()] if curs.description else [])
        return out

    @contextmanager
    def cursor(self, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as c:
            yield c

    def rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]

    def tables_exist_sql(self, names: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        listed = ", ".join(["%s"] * len(names))
        sql = f"SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name IN ({listed})"
        return sql, (self.schema, *names)

    def ddl_lock(self) -> list[str]:
        return [ddl_lock_sql(self.schema)]

    def tracking_recorder(self) -> PostgresTrackingRecorder:
        recorder = PostgresTrackingRecorder(self.datastore)
        create_tables(self.datastore, recorder)
        return recorder

    def tracked_transaction(self, tracking: Any, name: str, *, after: int, to: int) -> AbstractContextManager[Any]:
        return _tracked_transaction(self.datastore, tracking, name, after=after, to=to)

    def log_reader(self) -> ListeningLogReader:
        return ListeningLogReader(self.recorder)

    def vacuum(self) -> tuple[int, int]:
        tables = ("SELECT c.oid::regclass::text AS t, pg_total_relation_size(c.oid) AS b FROM pg_class c "
                  "JOIN pg_namespace n ON n.oid = c.relnamespace WHERE n.nspname = %s AND c.relkind = 'r'")
        with self.datastore.get_connection() as conn:  # (autocommit: VACUUM runs outside a transaction)
            found = [(r["t"], int(r["b"])) for r in conn.execute(tables, (self.schema,)).fetchall()]
            if found:
                conn.execute("VACUUM " + ", ".join(t for t, _ in found))  # (regclass text: quoted as needed)
            after = sum(int(r["b"]) for r in conn.execute(tables, (self.schema,)).fetchall())
        return sum(b for _, b in found), after


def open_postgres(location: str) -> tuple[PostgresBackend, str]:
    """The backend of the PostgreSQL store at the URL ``location`` (its recorder inside), and the URL to show."""
    recorder, _ = open_postgres_recorder(location)
    return PostgresBackend(recorder), redact_url(location)


@contextmanager
def _tracked_transaction(datastore: PostgresDatastore, tracking: Any, name: str, *, after: int,
                         to: int) -> Iterator[Any]:
    """``Backend.tracked_transaction`` on PostgreSQL: a transaction advisory lock on the projection's name."""
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


class ListeningLogReader:
    """The global log through the visibility fence (``log.py``), waking on the recorder's NOTIFY."""

    listens = True

    def __init__(self, recorder: TapePostgresRecorder) -> None:
        self.recorder = recorder
        self.reader = PostgresLogReader(recorder.datastore, recorder.events_table_name)
        self.reader.check_xid_horizon()  # positions are this server's transaction ids

    def read_after(self, position: int, limit: int) -> tuple[list[CommitRecord], bool]:
        return self.reader.read_after(position, limit)

    def last_position(self) -> int:
        return self.reader.last_position()

    def waiter(self) -> AbstractContextManager[Any]:
        return _Listener(self.recorder)


class _Listener:
    """A dedicated connection LISTENing on the recorder's channel (tapevm's recorder NOTIFYs after every commit).

    Entering it raises the library's PersistenceError when no connection can be had."""

    def __init__(self, recorder: TapePostgresRecorder) -> None:
        self.recorder = recorder
        self._cm: Any = None
        self.conn: Any = None

    def __enter__(self) -> Any:
        self._cm = self.recorder.datastore.get_connection()
        self.conn = self._cm.__enter__()
        self.conn.execute(SQL("LISTEN {0}").format(Identifier(self.recorder.channel_name)))
        return self.wait

    def __exit__(self, *exc: object) -> None:
        if self._cm is not None:
            try:
                self.conn.execute(SQL("UNLISTEN *"))
            finally:
                self._cm.__exit__(None, None, None)

    def wait(self, seconds: float, stop: threading.Event) -> None:
        # notifies() returns after one notification or the timeout; wake up at least every 0.2 s to check stop
        deadline = time.monotonic() + seconds
        while not stop.is_set():
            left = deadline - time.monotonic()
            if left <= 0:
                return
            for _ in self.conn.notifies(timeout=min(left, 0.2), stop_after=1):
                return
