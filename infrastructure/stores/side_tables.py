"""Small tables tapevm owns next to the event log, in the store's own database.

The session registry (``tape_sessions``) and the writer leases
(``tape_leases``) live in the same database as the events, so one store
location is still the whole truth.  They hold no history: losing them loses
names and leases, never events.  :class:`SideTables` runs ``?``-placeholder
SQL on the store's backend object (which knows the dialect), each call one
transaction, and turns the database's errors into tapevm's.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any

from eventsourcing.persistence import ConnectionPoolClosedError, PersistenceError

from tapevm.domain.errors import StoreClosed, StoreError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.backend import backend_of, sql_backend


def has_side_tables(store: EventStore) -> bool:
    """Whether ``store`` keeps tapevm's own tables (a SQL store; not, e.g., replay's in-memory one)."""
    return backend_of(store) is not None


def _pool_closed(error: BaseException) -> bool:
    """Whether ``error`` says the store's connection pool was closed (the library's SQLite pool, or
    psycopg_pool's, which the library wraps in a PersistenceError)."""
    cause: BaseException | None = error
    while cause is not None:
        if isinstance(cause, ConnectionPoolClosedError) or type(cause).__name__ == "PoolClosed":
            return True
        cause = cause.__cause__
    return False


class SideTables:
    """One transaction per call over the store's database (SQLite or PostgreSQL)."""

    def __init__(self, store: EventStore) -> None:
        self.backend = sql_backend(store, "session names and leases")
        self.where = store.url_for_display

    def table(self, name: str) -> str:
        return self.backend.table(name)

    @property
    def now(self) -> str:
        """SQL for the database's clock, in seconds since the epoch.

        Times that processes on several hosts compare (a lease's heartbeat) are taken from the
        one clock they share: each host's own clock may be minutes off the others'.
        """
        return self.backend.now

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Run statements in ONE transaction; the rows each returned (empty for writes)."""
        try:
            return self.backend.run(statements)
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
