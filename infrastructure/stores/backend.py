"""The backend: what tapevm asks of a store's database, built once by the factory.

A store is SQLite or PostgreSQL.  Nothing outside the backends' own rooms
(``stores.sqlite``, ``stores.postgres``) knows which: the factory builds the
store's :class:`Backend` once (as the eventsourcing library's factory builds
every recorder for its backend), the store holds it (``store.backend``), and
everything that needs the dialect asks it: the side tables their
transactions and the database's clock, the checkpoint tables their SQL, the
followers their tracking recorder, tracked transaction and lease, the log
tail its reader.  PostgreSQL stays optional: its room (and psycopg) is
imported only by the factory, for a ``postgresql://`` store.

The eventsourcing library's private names that tapevm must reach (no public
way exists) are reached in the backends' rooms only, each with its reason.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Any, Protocol

from eventsourcing.persistence import TrackingRecorder

from tapevm.domain.errors import StoreError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.records.commit_record import CommitRecord

# A wait for new commits: ``wait(seconds, stop)`` returns after ``seconds``, when ``stop`` is set, or
# earlier when a commit may have arrived.
Wait = Callable[[float, threading.Event], None]


class LogReader(Protocol):
    """The global log of one store in commit order (see ``log_tail``: positions are opaque)."""

    #: Whether :meth:`waiter` wakes on commits (PostgreSQL's LISTEN); else it only sleeps (SQLite polls).
    listens: bool

    def read_after(self, position: int, limit: int) -> tuple[list[CommitRecord], bool]:
        """Records after ``position`` (at least ``limit`` if there are that many, never half a transaction),
        and whether committed records wait behind a visibility fence (look again soon)."""
        ...

    def last_position(self) -> int:
        """The position of the newest committed record (0 for an empty store)."""
        ...

    def waiter(self) -> AbstractContextManager[Wait]:
        """A context giving a :data:`Wait`; on PostgreSQL it LISTENs from entering the context, so a commit
        between a read and the wait still wakes the wait."""
        ...


class Backend(Protocol):
    """One store's database, as tapevm's own tables and followers use it.

    SQL handed to :meth:`run` uses ``?`` placeholders whatever the dialect;
    SQL run on a cursor from :meth:`cursor` or :meth:`tracked_transaction`
    uses :attr:`placeholder`.  Table names go through :meth:`table`.
    """

    #: The eventsourcing library's datastore (connection pool) the store's recorder uses.
    datastore: Any
    #: ``?`` (SQLite) or ``%s`` (PostgreSQL): the placeholder of SQL run on this backend's cursors.
    placeholder: str
    #: The column type of a blob: ``BLOB`` or ``BYTEA``.
    blob_type: str
    #: SQL for the database's clock in seconds since the epoch: times that processes on several hosts
    #: compare (a lease's heartbeat) come from the one clock they share.
    now: str
    #: Whether the database offers session advisory locks (PostgreSQL); without them, the store is a local
    #: file and a lock file beside it serves (followers choose their lease by this).
    advisory_locks: bool
    #: What follows ``CREATE TABLE (...)`` for a table whose primary key is all it is looked up by
    #: (SQLite: ``WITHOUT ROWID``, one b-tree instead of two; PostgreSQL: nothing).
    compact_table: str

    def table(self, name: str) -> str:
        """``name`` as SQL on this store names it (schema-qualified and quoted on PostgreSQL)."""
        ...

    def run(self, statements: Sequence[tuple[str, Sequence[Any]]]) -> list[list[tuple[Any, ...]]]:
        """Run ``?``-placeholder statements in ONE transaction; the rows each returned (empty for writes).

        A statement that creates a table runs under the backend's DDL lock.  Errors are the driver's and
        the library's own (``side_tables`` turns them into StoreError)."""
        ...

    def cursor(self, commit: bool) -> AbstractContextManager[Any]:
        """A cursor in a transaction for tapevm's cache tables (checkpoints): committed at the end when
        ``commit``.  Writes need not be durable on their own (a cache: SQLite skips their fsync, the next
        event commit syncs them); rows come back as plain tuples through :meth:`rows`."""
        ...

    def rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        """The fetched rows of ``cursor`` as plain tuples."""
        ...

    def tables_exist_sql(self, names: Sequence[str]) -> tuple[str, tuple[Any, ...]]:
        """SQL (and its parameters) counting which of the tables ``names`` exist."""
        ...

    def ddl_lock(self) -> list[str]:
        """Statements that serialise creating tables across processes (none on SQLite: BEGIN IMMEDIATE does)."""
        ...

    def tracking_recorder(self) -> TrackingRecorder:
        """The library's tracking recorder in this database (its table created if missing)."""
        ...

    def tracked_transaction(self, tracking: TrackingRecorder, name: str, *, after: int,
                            to: int) -> AbstractContextManager[Any]:
        """A cursor in ONE write transaction that moves projection ``name`` from position ``after`` to ``to``.

        This is what makes a follower apply every commit exactly once: the
        transaction first takes the projection's write lock (SQLite: ``BEGIN
        IMMEDIATE``, the database's single writer lock; PostgreSQL: a transaction
        advisory lock on the projection's name in the schema), then reads the
        projection's tracked position *inside* the lock and refuses to go on
        (``PositionMoved``, everything rolled back) unless it is ``after``; the
        caller writes its rows on the cursor; the new tracking position is
        inserted last, and everything commits at once.  A ``kill -9`` anywhere
        before the commit leaves neither the rows nor the position; after it,
        both.  Two followers of the same projection can race: the lock
        serialises them, the position check makes the loser roll back and
        re-read, so nothing is applied twice whatever their batch boundaries.
        StoreError on any database error (nothing written either).
        """
        ...

    def log_reader(self) -> LogReader:
        """The reader of this store's global log (PostgreSQL: checks the store's transaction-id horizon)."""
        ...

    def vacuum(self) -> tuple[int, int]:
        """Reclaim the space of deleted rows (SQLite: ``VACUUM`` the file; PostgreSQL: ``VACUUM`` the tables
        of the store's schema, no other schema's); the database's bytes before and after."""
        ...


def backend_of(store: EventStore) -> Backend | None:
    """The backend of a SQL store (through a names view too); None for a store without one (replay's
    in-memory store)."""
    backend: Backend | None = getattr(store, "backend", None)
    return backend


def sql_backend(store: EventStore, what: str) -> Backend:
    """The backend of ``store``, or a StoreError saying that ``what`` needs a SQL store."""
    backend = backend_of(store)
    if backend is None:
        raise StoreError(f"{store.url_for_display} does not support {what}")
    return backend


def open_tracking_recorder(store: EventStore) -> TrackingRecorder:
    """A tracking recorder in the same database as ``store`` (tables created if missing)."""
    return sql_backend(store, "tracking").tracking_recorder()
