"""The checkpoint projection: fast ``state_at(n)`` and fast session opening, as a disposable cache.

A checkpoint is written after a commit once ``interval`` events (K, per store,
default 1,000) have passed since the last one.  Checkpoints are keyframes
(``I``: the whole state; ``D``: a delta keyframe, the change from the previous
keyframe) or P-frames (``P``: the *cumulative* change from the latest keyframe);
the bytes are in ``checkpoint_frames.py``.  Reading a checkpoint costs its
keyframe chain (one ``I`` and at most ``MAX_DEPTH`` ``D``s, which together hold
fewer entries than one state) and at most one P-frame.

The keyframe policy weighs entries (bindings, atoms, facts, files, content
nodes and blobs), not bytes, so it does not depend on what compresses well:

* a P-frame while the cumulative change from the keyframe is small (fewer than
  ``PROMOTE_FRACTION`` of the state's entries, or ``PROMOTE_MIN``): 1,000
  checkpoints of a slowly changing state cost 1,000 small patches;
* else a ``D`` (the same bytes, but later frames are based on it), as long as
  the chain's deltas hold fewer entries than the state and are at most
  ``MAX_DEPTH``: a growing state is stored once, in the steps it grew by;
* else a full ``I``.

P-frames are stored in packs of up to ``PACK_BYTES`` (several to a row, compressed together,
see ``checkpoint_sql.py``): the writer holds the P-frames it stores on a keyframe (with those
earlier processes left in rows of their own just before) and stores the ones before when the next
would take them past the limit, or a new keyframe begins.

``state_at(n)`` = the nearest valid checkpoint at or before ``n`` + the tail
folded on top (the fast ``read_fields`` path).  Nothing is trusted: a checkpoint
is used only if its projection version is this code's, its payload matches its
xxh3 checksum, and the digest of the event it ends at (its ``tip``,
and its keyframes') matches the log; ``events_hash`` chains the digests of
every event it covers, checked in full by ``verify``/``rebuild``.  A checkpoint
that fails is logged, dropped and written again from the fold.

A fork keeps checkpoints only after its fork point: before it, and while it has
none of its own, it reads its source's (``checkpoints_of``), so opening a fork
of a long session costs the source's nearest checkpoint + the tail, and its
events hash chains from its fork point.  Its frames may be based on the
source's keyframe (``_meta_at``, ``_payload`` and ``_ignore`` follow a meta to
the stream that holds it), so its first checkpoint is a patch, not a keyframe.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import xxhash

from tapevm.domain.errors import TapeError, UsageError
from tapevm.domain.events import Draft
from tapevm.domain.fold import SETS_ONE_BINDING, fold_fields, leaves_bindings
from tapevm.domain.state import State
from tapevm.domain import lineage
from tapevm.projections.checkpoints.frames import (
    DeltaFrame,
    FrameCodec,
    Positions,
    apply_delta_frame,
    delta_frame,
    follow_delta_frame,
    join_pack,
    split_pack,
    state_entries,
)
from tapevm.projections.checkpoints.events_hash import (
    ZERO_HASH,
    RunningEventsHash,
    chain_hash,
    event_digest,
)
from tapevm.infrastructure.stores.checkpoint_tables import (
    PACK_INDEX_BYTES,
    checkpoint_store_for,
    packed_metas,
    register_version,
)
from tapevm.infrastructure.logs import get_logger
from tapevm.domain.ports import CheckpointMeta, CheckpointStore, EventStore
from tapevm.projections.state_codec import decode_state, encode_state

log = get_logger("tapevm.checkpoints")

# Bump when the fold, the state codec or the frame layout changes: older checkpoints are then ignored.
# fold-2/state-3: blob entries may be pieces (ContentStored v2); frame-4: the events hash of checkpoint_hash.py;
# frame-5: a fork's events hash starts at its fork point; fold-3/state-4: State.merged;
# frame-6: the bindings a delta frame sets are columns (positions in the base's order, integers from a reference)
# frame-7: those integers are Rice-coded
PROJECTION_VERSION = "fold-3/state-4/frame-7"
register_version(PROJECTION_VERSION)
DEFAULT_INTERVAL = 1000
MAX_INTERVAL = 1_000_000_000
PROMOTE_FRACTION = 0.05  # a cumulative change of at least this share of the state's entries: a new keyframe
PROMOTE_MIN = 64         # ... and of at least this many entries (small states)
MAX_DEPTH = 16           # delta keyframes in a chain before a full one
MAX_CHAIN = 1000         # P-frames on one keyframe
# P-frames on one keyframe are stored together (one row, compressed together) up to this many bytes a
# row: three rows to a 4 KiB SQLite page (a row of ~2 KB took a page of its own); larger frames stay alone
PACK_BYTES = 1300

ReadFields = Callable[[int, "int | None"], Iterator[tuple[int, str, dict[str, Any]]]]


def _hash(data: bytes) -> str:
    return xxhash.xxh3_64_hexdigest(data)


@dataclass
class _Keyframe:
    """A keyframe (``I`` or ``D``) as the writer bases the next frames on it."""

    meta: CheckpointMeta
    state: State          # a semantic copy (content tables shared: they only grow)
    nodes: int            # the content counts at the keyframe
    blobs: int
    dict_raw: bytes       # its chain's raw frames, root first: the dictionary of frames based on it
    depth: int            # D frames in its chain
    chain_entries: int    # entries those D frames hold
    positions: Positions = field(default_factory=dict)  # of its bindings, as frames on it name them


class Checkpoints:
    """The checkpoints of one session: reading (verified) and writing (after commits)."""

    def __init__(self, store: EventStore, session: str, cache: CheckpointStore | None = None,
                 interval: int | None = None, read_fields: ReadFields | None = None,
                 source: Checkpoints | None = None, fork_at: int = 0) -> None:
        """``read_fields(start, stop)`` reads the session's events (default: the store's, of
        ``session``); a session whose log spans several streams passes its own reader.

        A fork passes its ``source``'s checkpoints and its fork point: events ``1..fork_at`` are
        its source's, so the source's checkpoints of them are as good as its own (checkpoints_of
        builds the chain), and its own checkpoints, all after ``fork_at``, chain their events hash
        from there (events ``1..fork_at`` are the source's checkpoints' to vouch for).
        """
        self.store = store
        self.session = session
        self._read = read_fields or (lambda start, stop: store.read_fields(session, start, stop))
        self.cache = cache if cache is not None else checkpoint_store_for(store)
        self.source = source
        self.fork_at = fork_at
        self._interval = interval
        if interval is None:
            parse_interval(os.environ.get("TAPE_CHECKPOINT_INTERVAL"))  # a typo is an error now, not a silent default
        self._metas: list[CheckpointMeta] | None = None
        self._key: _Keyframe | None = None  # the latest keyframe (what the next frame is based on)
        self._chain = 0  # P-frames on it
        # What the P-frames on it repeat of the one before (entries stored again unchanged): when that
        # adds up to what a delta keyframe would cost, one is written (rent or buy).
        self._stale = 0
        self._last_p: DeltaFrame | None = None
        # The keyframe above, and per namespace the only binding names that may differ from it at the head
        # (the names the commits since set): what the next frame diffs.  None, or another keyframe than
        # the current one: not known (a frame then diffs every binding).
        self._touched: tuple[_Keyframe, dict[str, set[str]]] | None = None
        # The events hash since the latest checkpoint, kept as events are folded at the head (None: unknown).
        self._running: RunningEventsHash | None = None
        self._codec = FrameCodec()
        # Keyframe payloads already checked (version, checksum, tip) and decompressed, by seq: a chain
        # is read once per reader, not once per state_at (P-frames are still checked every time).
        self._checked: dict[int, tuple[CheckpointMeta, bytes]] = {}
        self._staged: list[tuple[CheckpointMeta, bytes]] | None = None  # a rebuild's, until it has read the log
        self._staged_packs: list[tuple[list[CheckpointMeta], bytes]] = []
        # P-frames this writer stored on one keyframe and has not packed yet (with their raw bytes), and
        # their pack's payload (when there are two or more)
        self._pending: tuple[_Keyframe | None, list[tuple[CheckpointMeta, bytes]], bytes] = (None, [], b"")
        # the last pack read: (first frame, hash) and its frames' raw bytes by event number
        self._pack: tuple[tuple[int, str] | None, dict[int, bytes]] = (None, {})

    # -- settings ----------------------------------------------------------------------------
    @property
    def interval(self) -> int:
        if self._interval is None:
            value, what = os.environ.get("TAPE_CHECKPOINT_INTERVAL"), "TAPE_CHECKPOINT_INTERVAL"
            if value is None and self.cache is not None:
                value = self._safe(lambda: self.cache.get_setting("checkpoint_interval"), None)  # type: ignore[union-attr]
                what = "the store's checkpoint_interval"
            try:
                self._interval = parse_interval(value, what) or DEFAULT_INTERVAL
            except UsageError as e:  # a stored setting damaged, or the variable changed since: never fatal here
                log.warning("checkpoint_interval_ignored", session=self.session, error=str(e), used=DEFAULT_INTERVAL)
                self._interval = DEFAULT_INTERVAL
        return self._interval

    def _safe(self, f: Callable[[], Any], default: Any) -> Any:
        try:
            return f()
        except TapeError as e:
            log.warning("checkpoint_cache_unavailable", session=self.session, error=str(e))
            return default

    def metas(self) -> list[CheckpointMeta]:
        if self._metas is None:
            metas = [] if self.cache is None else self._safe(lambda: self.cache.metas(self.session), [])  # type: ignore[union-attr]
            self._metas = self._drop_outdated(metas)
        return self._metas

    def _drop_outdated(self, metas: list[CheckpointMeta]) -> list[CheckpointMeta]:
        """``metas`` less those another projection version wrote and those whose metadata is not what
        this code writes (a damaged row), which are deleted in one go.

        After an upgrade every checkpoint of a session is outdated at once: one
        log line and one transaction, not a warning and a delete per checkpoint.
        """
        outdated = [m for m in metas if m.projection_version != PROJECTION_VERSION]
        if outdated:
            log.warning("checkpoints_outdated", session=self.session, count=len(outdated),
                        written_by=sorted({m.projection_version for m in outdated}), current=PROJECTION_VERSION)
        damaged = [(m, reason) for m in metas if m.projection_version == PROJECTION_VERSION
                   and (reason := _malformed(m)) is not None]
        for m, reason in damaged:
            log.warning("checkpoint_ignored", session=self.session, seq=m.seq, kind=m.kind, reason=reason)
        dropped = outdated + [m for m, _ in damaged]
        if not dropped:
            return metas
        self._safe(lambda: self.cache.delete(  # type: ignore[union-attr]
            self.session, [m.seq for m in dropped if not m.pack], sorted({m.pack for m in dropped if m.pack})), None)
        return [m for m in metas if m not in dropped]

    def due(self, state: State) -> bool:
        """Whether ``state`` is ``interval`` events or more past the last checkpoint (a fork without
        one: past its fork point): time to write one."""
        return state.seq - self._previous(state.seq + 1)[1] >= self.interval

    def _previous(self, seq: int) -> tuple[bytes, int, str]:
        """(events hash, event number, tip) of the checkpoint before event ``seq`` that the next one
        chains on: the session's own latest, else its chain's start (zero hash at the fork point)."""
        metas = self.metas()
        i = len(metas)
        while i and metas[i - 1].seq >= seq:  # after every commit: the latest, in one step
            i -= 1
        if not i:
            return ZERO_HASH, self.fork_at, ""
        meta = metas[i - 1]
        return bytes.fromhex(meta.events_hash), meta.seq, meta.tip

    def reload_metas(self) -> list[CheckpointMeta]:
        """Forget the cached list and read it again (another process may have written or dropped checkpoints).

        A remembered keyframe that is no longer stored as it was (dropped by a
        rebuild, or another writer's frame kept at its event) is forgotten, so
        the next checkpoint is not a P-frame against a keyframe readers cannot find.
        """
        self._metas = None
        metas = self.metas()
        if self.source is not None:
            self.source.reload_metas()
        if self._key is not None and not self._holds(self._key.meta):
            self._key, self._chain, self._stale, self._last_p = None, 0, 0, None
        return metas

    # -- reading ---------------------------------------------------------------------------------
    def state_at(self, n: int | None) -> State:
        """The state after event ``n`` (None: the head): nearest valid checkpoint + the tail."""
        state, base, ignored = self._nearest(n)
        start = state.seq + 1 if state is not None else 1
        events = self._read(start, n)
        if n is None:
            # The tail is hashed as it is folded, so the next checkpoint needs no second read of it.
            self._running = (RunningEventsHash(self.fork_at) if base is None or base.session != self.session
                             else RunningEventsHash(base.seq, bytes.fromhex(base.events_hash), base.tip))
            events = self._running.tee(events)
        state = fold_fields(events, state if state is not None else State(session=self.session))
        if n is None:
            # Opening: a checkpoint that was ignored is rebuilt now, and a log with a long tail
            # (written before checkpoints existed, or loaded from an image's history) gets one.
            self.after_append(state, force=ignored)
        return state

    def _nearest(self, n: int | None) -> tuple[State | None, CheckpointMeta | None, bool]:
        """The state at the nearest valid checkpoint at or before ``n`` (None: any), that checkpoint
        (None: there is none; it may be the source's), and whether one of the session's own was ignored."""
        ignored = False
        for meta in reversed(self.metas()):
            if n is not None and meta.seq > n:
                continue
            state = self._load(meta)
            if state is not None:
                return state, meta, ignored
            ignored = True
        if self.source is not None and self.fork_at > 0:
            inherited, at, _ = self.source._nearest(self.fork_at if n is None else min(n, self.fork_at))
            if inherited is not None:
                inherited.session = self.session
                key = self.source._key  # the fork's first frames are based on it, as on a keyframe of its own
                if key is not None and self._key is None:
                    self._use_key(key)
                return inherited, at, ignored
        return None, None, ignored

    def _tip(self, seq: int) -> str | None:
        """The digest of event ``seq`` as the log holds it now (None if there is no such event)."""
        for _, type_name, fields in self._read(seq, seq):
            return event_digest(type_name, fields).hex()
        return None

    def _payload(self, meta: CheckpointMeta, dict_raw: bytes | None = None) -> bytes | None:
        """The checked, decompressed payload of ``meta``, or None (logged) when it must not be trusted."""
        if meta.session != self.session and self.source is not None:  # a keyframe a fork's frames are based on
            return self.source._payload(meta, dict_raw)
        checked = self._checked.get(meta.seq)
        if checked is not None and checked[0] == meta:
            return checked[1]
        # (another projection version's checkpoints never get here: metas() dropped them)
        raw = None
        if self._tip(meta.seq) != meta.tip:
            reason: str | None = "the log at its event number is not the log it was built from"
        elif meta.pack:
            raw, reason = self._packed(meta, dict_raw)
        else:
            stored = self._safe(lambda: self.cache.payload(self.session, meta.seq), None)  # type: ignore[union-attr]
            raw, reason = self._checked_raw(stored, meta.payload_hash, dict_raw)
        if reason is not None:
            self._ignore(meta, reason)
        elif meta.kind != "P" and raw is not None:
            self._checked[meta.seq] = (meta, raw)
        return raw

    def _checked_raw(self, stored: bytes | None, payload_hash: str,
                     dict_raw: bytes | None) -> tuple[bytes | None, str | None]:
        """``stored`` decompressed if it is the payload ``payload_hash`` names; else None and why not."""
        if stored is None:
            return None, "payload missing"
        if _hash(stored) != payload_hash:
            return None, "payload checksum mismatch"
        try:
            return self._codec.decompress(stored, dict_raw), None
        except ValueError as e:
            return None, str(e)

    def _packed(self, meta: CheckpointMeta, dict_raw: bytes | None) -> tuple[bytes | None, str | None]:
        """The raw frame of ``meta`` from its pack (the pack read, checked and split once for its frames)."""
        key = (meta.pack, meta.payload_hash)
        if self._pack[0] != key:
            stored = self._safe(lambda: self.cache.payload(self.session, meta.pack, pack=True), None)  # type: ignore[union-attr]
            raw, reason = self._checked_raw(stored, meta.payload_hash, dict_raw)
            if raw is None:
                return None, reason
            try:
                self._pack = (key, split_pack(raw))
            except ValueError as e:
                return None, str(e)
        raw = self._pack[1].get(meta.seq)
        return (raw, None) if raw is not None else (None, f"its pack {meta.pack} does not hold it")

    def _ignore(self, meta: CheckpointMeta, reason: str) -> None:
        if self._key is not None and self._key.meta == meta:
            self._key = None
        if meta.session != self.session and self.source is not None:
            self.source._ignore(meta, reason)
            return
        log.warning("checkpoint_ignored", session=self.session, seq=meta.seq, kind=meta.kind, reason=reason,
                    **({"pack": meta.pack} if meta.pack else {}))
        self._checked.pop(meta.seq, None)
        if self.cache is not None:  # (a checkpoint in a pack goes with its pack)
            self._safe(lambda: self.cache.delete(  # type: ignore[union-attr]
                self.session, [] if meta.pack else [meta.seq], [meta.pack] if meta.pack else []), None)
        if self._metas is not None and meta in self._metas:
            self._metas = [m for m in self._metas if m != meta and not (meta.pack and m.pack == meta.pack)]

    def _load(self, meta: CheckpointMeta) -> State | None:
        try:
            if meta.kind != "P":
                found = self._keyframe(meta)
                if found is None:
                    return None
                state, dict_raw, depth, entries = found
                self._remember_key(meta, state, dict_raw, depth, entries)
                return state
            key_meta = self._meta_at(meta.base)
            if key_meta is None:
                self._ignore(meta, f"its keyframe {meta.base} is gone")
                return None
            found = self._keyframe(key_meta)
            if found is None:
                self._ignore(meta, f"its keyframe {meta.base} was ignored")
                return None
            state, dict_raw, depth, entries = found
            raw = self._payload(meta, dict_raw)
            if raw is None:
                return None
            self._remember_key(key_meta, state, dict_raw, depth, entries)
            return apply_delta_frame(state, raw, meta.seq)[0]
        except (ValueError, KeyError, TypeError, IndexError) as e:
            self._ignore(meta, f"undecodable payload ({type(e).__name__}: {e})")
            return None

    def _meta_at(self, seq: int) -> CheckpointMeta | None:
        """The keyframe (I or D) at ``seq`` (a fork's frames may be based on its source's)."""
        if seq <= self.fork_at and self.source is not None:
            return self.source._meta_at(seq)
        return next((m for m in self.metas() if m.seq == seq and m.kind in ("I", "D")), None)

    def _holds(self, meta: CheckpointMeta) -> bool:
        """Whether ``meta`` is stored as it is: the session's, or its source's (a fork's base)."""
        if meta.session == self.session:
            return meta in self.metas()
        return self.source is not None and self.source._holds(meta)

    def _keyframe(self, meta: CheckpointMeta) -> tuple[State, bytes, int, int] | None:
        """A keyframe's state (freshly decoded: the caller may consume it), its chain's dictionary,
        depth and delta entries; None (logged, dropped) when it or its chain cannot be trusted."""
        if meta.kind == "I":
            raw = self._payload(meta)
            return None if raw is None else (decode_state(raw), raw, 0, 0)
        chain: list[CheckpointMeta] = [meta]
        while chain[-1].kind == "D":
            if len(chain) > MAX_DEPTH + 1:
                self._ignore(meta, "its keyframe chain is longer than this code writes")
                return None
            base = self._meta_at(chain[-1].base)
            if base is None or base.seq >= chain[-1].seq:
                self._ignore(chain[-1], f"its keyframe {chain[-1].base} is gone")
                return None
            chain.append(base)
        root = chain.pop()
        raw = self._payload(root)
        if raw is None:
            for later in chain:
                self._ignore(later, f"its keyframe {root.seq} was ignored")
            return None
        state, dict_raw, entries = decode_state(raw), raw, 0
        above = list(reversed(chain))
        for i, frame in enumerate(above):
            raw = self._payload(frame, dict_raw)
            if raw is None:
                for later in above[i + 1:]:  # based on it: useless now
                    self._ignore(later, f"its keyframe {frame.seq} was ignored")
                return None
            state, n = apply_delta_frame(state, raw, frame.seq)
            dict_raw += raw
            entries += n
        return state, dict_raw, len(chain), entries

    def _remember_key(self, meta: CheckpointMeta, state: State, dict_raw: bytes, depth: int, entries: int) -> None:
        if self._key is None or self._key.meta.seq <= meta.seq:
            self._use_key(_Keyframe(meta, _semantic_copy(state), len(state.nodes), len(state.blobs), dict_raw,
                                    depth, entries))

    def _use_key(self, key: _Keyframe) -> None:
        """Base the next frames on ``key`` (one of the session's keyframes, or its source's)."""
        self._key, self._stale, self._last_p = key, 0, None
        self._chain = sum(1 for m in self.metas() if m.kind == "P" and m.base == key.meta.seq)

    # -- writing ---------------------------------------------------------------------------------
    def type_of_event(self, seq: int) -> str | None:
        """The type of event ``seq`` when it is the last event this projection hashed (folded at
        opening, or appended since), else None: lets opening skip a read of the head record."""
        running = self._running
        if running is not None and running.valid and running.upto == seq and running.last_type:
            return running.last_type
        return None

    def after_append(self, state: State, first: int = 0, drafts: Sequence[Draft] = (), force: bool = False) -> None:
        """Called after every commit with the head state and the commit's drafts (numbered from ``first``):
        hashes those events (O(size of the commit)), and writes a checkpoint once ``interval`` passed.

        Never raises: a checkpoint is a cache, and failing to write one must not fail the form.
        With ``TAPE_INLINE_CHECKPOINTS=0`` it writes nothing: a ``tape follow``
        process keeps the checkpoints instead (the writer's commits get cheaper).
        """
        if os.environ.get("TAPE_INLINE_CHECKPOINTS", "1") == "0":
            self._touched = None
            return
        if drafts and self._running is not None:
            self._running.add_drafts(first, drafts)
        self._track(drafts)
        last = self.metas()[-1].seq if self.metas() else 0
        if self.cache is None or state.seq <= last or not (force or self.due(state)):
            return
        key = self._key
        touched = self._touched[1] if self._touched is not None and self._touched[0] is key else None
        try:
            meta = self.write(state, touched)
        except Exception as e:  # noqa: BLE001 - logged, never fatal
            self._touched = None
            log.warning("checkpoint_write_failed", session=self.session, seq=state.seq, error=f"{type(e).__name__}: {e}")
            return
        if meta is None or self._key is None:
            self._touched = None
        elif self._key is not key:  # a new keyframe: the head itself
            self._touched = (self._key, {})
        elif touched is None and self._last_p is not None:  # a P-frame after a whole diff
            self._touched = (key, {ns: set(names) for ns, names in self._last_p.names.items()})

    def _track(self, drafts: Sequence[Draft]) -> None:
        """Add the binding names a commit's ``drafts`` set to those that may differ from the keyframe;
        forget them all (a frame then diffs every binding) after an event that may change bindings
        in other ways (a restore, a merge, an image) or when there are no drafts to read."""
        if self._touched is None:
            return
        key, touched = self._touched
        if key is not self._key or not drafts:
            self._touched = None
            return
        for type_name, _, fields in drafts:
            if type_name in SETS_ONE_BINDING:
                ns = fields["ns"]
                names = touched.get(ns)
                if names is None:
                    names = touched[ns] = set()
                names.add(fields["name"])
            elif not leaves_bindings(type_name):
                self._touched = None
                return

    def write(self, state: State, touched: dict[str, set[str]] | None = None) -> CheckpointMeta | None:
        """Store a checkpoint of ``state`` (a P-frame when one pays, else a keyframe).

        Its events hash comes from the running hash when that covers exactly the events since
        the previous checkpoint (the usual case: O(1) here), else from reading them.  ``touched``:
        per namespace, the only binding names that may differ from the current keyframe (None: any).
        """
        if self.cache is None or state.seq <= self.fork_at:
            return None
        prev_hash, prev_seq, prev_tip = self._previous(state.seq)
        running = self._running
        if running is not None and running.covers(prev_seq, state.seq):
            events_hash, tip = running.events_hash(), running.tip
        else:
            events = list(self._read(prev_seq + 1, state.seq))
            events_hash = chain_hash(prev_hash, events).hex()
            tip = event_digest(*events[-1][1:]).hex() if events else prev_tip
        kind, base, dict_raw, entries, stale = "I", 0, None, 0, 0
        key = self._key
        if key is not None and key.meta.seq < state.seq and self._chain < MAX_CHAIN:
            frame = delta_frame(key.state, key.nodes, key.blobs, state, key.positions, touched)
            raw, entries, total = frame.raw, frame.entries, state_entries(state)
            stale = self._stale + _repeated(self._last_p, frame)
            if (entries < max(PROMOTE_MIN, PROMOTE_FRACTION * total)
                    and stale < entries + total / MAX_DEPTH):
                kind = "P"
            elif key.depth < MAX_DEPTH and key.chain_entries + entries < total:
                kind = "D"
            if kind != "I":
                base, dict_raw = key.meta.seq, key.dict_raw
        if kind == "I":
            raw = encode_state(state)
        payload = self._codec.compress(raw, dict_raw, keyframe=kind != "P")
        meta = CheckpointMeta(self.session, state.seq, kind, base, PROJECTION_VERSION, events_hash, tip,
                              _hash(payload), len(raw), len(payload), float(int(time.time())))  # as stored
        if self._staged is not None:
            self._staged.append((meta, payload))
        else:
            self.cache.put(meta, payload)
        metas = [m for m in self.metas() if m.seq != meta.seq] + [meta]
        self._metas = sorted(metas, key=lambda m: m.seq)
        if self._metas[-1] is meta:  # the head moves on from here
            self._running = RunningEventsHash(meta.seq, bytes.fromhex(events_hash), tip)
        if kind == "P":
            self._chain += 1
            self._stale, self._last_p = stale, frame
            self._hold_for_pack(meta, raw)
        else:
            self._flush_pack()  # the frames on the keyframe before are all written
            self._stale, self._last_p = 0, None
            chain_raw = raw if key is None or kind == "I" else key.dict_raw + raw
            depth = 0 if key is None or kind == "I" else key.depth + 1
            chain_entries = 0 if key is None or kind == "I" else key.chain_entries + entries
            key_state = _semantic_copy(state)
            if kind == "D" and key is not None:  # P-frames name bindings by position: in the order readers see
                key_state.namespaces = _as_read(key.state, raw, state)
            self._key = _Keyframe(meta, key_state, len(state.nodes), len(state.blobs), chain_raw, depth,
                                  chain_entries)
            self._chain = 0
        log.debug("checkpoint_written", session=self.session, seq=meta.seq, kind=kind, bytes=len(payload))
        return meta

    def _hold_for_pack(self, meta: CheckpointMeta, raw: bytes) -> None:
        """Keep a P-frame just stored for a pack with the next ones on its keyframe; store the pack
        before it when the frame would take it past ``PACK_BYTES``."""
        if self._pending[0] is not self._key or self._key is None:
            self._flush_pack()
            if self._key is None:
                return
            self._pending = (self._key, [], b"")
            for earlier in self._stored_unpacked(meta):
                self._grow_pack(*earlier)
        self._grow_pack(meta, raw)

    def _stored_unpacked(self, meta: CheckpointMeta) -> list[tuple[CheckpointMeta, bytes]]:
        """The P-frames on ``meta``'s keyframe stored in rows of their own right before it (by an
        earlier process: every ``tape eval`` is one, and may write a single checkpoint), oldest first,
        with their raw bytes; nothing when one cannot be read back.  Packed with the frames this
        writer stores, so a session written by short processes is packed too."""
        key = self._key
        assert key is not None
        metas = self.metas()
        i = metas.index(meta) if meta in metas else len(metas)
        run: list[CheckpointMeta] = []
        while i and (m := metas[i - 1]).kind == "P" and not m.pack and m.base == key.meta.seq \
                and m.session == self.session:
            run.append(m)
            i -= 1
        earlier: list[tuple[CheckpointMeta, bytes]] = []
        for m in reversed(run):
            raw = self._payload(m, key.dict_raw)
            if raw is None:  # dropped (logged): the frames after it are still good to pack
                earlier = []
                continue
            earlier.append((m, raw))
        return earlier

    def _grow_pack(self, meta: CheckpointMeta, raw: bytes) -> None:
        key, frames, _ = self._pending
        assert key is not None
        grown = [*frames, (meta, raw)]
        packed = self._codec.compress(join_pack([(m.seq, r) for m, r in grown]), key.dict_raw) if frames else b""
        if len(packed) + PACK_INDEX_BYTES * len(grown) <= PACK_BYTES:
            self._pending = (key, grown, packed)
            return
        self._flush_pack()
        self._pending = (key, [(meta, raw)], b"")

    def _flush_pack(self) -> None:
        """Store the P-frames held for a pack as one (two or more; one stays a row of its own).

        The pack replaces their rows in one transaction; a store that cannot pack now leaves them
        as they are.  A rebuild stages the pack with the rest of its checkpoints.
        """
        key, frames, payload = self._pending
        self._pending = (None, [], b"")
        if key is None or len(frames) < 2 or self.cache is None:
            return
        metas = [m for m, _ in frames]
        if self._staged is not None:
            seqs = {m.seq for m in metas}
            self._staged[:] = [(m, p) for m, p in self._staged if m.seq not in seqs]
            self._staged_packs.append((metas, payload))
        elif not self._safe(lambda: self.cache.put_pack(metas, payload), False):  # type: ignore[union-attr]
            return
        packed = {m.seq: m for m in packed_metas(metas, _hash(payload), len(payload))}
        if self._metas is not None:
            self._metas = [packed.get(m.seq, m) if m in metas else m for m in self._metas]

    # -- maintenance -------------------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int, int], None] | None = None,
                head: int | None = None) -> list[CheckpointMeta]:
        """Drop every checkpoint of the session and write them again from the log (every ``interval`` events)."""
        if self.cache is None:
            raise UsageError(f"the store {self.store.url_for_display} keeps no checkpoints")
        if head is None:
            head = self.store.last_seq(self.session)
        kept = self.metas()
        # The new checkpoints are kept aside until the whole log has been read: a log that cannot be
        # read (a damaged record) fails the rebuild with the old checkpoints still in place.
        staged: list[tuple[CheckpointMeta, bytes]] = []
        self._staged, self._staged_packs, self._pending = staged, [], (None, [], b"")
        self._metas, self._key, self._chain, self._stale, self._last_p = [], None, 0, 0, None
        self._checked = {}
        self._running = RunningEventsHash(self.fork_at)
        try:
            state = State(session=self.session)
            interval = self.interval
            for seq, type_name, fields in self._read(1, head):
                fold_fields([(seq, type_name, fields)], state)
                if seq <= self.fork_at:  # a fork's first events: its source's to checkpoint
                    continue
                self._running.add(seq, type_name, fields)
                if seq % interval == 0 or seq == head:
                    self.write(state)  # chains on from the running hash, which write() restarts
                    if progress is not None:
                        progress(seq, head)
            self._flush_pack()
        except BaseException:
            self._metas, self._key, self._running = kept, None, None
            self._pending, self._staged_packs = (None, [], b""), []
            raise
        finally:
            self._staged = None
        self.cache.delete(self.session)
        for meta, payload in staged:
            self.cache.put(meta, payload)
        for metas, payload in self._staged_packs:
            self.cache.put_pack(metas, payload)
        self._staged_packs = []
        return self.metas()

    def verify(self) -> list[tuple[CheckpointMeta, str | None]]:
        """Every checkpoint with the reason it cannot be trusted (None: it can), checking the whole event
        chain (of a fork: from its fork point; the events before it are its source's to verify)."""
        results: list[tuple[CheckpointMeta, str | None]] = []
        self._checked = {}  # everything is checked again
        running = ZERO_HASH
        last = self.fork_at
        for meta in list(self.metas()):
            if meta.seq <= self.fork_at:
                results.append((meta, "before the fork point (the source's checkpoints cover those events)"))
                continue
            running = chain_hash(running, self._read(last + 1, meta.seq))
            last = meta.seq
            reason = None if running.hex() == meta.events_hash else "events hash mismatch (the log changed)"
            if reason is None and self._load(meta) is None:
                reason = "ignored (see the log)"
            results.append((meta, reason))
        return results


def parse_interval(value: str | None, what: str = "TAPE_CHECKPOINT_INTERVAL") -> int | None:
    """A checkpoint interval as given (``TAPE_CHECKPOINT_INTERVAL``, the store's setting), None when unset.

    Raises UsageError unless it is a whole number of events from 1 to ``MAX_INTERVAL``.
    """
    if not value:
        return None
    try:
        interval = int(value)
    except ValueError:
        interval = 0
    if not 1 <= interval <= MAX_INTERVAL:
        raise UsageError(f"{what}={value!r}: give a whole number of events from 1 to {MAX_INTERVAL:,}")
    return interval


def checkpoints_of(store: EventStore, stream: str, segments: list[lineage.Segment] | None = None,
                   cache: CheckpointStore | None = None) -> Checkpoints:
    """The checkpoints of ``stream``, reading its events through its lineage; a fork's fall back on
    its source's (and theirs on their source's) for the events it shares with it, so a fork of a
    long session starts from the source's nearest checkpoint, not from event 1."""
    segs = segments if segments is not None else lineage.lineage(store, stream)
    source = checkpoints_of(store, segs[-2].stream, segs[:-1], cache) if len(segs) > 1 else None
    return Checkpoints(store, stream, cache=cache, source=source, fork_at=segs[-1].first - 1,
                       read_fields=lambda a, b: lineage.read_fields(store, stream, a, b, segs))


_HASH = re.compile(r"[0-9a-f]{16}\Z")


def _malformed(meta: CheckpointMeta) -> str | None:
    """Why a checkpoint's metadata cannot be what this code wrote (None: it can); a row damaged in
    the table must be ignored like a damaged payload, not stop the session from opening."""
    if meta.kind not in ("I", "D", "P"):
        return f"unknown kind {meta.kind!r}"
    if not (_HASH.match(meta.events_hash) and _HASH.match(meta.payload_hash) and (not meta.tip or _HASH.match(meta.tip))):
        return "malformed hashes"
    if meta.seq < 1 or (meta.base != 0 if meta.kind == "I" else not 0 < meta.base < meta.seq):
        return f"impossible event numbers (seq {meta.seq}, base {meta.base})"
    return None


def _semantic_copy(state: State) -> State:
    """The parts a delta compares, copied (content tables are shared: they only grow)."""
    return State(session=state.session, seq=state.seq, current_ns=state.current_ns,
                 namespaces={ns: dict(b) for ns, b in state.namespaces.items()}, atoms=dict(state.atoms),
                 facts=dict(state.facts), files=dict(state.files), nodes=state.nodes, blobs=state.blobs)


def _as_read(key: State, raw: bytes, state: State) -> dict[str, dict[str, Any]]:
    """``state``'s bindings in the order a reader gets them in by applying the delta keyframe ``raw`` to
    ``key`` (a binding defined again after it was removed is at the end of ``state``'s namespace, but
    where it was in the patched keyframe).  The values stay ``state``'s own objects: the next diffs
    against this keyframe compare unchanged values by identity first."""
    followed = _semantic_copy(key)
    follow_delta_frame(followed, raw)
    return {ns: {name: state.namespaces[ns][name] for name in table} for ns, table in followed.namespaces.items()}


def _repeated(previous: DeltaFrame | None, frame: DeltaFrame) -> int:
    """Entries ``frame`` stores again unchanged from ``previous`` (same keyframe): bindings with the
    same value, and the content ``previous`` carried already (content is only ever added)."""
    if previous is None:
        return 0
    old = previous.values
    same = sum(1 for k, v in frame.values.items() if k in old and old[k] == v)
    return same + previous.nodes + previous.blobs
