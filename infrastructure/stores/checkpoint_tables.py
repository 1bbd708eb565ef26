"""The checkpoint cache in SQL: tapevm's own tables beside the events, on SQLite and PostgreSQL.

Three tables, created on first use::

    tape_checkpoint_frames(session, seq, kind, base, version, events_hash, tip, payload_hash,
                           raw_size, created_at, payload)      primary key (session, seq)
    tape_checkpoint_packs(session, first, last, base, version, payload_hash, created_at,
                          frames, payload)                     primary key (session, first)
    tape_settings(key, value)                                  per-store settings

A pack holds several P-frames of one keyframe (up to ``checkpoints.PACK_BYTES``), compressed together:
one row, one index entry and one zstd frame instead of one each, and what consecutive frames
repeat (the positions they name, their structure) stored once.  ``frames`` says what is in it:
for each frame, 24 bytes (``_FRAME``: its event number less ``first``, its events hash, its tip (seal),
its raw size).  A checkpoint of its own whose event number falls within a pack (a stale writer's)
is dropped when read: the pack wins.

A churning session writes a thousand small P-frames, so a row is kept small: the three xxh3
digests are 64-bit integers (8 bytes each, as hex text they took 16), the projection version is
a 31-bit digest of its name (``version_code``; the names this code knows are registered with
``register_version``), ``created_at`` whole seconds.  ``tape_checkpoints``, the layout before
(text digests and version), is dropped when this table is created: a checkpoint is a cache.

One class serves both backends; the dialects differ only in placeholders,
the blob column type, table names and how a cursor is borrowed, which the
store's backend object says.  Every database error becomes a StoreError (the
callers log and carry on: a checkpoint is a cache, never a reason for a form
to fail).
"""

from __future__ import annotations

import bisect
import struct
from collections.abc import Sequence
from itertools import pairwise
from typing import Any

import xxhash

from tapevm.domain.errors import StoreError
from tapevm.domain.ports import CheckpointMeta, CheckpointStore, EventStore, packed_metas
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores.backend import Backend, backend_of
from tapevm.projections.checkpoints.seal import pack_hash
from tapevm.projections.checkpoints.version import PROJECTION_VERSION

TABLE = "tape_checkpoint_frames"
PACKS = "tape_checkpoint_packs"
OLD_TABLE = "tape_checkpoints"
SETTINGS = "tape_settings"
log = get_logger("tapevm.checkpoints")
_META_COLUMNS = "session, seq, kind, base, version, events_hash, tip, payload_hash, raw_size, created_at"
_VERSION_NAMES: dict[int, str] = {}
_MASK64 = (1 << 64) - 1
_FRAME = struct.Struct(">Iqqi")  # seq - first, events hash, tip, raw size
PACK_INDEX_BYTES = _FRAME.size  # what a pack's row holds for each frame besides its payload
_PACK_COLUMNS = "session, first, last, base, version, payload_hash, created_at, frames"


def version_code(version: str) -> int:
    """The number a projection version is stored as (31 bits: four bytes in SQLite)."""
    return xxhash.xxh32_intdigest(version.encode()) & 0x7FFFFFFF


def register_version(version: str) -> None:
    """Let stored rows of ``version`` be read back under its name (others read as ``unknown #code``)."""
    _VERSION_NAMES[version_code(version)] = version


register_version(PROJECTION_VERSION)  # the version this code writes reads back under its name


def _digest_int(hex_digest: str) -> int:
    """A 64-bit digest in hex as the signed integer SQL stores."""
    return int.from_bytes(bytes.fromhex(hex_digest), "big", signed=True)


def _digest_hex(value: Any) -> str:
    if type(value) is not int:
        raise TypeError(f"a digest column holds {type(value).__name__}")
    return format(value & _MASK64, "016x")


def _version_name(code: Any) -> str:
    code = int(code)
    return _VERSION_NAMES.get(code, f"unknown #{code:08x}")


def _unpack_metas(r: tuple[Any, ...]) -> list[CheckpointMeta]:
    """The metas of the frames of one pack row (``_PACK_COLUMNS``, then the payload's length)."""
    session, first, last, base, version, payload_hash, created_at, index, size = r
    index = bytes(index)
    if len(index) % _FRAME.size or not index:
        raise ValueError("bad frame index")
    frames = [CheckpointMeta(str(session), int(first) + offset, "P", int(base), _version_name(version),
                             _digest_hex(events_hash), _digest_hex(tip), "", raw_size, 0, float(created_at))
              for offset, events_hash, tip, raw_size in _FRAME.iter_unpack(index)]
    if frames[0].seq != int(first) or frames[-1].seq != int(last) or any(a.seq >= b.seq for a, b in pairwise(frames)):
        raise ValueError("bad frame index")
    return packed_metas(frames, _digest_hex(payload_hash), int(size))


def _within(spans: list[tuple[int, int]], seq: int) -> bool:
    """Whether ``seq`` is within one of ``spans`` (the (first, last) of each pack, sorted)."""
    i = bisect.bisect_right(spans, (seq, _MASK64))
    return i > 0 and spans[i - 1][0] <= seq <= spans[i - 1][1]


def _row(meta: CheckpointMeta, payload: bytes) -> tuple[Any, ...]:
    return (meta.session, meta.seq, meta.kind, meta.base, version_code(meta.projection_version),
            _digest_int(meta.events_hash), _digest_int(meta.tip), _digest_int(meta.payload_hash), meta.raw_size,
            int(meta.created_at), payload)


class SQLCheckpointStore(CheckpointStore):
    """The checkpoint tables of one store, in SQL its backend object fits to its dialect."""

    pack_index_bytes = PACK_INDEX_BYTES

    def __init__(self, backend: Backend, display: str) -> None:
        self.backend = backend
        self.display = display
        self.ph = backend.placeholder
        self.blob_type = backend.blob_type
        self._ready = False

    def _table(self, name: str) -> str:
        return self.backend.table(name)

    # -- schema -------------------------------------------------------------------------
    def _ensure(self) -> None:
        if self._ready:
            return
        sql, params = self.backend.tables_exist_sql((TABLE, PACKS, SETTINGS))
        # A read first: creating tables is a write transaction (an fsync) that most opens do not need.
        if int(self._run([sql], [params], fetch=True, ensure=False)[0][0]) == 3:
            self._ready = True
            return
        t, s = self._table(TABLE), self._table(SETTINGS)
        self._run(
            [*self.backend.ddl_lock(),
             (f"CREATE TABLE IF NOT EXISTS {t} (session TEXT NOT NULL, seq BIGINT NOT NULL, kind TEXT NOT NULL, "
             f"base BIGINT NOT NULL, version BIGINT NOT NULL, events_hash BIGINT NOT NULL, "
             f"tip BIGINT NOT NULL, payload_hash BIGINT NOT NULL, raw_size BIGINT NOT NULL, "
             f"created_at BIGINT NOT NULL, payload {self.blob_type} NOT NULL, "
             f"PRIMARY KEY (session, seq))"),
             (f"CREATE TABLE IF NOT EXISTS {self._table(PACKS)} (session TEXT NOT NULL, first BIGINT NOT NULL, "
              f"last BIGINT NOT NULL, base BIGINT NOT NULL, version BIGINT NOT NULL, payload_hash BIGINT NOT NULL, "
              f"created_at BIGINT NOT NULL, frames {self.blob_type} NOT NULL, payload {self.blob_type} NOT NULL, "
              f"PRIMARY KEY (session, first))"),
             f"CREATE TABLE IF NOT EXISTS {s} (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
             f"DROP TABLE IF EXISTS {self._table(OLD_TABLE)}"],
            commit=True, ensure=False,
        )
        self._ready = True

    def ensure_tables(self) -> None:
        """Create the tables if they are missing (a no-op read when they exist)."""
        self._ensure()

    def _run(self, statements: list[str], params: Sequence[Sequence[Any]] = (), *, commit: bool = False,
             fetch: bool = False, ensure: bool = True) -> list[tuple[Any, ...]]:
        """Run ``statements`` in one transaction; the rows of the last (``fetch``)."""
        return self._each(statements, params, commit=commit, fetch=fetch, ensure=ensure)[-1]

    def _each(self, statements: list[str], params: Sequence[Sequence[Any]] = (), *, commit: bool = False,
              fetch: bool = True, ensure: bool = True) -> list[list[tuple[Any, ...]]]:
        """Run ``statements`` in one transaction; the rows of each (``fetch``)."""
        if ensure:
            self._ensure()
        try:
            with self.backend.cursor(commit) as c:
                out: list[list[tuple[Any, ...]]] = []
                for i, sql in enumerate(statements):
                    c.execute(sql, params[i] if i < len(params) else ())
                    out.append(self.backend.rows(c) if fetch else [])
                return out
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
        packs = self._table(PACKS)
        rows = self._each([f"SELECT {_META_COLUMNS}, LENGTH(payload) FROM {t} WHERE session={p} ORDER BY seq",
                           f"SELECT {_PACK_COLUMNS}, LENGTH(payload) FROM {packs} WHERE session={p}"],
                          [(session,), (session,)])
        metas: list[CheckpointMeta] = []
        damaged, damaged_packs = [], []
        for r in rows[0]:
            try:
                metas.append(CheckpointMeta(str(r[0]), int(r[1]), str(r[2]), int(r[3]), _version_name(r[4]),
                                            _digest_hex(r[5]), _digest_hex(r[6]), _digest_hex(r[7]), int(r[8]),
                                            int(r[10]), float(r[9])))
            except (TypeError, ValueError):  # a damaged row (SQLite keeps any type): dropped, like a damaged payload
                log.warning("checkpoint_ignored", session=session, seq=r[1] if type(r[1]) is int else str(r[1])[:20],
                            reason="malformed row")
                damaged.append(r[1])
        packed: list[CheckpointMeta] = []
        spans: list[tuple[int, int]] = []
        for r in rows[1]:
            try:
                frames = _unpack_metas(r)
                packed += frames
                spans.append((frames[0].seq, frames[-1].seq))
            except (TypeError, ValueError, struct.error):
                log.warning("checkpoint_ignored", session=session, seq=r[1] if type(r[1]) is int else str(r[1])[:20],
                            reason="malformed pack")
                damaged_packs.append(r[1])
        if packed:
            spans.sort()
            inside = {m.seq for m in metas if _within(spans, m.seq)}  # a stale writer's: the pack wins
            damaged += sorted(inside)
            metas = sorted([m for m in metas if m.seq not in inside] + packed, key=lambda m: m.seq)
        if damaged or damaged_packs:
            try:
                self._delete_rows(session, damaged, damaged_packs)
            except StoreError as e:  # a read-only store: skipped again next time
                log.warning("checkpoint_delete_failed", session=session, error=str(e))
        return metas

    def payload(self, session: str, seq: int, pack: bool = False) -> bytes | None:
        t, p = self._table(PACKS if pack else TABLE), self.ph
        key = "first" if pack else "seq"
        rows = self._run([f"SELECT payload FROM {t} WHERE session={p} AND {key}={p}"], [(session, seq)], fetch=True)
        return bytes(rows[0][0]) if rows else None

    def put_pack(self, frames: Sequence[CheckpointMeta], payload: bytes) -> bool:
        statements, params = self._pack_statements(frames, payload)
        self._run(statements, params, commit=True)
        return True

    def insert_pack(self, cursor: Any, frames: Sequence[CheckpointMeta], payload: bytes) -> None:
        """:meth:`put_pack` on the caller's cursor (inside the caller's transaction: a follower's batch)."""
        for sql, values in zip(*self._pack_statements(frames, payload)):
            cursor.execute(sql, values)

    def _pack_statements(self, frames: Sequence[CheckpointMeta],
                         payload: bytes) -> tuple[list[str], list[tuple[Any, ...]]]:
        """Replace any pack this one overlaps (two writers may pack overlapping runs: the later wins, so
        no event has two checkpoints) with this one, and drop the frames' own rows."""
        first, last = frames[0], frames[-1]
        index = b"".join(_FRAME.pack(m.seq - first.seq, _digest_int(m.events_hash), _digest_int(m.tip), m.raw_size)
                         for m in frames)
        t, packs, p = self._table(TABLE), self._table(PACKS), self.ph
        return ([f"DELETE FROM {packs} WHERE session={p} AND first<={p} AND last>={p}",
                 f"INSERT INTO {packs} ({_PACK_COLUMNS}, payload) VALUES ({', '.join([p] * 9)})",
                 f"DELETE FROM {t} WHERE session={p} AND seq>={p} AND seq<={p}"],
                [(first.session, last.seq, first.seq),
                 (first.session, first.seq, last.seq, first.base, version_code(first.projection_version),
                  _digest_int(pack_hash([m.tip for m in frames], payload)), int(first.created_at), index, payload),
                 (first.session, first.seq, last.seq)])

    def delete(self, session: str, seqs: Sequence[int] | None = None, packs: Sequence[int] = ()) -> None:
        if seqs is None:
            p = self.ph
            self._run([f"DELETE FROM {self._table(TABLE)} WHERE session={p}",
                       f"DELETE FROM {self._table(PACKS)} WHERE session={p}"], [(session,), (session,)], commit=True)
        elif seqs or packs:
            self._delete_rows(session, seqs, packs)

    def _delete_rows(self, session: str, seqs: Sequence[Any], packs: Sequence[Any]) -> None:
        """Drop the rows at ``seqs`` and the packs starting at ``packs``, in one transaction."""
        t, pt, p = self._table(TABLE), self._table(PACKS), self.ph
        statements = ([f"DELETE FROM {t} WHERE session={p} AND seq={p}"] * len(seqs)
                      + [f"DELETE FROM {pt} WHERE session={p} AND first={p}"] * len(packs))
        self._run(statements, [(session, seq) for seq in [*seqs, *packs]], commit=True)

    def get_setting(self, key: str) -> str | None:
        s, p = self._table(SETTINGS), self.ph
        rows = self._run([f"SELECT value FROM {s} WHERE key={p}"], [(key,)], fetch=True)
        return str(rows[0][0]) if rows else None

    def set_setting(self, key: str, value: str) -> None:
        s, p = self._table(SETTINGS), self.ph
        self._run([f"DELETE FROM {s} WHERE key={p}", f"INSERT INTO {s} (key, value) VALUES ({p}, {p})"],
                  [(key,), (key, value)], commit=True)


def checkpoint_store_for(store: EventStore) -> CheckpointStore | None:
    """The checkpoint cache in the same database as ``store`` (None for a store without SQL)."""
    backend = backend_of(store)
    if backend is None:
        return None
    return SQLCheckpointStore(backend, store.url_for_display)
