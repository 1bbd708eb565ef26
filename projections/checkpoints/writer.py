"""Writing checkpoints: after commits, a frame of the head state once ``interval`` events passed.

A checkpoint's events hash chains on from the previous one's; the writer keeps it running as
events are folded at the head (``RunningEventsHash``), so writing one never re-reads the events
it covers (when the running hash does not cover them exactly, they are read).  Each frame is a P,
D or I frame as the keyframe policy says (``policy.py``), based on the latest keyframe
(``FrameBasis``); P-frames are then held for a pack (``packing.py``).

Imports the domain and the rest of this package.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from tapevm.domain.errors import HistoryIsArchived
from tapevm.domain.events import Draft
from tapevm.domain.fold import SETS_ONE_BINDING, leaves_bindings
from tapevm.domain.ports import CheckpointMeta, LineageContentPort
from tapevm.domain.state import State
from tapevm.projections.checkpoints import policy
from tapevm.projections.checkpoints.events_hash import ZERO_HASH, RunningEventsHash, chain_hash, event_digest
from tapevm.projections.checkpoints.frames import DeltaFrame, FrameCodec, delta_frame, state_entries
from tapevm.projections.checkpoints.keyframes import FrameBasis, Keyframe, as_read, semantic_copy
from tapevm.projections.checkpoints.notices import Notice
from tapevm.projections.checkpoints.packing import CacheSink, FrameSink, PackBuffer
from tapevm.projections.checkpoints.reader import ReadFields
from tapevm.projections.checkpoints.seal import payload_hash
from tapevm.projections.checkpoints.stored import StoredCheckpoints
from tapevm.projections.checkpoints.version import PROJECTION_VERSION
from tapevm.projections.state_codec import encode_state


@dataclass
class _Frame:
    """A frame of the head state, encoded, with what the policy weighed to choose its kind."""

    kind: str
    raw: bytes
    base: int = 0
    dict_raw: bytes | None = None
    entries: int = 0
    stale: int = 0
    delta: DeltaFrame | None = None


class CheckpointWriter:
    """Writes ``stored``'s checkpoints, reading the events ``read`` returns when it must."""

    def __init__(self, stored: StoredCheckpoints, read: ReadFields, codec: FrameCodec, basis: FrameBasis,
                 packs: PackBuffer, interval: Callable[[], int], inline: bool = True,
                 content: LineageContentPort | None = None, *, seal: Callable[[int], str | None]) -> None:
        """``interval()`` is the number of events between checkpoints; with ``inline`` False,
        ``after_append`` writes nothing (a ``tape follow`` process keeps the checkpoints instead).
        With ``content``, a checkpoint carries roots and no content: the store's content index is made
        to cover its events first, and a state read from it finds its content there.  ``seal(n)``: the
        seal of a checkpoint at event ``n`` from the log (``seal.py``; one read per checkpoint written)."""
        self.stored = stored
        self.seal = seal
        self.read = read
        self.codec = codec
        self.basis = basis
        self.packs = packs
        self.interval = interval
        self.inline = inline
        self.content = content
        self.cache_sink = CacheSink(stored)
        self.sink: FrameSink = self.cache_sink  # a rebuild's staging while it runs
        # The events hash since the latest checkpoint, kept as events are folded at the head (None: unknown).
        self.running: RunningEventsHash | None = None
        # The keyframe above, and per namespace the only binding names that may differ from it at the head
        # (the names the commits since set): what the next frame diffs.  None, or another keyframe than
        # the current one: not known (a frame then diffs every binding).
        self._touched: tuple[Keyframe, dict[str, set[str]]] | None = None

    def previous(self, seq: int) -> tuple[bytes, int, str]:
        """(events hash, event number, tip) of the checkpoint before event ``seq`` that the next one
        chains on: the stream's own latest, else its chain's start (zero hash at the fork point)."""
        found = self.stored.previous(seq)
        return found if found is not None else (ZERO_HASH, self.stored.fork_at, "")

    def due(self, state: State) -> bool:
        """Whether ``state`` is ``interval`` events or more past the last checkpoint (a fork without
        one: past its fork point): time to write one."""
        return policy.is_due(state.seq, self.previous(state.seq + 1)[1], self.interval())

    def type_of_event(self, seq: int) -> str | None:
        """The type of event ``seq`` when it is the last event this writer hashed (folded at
        opening, or appended since), else None: lets opening skip a read of the head record."""
        running = self.running
        if running is not None and running.valid and running.upto == seq and running.last_type:
            return running.last_type
        return None

    def after_append(self, state: State, first: int = 0, drafts: Sequence[Draft] = (), force: bool = False) -> None:
        """Called after every commit with the head state and the commit's drafts (numbered from ``first``):
        hashes those events (O(size of the commit)), and writes a checkpoint once ``interval`` passed.

        Never raises: a checkpoint is a cache, and failing to write one must not fail the form (it is
        reported).  Not ``inline``: writes nothing.
        """
        if not self.inline:
            self._touched = None
            return
        if drafts and self.running is not None:
            self.running.add_drafts(first, drafts)
        if drafts and self.content is not None:
            self.content.note(first, drafts)
        self._track(drafts)
        if self.stored.cache is None or state.seq <= self.stored.last_seq() or not (force or self.due(state)):
            return
        key = self.basis.key
        touched = self._touched[1] if self._touched is not None and self._touched[0] is key else None
        try:
            meta = self.write(state, touched)
        except Exception as e:  # noqa: BLE001 - reported, never fatal
            self._touched = None
            self.stored.report(Notice("checkpoint_write_failed", {
                "session": self.stored.stream, "seq": state.seq, "error": f"{type(e).__name__}: {e}"}))
            return
        if meta is None or self.basis.key is None:
            self._touched = None
        elif self.basis.key is not key:  # a new keyframe: the head itself
            self._touched = (self.basis.key, {})
        elif touched is None and self.basis.last_p is not None:  # a P-frame after a whole diff
            self._touched = (key, {ns: set(names) for ns, names in self.basis.last_p.names.items()})

    def _track(self, drafts: Sequence[Draft]) -> None:
        """Add the binding names a commit's ``drafts`` set to those that may differ from the keyframe;
        forget them all (a frame then diffs every binding) after an event that may change bindings
        in other ways (a restore, a merge, an image) or when there are no drafts to read."""
        if self._touched is None:
            return
        key, touched = self._touched
        if key is not self.basis.key or not drafts:
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
        if self.stored.cache is None or state.seq <= self.stored.fork_at:
            return None
        try:
            events_hash, tip = self._events_hash(state.seq)
        except HistoryIsArchived:  # inside an archive marker, before the content its state needs: not here
            return None
        seal = self.seal(state.seq)
        if seal is None:
            raise ValueError(f"event {state.seq} is not in the stream's records")
        if self.content is not None:
            self.content.cover(state.seq)  # before a checkpoint without content relies on the index
        frame = self._frame(state, touched)
        payload = self.codec.compress(frame.raw, frame.dict_raw, keyframe=frame.kind != "P")
        meta = CheckpointMeta(self.stored.stream, state.seq, frame.kind, frame.base, PROJECTION_VERSION,
                              events_hash, seal, payload_hash(seal, payload), len(frame.raw), len(payload),
                              float(int(time.time())))  # as stored
        self.sink.put(meta, payload)
        if self.content is not None:
            _forget_held(state)
        if self.stored.added(meta):  # the head moves on from here
            self.running = RunningEventsHash(meta.seq, bytes.fromhex(events_hash), tip)
        if frame.kind == "P":
            self.basis.chain += 1
            self.basis.stale, self.basis.last_p = frame.stale, frame.delta
            self.packs.hold(meta, frame.raw, self.sink)
        else:
            self.packs.flush(self.sink)  # the frames on the keyframe before are all written
            self._new_keyframe(meta, state, frame)
        self.stored.report(Notice("checkpoint_written", {
            "session": self.stored.stream, "seq": meta.seq, "kind": frame.kind, "bytes": len(payload)},
            routine=True))
        return meta

    def _events_hash(self, seq: int) -> tuple[str, str]:
        """The events hash and tip of a checkpoint at ``seq``: from the running hash, else the log."""
        prev_hash, prev_seq, prev_tip = self.previous(seq)
        running = self.running
        if running is not None and running.covers(prev_seq, seq):
            return running.events_hash(), running.tip
        events = list(self.read(prev_seq + 1, seq))
        tip = event_digest(*events[-1][1:]).hex() if events else prev_tip
        return chain_hash(prev_hash, events).hex(), tip

    def _frame(self, state: State, touched: dict[str, set[str]] | None) -> _Frame:
        """The frame of ``state`` the keyframe policy chooses: a P or D frame on the basis, else an I."""
        key, basis = self.basis.key, self.basis
        if key is not None and policy.may_follow_keyframe(key.meta.seq, state.seq, basis.chain):
            delta = delta_frame(key.state, key.nodes, key.blobs, state, key.positions, touched,
                                with_content=self.content is None)
            stale = basis.stale + policy.repeated(basis.last_p, delta)
            kind = policy.frame_kind(delta.entries, state_entries(state, self.content is None), stale, key.depth, key.chain_entries)
            if kind != "I":
                return _Frame(kind, delta.raw, key.meta.seq, key.dict_raw, delta.entries, stale, delta)
        return _Frame("I", encode_state(state, with_content=self.content is None))

    def _new_keyframe(self, meta: CheckpointMeta, state: State, frame: _Frame) -> None:
        """Base the next frames on the keyframe ``meta`` just written (a D extends its basis's chain)."""
        key = self.basis.key
        key_state = semantic_copy(state)
        if key is not None and frame.kind == "D":
            chain_raw, depth, chain_entries = key.dict_raw + frame.raw, key.depth + 1, key.chain_entries + frame.entries
            # P-frames name bindings by position: in the order readers see
            key_state.namespaces = as_read(key.state, frame.raw, state)
        else:
            chain_raw, depth, chain_entries = frame.raw, 0, 0
        held = self.content is None  # (a keyframe without content holds none: its frames count from zero)
        self.basis.key = Keyframe(meta, key_state, len(state.nodes) if held else 0, len(state.blobs) if held else 0,
                                  chain_raw, depth, chain_entries)
        self.basis.chain, self.basis.stale, self.basis.last_p = 0, 0, None


def _forget_held(state: State) -> None:
    """Drop the content ``state`` holds once a checkpoint of it without content is stored: the index
    covers it now, so the head's memory follows what its forms touch, not the history."""
    for table in (state.nodes, state.blobs):
        if table.source is not None:
            table.forget_held()
