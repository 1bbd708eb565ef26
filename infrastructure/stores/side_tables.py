"""Small tables tapevm owns next to the event log, in the store's own database.

The session registry (``tape_sessions``) and the writer leases
(``tape_leases``) live in the same database as the events, so one store
location is still the whole truth.  They hold no history: losing them loses
names and leases, never events.  This module hides the two backends' SQL
dialects behind ``execute``/``query`` with ``?`` placeholders, each call one
transaction.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ConnectionPoolClosedError, PersistenceError

from tapevm.domain.errors import StoreClosed, StoreError
from tapevm.domain.ports import EventStore


def has_side_tables(store: EventStore) -> bool:
    """Whether ``store`` keeps tapevm's own tables (a SQL store; not, e.g., replay's in-memory one)."""
    return getattr(store, "recorder", None) is not None


def _pool_closed(error: BaseException) -> bool:
    """Whether ``error`` says the store's connection pool was closed (the library's SQLite pool, or
    psycopg_pool's, which the library wraps in a PersistenceError)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionPoolClosedError) or type(cause).__name__ == "PoolClosed":
            return True
        cause = cause.__cause__
    return False


def qualified_name(schema: str, name: str) -> str:
    """``"schema"."name"``, each part quoted as PostgreSQL reads a quoted identifier (a ``"`` doubled).

    Store URLs admit only plain schema names (the library's own SQL does not quote
    them), so this is the second line of defence, not the first.
    """
    return ".".join('"' + part.replace('"', '""') + '"' for part in (schema, name))


class SideTables:
    """One transaction per call over the store's database (SQLite or PostgreSQL)."""

    def __init__(self, store: EventStore) -> None:
        recorder = getattr(store, "recorder", None)
        if recorder is None:
            raise StoreError(f"{store.url_for_display} does not support session names and leases")
        self.datastore = recorder.datastore
        self.postgres = type(recorder).__name__.startswith("TapePostgres")
        self.schema = getattr(self.datastore, "schema", "") if self.postgres else ""
        self.where = store.url_for_display

    def table(self, name: str) -> str:
        return qualified_name(self.schema, name) if self.postgres and self.schema else name

    @property
    def now(self) -> str:
        """SQL for the database's clock, in seconds since the epoch.

        Times that processes on several hosts compare (a lease's heartbeat) are taken from the
        one clock they share: each host's own clock may be minutes off the others'.
        """
        if self.postgres:
            return "EXTRACT(EPOCH FROM clock_timestamp())::double precision"
        return "((julianday('now') - 2440587.5) * 86400.0)"

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Run statements in ONE transaction; the rows each returned (empty for writes)."""
        try:
            if self.postgres:
                return self._run_postgres(statements)
            return self._run_sqlite(statements)
        except (PersistenceError, sqlite3.Error, ConnectionPoolClosedError) as e:
            if _pool_closed(e):
                raise StoreClosed(f"{self.where} is closed") from e
            raise StoreError(f"could not use {self.where}: {e}") from e
        except StoreError:
            raise
        except Exception as e:
            if type(e).__module__.startswith("psycopg"):
                raise StoreError(f"could not use {self.where}: {e}") from e
            raise

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.run([(sql, params)])

    def query(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self.run([(sql, params)])[0]

    def _run_sqlite(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        out: list[list[tuple[Any, ...]]] = []
        with self.datastore.get_connection(commit=True) as conn:
            c = conn._sqlite_conn.cursor()
            try:
                c.execute("BEGIN IMMEDIATE")
                for sql, params in statements:
                    c.execute(sql, tuple(params))
                    out.append([tuple(r) for r in c.fetchall()] if c.description else [])
                c.execute("COMMIT")
            except BaseException:
                if conn._sqlite_conn.in_transaction:  # SQLite may have rolled back already (a full disk)
                    with contextlib.suppress(sqlite3.Error):
                        c.execute("ROLLBACK")
                raise
        return out

    def _run_postgres(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        out: list[list[tuple[Any, ...]]] = []
        with self.datastore.get_connection() as conn, conn.transaction(), conn.cursor() as curs:
            if any(sql.lstrip().upper().startswith("CREATE") for sql, _ in statements):
                from tapevm.infrastructure.stores.postgres import ddl_lock_sql

                curs.execute(ddl_lock_sql(self.schema or "public"))
            for sql, params in statements:
                curs.execute(sql.replace("?", "%s"), tuple(params))
                out.append([tuple(r.values()) for r in curs.fetchall()] if curs.description else [])
        return out
