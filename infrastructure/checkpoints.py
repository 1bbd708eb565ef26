"""The checkpoint projection: fast ``state_at(n)`` and fast session opening, as a disposable cache.

A checkpoint is written after a commit once ``interval`` events (K, per store,
default 1,000) have passed since the last one.  Checkpoints are keyframes
(``I``: the whole state, content included) or P-frames (``P``: the *cumulative*
delta from their keyframe, plus the content added since it).  Reading any
checkpoint therefore costs one keyframe and at most one delta, however long the
chain.  P-frames are compressed with their keyframe's bytes as a zstd
dictionary, so what they repeat of it (names, unchanged structure) costs
almost nothing.  A new keyframe is written when a P-frame would be at least
``KEYFRAME_RATIO`` of its keyframe's size, when the P-frames since the
keyframe add up to ``SPEND_RATIO`` keyframes, or after ``MAX_CHAIN`` of them:
1,000 checkpoints of a slowly changing state cost little more than a few full
states, and a quickly changing one gets keyframes as often as it needs.

``state_at(n)`` = the nearest valid checkpoint at or before ``n`` + the tail
folded on top (the fast ``read_fields`` path).  Nothing is trusted: a checkpoint
is used only if its projection version is this code's, its payload matches its
xxh3 checksum, and the digest of the event it ends at (its ``tip``,
and its keyframe's) matches the log; ``events_hash`` chains the digests of
every event it covers, checked in full by ``verify``/``rebuild``.  A checkpoint
that fails is logged, dropped and written again from the fold.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import orjson
import structlog
import xxhash
import zstandard

from tapevm.domain.errors import TapeError, UsageError
from tapevm.domain.state import State, fact_key, fold_fields
from tapevm.infrastructure.checkpoint_hash import (
    ZERO_HASH,
    EventFields,
    RunningEventsHash,
    chain_hash,
    event_digest,
)
from tapevm.infrastructure.checkpoint_sql import checkpoint_store_for
from tapevm.infrastructure.ports import CheckpointMeta, CheckpointStore, EventStore
from tapevm.projections.delta import Delta, diff
from tapevm.projections.state_codec import (
    content_since,
    decode_blobs,
    decode_nodes,
    decode_state,
    encode_blobs,
    encode_nodes,
    encode_state,
)

log = structlog.get_logger("tapevm.checkpoints")

# Bump when the fold, the state codec or the frame layout changes: older checkpoints are then ignored.
PROJECTION_VERSION = "fold-1/state-2/frame-2"
DEFAULT_INTERVAL = 1000
KEYFRAME_RATIO = 2.0   # a P-frame at least this fraction of its keyframe's size: write a keyframe instead
SPEND_RATIO = 2.0      # P-frames since the keyframe add up to this many keyframes: time for a new one
MAX_CHAIN = 1000
ZSTD_LEVEL = 3

ReadFields = Callable[[int, "int | None"], Iterator[tuple[int, str, dict[str, Any]]]]


def _hash(data: bytes) -> str:
    return xxhash.xxh3_64_hexdigest(data)


class Checkpoints:
    """The checkpoints of one session: reading (verified) and writing (after commits)."""

    def __init__(self, store: EventStore, session: str, cache: CheckpointStore | None = None,
                 interval: int | None = None, read_fields: ReadFields | None = None) -> None:
        """``read_fields(start, stop)`` reads the session's events (default: the store's, of
        ``session``); a session whose log spans several streams passes its own reader."""
        self.store = store
        self.session = session
        self._read = read_fields or (lambda start, stop: store.read_fields(session, start, stop))
        self.cache = cache if cache is not None else checkpoint_store_for(store)
        self._interval = interval
        self._metas: list[CheckpointMeta] | None = None
        # The latest keyframe: its meta, a semantic copy, its content counts, its raw payload (the P-frames' dictionary).
        self._key: tuple[CheckpointMeta, State, int, int, bytes] | None = None
        self._dicts: dict[int, zstandard.ZstdCompressionDict] = {}
        self._chain = 0
        self._spent = 0
        # The events hash since the latest checkpoint, kept as events are folded at the head (None: unknown).
        self._running: RunningEventsHash | None = None
        self._compressor = zstandard.ZstdCompressor(level=ZSTD_LEVEL)
        self._decompressor = zstandard.ZstdDecompressor()

    # -- settings ----------------------------------------------------------------------------
    @property
    def interval(self) -> int:
        if self._interval is None:
            value = os.environ.get("TAPE_CHECKPOINT_INTERVAL")
            if value is None and self.cache is not None:
                value = self._safe(lambda: self.cache.get_setting("checkpoint_interval"), None)  # type: ignore[union-attr]
            try:
                self._interval = max(1, int(value)) if value else DEFAULT_INTERVAL
            except ValueError:
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
            self._metas = [] if self.cache is None else self._safe(lambda: self.cache.metas(self.session), [])  # type: ignore[union-attr]
        return self._metas

    # -- reading ---------------------------------------------------------------------------------
    def state_at(self, n: int | None) -> State:
        """The state after event ``n`` (None: the head): nearest valid checkpoint + the tail."""
        state: State | None = None
        ignored = False
        base: CheckpointMeta | None = None
        for meta in reversed(self.metas()):
            if n is not None and meta.seq > n:
                continue
            state = self._load(meta)
            if state is not None:
                base = meta
                break
            ignored = True
        start = state.seq + 1 if state is not None else 1
        events = self._read(start, n)
        if n is None:
            # The tail is hashed as it is folded, so the next checkpoint needs no second read of it.
            self._running = (RunningEventsHash() if base is None else
                             RunningEventsHash(base.seq, bytes.fromhex(base.events_hash), base.tip))
            events = self._running.tee(events)
        state = fold_fields(events, state if state is not None else State(session=self.session))
        if n is None:
            # Opening: a checkpoint that was ignored is rebuilt now, and a log with a long tail
            # (written before checkpoints existed, or loaded from an image's history) gets one.
            self.after_append(state, force=ignored)
        return state

    def _tip(self, seq: int) -> str | None:
        """The digest of event ``seq`` as the log holds it now (None if there is no such event)."""
        for _, type_name, fields in self._read(seq, seq):
            return event_digest(type_name, fields).hex()
        return None

    def _dict(self, key_seq: int, key_raw: bytes) -> zstandard.ZstdCompressionDict:
        """A P-frame is compressed with its keyframe's raw bytes as a zstd dictionary: what it repeats is nearly free."""
        found = self._dicts.get(key_seq)
        if found is None:
            self._dicts = {key_seq: zstandard.ZstdCompressionDict(key_raw, dict_type=zstandard.DICT_TYPE_RAWCONTENT)}
            found = self._dicts[key_seq]
        return found

    def _payload(self, meta: CheckpointMeta, key_raw: bytes | None = None) -> bytes | None:
        """The checked, decompressed payload of ``meta``, or None (logged) when it must not be trusted."""
        reason = None
        raw = None
        if meta.projection_version != PROJECTION_VERSION:
            reason = f"written by projection {meta.projection_version}, this is {PROJECTION_VERSION}"
        else:
            stored = self._safe(lambda: self.cache.payload(self.session, meta.seq), None)  # type: ignore[union-attr]
            if stored is None:
                reason = "payload missing"
            elif _hash(stored) != meta.payload_hash:
                reason = "payload checksum mismatch"
            elif self._tip(meta.seq) != meta.tip:
                reason = "the log at its event number is not the log it was built from"
            else:
                try:
                    if key_raw is None:
                        raw = self._decompressor.decompress(stored)
                    else:
                        d = self._dict(meta.base, key_raw)
                        raw = zstandard.ZstdDecompressor(dict_data=d).decompress(stored)
                except zstandard.ZstdError as e:
                    reason = f"undecompressable payload ({e})"
        if reason is not None:
            self._ignore(meta, reason)
        return raw

    def _ignore(self, meta: CheckpointMeta, reason: str) -> None:
        log.warning("checkpoint_ignored", session=self.session, seq=meta.seq, kind=meta.kind, reason=reason)
        if self.cache is not None:
            self._safe(lambda: self.cache.delete(self.session, [meta.seq]), None)  # type: ignore[union-attr]
        if self._metas is not None and meta in self._metas:
            self._metas.remove(meta)

    def _load(self, meta: CheckpointMeta) -> State | None:
        try:
            if meta.kind == "I":
                raw = self._payload(meta)
                if raw is None:
                    return None
                state = decode_state(raw)
                self._remember_key(meta, state, raw)
                return state
            key_meta = next((m for m in self.metas() if m.seq == meta.base and m.kind == "I"), None)
            if key_meta is None:
                self._ignore(meta, f"its keyframe {meta.base} is gone")
                return None
            key_raw = self._payload(key_meta)
            if key_raw is None:
                self._ignore(meta, f"its keyframe {meta.base} was ignored")
                return None
            raw = self._payload(meta, key_raw)
            if raw is None:
                return None
            state = decode_state(key_raw)
            self._remember_key(key_meta, state, key_raw)
            return apply_p_frame(state, raw)
        except (ValueError, KeyError, TypeError) as e:
            self._ignore(meta, f"undecodable payload ({type(e).__name__}: {e})")
            return None

    def _remember_key(self, meta: CheckpointMeta, state: State, raw: bytes) -> None:
        if self._key is None or self._key[0].seq <= meta.seq:
            self._key = (meta, _semantic_copy(state), len(state.nodes), len(state.blobs), raw)
            chain = [m for m in self.metas() if m.kind == "P" and m.base == meta.seq]
            self._chain, self._spent = len(chain), sum(m.stored_size for m in chain)

    # -- writing ---------------------------------------------------------------------------------
    def after_append(self, state: State, events: Iterable[EventFields] | None = None, force: bool = False) -> None:
        """Called after every commit with the head state and the commit's ``(seq, type, fields)``:
        hashes those events (O(size of the commit)), and writes a checkpoint once ``interval`` passed.

        Never raises: a checkpoint is a cache, and failing to write one must not fail the form.
        """
        if events is not None and self._running is not None:
            self._running.add_all(events)
        last = self.metas()[-1].seq if self.metas() else 0
        if self.cache is None or state.seq <= last or (state.seq - last < self.interval and not force):
            return
        try:
            self.write(state)
        except Exception as e:  # noqa: BLE001 - logged, never fatal
            log.warning("checkpoint_write_failed", session=self.session, seq=state.seq, error=f"{type(e).__name__}: {e}")

    def write(self, state: State) -> CheckpointMeta | None:
        """Store a checkpoint of ``state`` (a P-frame when one pays, else a keyframe).

        Its events hash comes from the running hash when that covers exactly the events since
        the previous checkpoint (the usual case: O(1) here), else from reading them.
        """
        if self.cache is None or state.seq == 0:
            return None
        previous = [m for m in self.metas() if m.seq < state.seq]
        prev_hash = bytes.fromhex(previous[-1].events_hash) if previous else ZERO_HASH
        prev_seq = previous[-1].seq if previous else 0
        running = self._running
        if running is not None and running.covers(prev_seq, state.seq):
            events_hash, tip = running.events_hash(), running.tip
        else:
            tips = list(self._tips(prev_seq, state.seq))
            events_hash = chain_hash(prev_hash, tips).hex()
            tip = tips[-1].hex() if tips else (previous[-1].tip if previous else "")
        kind, base, raw = "I", 0, b""
        key = self._key
        if key is not None and key[0].seq < state.seq and self._chain < MAX_CHAIN:
            raw = p_frame(key[1], key[2], key[3], state)
            payload = zstandard.ZstdCompressor(level=ZSTD_LEVEL, dict_data=self._dict(key[0].seq, key[4])).compress(raw)
            size, key_size = len(payload), key[0].stored_size
            if size < KEYFRAME_RATIO * key_size and self._spent + size < SPEND_RATIO * key_size:
                kind, base = "P", key[0].seq
        if kind == "I":
            raw = encode_state(state)
            payload = self._compressor.compress(raw)
        meta = CheckpointMeta(self.session, state.seq, kind, base, PROJECTION_VERSION, events_hash, tip,
                              _hash(payload), len(raw), len(payload), time.time())
        self.cache.put(meta, payload)
        metas = [m for m in self.metas() if m.seq != meta.seq] + [meta]
        self._metas = sorted(metas, key=lambda m: m.seq)
        if self._metas[-1] is meta:  # the head moves on from here
            self._running = RunningEventsHash(meta.seq, bytes.fromhex(events_hash), tip)
        if kind == "I":
            self._key = (meta, _semantic_copy(state), len(state.nodes), len(state.blobs), raw)
            self._chain, self._spent = 0, 0
        else:
            self._chain += 1
            self._spent += len(payload)
        log.debug("checkpoint_written", session=self.session, seq=meta.seq, kind=kind, bytes=len(payload))
        return meta

    def _tips(self, gt: int, lte: int | None) -> Iterator[bytes]:
        """Digests of events ``gt+1..lte``, in order."""
        for _, type_name, fields in self._read(gt + 1, lte):
            yield event_digest(type_name, fields)

    # -- maintenance -------------------------------------------------------------------------------
    def rebuild(self, progress: Callable[[int, int], None] | None = None,
                head: int | None = None) -> list[CheckpointMeta]:
        """Drop every checkpoint of the session and write them again from the log (every ``interval`` events)."""
        if self.cache is None:
            raise UsageError(f"the store {self.store.url_for_display} keeps no checkpoints")
        if head is None:
            head = self.store.last_seq(self.session)
        self.cache.delete(self.session)
        self._metas, self._key, self._chain, self._spent = [], None, 0, 0
        self._running = RunningEventsHash()
        state = State(session=self.session)
        interval = self.interval
        for seq, type_name, fields in self._read(1, head):
            self._running.add(seq, type_name, fields)
            fold_fields([(seq, type_name, fields)], state)
            if seq % interval == 0 or seq == head:
                self.write(state)  # chains on from the running hash, which write() restarts
                if progress is not None:
                    progress(seq, head)
        return self.metas()

    def verify(self) -> list[tuple[CheckpointMeta, str | None]]:
        """Every checkpoint with the reason it cannot be trusted (None: it can), checking the whole event chain."""
        results: list[tuple[CheckpointMeta, str | None]] = []
        running = ZERO_HASH
        last = 0
        for meta in list(self.metas()):
            running = chain_hash(running, self._tips(last, meta.seq))
            last = meta.seq
            reason = None if running.hex() == meta.events_hash else "events hash mismatch (the log changed)"
            if reason is None and self._load(meta) is None:
                reason = "ignored (see the log)"
            results.append((meta, reason))
        return results


def _semantic_copy(state: State) -> State:
    """The parts a delta compares, copied (content tables are shared: they only grow)."""
    return State(session=state.session, seq=state.seq, current_ns=state.current_ns,
                 namespaces={ns: dict(b) for ns, b in state.namespaces.items()}, atoms=dict(state.atoms),
                 facts=dict(state.facts), files=dict(state.files), nodes=state.nodes, blobs=state.blobs)


def _patch(delta: Delta) -> dict[str, Any]:
    """A delta without the old values (the keyframe has them) and without empty parts: what a P-frame stores."""
    patch = {
        "ns": delta.current_ns[1] if delta.current_ns else None,
        "set": {ns: {**c.added, **{k: n for k, (_, n) in c.changed.items()}} for ns, c in delta.bindings.items()
                if c.added or c.changed},
        "del": {ns: list(c.removed) for ns, c in delta.bindings.items() if c.removed},
        "atoms_set": [[k, v] for k, v in {**delta.atoms.added,
                                           **{k: n for k, (_, n) in delta.atoms.changed.items()}}.items()],
        "atoms_del": list(delta.atoms.removed),
        "facts_del": sorted(delta.facts.retracted),
        "facts_add": delta.facts.asserted,
        "files_set": {**delta.files.added, **{k: n for k, (_, n) in delta.files.changed.items()}},
        "files_del": list(delta.files.removed),
    }
    return {k: v for k, v in patch.items() if v}


def _apply_patch(state: State, found: dict[str, Any]) -> None:
    patch = {"ns": None, "set": {}, "del": {}, "atoms_set": [], "atoms_del": [], "facts_del": [], "facts_add": [],
             "files_set": {}, "files_del": [], **found}
    if patch["ns"] is not None:
        state.current_ns = patch["ns"]
        state.namespaces.setdefault(patch["ns"], {})
    for ns, names in patch["del"].items():
        table = state.namespaces.get(ns, {})
        for name in names:
            table.pop(name, None)
    for ns, values in patch["set"].items():
        state.namespaces.setdefault(ns, {}).update(values)
    for k in patch["atoms_del"]:
        state.atoms.pop(int(k), None)
    for k, v in patch["atoms_set"]:
        state.atoms[int(k)] = v
    for path in patch["files_del"]:
        state.files.pop(path, None)
    state.files.update(patch["files_set"])
    if patch["facts_del"] or patch["facts_add"]:
        gone = set(patch["facts_del"])
        state.facts = {k: v for i, (k, v) in enumerate(state.facts.items()) if i not in gone}
        for enc in patch["facts_add"]:
            state.facts[fact_key(enc)] = enc


def p_frame(key: State, key_nodes: int, key_blobs: int, state: State) -> bytes:
    """The cumulative change from keyframe ``key`` to ``state``, plus the content added since the keyframe."""
    head = orjson.dumps({
        "seq": state.seq,
        "patch": _patch(diff(key, state)),
        "snapshots": {name: [at, d] for name, (at, d) in state.snapshots.items()},
        "key_nodes": key_nodes,
        "key_blobs": key_blobs,
    })
    nodes = encode_nodes(content_since(state.nodes, key_nodes))
    blobs = encode_blobs(content_since(state.blobs, key_blobs))
    return len(head).to_bytes(8, "big") + head + len(nodes).to_bytes(8, "big") + nodes + blobs


def apply_p_frame(key_state: State, raw: bytes) -> State:
    """``key_state`` (decoded from the keyframe, consumed) moved on by a P-frame payload."""
    n = int.from_bytes(raw[:8], "big")
    head = orjson.loads(raw[8:8 + n])
    rest = raw[8 + n:]
    m = int.from_bytes(rest[:8], "big")
    if len(key_state.nodes) != head["key_nodes"] or len(key_state.blobs) != head["key_blobs"]:
        raise ValueError("the keyframe's content does not match the P-frame's base")
    _apply_patch(key_state, head["patch"])
    for k, v in decode_nodes(rest[8:8 + m]).items():
        key_state.nodes.add(k, v)
    for k, v in decode_blobs(rest[8 + m:]).items():
        key_state.blobs.add(k, v)
    key_state.snapshots = {name: (at, d) for name, (at, d) in head["snapshots"].items()}
    key_state.seq = head["seq"]
    return key_state
