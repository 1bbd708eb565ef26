"""The keyframe the next frame is based on, as reader and writer share it.

The reader meets keyframes as it loads checkpoints (the latest one it loads becomes the basis,
so the first checkpoint a session writes after opening is a P-frame, not a keyframe); the
writer bases its frames on it and moves it on when it writes a keyframe.  A fork's first frames
may be based on its source's keyframe.  Imports the domain and the frame bytes.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from tapevm.domain.ports import CheckpointMeta
from tapevm.domain.state import State
from tapevm.projections.checkpoints.frames import DeltaFrame, Positions, follow_delta_frame


@dataclass
class Keyframe:
    """A keyframe (``I`` or ``D``) as the writer bases the next frames on it."""

    meta: CheckpointMeta
    state: State          # a semantic copy (content tables shared: they only grow)
    nodes: int            # the content counts at the keyframe
    blobs: int
    dict_raw: bytes       # its chain's raw frames, root first: the dictionary of frames based on it
    depth: int            # D frames in its chain
    chain_entries: int    # entries those D frames hold
    positions: Positions = field(default_factory=dict)  # of its bindings, as frames on it name them


@dataclass
class FrameBasis:
    """The latest keyframe (None: the next frame is a full one) and what the P-frames on it cost.

    ``chain`` counts the P-frames on it; ``stale`` is what they repeat of the one before (entries
    stored again unchanged), which the policy weighs against writing a delta keyframe; ``last_p``
    is the latest of them.
    """

    key: Keyframe | None = None
    chain: int = 0
    stale: int = 0
    last_p: DeltaFrame | None = None

    def forget(self) -> None:
        """No keyframe to base the next frame on: it will be a full one."""
        self.key, self.chain, self.stale, self.last_p = None, 0, 0, None

    def use(self, key: Keyframe, chain: int) -> None:
        """Base the next frames on ``key``, which ``chain`` stored P-frames are based on already."""
        self.key, self.stale, self.last_p = key, 0, None
        self.chain = chain

    def forget_if(self, meta: CheckpointMeta) -> None:
        """Forget the keyframe if it is ``meta`` (dropped: frames based on it could not be read)."""
        if self.key is not None and self.key.meta == meta:
            self.key = None


def semantic_copy(state: State) -> State:
    """The parts a delta compares, copied (content tables are shared: they only grow)."""
    return State(session=state.session, seq=state.seq, current_ns=state.current_ns,
                 namespaces={ns: dict(b) for ns, b in state.namespaces.items()}, atoms=dict(state.atoms),
                 facts=dict(state.facts), files=dict(state.files), nodes=state.nodes, blobs=state.blobs)


def as_read(key: State, raw: bytes, state: State) -> dict[str, dict[str, Any]]:
    """``state``'s bindings in the order a reader gets them in by applying the delta keyframe ``raw`` to
    ``key`` (a binding defined again after it was removed is at the end of ``state``'s namespace, but
    where it was in the patched keyframe).  The values stay ``state``'s own objects: the next diffs
    against this keyframe compare unchanged values by identity first."""
    followed = semantic_copy(key)
    follow_delta_frame(followed, raw)
    return {ns: {name: state.namespaces[ns][name] for name in table} for ns, table in followed.namespaces.items()}
