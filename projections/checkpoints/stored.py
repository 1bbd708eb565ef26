"""The checkpoints one stream has stored, as this process knows them: the list of their metas over
the ``CheckpointStore`` port, and the cache's failures reported instead of raised.

The list is read once and kept up to date by this process's own writes; ``reload`` reads it
again (another process may have written or dropped checkpoints).  Reading it drops, in one go,
the checkpoints another projection version wrote and the rows whose metadata is not what this
code writes.  A fork's list holds only its own checkpoints (all after its fork point); its
``source`` is its source's list, which holds the keyframes a fork's first frames may be based on.
Imports the domain and the rest of this package.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TypeVar

from tapevm.domain.errors import TapeError
from tapevm.domain.ports import CheckpointMeta, CheckpointStore, packed_metas
from tapevm.projections.checkpoints.notices import Notice, Report
from tapevm.projections.checkpoints.version import PROJECTION_VERSION

T = TypeVar("T")
_HASH = re.compile(r"[0-9a-f]{16}\Z")


def malformed(meta: CheckpointMeta) -> str | None:
    """Why a checkpoint's metadata cannot be what this code wrote (None: it can); a row damaged in
    the table must be ignored like a damaged payload, not stop the session from opening."""
    if meta.kind not in ("I", "D", "P"):
        return f"unknown kind {meta.kind!r}"
    if not (_HASH.match(meta.events_hash) and _HASH.match(meta.payload_hash) and (not meta.tip or _HASH.match(meta.tip))):
        return "malformed hashes"
    if meta.seq < 1 or (meta.base != 0 if meta.kind == "I" else not 0 < meta.base < meta.seq):
        return f"impossible event numbers (seq {meta.seq}, base {meta.base})"
    return None


class StoredCheckpoints:
    """The metas of ``stream``'s checkpoints in ``cache`` (None: a store that keeps none)."""

    def __init__(self, cache: CheckpointStore | None, stream: str, report: Report,
                 fork_at: int = 0, source: StoredCheckpoints | None = None) -> None:
        self.cache = cache
        self.stream = stream
        self.report = report
        self.fork_at = fork_at
        self.source = source
        self._metas: list[CheckpointMeta] | None = None

    def safely(self, call: Callable[[], T], default: T) -> T:
        """``call()``, or ``default`` when the cache fails (reported): a cache is never a reason to fail."""
        try:
            return call()
        except TapeError as e:
            self.report(Notice("checkpoint_cache_unavailable", {"session": self.stream, "error": str(e)}))
            return default

    def metas(self) -> list[CheckpointMeta]:
        """The stream's checkpoints by event number (read once, then kept as this process writes)."""
        if self._metas is None:
            cache = self.cache
            none: list[CheckpointMeta] = []
            metas = none if cache is None else self.safely(lambda: cache.metas(self.stream), none)
            self._metas = self._drop_outdated(metas)
        return self._metas

    def replace(self, metas: list[CheckpointMeta]) -> None:
        """Take ``metas`` (by event number) as the stream's checkpoints (a rebuild's, or those it kept)."""
        self._metas = metas

    def reload(self) -> list[CheckpointMeta]:
        """Forget the list and read it again (the source's is the source's to reload)."""
        self._metas = None
        return self.metas()

    def _drop_outdated(self, metas: list[CheckpointMeta]) -> list[CheckpointMeta]:
        """``metas`` less those another projection version wrote and those whose metadata is not what
        this code writes (a damaged row), which are deleted in one go.

        After an upgrade every checkpoint of a session is outdated at once: one
        notice and one transaction, not a warning and a delete per checkpoint.
        """
        outdated = [m for m in metas if m.projection_version != PROJECTION_VERSION]
        if outdated:
            self.report(Notice("checkpoints_outdated", {
                "session": self.stream, "count": len(outdated),
                "written_by": sorted({m.projection_version for m in outdated}), "current": PROJECTION_VERSION}))
        damaged = [(m, reason) for m in metas if m.projection_version == PROJECTION_VERSION
                   and (reason := malformed(m)) is not None]
        for m, reason in damaged:
            self.report(Notice("checkpoint_ignored",
                               {"session": self.stream, "seq": m.seq, "kind": m.kind, "reason": reason}))
        dropped = outdated + [m for m, _ in damaged]
        if not dropped:
            return metas
        self.delete([m.seq for m in dropped if not m.pack], sorted({m.pack for m in dropped if m.pack}))
        return [m for m in metas if m not in dropped]

    def delete(self, seqs: Sequence[int], packs: Sequence[int]) -> None:
        """Drop the rows at ``seqs`` and the packs at ``packs`` from the cache (failures reported)."""
        cache = self.cache
        if cache is not None:
            self.safely(lambda: cache.delete(self.stream, seqs, packs), None)

    def previous(self, seq: int) -> tuple[bytes, int, str] | None:
        """(events hash, event number, tip) of the stream's latest checkpoint before event ``seq``,
        None when it has none (a fork's chain then starts at its fork point)."""
        metas = self.metas()
        i = len(metas)
        while i and metas[i - 1].seq >= seq:  # after every commit: the latest, in one step
            i -= 1
        if not i:
            return None
        meta = metas[i - 1]
        return bytes.fromhex(meta.events_hash), meta.seq, meta.tip

    def last_seq(self) -> int:
        """The event number of the stream's latest checkpoint (0: none)."""
        metas = self.metas()
        return metas[-1].seq if metas else 0

    def keyframe_at(self, seq: int) -> CheckpointMeta | None:
        """The keyframe (I or D) at ``seq`` (a fork's frames may be based on its source's)."""
        if seq <= self.fork_at and self.source is not None:
            return self.source.keyframe_at(seq)
        return next((m for m in self.metas() if m.seq == seq and m.kind in ("I", "D")), None)

    def holds(self, meta: CheckpointMeta) -> bool:
        """Whether ``meta`` is stored as it is: the stream's, or its source's (a fork's base)."""
        if meta.session == self.stream:
            return meta in self.metas()
        return self.source is not None and self.source.holds(meta)

    def p_frames_on(self, key_seq: int) -> int:
        """How many of the stream's P-frames are based on the keyframe at ``key_seq``."""
        return sum(1 for m in self.metas() if m.kind == "P" and m.base == key_seq)

    def added(self, meta: CheckpointMeta) -> bool:
        """Take ``meta``, just written, into the list (replacing one at its event); whether it is the latest."""
        metas = [m for m in self.metas() if m.seq != meta.seq] + [meta]
        self._metas = sorted(metas, key=lambda m: m.seq)
        return self._metas[-1] is meta

    def packed(self, frames: list[CheckpointMeta], payload_hash: str, size: int) -> None:
        """Take ``frames``, just stored as one pack of ``size`` bytes, into the list as packed."""
        by_seq = {m.seq: m for m in packed_metas(frames, payload_hash, size)}
        if self._metas is not None:
            self._metas = [by_seq.get(m.seq, m) if m in frames else m for m in self._metas]

    def dropped(self, meta: CheckpointMeta) -> None:
        """Drop ``meta`` from the cache (a checkpoint in a pack goes with its pack) and the list."""
        self.delete([] if meta.pack else [meta.seq], [meta.pack] if meta.pack else [])
        if self._metas is not None and meta in self._metas:
            self._metas = [m for m in self._metas if m != meta and not (meta.pack and m.pack == meta.pack)]

    def payload(self, seq: int) -> bytes | None:
        """The stored payload of the checkpoint at ``seq`` in a row of its own (None: gone or unreadable)."""
        cache = self.cache
        return None if cache is None else self.safely(lambda: cache.payload(self.stream, seq), None)

    def pack_payload(self, first: int) -> bytes | None:
        """The stored payload of the pack starting at ``first`` (None: gone or unreadable)."""
        cache = self.cache
        return None if cache is None else self.safely(lambda: cache.payload(self.stream, first, pack=True), None)
