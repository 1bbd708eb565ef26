"""P-frames stored several to a row: the pack a writer holds on its keyframe until it is full.

P-frames on one keyframe are stored in packs of up to ``PACK_BYTES`` (several to a row,
compressed together, see the checkpoint tables): the writer holds the P-frames it stores on a
keyframe (with those earlier processes left in rows of their own just before) and stores the
ones before when the next would take them past the limit, or a new keyframe begins.  Every frame
is first stored in a row of its own, so a pack that is never stored loses nothing.

Where frames go is a :class:`FrameSink`: the cache, or a rebuild's staging.  Imports the domain
and the rest of this package.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from tapevm.domain.ports import CheckpointMeta
from tapevm.projections.checkpoints import policy
from tapevm.projections.checkpoints.frames import FrameCodec, join_pack
from tapevm.projections.checkpoints.keyframes import FrameBasis, Keyframe
from tapevm.projections.checkpoints.reader import CheckpointReader
from tapevm.projections.checkpoints.seal import pack_hash
from tapevm.projections.checkpoints.stored import StoredCheckpoints


class FrameSink(Protocol):
    """Where a writer stores frames and packs."""

    def put(self, meta: CheckpointMeta, payload: bytes) -> None:
        """Store one checkpoint in a row of its own (may raise: the writer's caller reports it)."""

    def put_pack(self, frames: Sequence[CheckpointMeta], payload: bytes) -> bool:
        """Store ``frames`` as one pack; False (nothing changed) when that cannot be done now."""


class CacheSink:
    """Frames go straight to the cache; a pack the cache cannot store now leaves the rows as they are."""

    def __init__(self, stored: StoredCheckpoints) -> None:
        self.stored = stored

    def put(self, meta: CheckpointMeta, payload: bytes) -> None:
        assert self.stored.cache is not None
        self.stored.cache.put(meta, payload)

    def put_pack(self, frames: Sequence[CheckpointMeta], payload: bytes) -> bool:
        cache = self.stored.cache
        return cache is not None and self.stored.safely(lambda: cache.put_pack(frames, payload), False)


class PackBuffer:
    """The P-frames a writer stored on one keyframe and has not packed yet (with their raw bytes), and
    their pack's payload (when there are two or more)."""

    def __init__(self, stored: StoredCheckpoints, reader: CheckpointReader, codec: FrameCodec,
                 basis: FrameBasis) -> None:
        self.stored = stored
        self.reader = reader
        self.codec = codec
        self.basis = basis
        self._pending: tuple[Keyframe | None, list[tuple[CheckpointMeta, bytes]], bytes] = (None, [], b"")

    def clear(self) -> None:
        """Hold nothing (a rebuild starts afresh, or gave up)."""
        self._pending = (None, [], b"")

    def hold(self, meta: CheckpointMeta, raw: bytes, sink: FrameSink) -> None:
        """Keep a P-frame just stored for a pack with the next ones on its keyframe; store the pack
        before it when the frame would take it past ``PACK_BYTES``."""
        key = self.basis.key
        if self._pending[0] is not key or key is None:
            self.flush(sink)
            if key is None:
                return
            self._pending = (key, [], b"")
            for earlier in self._stored_unpacked(meta, key):
                self._grow(*earlier, sink=sink)
        self._grow(meta, raw, sink=sink)

    def _stored_unpacked(self, meta: CheckpointMeta, key: Keyframe) -> list[tuple[CheckpointMeta, bytes]]:
        """The P-frames on ``meta``'s keyframe stored in rows of their own right before it (by an
        earlier process: every ``tape eval`` is one, and may write a single checkpoint), oldest first,
        with their raw bytes; nothing when one cannot be read back.  Packed with the frames this
        writer stores, so a session written by short processes is packed too."""
        metas = self.stored.metas()
        i = metas.index(meta) if meta in metas else len(metas)
        run: list[CheckpointMeta] = []
        while i and (m := metas[i - 1]).kind == "P" and not m.pack and m.base == key.meta.seq \
                and m.session == self.stored.stream:
            run.append(m)
            i -= 1
        earlier: list[tuple[CheckpointMeta, bytes]] = []
        for m in reversed(run):
            raw = self.reader.payload(m, key.dict_raw)
            if raw is None:  # dropped (reported): the frames after it are still good to pack
                earlier = []
                continue
            earlier.append((m, raw))
        return earlier

    def _grow(self, meta: CheckpointMeta, raw: bytes, sink: FrameSink) -> None:
        key, frames, _ = self._pending
        assert key is not None
        grown = [*frames, (meta, raw)]
        packed = self.codec.compress(join_pack([(m.seq, r) for m, r in grown]), key.dict_raw) if frames else b""
        cache = self.stored.cache
        index_bytes = cache.pack_index_bytes if cache is not None else 0
        if policy.fits_pack(len(packed), len(grown), index_bytes):
            self._pending = (key, grown, packed)
            return
        self.flush(sink)
        self._pending = (key, [(meta, raw)], b"")

    def flush(self, sink: FrameSink) -> None:
        """Store the P-frames held for a pack as one (two or more; one stays a row of its own).

        The pack replaces their rows in one transaction; a sink that cannot pack now leaves them
        as they are.
        """
        key, frames, payload = self._pending
        self._pending = (None, [], b"")
        if key is None or len(frames) < 2 or self.stored.cache is None:
            return
        metas = [m for m, _ in frames]
        if not sink.put_pack(metas, payload):
            return
        self.stored.packed(metas, pack_hash([m.tip for m in metas], payload), len(payload))
