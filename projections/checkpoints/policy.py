"""When a checkpoint is due and which kind of frame it is: the keyframe policy, as pure functions.

A checkpoint is written once ``interval`` events (K, per store, default 1,000) have passed since
the last one.  The policy weighs entries (bindings, atoms, facts, files, content nodes and
blobs), not bytes, so it does not depend on what compresses well:

* a P-frame while the cumulative change from the keyframe is small (fewer than
  ``PROMOTE_FRACTION`` of the state's entries, or ``PROMOTE_MIN``) and what the P-frames on it
  repeat has not yet added up to what a delta keyframe would cost (rent or buy): 1,000
  checkpoints of a slowly changing state cost 1,000 small patches;
* else a ``D`` (the same bytes, but later frames are based on it), as long as the chain's
  deltas hold fewer entries than the state and are at most ``MAX_DEPTH``: a growing state is
  stored once, in the steps it grew by;
* else a full ``I``.

P-frames on one keyframe are stored in packs of up to ``PACK_BYTES`` a row.  The constants are
read when a function runs (tests lower ``PROMOTE_MIN`` to see delta keyframes on small states).
Imports nothing of tapevm but the domain and the frame bytes.
"""

from __future__ import annotations

from tapevm.domain.errors import UsageError
from tapevm.projections.checkpoints.frames import DeltaFrame

DEFAULT_INTERVAL = 1000
MAX_INTERVAL = 1_000_000_000
PROMOTE_FRACTION = 0.05  # a cumulative change of at least this share of the state's entries: a new keyframe
PROMOTE_MIN = 64         # ... and of at least this many entries (small states)
MAX_DEPTH = 16           # delta keyframes in a chain before a full one
MAX_CHAIN = 1000         # P-frames on one keyframe
# P-frames on one keyframe are stored together (one row, compressed together) up to this many bytes a
# row: three rows to a 4 KiB SQLite page (a row of ~2 KB took a page of its own); larger frames stay alone
PACK_BYTES = 1300


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


def is_due(head: int, previous: int, interval: int) -> bool:
    """Whether a head at event ``head`` is ``interval`` events or more past the checkpoint (or the
    fork point) at ``previous``: time to write one."""
    return head - previous >= interval


def may_follow_keyframe(key_seq: int, head: int, chain: int) -> bool:
    """Whether a frame at ``head`` may be based on the keyframe at ``key_seq`` that ``chain`` P-frames
    are based on already (else it is a full keyframe)."""
    return key_seq < head and chain < MAX_CHAIN


def frame_kind(entries: int, total: int, stale: int, depth: int, chain_entries: int) -> str:
    """``"P"``, ``"D"`` or ``"I"`` for a frame that changes ``entries`` of a state of ``total`` entries
    from its keyframe, when the P-frames on that keyframe would repeat ``stale`` entries with it and
    the keyframe's chain holds ``depth`` delta keyframes of ``chain_entries`` entries."""
    if entries < max(PROMOTE_MIN, PROMOTE_FRACTION * total) and stale < entries + total / MAX_DEPTH:
        return "P"
    if depth < MAX_DEPTH and chain_entries + entries < total:
        return "D"
    return "I"


def repeated(previous: DeltaFrame | None, frame: DeltaFrame) -> int:
    """Entries ``frame`` stores again unchanged from ``previous`` (same keyframe): bindings with the
    same value, and the content ``previous`` carried already (content is only ever added)."""
    if previous is None:
        return 0
    old = previous.values
    same = sum(1 for k, v in frame.values.items() if k in old and old[k] == v)
    return same + previous.nodes + previous.blobs


def fits_pack(packed_bytes: int, frames: int, index_bytes: int) -> bool:
    """Whether a pack of ``frames`` P-frames whose payload is ``packed_bytes`` fits a row of
    ``PACK_BYTES`` (the store keeps ``index_bytes`` a frame besides the payload)."""
    return packed_bytes + index_bytes * frames <= PACK_BYTES
