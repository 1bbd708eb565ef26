"""The ``checkpoints`` projection of ``tape follow``: checkpoints for every session, written by a follower.

Sessions write their own checkpoints inline after commits; this projection
writes them from the global log instead (or as well), so sessions that are
written by many short processes, by other tools, or with inline checkpoints
turned off (``TAPE_INLINE_CHECKPOINTS=0``) still get them.  For each commit
record it folds the record's events onto the session's state (kept in memory
for recently active sessions, else the nearest checkpoint plus the tail) and,
when the session's head is ``interval`` events past its last checkpoint, writes
one (keyframe or P-frame, exactly as ``Checkpoints.write`` does).

Atomicity: the batch's checkpoint rows and the projection's tracking position
are written in ONE transaction in the store's own database
(``tracked_transaction``), so a crash loses or keeps both.  Idempotence with
inline checkpointing: a checkpoint that already exists at a (session, event)
is kept (``INSERT ... ON CONFLICT DO NOTHING``); the due check re-reads the
session's checkpoints first, so a checkpoint the session just wrote inline is
not duplicated at a nearby event.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from tapevm.domain.errors import StoreError
from tapevm.domain.fold import fold_fields
from tapevm.domain.lineage import ARCHIVED
from tapevm.domain.ports import CheckpointMeta, CheckpointStore, EventStore
from tapevm.domain.state import State
from tapevm.infrastructure.config import Settings
from tapevm.infrastructure.followers.leases import FileLease, FollowLease, PostgresLease
from tapevm.infrastructure.logs import get_logger
from tapevm.infrastructure.stores import named_sessions
from tapevm.infrastructure.stores.backend import open_tracking_recorder, sql_backend
from tapevm.infrastructure.stores.checkpoint_tables import SQLCheckpointStore, checkpoint_store_for
from tapevm.infrastructure.stores.content_index import lineage_content_for
from tapevm.infrastructure.stores.log_tail import CommitRecord
from tapevm.projections.checkpoints.notices import Notice
from tapevm.projections.checkpoints.projection import Checkpoints, checkpoints_of
from tapevm.projections.protocol import Applied

log = get_logger("tapevm.checkpoint_follower")
checkpoint_log = get_logger("tapevm.checkpoints")  # what the checkpoints meet, logged as the sessions' own

TRACKING_NAME = "tapevm-checkpoints"
MAX_SESSIONS = 256  # folded states kept in memory (least recently active dropped first)


def _log_notice(notice: Notice) -> None:
    (checkpoint_log.debug if notice.routine else checkpoint_log.warning)(notice.event, **notice.fields)


class _Buffered(CheckpointStore):
    """The store's checkpoint table, with ``put`` held back until the batch's transaction."""

    def __init__(self, cache: SQLCheckpointStore) -> None:
        self.cache = cache
        self.pack_index_bytes = cache.pack_index_bytes
        self.rows: list[tuple[CheckpointMeta, bytes]] = []
        self.packs: list[tuple[list[CheckpointMeta], bytes]] = []

    def put(self, meta: CheckpointMeta, payload: bytes) -> None:
        self.rows.append((meta, payload))

    def metas(self, stream: str) -> list[CheckpointMeta]:
        """The stored checkpoints and this batch's pending ones (a checkpoint's hash chains from the one before)."""
        held = {m.seq: m for m, _ in self.rows if m.session == stream}
        stored = [m for m in self.cache.metas(stream) if m.seq not in held]
        return sorted([*stored, *held.values()], key=lambda m: m.seq)

    def payload(self, stream: str, seq: int, pack: bool = False) -> bytes | None:
        held = self.packs if pack else [([meta], payload) for meta, payload in self.rows]
        for frames, payload in held:
            if frames[0].session == stream and frames[0].seq == seq:
                return payload
        return self.cache.payload(stream, seq, pack)

    def put_pack(self, frames: Sequence[CheckpointMeta], payload: bytes) -> bool:
        """Held back like ``put`` (the pack is written after the batch's rows, in its transaction)."""
        self.packs.append((list(frames), payload))
        return True

    def delete(self, stream: str, seqs: Sequence[int] | None = None, packs: Sequence[int] = ()) -> None:
        self.cache.delete(stream, seqs, packs)

    def get_setting(self, key: str) -> str | None:
        return self.cache.get_setting(key)

    def set_setting(self, key: str, value: str) -> None:
        self.cache.set_setting(key, value)


@dataclass
class _SessionFold:
    state: State
    checkpoints: Checkpoints


class CheckpointProjection:
    """Checkpoints of every session, kept by a follower (exactly once, atomically with its position)."""

    name = "checkpoints"

    def __init__(self, store: EventStore, max_sessions: int = MAX_SESSIONS, tracking_name: str = TRACKING_NAME) -> None:
        """``tracking_name``: where the position is kept (another name: an independent copy of the projection)."""
        self.store = named_sessions.raw_store(store)
        cache = checkpoint_store_for(self.store)
        if not isinstance(cache, SQLCheckpointStore):
            raise StoreError(f"the store {store.url_for_display} keeps no checkpoints")
        cache.ensure_tables()
        self.cache = cache
        self.buffer = _Buffered(cache)
        self.tracking = open_tracking_recorder(self.store)
        self.backend = sql_backend(self.store, "checkpoints")
        self.max_sessions = max_sessions
        self.interval = Settings.from_environment().checkpoint_interval_events()  # read once, not per session
        self.tracking_name = tracking_name
        self.content = lineage_content_for(self.store)
        self._folds: OrderedDict[str, _SessionFold] = OrderedDict()

    def position(self) -> int:
        return self.tracking.max_tracking_id(self.tracking_name) or 0

    def follow_lease(self) -> FollowLease:
        """The lease a following worker holds: where the checkpoints are (the store's file, or its schema)."""
        if not self.backend.advisory_locks:
            return FileLease(Path(f"{self.store.url_for_display}.follow-{self.tracking_name}.lock"))
        datastore = self.backend.datastore
        return PostgresLease(datastore, f"{datastore.schema}:tapevm-follow:{self.tracking_name}")

    def apply(self, records: Sequence[CommitRecord], after: int) -> Applied:
        """Fold ``records``, write the checkpoints that fell due, and move the position: one transaction."""
        codec = self.store.codec  # type: ignore[attr-defined]  # see Follower: this thread is the store's only user
        times: list[float] = []
        events = 0
        self.buffer.rows, self.buffer.packs = [], []
        try:
            for r in records:
                decoded = codec.decode_fields(r.session, r.first_seq, r.topic, r.state)
                fold = self._fold_for(r.session, r.first_seq, decoded[0][1])
                fold_fields([(d[0], d[1], d[2]) for d in decoded], fold.state)
                self._checkpoint_if_due(fold)
                times.append(decoded[-1][4] / 1000.0)
                events += len(decoded)
            with self.backend.tracked_transaction(self.tracking, self.tracking_name, after=after,
                                                  to=records[-1].position) as cursor:
                self.cache.insert_absent(cursor, self.buffer.rows)
                for frames, payload in self.buffer.packs:
                    self.cache.insert_pack(cursor, frames, payload)
        except BaseException:
            # the in-memory folds and checkpoint lists may be ahead of what committed: start them afresh
            self._folds.clear()
            raise
        finally:
            written = len(self.buffer.rows)
            self.buffer.rows, self.buffer.packs = [], []
        if written:
            log.debug("follower_checkpoints_written", count=written, position=records[-1].position)
        return Applied(len(records), events, times)

    def _fold_for(self, stream: str, first_seq: int, first_type: str) -> _SessionFold:
        """The session's state just before ``first_seq``: in memory if it is there, else checkpoint + tail
        (none before an archive marker, ``first_type`` ARCHIVED: it stands for the history before it)."""
        fold = self._folds.get(stream)
        if fold is not None and fold.state.seq == first_seq - 1:
            self._folds.move_to_end(stream)
            return fold
        cp = checkpoints_of(self.store, stream, cache=self.buffer, interval=self.interval,
                            report=_log_notice, content=self.content)
        fresh = first_seq == 1 or first_type == ARCHIVED
        state = cp.with_content(State(session=stream)) if fresh else cp.state_at(first_seq - 1)
        fold = self._folds[stream] = _SessionFold(state, cp)
        while len(self._folds) > self.max_sessions:
            self._folds.popitem(last=False)
        return fold

    @staticmethod
    def _checkpoint_if_due(fold: _SessionFold) -> None:
        cp, state = fold.checkpoints, fold.state
        if not cp.due(state):
            return
        cp.reload_metas()  # the session may have written this checkpoint inline already
        if cp.due(state):
            cp.write(state)

    def close(self) -> None:
        self._folds.clear()
