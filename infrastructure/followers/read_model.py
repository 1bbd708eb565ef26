"""The SQL read model: the whole store as plain SQLite tables, for ``tape sql``.

A separate SQLite file (``<store>.readmodel.db`` next to a file store,
``$TAPE_HOME/readmodel-<hash>.db`` for a PostgreSQL store) that can be deleted
and rebuilt at any time.  A projection follows the store's global order (the
recorder's notifications: one per commit record), decodes each record with the
codec, and writes its events into the tables.  It reads the log only through
``LogTail`` (positions are opaque) and is the ``sql`` projection of ``tape
follow``.  Its position is an eventsourcing *tracking record* written in the
same transaction as the rows it covers (``tracked_transaction``), so after any
crash it resumes exactly after the last commit it applied and never applies one
twice, even with several followers at once.

Its tables and what rows each event makes are ``projections.read_model``'s
(``schema``, ``applier``); this module holds the I/O: the file, the tracking
transaction, the follower, read-only queries and ``rebuild``.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteTrackingRecorder

from tapevm.domain.errors import ReadOnlyQuery, StoreError, UsageError
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.followers.leases import FileLease
from tapevm.infrastructure.followers.runner import catch_up
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.event_store import RecorderEventStore
from tapevm.infrastructure.stores.factory import tape_home
from tapevm.infrastructure.stores.log_tail import CommitRecord, LogTail
from tapevm.infrastructure.stores.records.record_codec import RecordCodec
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.infrastructure.stores.sqlite.recorder import TapeSQLiteDatastore
from tapevm.infrastructure.stores.sqlite.tracking import create_sqlite_tracking_table, tracked_transaction
from tapevm.projections.protocol import Applied
from tapevm.projections.read_model.applier import ReadModelApplier, content_node
from tapevm.projections.read_model.schema import SCHEMA, VERSION
from tapevm.projections.read_model.value_json import ValueJson, readable
from tapevm.vm.printer import to_source

log = get_logger("tapevm.read_model")

PROJECTION = "tapevm-read-model"
PAGE = 2_000  # commit records per transaction of the projection
RESET_TIMEOUT = 30.0  # seconds ``rebuild`` waits for a follower's batch to commit


def read_model_path(store: EventStore) -> Path:
    """Where the read model of ``store`` lives."""
    location = store.url_for_display
    if "://" in location:
        digest = hashlib.sha256(_server_store(location).encode()).hexdigest()[:16]
        return Path(tape_home()) / f"readmodel-{digest}.db"
    return Path(location + ".readmodel.db")


def _server_store(url: str) -> str:
    """Which store a server URL names (host, port, database, schema): the same whoever connects and
    with whatever pool options, so that one store has one read model."""
    parts = urlsplit(url)
    schema = parse_qs(parts.query).get("schema", [""])[0]
    host, port, database = parts.hostname or "127.0.0.1", parts.port or 5432, parts.path.lstrip("/") or "postgres"
    return f"{parts.scheme}://{host}:{port}/{database}?schema={schema}"


def _check_not_directory(path: Path) -> None:
    if path.is_dir():
        raise StoreError(f"the read model path {path} is a directory, not a file: move it away "
                         "(tape rebuilds the read model from the log)")


def _damaged(path: Path, e: Exception) -> StoreError | None:
    """The one-line error for a read model file that is not a (sound) database; None for other errors."""
    text = str(e)
    if "not a database" not in text and "malformed" not in text:
        return None
    return StoreError(f"the read model {path} is damaged ({text}); rebuild it with 'tape sql --rebuild'")


def open_read_model(store: EventStore) -> ReadModel:
    """The read model of ``store``; a one-line StoreError when its file is a directory or damaged."""
    path = read_model_path(store)
    _check_not_directory(path)
    try:
        return ReadModel(store, path)
    except (sqlite3.DatabaseError, PersistenceError) as e:
        raise _damaged(path, e) or e from None


@dataclass(frozen=True)
class CatchUp:
    commits: int
    events: int
    position: int


class ReadModel:
    """The read model file of one store; ``catch_up`` brings it to the store's last commit."""

    def __init__(self, store: EventStore, path: Path | None = None) -> None:
        self.store = store
        self.path = path or read_model_path(store)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # Ours, not the library's: followers opening a new read model together must wait for the switch
        # to WAL (the library's fails at once with "database is locked" while another connection has it).
        self.datastore = TapeSQLiteDatastore(str(self.path))
        # Its own codec: a follower applies this projection in its own thread, and zstd contexts are not thread-safe.
        self.codec = RecordCodec()
        self.tracking = SQLiteTrackingRecorder(self.datastore)
        create_sqlite_tracking_table(self.tracking)
        self._ensure_schema()

    def _ensure_schema(self) -> None:
        """Create the tables and views; a file of another version has its own dropped first, its
        position reset and its version set, all in ONE transaction, so that of several processes
        opening it at once one upgrades it and the others find it current."""
        conn = sqlite3.connect(self.path, timeout=RESET_TIMEOUT, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            dropped = 0
            if version != VERSION:
                dropped = _drop_stale(conn)
                conn.execute("DELETE FROM tracking WHERE application_name = ?", (PROJECTION,))
                conn.execute(f"PRAGMA user_version = {VERSION}")
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.execute("COMMIT")
        finally:
            conn.close()
        if dropped:
            log.warning("read_model_rebuilt", path=str(self.path), version=version, now=VERSION,
                        reason="written by another version of tapevm")

    name = "sql"  # as a follower's projection (tape follow --projection sql)

    def follow_lease(self) -> FileLease:
        """The lease a following worker holds (the file is local to the host on every backend)."""
        return FileLease(Path(f"{self.path}.follow.lock"))

    def position(self) -> int:
        """The position of the last commit applied (an opaque LogTail position; 0: none)."""
        return self.tracking.max_tracking_id(PROJECTION) or 0

    def _tail(self, page: int) -> LogTail:
        if not isinstance(self.store, RecorderEventStore):
            raise StoreError(f"{self.store.url_for_display} cannot feed a read model")
        return LogTail(self.store, page=page)

    def catch_up(self, page: int = PAGE) -> CatchUp:
        """Apply every commit after the tracked position, one transaction per page.

        The log is read through LogTail only (positions are opaque); if another
        follower moves the position meanwhile, this one re-reads it and goes on.
        """
        commits, events, position = catch_up(self, self._tail(page), page)
        if commits:
            self._refresh_names()  # as before followers: a query sees the registry's current names
        log.debug("read_model_caught_up", commits=commits, events=events, position=position)
        return CatchUp(commits, events, position)

    def apply(self, records: Sequence[CommitRecord], after: int) -> Applied:
        """Write ``records``' rows and the tracking position of the last one in ONE SQLite transaction.

        Raises PositionMoved (nothing written) if the tracked position is not ``after``.
        """
        codec = self.codec
        times: list[float] = []
        events = 0
        with tracked_transaction(self.datastore, self.tracking, PROJECTION, after=after,
                                 to=records[-1].position) as cur:
            c: sqlite3.Cursor = cur.sqlite_cursor  # the read model is a SQLite file on every backend
            applier = ReadModelApplier(c)
            for n in records:
                decoded = codec.decode_fields(n.session, n.first_seq, n.topic, n.state)
                applier.apply_commit(n.session, decoded)
                times.append(decoded[-1][4] / 1000.0)
                events += len(decoded)
            applier.finish()
        if applier.new_sessions:
            # a new stream is the only way a name can change (-f keeps the old stream under a new name)
            self._refresh_names()
        return Applied(len(records), events, times)

    def _refresh_names(self) -> None:
        """Names are not in the log (renames rewrite nothing), so they are copied from the registry."""
        names = SessionRegistry(self.store).names()
        with self.datastore.transaction(commit=True) as cur:
            c: sqlite3.Cursor = cur.sqlite_cursor
            c.executemany("UPDATE sessions SET name=? WHERE stream=?",
                          [(name, stream) for stream, name in names.items()])

    def close(self) -> None:
        self.datastore.close()


# -- read-only queries ------------------------------------------------------------------
_ALLOWED = {sqlite3.SQLITE_SELECT, sqlite3.SQLITE_READ, sqlite3.SQLITE_FUNCTION,
            sqlite3.SQLITE_RECURSIVE}  # WITH RECURSIVE ... SELECT: still only reads, on a read-only connection


def _authorizer(action: int, *_: Any) -> int:
    return sqlite3.SQLITE_OK if action in _ALLOWED else sqlite3.SQLITE_DENY


@dataclass(frozen=True)
class QueryResult:
    columns: list[str]
    rows: list[tuple[Any, ...]]


def query(path: Path, sql: str) -> QueryResult:
    """Run one statement read-only (a read-only connection AND an authorizer that allows only reads)."""
    conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    nodes = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        _value_functions(conn, nodes)
        conn.set_authorizer(_authorizer)
        try:
            cur = conn.execute(sql)
            rows = cur.fetchall()
        except sqlite3.DatabaseError as e:
            if "not authorized" in str(e) or "readonly" in str(e) or "cannot modify" in str(e):
                raise ReadOnlyQuery(f"tape sql is read-only: {e}; use SELECT (or WITH ... SELECT)") from None
            raise UsageError(f"SQL error: {e}") from None
        except sqlite3.Warning as e:
            raise UsageError(f"SQL error: {e}") from None
        return QueryResult([d[0] for d in cur.description or []], rows)
    finally:
        conn.close()
        nodes.close()


def _value_functions(conn: sqlite3.Connection, nodes: sqlite3.Connection) -> None:
    """``tape_json(value)`` and ``tape_source(value)`` on ``conn``: a ``value`` column (an encoding,
    ``["@", key]`` for a compound value) whole, as readable JSON or as Lisp source, decoded from the
    ``content`` table through ``nodes`` (a second connection, outside the query's authorizer).  A
    value that is not an encoding is NULL (a text column, say); the cost is the value's size."""
    reader = nodes.cursor()
    converter = ValueJson(lambda key: content_node(reader, key))

    def decoded(value: Any) -> Any:
        try:
            return converter.decoder.decode(orjson.loads(value))
        except Exception:  # noqa: BLE001 (not an encoding: NULL, as SQL's own functions answer odd input)
            return _NOT_A_VALUE

    def as_json(value: Any) -> str | None:
        found = decoded(value) if isinstance(value, str | bytes) else _NOT_A_VALUE
        return None if found is _NOT_A_VALUE else orjson.dumps(readable(found)[0]).decode()

    def as_source(value: Any) -> str | None:
        found = decoded(value) if isinstance(value, str | bytes) else _NOT_A_VALUE
        return None if found is _NOT_A_VALUE else to_source(found)

    conn.create_function("tape_json", 1, as_json, deterministic=True)
    conn.create_function("tape_source", 1, as_source, deterministic=True)


_NOT_A_VALUE: Any = object()



def sqlite_files(path: Path) -> tuple[Path, Path, Path]:
    """A SQLite database's files: the database, its write-ahead log and its shared-memory index."""
    return path, Path(f"{path}-wal"), Path(f"{path}-shm")


def rebuild(store: EventStore) -> int:
    """Empty the read model (the next catch-up rebuilds it from the log) and give its space back;
    the number of rows removed (a damaged file, deleted, counts as 1).

    Emptied in place, in one transaction that also drops the tracked position,
    rather than deleted: a ``tape follow`` running on the file would go on
    writing into a deleted file, and its work would be lost to every later
    query.  Instead its next batch finds the position moved (``PositionMoved``)
    and it starts over from the first commit.  A file that is not a database
    (damaged) is deleted.
    """
    path = read_model_path(store)
    if not path.exists():
        return 0
    _check_not_directory(path)
    return _empty(path)


def _drop_stale(conn: sqlite3.Connection) -> int:
    """Drop the views and tables another version's schema made (all but the tracking table, whose
    position ``_empty`` resets), so that this version's are created in their place; how many."""
    found = conn.execute("SELECT type, name FROM sqlite_master WHERE type IN ('view', 'table') "
                         "AND name NOT LIKE 'sqlite_%' AND name != 'tracking' ORDER BY type = 'table'").fetchall()
    for kind, name in found:
        conn.execute(f'DROP {kind.upper()} IF EXISTS "{name}"')
    return len(found)


def _empty(path: Path) -> int:
    """``rebuild``'s work on the file at ``path``."""
    removed = 0
    try:
        conn = sqlite3.connect(path, timeout=RESET_TIMEOUT, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")  # after any follower's batch in progress
            tables = [r[0] for r in conn.execute(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")]
            for table in tables:
                if table == "tracking":  # the position only: the library keeps its own migration row there
                    removed += conn.execute("DELETE FROM tracking WHERE application_name = ?", (PROJECTION,)).rowcount
                else:
                    removed += conn.execute(f'DELETE FROM "{table}"').rowcount
            conn.execute("COMMIT")
            try:
                conn.execute("VACUUM")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # in WAL mode the vacuumed file lands there first
            except sqlite3.OperationalError as e:  # a reader kept it busy: emptied, space freed later
                log.warning("read_model_vacuum_skipped", path=str(path), error=str(e))
        finally:
            conn.close()
    except sqlite3.OperationalError as e:
        raise StoreError(f"cannot empty the read model {path}: {e} (another process held it for "
                         f"{RESET_TIMEOUT:.0f} s; try again)") from e
    except sqlite3.DatabaseError as e:  # not a database at all: nothing in it is worth keeping
        log.warning("read_model_damaged_deleted", path=str(path), error=str(e))
        for p in sqlite_files(path):
            if p.exists():
                os.remove(p)
        removed = 1
    return removed


def run_sql(store: EventStore, sql: str, *, fresh: bool = False) -> tuple[QueryResult, CatchUp]:
    """Catch the read model up (after deleting it when ``fresh``), then run ``sql`` read-only."""
    if fresh:
        rebuild(store)
    model = open_read_model(store)
    try:
        caught = model.catch_up()
    except (sqlite3.DatabaseError, PersistenceError) as e:
        raise _damaged(model.path, e) or e from None
    finally:
        model.close()
    return query(model.path, sql), caught
