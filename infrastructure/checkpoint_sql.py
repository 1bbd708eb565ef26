"""The checkpoint cache in SQL: tapevm's own tables beside the events, on SQLite and PostgreSQL.

Two tables, created on first use::

    tape_checkpoint_frames(session, seq, kind, base, version, events_hash, tip, payload_hash,
                           raw_size, created_at, payload)      primary key (session, seq)
    tape_settings(key, value)                                  per-store settings

A churning session writes a thousand small P-frames, so a row is kept small: the three xxh3
digests are 64-bit integers (8 bytes each, as hex text they took 16), the projection version is
a 31-bit digest of its name (``version_code``; the names this code knows are registered with
``register_version``), ``created_at`` whole seconds.  ``tape_checkpoints``, the layout before
(text digests and version), is dropped when this table is created: a checkpoint is a cache.

One class serves both backends; the dialects differ only in placeholders,
the blob column type and how a connection is borrowed, so each backend is a
small subclass.  Every database error becomes a StoreError (the callers log
and carry on: a checkpoint is a cache, never a reason for a form to fail).
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import structlog
import xxhash

from tapevm.domain.errors import StoreError
from tapevm.infrastructure.ports import CheckpointMeta, CheckpointStore, EventStore

TABLE = "tape_checkpoint_frames"
OLD_TABLE = "tape_checkpoints"
SETTINGS = "tape_settings"
log = structlog.get_logger("tapevm.checkpoints")
_META_COLUMNS = "session, seq, kind, base, version, events_hash, tip, payload_hash, raw_size, created_at"
_VERSION_NAMES: dict[int, str] = {}
_MASK64 = (1 << 64) - 1


def version_code(version: str) -> int:
    """The number a projection version is stored as (31 bits: four bytes in SQLite)."""
    return xxhash.xxh32_intdigest(version.encode()) & 0x7FFFFFFF


def register_version(version: str) -> None:
    """Let stored rows of ``version`` be read back under its name (others read as ``unknown #code``)."""
    _VERSION_NAMES[version_code(version)] = version


def _digest_int(hex_digest: str) -> int:
    """A 64-bit digest in hex as the signed integer SQL stores."""
    return int.from_bytes(bytes.fromhex(hex_digest), "big", signed=True)


def _digest_hex(value: Any) -> str:
    if type(value) is not int:
        raise TypeError(f"a digest column holds {type(value).__name__}")
    return format(value & _MASK64, "016x")


def _row(meta: CheckpointMeta, payload: bytes) -> tuple[Any, ...]:
    return (meta.session, meta.seq, meta.kind, meta.base, version_code(meta.projection_version),
            _digest_int(meta.events_hash), _digest_int(meta.tip), _digest_int(meta.payload_hash), meta.raw_size,
            int(meta.created_at), payload)


class SQLCheckpointStore(CheckpointStore):
    """Dialect-neutral SQL; subclasses provide ``_cursor``, the placeholder and the table names."""

    ph = "?"
    blob_type = "BLOB"

    def __init__(self, display: str) -> None:
        self.display = display
        self._ready = False

    # -- dialect hooks ----------------------------------------------------------------
    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _table(self, name: str) -> str:
        return name

    def _rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(r) for r in cursor.fetchall()]

    # -- schema -------------------------------------------------------------------------
    def _exists_sql(self) -> tuple[str, tuple[Any, ...]]:
        return f"SELECT COUNT(*) FROM sqlite_master WHERE type='table' AND name IN ('{TABLE}', '{SETTINGS}')", ()

    def _ensure(self) -> None:
        if self._ready:
            return
        sql, params = self._exists_sql()
        # A read first: creating tables is a write transaction (an fsync) that most opens do not need.
        if int(self._run([sql], [params], fetch=True, ensure=False)[0][0]) == 2:
            self._ready = True
            return
        t, s = self._table(TABLE), self._table(SETTINGS)
        self._run(
            [*self._ddl_lock(),
             (f"CREATE TABLE IF NOT EXISTS {t} (session TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, "
             f"base BIGINT NOT NULL, version BIGINT NOT NULL, events_hash BIGINT NOT NULL, "
             f"tip BIGINT NOT NULL, payload_hash BIGINT NOT NULL, raw_size BIGINT NOT NULL, "
             f"created_at BIGINT NOT NULL, payload {self.blob_type} NOT NULL, "
             f"PRIMARY KEY (session, seq))"),
             f"CREATE TABLE IF NOT EXISTS {s} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
             f"DROP TABLE IF EXISTS {self._table(OLD_TABLE)}"],
            commit=True, ensure=False,
        )
        self._ready = True

    def ensure_tables(self) -> None:
        """Create the tables if they are missing (a no-op read when they exist)."""
        self._ensure()

    def _ddl_lock(self) -> list[str]:
        """Statements that serialise creating the tables across processes (dialect-specific)."""
        return []

    def _run(self, statements: list[str], params: Sequence[Sequence[Any]] = (), *, commit: bool = False,
             fetch: bool = False, ensure: bool = True) -> list[tuple[Any, ...]]:
        if ensure:
            self._ensure()
        try:
            with self._cursor(commit) as c:
                rows: list[tuple[Any, ...]] = []
                for i, sql in enumerate(statements):
                    c.execute(sql, params[i] if i < len(params) else ())
                    if fetch:
                        rows = self._rows(c)
                return rows
        except StoreError:
            raise
        except Exception as e:  # the driver's and the library's errors alike
            raise StoreError(f"checkpoint table in {self.display}: {type(e).__name__}: {e}") from e

    # -- the port ---------------------------------------------------------------------------
    def put(self, meta: CheckpointMeta, payload: bytes) -> None:
        t, p = self._table(TABLE), self.ph
        self._run(
            [f"DELETE FROM {t} WHERE session={p} AND seq={p}",
             f"INSERT INTO {t} ({_META_COLUMNS}, payload) VALUES ({', '.join([p] * 11)})"],
            [(meta.session, meta.seq), _row(meta, payload)], commit=True,
        )

    def insert_absent(self, cursor: Any, rows: Sequence[tuple[CheckpointMeta, bytes]]) -> None:
        """Insert checkpoints on the caller's cursor (inside the caller's transaction), keeping any that exist.

        The checkpoint follower writes its rows and its tracking position in
        one transaction through this; a checkpoint a session already wrote
        inline at the same event is as good as this one, so it is not a conflict.
        Call ``ensure_tables`` first (creating tables inside the caller's
        transaction could wait on the caller's own lock).
        """
        if not rows:
            return
        t, p = self._table(TABLE), self.ph
        statement = (f"INSERT INTO {t} ({_META_COLUMNS}, payload) VALUES ({', '.join([p] * 11)}) "
                     f"ON CONFLICT (session, seq) DO NOTHING")
        for meta, payload in rows:
            cursor.execute(statement, _row(meta, payload))

    def metas(self, session: str) -> list[CheckpointMeta]:
        t, p = self._table(TABLE), self.ph
        rows = self._run([f"SELECT {_META_COLUMNS}, LENGTH(payload) FROM {t} WHERE session={p} ORDER BY seq"],
                         [(session,)], fetch=True)
        metas = []
        damaged = []
        for r in rows:
            try:
                code = int(r[4])
                metas.append(CheckpointMeta(str(r[0]), int(r[1]), str(r[2]), int(r[3]),
                                            _VERSION_NAMES.get(code, f"unknown #{code:08x}"), _digest_hex(r[5]),
                                            _digest_hex(r[6]), _digest_hex(r[7]), int(r[8]), int(r[10]), float(r[9])))
            except (TypeError, ValueError):  # a damaged row (SQLite keeps any type): dropped, like a damaged payload
                log.warning("checkpoint_ignored", session=session, seq=r[1] if type(r[1]) is int else str(r[1])[:20],
                            reason="malformed row")
                damaged.append(r[1])
        if damaged:
            try:
                self.delete(session, damaged)
            except StoreError as e:  # a read-only store: skipped again next time
                log.warning("checkpoint_delete_failed", session=session, error=str(e))
        return metas

    def payload(self, session: str, seq: int) -> bytes | None:
        t, p = self._table(TABLE), self.ph
        rows = self._run([f"SELECT payload FROM {t} WHERE session={p} AND seq={p}"], [(session, seq)], fetch=True)
        return bytes(rows[0][0]) if rows else None

    def delete(self, session: str, seqs: Sequence[int] | None = None) -> None:
        t, p = self._table(TABLE), self.ph
        if seqs is None:
            self._run([f"DELETE FROM {t} WHERE session={p}"], [(session,)], commit=True)
            return
        if seqs:  # one transaction for all of them
            self._run([f"DELETE FROM {t} WHERE session={p} AND seq={p}"] * len(seqs),
                      [(session, seq) for seq in seqs], commit=True)

    def get_setting(self, key: str) -> str | None:
        s, p = self._table(SETTINGS), self.ph
        rows = self._run([f"SELECT value FROM {s} WHERE key={p}"], [(key,)], fetch=True)
        return str(rows[0][0]) if rows else None

    def set_setting(self, key: str, value: str) -> None:
        s, p = self._table(SETTINGS), self.ph
        self._run([f"DELETE FROM {s} WHERE key={p}", f"INSERT INTO {s} (key, value) VALUES ({p}, {p})"],
                  [(key,), (key, value)], commit=True)


class SQLiteCheckpointStore(SQLCheckpointStore):
    def _ddl_lock(self) -> list[str]:
        return []  # BEGIN IMMEDIATE already serialises writers


    def __init__(self, datastore: Any, display: str) -> None:
        super().__init__(display)
        self.datastore = datastore

    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:
        if not commit:
            with self.datastore.transaction(commit=False) as c:
                c.sqlite_cursor.row_factory = None
                yield c
            return
        # A checkpoint is a cache (verified when read, rebuilt when missing), so writes to these
        # tables (checkpoints, and the rare settings change) commit with synchronous=NORMAL: no
        # fsync of their own.  In WAL mode that is still
        # corruption-safe, and the next form's FULL commit syncs the WAL up to and including
        # it (the WAL is written in order).  Event commits keep the pool's setting: the
        # connection gets it back before it returns to the pool, or is closed.
        with self.datastore.get_connection(commit=True) as conn:
            raw = conn._sqlite_conn
            raw.execute("PRAGMA synchronous=NORMAL")
            try:
                with conn.transaction(commit=True) as c:
                    c.sqlite_cursor.row_factory = None
                    yield c
            finally:
                try:
                    raw.execute(f"PRAGMA synchronous={self.datastore.pool.synchronous}")
                except sqlite3.Error:
                    conn.close()  # never hand a connection with a weaker setting back to the pool
                    raise


class PostgresCheckpointStore(SQLCheckpointStore):
    ph = "%s"
    blob_type = "BYTEA"

    def __init__(self, datastore: Any, display: str) -> None:
        super().__init__(display)
        self.datastore = datastore

    def _ddl_lock(self) -> list[str]:
        from tapevm.infrastructure.postgres_backend import ddl_lock_sql

        return [ddl_lock_sql(self.datastore.schema or "public")]

    def _table(self, name: str) -> str:
        schema = self.datastore.schema or "public"
        return f'"{schema}"."{name}"'

    def _rows(self, cursor: Any) -> list[tuple[Any, ...]]:
        return [tuple(r.values()) if isinstance(r, dict) else tuple(r) for r in cursor.fetchall()]

    def _exists_sql(self) -> tuple[str, tuple[Any, ...]]:
        return ("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = %s AND table_name IN (%s, %s)",
                (self.datastore.schema or "public", TABLE, SETTINGS))

    @contextmanager
    def _cursor(self, commit: bool) -> Iterator[Any]:
        with self.datastore.transaction(commit=commit) as c:
            yield c


def checkpoint_store_for(store: EventStore) -> CheckpointStore | None:
    """The checkpoint cache in the same database as ``store`` (None for a store without SQL)."""
    recorder = getattr(store, "recorder", None)
    datastore = getattr(recorder, "datastore", None)
    if datastore is None:
        return None
    from tapevm.infrastructure.sqlite_backend import TapeSQLiteDatastore

    if isinstance(datastore, TapeSQLiteDatastore):
        return SQLiteCheckpointStore(datastore, store.url_for_display)
    return PostgresCheckpointStore(datastore, store.url_for_display)
