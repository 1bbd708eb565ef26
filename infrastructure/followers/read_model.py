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

Tables (documented in docs/cli.md):

* ``sessions(stream, name, parent, fork_at, events, first_time, last_time)``
* ``events(session, seq, type, cause, time, data)``: ``data`` the event's fields as JSON
* ``binding_history`` / ``fact_history`` / ``file_history``: every version of a
  binding, fact or file with the event numbers ``since`` (set) and ``until``
  (replaced or removed; NULL while current); forks get copies of their source's
  rows valid at the fork point;
* views ``bindings``, ``facts``, ``files``: the current rows;
* ``snapshots(session, name, at, description, seq)`` from ``SnapshotTaken``
  events (issue 3), matched by type name.
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import orjson
from eventsourcing.persistence import PersistenceError
from eventsourcing.sqlite import SQLiteTrackingRecorder

from tapevm.domain.content import BlobTable
from tapevm.domain.errors import CorruptRecord, ReadOnlyQuery, StoreError, UsageError
from tapevm.domain.state import add_blob_entries, fact_key
from tapevm.infrastructure.stores.records.record_codec import RecordCodec
from tapevm.infrastructure.stores.event_store import RecorderEventStore
from tapevm.infrastructure.followers.leases import FileLease
from tapevm.infrastructure.followers.runner import Applied, catch_up
from tapevm.infrastructure.stores.log_tail import CommitRecord, LogTail
from tapevm.infrastructure.logs import get_logger
from tapevm.domain.ports import EventStore
from tapevm.infrastructure.stores.registry import SessionRegistry
from tapevm.infrastructure.stores.sqlite.recorder import TapeSQLiteDatastore
from tapevm.infrastructure.stores.factory import tape_home
from tapevm.infrastructure.stores.sqlite.tracking import create_sqlite_tracking_table, tracked_transaction

log = get_logger("tapevm.read_model")

PROJECTION = "tapevm-read-model"
# What this code's tables hold (the file's ``PRAGMA user_version``).  A read model written by code
# of another version (older files say 0) is emptied when opened and rebuilt from the log, so a
# fix of the projection reaches tables built before it.  2: file imports, restores and image
# loads are applied.
VERSION = 2
PAGE = 2_000  # commit records per transaction of the projection
RESET_TIMEOUT = 30.0  # seconds ``rebuild`` waits for a follower's batch to commit
SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (stream TEXT PRIMARY KEY, name TEXT, parent TEXT, fork_at INTEGER,
    events INTEGER NOT NULL, first_time REAL, last_time REAL);
CREATE TABLE IF NOT EXISTS events (session TEXT NOT NULL, seq INTEGER NOT NULL, type TEXT NOT NULL,
    cause INTEGER NOT NULL, time REAL NOT NULL, data TEXT NOT NULL, PRIMARY KEY (session, seq)) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS binding_history (session TEXT NOT NULL, ns TEXT NOT NULL, name TEXT NOT NULL,
    value TEXT, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS binding_open ON binding_history (session, ns, name) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS fact_history (session TEXT NOT NULL, fact_key TEXT NOT NULL, fact TEXT NOT NULL,
    since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS fact_open ON fact_history (session, fact_key) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS file_history (session TEXT NOT NULL, path TEXT NOT NULL, blob TEXT NOT NULL,
    size INTEGER NOT NULL, since INTEGER NOT NULL, until INTEGER);
CREATE INDEX IF NOT EXISTS file_open ON file_history (session, path) WHERE until IS NULL;
CREATE TABLE IF NOT EXISTS snapshots (session TEXT NOT NULL, name TEXT, at INTEGER, description TEXT,
    seq INTEGER NOT NULL);
CREATE VIEW IF NOT EXISTS bindings AS SELECT session, ns, name, value, since FROM binding_history WHERE until IS NULL;
CREATE VIEW IF NOT EXISTS facts AS SELECT session, fact, since FROM fact_history WHERE until IS NULL;
CREATE VIEW IF NOT EXISTS files AS SELECT session, path, blob, size, since FROM file_history WHERE until IS NULL;
"""


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


def _json(value: Any) -> str:
    return orjson.dumps(value).decode()


class _Applier:
    """Writes one event's effect on the tables (one cursor, inside the page's transaction)."""

    def __init__(self, c: sqlite3.Cursor) -> None:
        self.c = c
        self.pending: dict[tuple[str, str, str], tuple[str, int] | None] = {}
        self.first_since: dict[tuple[str, str, str], int] = {}
        self.closed: list[tuple[Any, ...]] = []
        self.handlers: dict[str, Callable[[str, int, dict[str, Any]], None]] = {
            "Defined": self.defined, "Assigned": self.defined, "FactAsserted": self.fact_asserted,
            "FactRetracted": self.fact_retracted, "FileWritten": self.file_written,
            "FileDeleted": self.file_deleted, "MergeApplied": self.merge_applied,
            "SessionForked": self.forked, "SnapshotTaken": self.snapshot,
            # a session action that sets files, or the whole state, without a form's events
            "FileImported": self.file_written, "StateRestored": self.restored,
            "ContentStored": self.content_stored, "ImageLoaded": self.image_loaded,
        }
        # the blob entries of the last ContentStored seen, by stream (an ImageLoaded's files are there),
        # and their table once a size was asked of it
        self.content: tuple[str, list[Any]] = ("", [])
        self.content_table: BlobTable | None = None

    def set_binding(self, s: str, seq: int, ns: str, name: str, value: Any) -> None:
        """Buffered: a page's versions of a binding become rows at ``flush`` (one UPDATE per name, not per event)."""
        k = (s, ns, name)
        pending = self.pending
        if k in pending:
            cur = pending[k]
            if cur is not None:
                self.closed.append((s, ns, name, cur[0], cur[1], seq))
        else:
            self.first_since[k] = seq
        pending[k] = None if value is _REMOVED else (_json(value), seq)

    def flush(self) -> None:
        """Write the buffered binding versions: close the rows left open by earlier pages, then insert."""
        c = self.c
        if self.first_since:
            c.executemany("UPDATE binding_history SET until=? WHERE session=? AND ns=? AND name=? AND until IS NULL",
                          [(since, *k) for k, since in self.first_since.items()])
        if self.closed:
            c.executemany("INSERT INTO binding_history VALUES (?,?,?,?,?,?)", self.closed)
        c.executemany("INSERT INTO binding_history VALUES (?,?,?,?,?,NULL)",
                      [(*k, v[0], v[1]) for k, v in self.pending.items() if v is not None])
        self.pending.clear()  # in place: catch_up holds references to these
        self.first_since.clear()
        self.closed.clear()

    def defined(self, s: str, seq: int, f: dict[str, Any]) -> None:
        self.set_binding(s, seq, f["ns"], f["name"], f["value"])

    def fact_asserted(self, s: str, seq: int, f: dict[str, Any]) -> None:
        key = fact_key(f["fact"]).hex()
        self.c.execute("UPDATE fact_history SET until=? WHERE session=? AND fact_key=? AND until IS NULL",
                       (seq, s, key))
        self.c.execute("INSERT INTO fact_history VALUES (?,?,?,?,NULL)", (s, key, _json(f["fact"]), seq))

    def fact_retracted(self, s: str, seq: int, f: dict[str, Any]) -> None:
        self.c.execute("UPDATE fact_history SET until=? WHERE session=? AND fact_key=? AND until IS NULL",
                       (seq, s, fact_key(f["fact"]).hex()))

    def file_written(self, s: str, seq: int, f: dict[str, Any]) -> None:
        self.file_deleted(s, seq, f)
        self.c.execute("INSERT INTO file_history VALUES (?,?,?,?,?,NULL)", (s, f["path"], f["content"], f["size"], seq))

    def file_deleted(self, s: str, seq: int, f: dict[str, Any]) -> None:
        self.c.execute("UPDATE file_history SET until=? WHERE session=? AND path=? AND until IS NULL",
                       (seq, s, f["path"]))

    def merge_applied(self, s: str, seq: int, f: dict[str, Any]) -> None:
        for ns, name, value in f["bindings"]:
            self.set_binding(s, seq, ns, name, value)
        for ns, name in f["removed"]:
            self.set_binding(s, seq, ns, name, _REMOVED)
        for fact in f["facts_removed"]:
            self.fact_retracted(s, seq, {"fact": fact})
        for fact in f["facts_added"]:
            self.fact_asserted(s, seq, {"fact": fact})
        for path, key in f["files"]:
            if key is None:
                self.file_deleted(s, seq, {"path": path})
            else:
                self.c.execute("UPDATE file_history SET until=? WHERE session=? AND path=? AND until IS NULL",
                               (seq, s, path))
                self.c.execute("INSERT INTO file_history SELECT ?, path, blob, size, ?, NULL FROM file_history "
                               "WHERE session=? AND path=? AND blob=? LIMIT 1", (s, seq, f["source"], path, key))

    def forked(self, s: str, seq: int, f: dict[str, Any]) -> None:
        self.flush()  # the source's rows must be current before they are copied
        src, at = f["source"], f["at"]
        valid = "session=? AND since<=? AND (until IS NULL OR until>?)"
        self.c.execute(f"INSERT INTO binding_history SELECT ?, ns, name, value, since, NULL FROM binding_history "
                       f"WHERE {valid}", (s, src, at, at))
        self.c.execute(f"INSERT INTO fact_history SELECT ?, fact_key, fact, since, NULL FROM fact_history "
                       f"WHERE {valid}", (s, src, at, at))
        self.c.execute(f"INSERT INTO file_history SELECT ?, path, blob, size, since, NULL FROM file_history "
                       f"WHERE {valid}", (s, src, at, at))
        self.c.execute("UPDATE sessions SET parent=?, fork_at=? WHERE stream=?", (src, at, s))

    def content_stored(self, s: str, seq: int, f: dict[str, Any]) -> None:
        """Only remembered (no decoding): the ImageLoaded that may follow needs its blobs' sizes."""
        self.content = (s, f["blobs"])
        self.content_table = None

    def _blob_size(self, s: str, key: str) -> int:
        """The size of file content ``key``: from the last ContentStored of ``s`` (an image load's
        content) or, since a restore goes back to content the store already held, from a row."""
        stream, entries = self.content
        if stream == s and entries:
            if self.content_table is None:
                self.content_table = BlobTable()
                add_blob_entries(self.content_table, entries)
            if key in self.content_table:
                return len(self.content_table.get(key))
        row = self.c.execute("SELECT size FROM file_history WHERE blob=? LIMIT 1", (key,)).fetchone()
        if row is None:
            raise CorruptRecord(f"session {s!r}: a file refers to content {key} that no event stored")
        return int(row[0])

    def _set_file(self, s: str, seq: int, path: str, key: str) -> None:
        self.file_written(s, seq, {"path": path, "content": key, "size": self._blob_size(s, key)})

    def restored(self, s: str, seq: int, f: dict[str, Any]) -> None:
        """A restore changes what its delta says (the fold applies the same delta; atoms and the
        current namespace have no table)."""
        delta = f["delta"]
        for ns, table in delta.get("bindings", {}).items():
            for name, value in table.get("added", {}).items():
                self.set_binding(s, seq, ns, name, value)
            for name, (_, value) in table.get("changed", {}).items():
                self.set_binding(s, seq, ns, name, value)
            for name in table.get("removed", {}):
                self.set_binding(s, seq, ns, name, _REMOVED)
        facts = delta.get("facts", {})
        for fact in facts.get("retracted", {}).values():
            self.fact_retracted(s, seq, {"fact": fact})
        for fact in facts.get("asserted", []):
            self.fact_asserted(s, seq, {"fact": fact})
        files = delta.get("files", {})
        for path in files.get("removed", {}):
            self.file_deleted(s, seq, {"path": path})
        for path, key in files.get("added", {}).items():
            self._set_file(s, seq, path, key)
        for path, (_, key) in files.get("changed", {}).items():
            self._set_file(s, seq, path, key)

    def image_loaded(self, s: str, seq: int, f: dict[str, Any]) -> None:
        """The image's state replaces the session's (None: its history was re-appended before this
        event, and those events made the rows)."""
        state = f["state"]
        if state is None:
            return
        self.flush()  # the session's buffered bindings become rows before they are all closed
        for table in ("binding_history", "fact_history", "file_history"):
            self.c.execute(f"UPDATE {table} SET until=? WHERE session=? AND until IS NULL", (seq, s))
        for ns, names in state["namespaces"].items():
            for name, value in names.items():
                self.set_binding(s, seq, ns, name, value)
        for fact in state["facts"]:
            self.fact_asserted(s, seq, {"fact": fact})
        for path, key in state["files"].items():
            self._set_file(s, seq, path, key)

    def snapshot(self, s: str, seq: int, f: dict[str, Any]) -> None:
        self.c.execute("INSERT INTO snapshots VALUES (?,?,?,?,?)",
                       (s, f.get("name"), f.get("at"), f.get("description"), seq))


_REMOVED: Any = object()


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
        conn = sqlite3.connect(self.path)
        try:
            version = conn.execute("PRAGMA user_version").fetchone()[0]
            conn.executescript(SCHEMA)
            conn.commit()
        finally:
            conn.close()
        if version != VERSION:
            removed = _empty(self.path)
            if removed:
                log.warning("read_model_rebuilt", path=str(self.path), version=version, now=VERSION,
                            reason="written by another version of tapevm")
            conn = sqlite3.connect(self.path, timeout=RESET_TIMEOUT)
            try:
                conn.execute(f"PRAGMA user_version = {VERSION}")
                conn.commit()
            finally:
                conn.close()

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
        commits = events = 0
        new_sessions = False
        with tracked_transaction(self.datastore, self.tracking, PROJECTION, after=after,
                                 to=records[-1].position) as cur:
            c: sqlite3.Cursor = cur.sqlite_cursor  # the read model is a SQLite file on every backend
            applier = _Applier(c)
            handlers = applier.handlers
            rows: list[tuple[Any, ...]] = []
            touched: dict[str, tuple[int, float]] = {}
            dumps = orjson.dumps
            pending, first_since, closed = applier.pending, applier.first_since, applier.closed
            for n in records:
                stream = n.session
                decoded = codec.decode_fields(stream, n.first_seq, n.topic, n.state)
                head = decoded[0]
                if head[0] == 1 or head[1] == "SessionForked":
                    self._session_row(c, stream, head[0], head[4] / 1000.0)
                    new_sessions = True
                for seq, type_name, fields, cause, ms in decoded:
                    rows.append((stream, seq, type_name, cause, ms / 1000.0, dumps(fields).decode()))
                    if type_name == "Defined" or type_name == "Assigned":
                        # the hot path, inlined: Applier.set_binding
                        k = (stream, fields["ns"], fields["name"])
                        if k in pending:
                            cur_version = pending[k]
                            if cur_version is not None:
                                closed.append((*k, cur_version[0], cur_version[1], seq))
                        else:
                            first_since[k] = seq
                        pending[k] = (dumps(fields["value"]).decode(), seq)
                        continue
                    handler = handlers.get(type_name)
                    if handler is not None:
                        handler(stream, seq, fields)
                last = decoded[-1]
                touched[stream] = (last[0], last[4] / 1000.0)
                times.append(last[4] / 1000.0)
                commits += 1
                events += len(decoded)
            applier.flush()
            c.executemany("INSERT INTO events VALUES (?,?,?,?,?,?)", rows)
            c.executemany("UPDATE sessions SET events=?, last_time=? WHERE stream=?",
                          [(seq, last_time, stream) for stream, (seq, last_time) in touched.items()])
        if new_sessions:
            # a new stream is the only way a name can change (-f keeps the old stream under a new name)
            self._refresh_names()
        return Applied(commits, events, times)

    @staticmethod
    def _session_row(c: sqlite3.Cursor, stream: str, seq: int, t: float) -> None:
        c.execute("INSERT OR IGNORE INTO sessions (stream, name, events, first_time, last_time) VALUES (?,?,?,?,?)",
                  (stream, stream, seq, t, t))

    def _refresh_names(self) -> None:
        """Names are not in the log (renames rewrite nothing), so they are copied from the registry."""
        names = SessionRegistry(self.store).names()
        with self.datastore.transaction(commit=True) as cur:
            c: sqlite3.Cursor = cur.sqlite_cursor
            c.executemany("UPDATE sessions SET name=? WHERE stream=?", [(n, s) for s, n in names.items()])

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
    try:
        conn.set_authorizer(_authorizer)
        try:
            cur = conn.execute(sql)
            rows = cur.fetchall()
        except sqlite3.DatabaseError as e:
            if "not authorized" in str(e) or "readonly" in str(e):
                raise ReadOnlyQuery(f"tape sql is read-only: {e}; use SELECT (or WITH ... SELECT)") from None
            raise UsageError(f"SQL error: {e}") from None
        except sqlite3.Warning as e:
            raise UsageError(f"SQL error: {e}") from None
        return QueryResult([d[0] for d in cur.description or []], rows)
    finally:
        conn.close()


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
